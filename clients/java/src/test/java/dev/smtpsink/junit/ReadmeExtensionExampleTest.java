package dev.smtpsink.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.smtpsink.v1.Message;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.MimeMessage;
import java.time.Duration;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** The README's extension example, kept compiling and passing (on the run's one sink). */
@SmtpSinkTest
class ReadmeExtensionExampleTest {
  @Test
  void sendsWelcomeMail(Mailbox mailbox) throws Exception {
    Properties props = new Properties();
    props.put("mail.smtp.host", mailbox.smtpHost());
    props.put("mail.smtp.port", String.valueOf(mailbox.smtpPort()));
    MimeMessage msg = new MimeMessage(Session.getInstance(props));
    msg.setFrom("app@example.test");
    msg.setRecipients(jakarta.mail.Message.RecipientType.TO, mailbox.address("alice"));
    msg.setSubject("Welcome");
    msg.setText("Hi Alice");
    Transport.send(msg);

    Message m = mailbox.waitFor(1, Duration.ofSeconds(10)).get(0);
    assertEquals("Welcome", m.getSubject());
  }
}
