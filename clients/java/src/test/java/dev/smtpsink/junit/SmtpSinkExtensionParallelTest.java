package dev.smtpsink.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.smtpsink.v1.Message;
import dev.smtpsink.v1.RejectRule;
import dev.smtpsink.v1.Stage;
import jakarta.mail.SendFailedException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import org.eclipse.angus.mail.smtp.SMTPAddressFailedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Three tests running at the same time (JUnit parallel execution, junit-platform.properties) on
 * the run's one sink, each through its own Mailbox. All three send to the same local part
 * ("alice"), each bounces a local part of its own name, and one clears while the others' mail is
 * stored. The barriers make the tests fail, rather than pass alone, when they do not overlap, and
 * make each step happen while the other tests' mail and rules are in the sink.
 */
@SmtpSinkTest
@Execution(ExecutionMode.CONCURRENT)
class SmtpSinkExtensionParallelTest {
  static final String[] NAMES = {"erin", "frank", "grace"};
  static final int PER_TEST = 3;
  static final CyclicBarrier RULES_SET = new CyclicBarrier(NAMES.length);
  static final CyclicBarrier STORED = new CyclicBarrier(NAMES.length);
  static final CyclicBarrier CLEARED = new CyclicBarrier(NAMES.length);

  @Test
  void erin(Mailbox mb, SmtpSink sink) throws Exception {
    run("erin", mb, sink);
  }

  @Test
  void frank(Mailbox mb, SmtpSink sink) throws Exception {
    run("frank", mb, sink);
  }

  @Test
  void grace(Mailbox mb, SmtpSink sink) throws Exception {
    run("grace", mb, sink);
  }

  static void run(String name, Mailbox mb, SmtpSink sink) throws Exception {
    SmtpSinkExtensionTest.assertOneSinkPerRun(sink);
    RejectRule rule = mb.reject(Stage.RCPT_TO, "only-" + name, 550, "bounced for " + name);
    await(RULES_SET); // every test's rule is in place

    String from = mb.address("app");
    for (int i = 0; i < PER_TEST; i++) {
      TestMail.send(mb, from, mb.address("alice"), name + " #" + i);
    }
    for (String other : NAMES) {
      if (!other.equals(name)) { // the other tests' rules do not bounce this domain
        TestMail.send(mb, from, mb.address("only-" + other), name + " to only-" + other);
      }
    }
    SendFailedException e =
        assertThrows(
            SendFailedException.class,
            () -> TestMail.send(mb, from, mb.address("only-" + name), name + " bounced"));
    SMTPAddressFailedException rcpt =
        assertInstanceOf(SMTPAddressFailedException.class, e.getNextException());
    assertEquals(550, rcpt.getReturnCode());
    assertTrue(rcpt.getMessage().contains("bounced for " + name), rcpt.getMessage());

    int mine = PER_TEST + NAMES.length - 1;
    checkOwn(name, mb, mb.waitFor(mine, Duration.ofSeconds(20)), mine);
    await(STORED); // every test's mail is in the sink
    checkOwn(name, mb, mb.messages(), mine);
    RejectRule listed =
        mb.client().rejectRules().stream()
            .filter(r -> r.getId().equals(rule.getId()))
            .findFirst()
            .orElseThrow();
    assertEquals(1, listed.getHits(), name + "'s rule was hit by " + name + " only");

    if (name.equals(NAMES[0])) {
      assertEquals(mine, mb.clear(), "deleted by " + name + "'s clear");
      assertTrue(mb.messages().isEmpty());
    }
    await(CLEARED);
    if (!name.equals(NAMES[0])) {
      checkOwn(name, mb, mb.messages(), mine);
    }
  }

  static void checkOwn(String name, Mailbox mb, List<Message> msgs, int count) {
    assertEquals(count, msgs.size(), name + " sees " + msgs);
    for (Message m : msgs) {
      assertEquals(1, m.getRcptToCount());
      assertTrue(m.getRcptTo(0).endsWith("@" + mb.domain()), name + " sees " + m.getRcptTo(0));
      assertTrue(m.getSubject().startsWith(name + " "), name + " sees " + m.getSubject());
    }
  }

  static void await(CyclicBarrier barrier) throws Exception {
    barrier.await(60, TimeUnit.SECONDS);
  }
}
