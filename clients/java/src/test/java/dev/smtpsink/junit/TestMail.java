package dev.smtpsink.junit;

import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeMessage;
import java.util.Properties;

/** Sends plain-text mail with Jakarta Mail (Angus Mail), as an application would. */
final class TestMail {
  private TestMail() {}

  static void send(Mailbox mb, String from, String to, String subject) throws MessagingException {
    send(mb.smtpHost(), mb.smtpPort(), from, to, subject);
  }

  static void send(String host, int port, String from, String to, String subject)
      throws MessagingException {
    Properties props = new Properties();
    props.put("mail.smtp.host", host);
    props.put("mail.smtp.port", String.valueOf(port));
    props.put("mail.smtp.connectiontimeout", "10000");
    props.put("mail.smtp.timeout", "10000");
    MimeMessage msg = new MimeMessage(Session.getInstance(props));
    msg.setFrom(new InternetAddress(from));
    msg.setRecipients(jakarta.mail.Message.RecipientType.TO, to);
    msg.setSubject(subject, "UTF-8");
    msg.setText("sent to " + to, "UTF-8");
    Transport.send(msg);
  }
}
