package dev.smtpsink.examples.signup;

import jakarta.mail.Message;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.AddressException;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeMessage;
import java.util.Properties;

/** Sends the welcome mail of a sign-up through an SMTP server (Jakarta Mail, Angus Mail). */
public final class SignupMailer {
  private final Session session;
  private final InternetAddress from;

  /** Mail goes to smtpHost:smtpPort, from {@code from}. */
  public SignupMailer(String smtpHost, int smtpPort, String from) throws AddressException {
    Properties props = new Properties();
    props.put("mail.smtp.host", smtpHost);
    props.put("mail.smtp.port", String.valueOf(smtpPort));
    props.put("mail.smtp.connectiontimeout", "10000");
    props.put("mail.smtp.timeout", "10000");
    this.session = Session.getInstance(props);
    this.from = new InternetAddress(from);
  }

  /**
   * Sends "Welcome, NAME" to {@code email}.
   *
   * @throws MessagingException when the server refuses the address or the message
   */
  public void sendWelcome(String email, String name) throws MessagingException {
    MimeMessage msg = new MimeMessage(session);
    msg.setFrom(from);
    msg.setRecipients(Message.RecipientType.TO, email);
    msg.setSubject("Welcome, " + name, "UTF-8");
    msg.setText("Hi " + name + ",\n\nthanks for signing up.\n", "UTF-8");
    Transport.send(msg);
  }
}
