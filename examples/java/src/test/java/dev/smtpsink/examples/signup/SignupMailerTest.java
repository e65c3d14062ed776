package dev.smtpsink.examples.signup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.smtpsink.junit.Mailbox;
import dev.smtpsink.junit.SmtpSinkTest;
import dev.smtpsink.v1.Message;
import dev.smtpsink.v1.Stage;
import jakarta.mail.SendFailedException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One smtpsink for the whole run (a container, or the sink at SMTPSINK_SMTP_ADDR and
 * SMTPSINK_GRPC_ADDR), one Mailbox per test; the tests run in parallel (junit-platform.properties).
 */
@SmtpSinkTest
class SignupMailerTest {

  @Test
  void sendsTheWelcomeMail(Mailbox mailbox) throws Exception {
    SignupMailer mailer =
        new SignupMailer(mailbox.smtpHost(), mailbox.smtpPort(), "app@example.test");
    mailer.sendWelcome(mailbox.address("alice"), "Alice");

    Message m = mailbox.waitFor(1, Duration.ofSeconds(10)).get(0);
    assertEquals("Welcome, Alice", m.getSubject());
    assertEquals(List.of(mailbox.address("alice")), m.getRcptToList());
    assertEquals("app@example.test", m.getMailFrom());
    assertTrue(m.getTextBody().contains("thanks for signing up"), m.getTextBody());
  }

  @Test
  void aRefusedAddressIsAnError(Mailbox mailbox) throws Exception {
    mailbox.reject(Stage.RCPT_TO, "bob", 550, "no such user");
    SignupMailer mailer =
        new SignupMailer(mailbox.smtpHost(), mailbox.smtpPort(), "app@example.test");

    assertThrows(SendFailedException.class, () -> mailer.sendWelcome(mailbox.address("bob"), "Bob"));
    mailer.sendWelcome(mailbox.address("carol"), "Carol"); // the rule is for bob only
    assertEquals("Welcome, Carol", mailbox.waitFor(1, Duration.ofSeconds(10)).get(0).getSubject());
  }
}
