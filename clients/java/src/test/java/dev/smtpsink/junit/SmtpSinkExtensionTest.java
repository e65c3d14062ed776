package dev.smtpsink.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.smtpsink.testcontainers.SmtpSinkClient;
import dev.smtpsink.testcontainers.SmtpSinkContainer;
import dev.smtpsink.v1.Filter;
import dev.smtpsink.v1.Message;
import dev.smtpsink.v1.RejectRule;
import dev.smtpsink.v1.Stage;
import jakarta.mail.SendFailedException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.eclipse.angus.mail.smtp.SMTPAddressFailedException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The extension's surface against the run's sink (a container started by the extension: image
 * from -Dsmtpsink.image, labels from -Dsmtpsink.labels).
 */
@SmtpSinkTest
class SmtpSinkExtensionTest {

  /** The sink the first test class of the run got; every other must get the same one. */
  private static final AtomicReference<SmtpSink> RUN_SINK = new AtomicReference<>();

  static void assertOneSinkPerRun(SmtpSink sink) {
    RUN_SINK.compareAndSet(null, sink);
    assertSame(RUN_SINK.get(), sink, "one sink per run");
  }

  private Mailbox beforeEach;

  @BeforeEach
  void remember(Mailbox mb, SmtpSink sink) {
    assertOneSinkPerRun(sink);
    beforeEach = mb;
  }

  @AfterEach
  void sameMailboxAfterTheTest(Mailbox mb) {
    assertSame(beforeEach, mb, "@AfterEach gets the test's mailbox");
  }

  @Test
  void beforeEachAndTheTestGetTheSameMailboxOnTheRunsContainer(Mailbox mb, SmtpSink sink) {
    assertSame(beforeEach, mb);
    assertSame(sink, mb.sink());
    SmtpSinkContainer c = sink.container().orElseThrow();
    assertTrue(c.isRunning());
    assertEquals(c.getSmtpHost(), mb.smtpHost());
    assertEquals(c.getSmtpPort(), mb.smtpPort());
    assertEquals(c.getGrpcTarget(), sink.grpcTarget());
    assertEquals(c.getWebUrl(), mb.webUrl().orElseThrow());
    String image = System.getProperty("smtpsink.image");
    if (image != null && !image.isEmpty()) {
      assertEquals(image, c.getDockerImageName());
    }
    String labels = System.getProperty("smtpsink.labels");
    if (labels != null && !labels.isEmpty()) {
      SmtpSinkExtension.labels(labels).forEach((k, v) -> assertEquals(v, c.getLabels().get(k), k));
    }
  }

  @Test
  void addressesAreInADomainOfTheTestsOwn(Mailbox mb) {
    assertTrue(
        mb.domain().matches("t-[0-9a-f]{12}\\.addressesareinadomainofthetestsown\\.smtpsink\\.test"),
        mb.domain());
    assertEquals("alice@" + mb.domain(), mb.address("alice"));
    assertEquals("*@" + mb.domain(), mb.filter().getRcptTo());
    for (String bad : new String[] {"", "a@b", "a*", "a?", "[a]", "a\\"}) {
      assertThrows(IllegalArgumentException.class, () -> mb.address(bad), bad);
    }
    String other = Mailbox.domainFor("addressesAreInADomainOfTheTestsOwn");
    assertTrue(!other.equals(mb.domain()), "a random label per mailbox");
    assertTrue(
        Mailbox.domainFor("Ünïcode / and a very long test name [1] with more than forty chars")
            .matches("t-[0-9a-f]{12}\\.n-code-and-a-very-long-test-name-1-with\\.smtpsink\\.test"));
    assertTrue(Mailbox.domainFor("---").endsWith(".test.smtpsink.test"));
  }

  @Test
  void waitForAndMessagesSeeOnlyTheMailboxsMail(Mailbox mb) throws Exception {
    String elsewhere = "alice@" + Mailbox.domainFor("elsewhere");
    TestMail.send(mb, mb.address("app"), elsewhere, "not mine");
    TestMail.send(mb, mb.address("app"), mb.address("alice"), "Welcome");
    TestMail.send(mb, mb.address("app"), mb.address("bob"), "Hello Bob");

    List<Message> got = mb.waitFor(2, Duration.ofSeconds(20));
    assertEquals(2, got.size(), got.toString());
    assertEquals(List.of(mb.address("alice")), got.get(0).getRcptToList());
    assertEquals("Welcome", got.get(0).getSubject());
    assertEquals(2, mb.messages().size());
    Filter bob = Filter.newBuilder().setRcptTo("bob").build();
    assertEquals("Hello Bob", mb.waitFor(1, Duration.ofSeconds(5), bob).get(0).getSubject());
    Filter welcome = Filter.newBuilder().setSubject("welcome").build();
    assertEquals(List.of(mb.address("alice")), mb.messages(welcome).get(0).getRcptToList());
    assertEquals(2, mb.messages(SmtpSinkClient.rcptTo("*")).size(), "a local-part glob");
    Filter outside = SmtpSinkClient.rcptTo(elsewhere);
    assertThrows(IllegalArgumentException.class, () -> mb.messages(outside));
    assertThrows(IllegalArgumentException.class, () -> mb.clear(SmtpSinkClient.rcptTo("*@*")));

    assertEquals(1, mb.clear(bob));
    assertEquals(1, mb.messages().size());
    assertEquals(1, mb.client().clear(outside), "the mail outside the mailbox is still there");
  }

  @Test
  void waitForFailsTheTestAfterTheTimeout(Mailbox mb) {
    AssertionError e =
        assertThrows(AssertionError.class, () -> mb.waitFor(1, Duration.ofMillis(300)));
    assertTrue(e.getMessage().contains("@" + mb.domain()), e.getMessage());
    assertTrue(e.getMessage().contains("expected 1 message(s) within PT0.3S"), e.getMessage());
  }

  @Test
  void rejectRulesMatchOnlyTheMailboxsAddresses(Mailbox mb) throws Exception {
    String elsewhere = "bounce@" + Mailbox.domainFor("elsewhere");
    RejectRule rule =
        mb.reject(
            Stage.RCPT_TO,
            "bounce*",
            550,
            "no such user",
            RejectRule.newBuilder().setEnhancedCode("5.1.1").setTimes(5).build());
    assertEquals("bounce*@" + mb.domain(), rule.getMatch());
    assertEquals(5, rule.getTimes());

    SendFailedException e =
        assertThrows(
            SendFailedException.class,
            () -> TestMail.send(mb, mb.address("app"), mb.address("bounce-1"), "bounced"));
    SMTPAddressFailedException rcpt =
        assertInstanceOf(SMTPAddressFailedException.class, e.getNextException());
    assertEquals(550, rcpt.getReturnCode());
    assertTrue(rcpt.getMessage().contains("5.1.1 no such user"), rcpt.getMessage());

    TestMail.send(mb, mb.address("app"), elsewhere, "not bounced: another domain");
    assertEquals(1, mb.client().waitForMessages(SmtpSinkClient.rcptTo(elsewhere), 1,
        Duration.ofSeconds(20)).size());
    mb.client().clear(SmtpSinkClient.rcptTo(elsewhere));

    assertThrows(IllegalArgumentException.class, () -> mb.reject(Stage.HELO, "*", 550, "x"));
    assertThrows(IllegalArgumentException.class, () -> mb.reject(Stage.CONNECT, "*", 550, "x"));
    assertThrows(IllegalArgumentException.class, () -> mb.reject(Stage.RCPT_TO, "", 550, "x"));
    assertThrows(IllegalArgumentException.class, () -> mb.reject(Stage.RCPT_TO, "a@b", 550, "x"));
    assertThrows(IllegalArgumentException.class, () -> mb.reject(Stage.RCPT_TO, "a\\", 550, "x"));
  }

  @Test
  void webUrlServesTheHttpApi(Mailbox mb) throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    HttpResponse<String> info =
        http.send(
            HttpRequest.newBuilder(URI.create(mb.webUrl().orElseThrow() + "api/v1/info"))
                .timeout(Duration.ofSeconds(10))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, info.statusCode(), info.body());
    assertTrue(info.body().contains("\"Messages\""), info.body());
  }

  @Test
  void labelsSpecIsParsed() {
    assertEquals(
        List.of("a", "dev.smtpsink.run"),
        List.copyOf(SmtpSinkExtension.labels("a=1, dev.smtpsink.run = x=y").keySet()));
    assertEquals("x=y", SmtpSinkExtension.labels("a=1,dev.smtpsink.run=x=y").get("dev.smtpsink.run"));
    assertThrows(RuntimeException.class, () -> SmtpSinkExtension.labels("novalue"));
    assertThrows(RuntimeException.class, () -> SmtpSinkExtension.labels("=v"));
  }
}
