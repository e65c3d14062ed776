package dev.smtpsink.testcontainers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import jakarta.mail.Message;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.MimeMessage;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

/** The README example, kept compiling and passing (with its own container). */
@Testcontainers
class ReadmeExampleTest {
  @Container
  static SmtpSinkContainer sink =
      new SmtpSinkContainer(SmtpSinkContainerTest.image())
          .withLabels(SmtpSinkContainerTest.testLabels());

  @Test
  void sendsWelcomeMail() throws Exception {
    Properties props = new Properties();
    props.put("mail.smtp.host", sink.getSmtpHost());
    props.put("mail.smtp.port", String.valueOf(sink.getSmtpPort()));
    MimeMessage msg = new MimeMessage(Session.getInstance(props));
    msg.setFrom("app@example.test");
    msg.setRecipients(Message.RecipientType.TO, "alice@example.test");
    msg.setSubject("Welcome");
    msg.setText("Hi Alice");
    Transport.send(msg);

    List<dev.smtpsink.v1.Message> got =
        sink.client()
            .waitForMessages(
                SmtpSinkClient.rcptTo("alice@example.test"), 1, Duration.ofSeconds(10));
    assertEquals("Welcome", got.get(0).getSubject());
  }
}
