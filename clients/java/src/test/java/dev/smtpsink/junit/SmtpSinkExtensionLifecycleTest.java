package dev.smtpsink.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.smtpsink.testcontainers.SmtpSinkClient;
import dev.smtpsink.testcontainers.SmtpSinkContainer;
import dev.smtpsink.v1.Stage;
import java.net.URI;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * What happens around the tests: each test here runs fixture classes through a JUnit launcher of
 * its own (a run inside this run, with a root store of its own) and checks what the extension did
 * once that run ended: a sink already running (here: this run's own sink, named through the
 * smtpsink.*.addr parameters, which precede SMTPSINK_SMTP_ADDR and SMTPSINK_GRPC_ADDR) is used
 * and left running, and each mailbox's mail and rules are gone; a container started for the run is
 * shared by its classes and stopped at its end.
 */
@SmtpSinkTest
class SmtpSinkExtensionLifecycleTest {

  /** What the fixtures saw, by key; filled by the inner runs. */
  static final Map<String, Object> SEEN = new ConcurrentHashMap<>();

  /** Fixtures run only inside an inner run, never on their own. */
  static boolean innerRun(ExtensionContext context) {
    return context.getConfigurationParameter("smtpsink.test.inner").isPresent();
  }

  static TestExecutionSummary launch(Map<String, String> params, Class<?>... classes) {
    SEEN.clear();
    LauncherDiscoveryRequest request =
        LauncherDiscoveryRequestBuilder.request()
            .selectors(Arrays.stream(classes).map(DiscoverySelectors::selectClass).toList())
            .configurationParameters(params)
            .configurationParameter("smtpsink.test.inner", "true")
            .build();
    SummaryGeneratingListener listener = new SummaryGeneratingListener();
    LauncherFactory.create().execute(request, listener);
    return listener.getSummary();
  }

  static String failures(TestExecutionSummary summary) {
    StringBuilder b = new StringBuilder();
    summary.getFailures().forEach(f -> b.append(f.getException()).append('\n'));
    return b.toString();
  }

  /** Sends mail and sets a rule, as a test would, and leaves both for the extension. */
  @SmtpSinkTest
  @EnabledIf("dev.smtpsink.junit.SmtpSinkExtensionLifecycleTest#innerRun")
  static class LeavesMailAndARule {
    @Test
    void fixture(Mailbox mb, SmtpSink sink) throws Exception {
      SEEN.put("sink", sink);
      SEEN.put("domain", mb.domain());
      mb.webUrl().ifPresent(u -> SEEN.put("webUrl", u));
      mb.reject(Stage.RCPT_TO, "bounce", 550, "left behind");
      TestMail.send(mb, mb.address("app"), mb.address("alice"), "left behind");
      assertEquals(1, mb.waitFor(1, Duration.ofSeconds(20)).size());
    }
  }

  @Test
  void aRunningSinkIsUsedAndLeftRunningAndEachMailboxIsCleanedUp(SmtpSink outer) {
    SmtpSinkExtensionTest.assertOneSinkPerRun(outer);
    URI web = URI.create(outer.webUrl().orElseThrow());
    Map<String, String> params = new HashMap<>();
    params.put("smtpsink.smtp.addr", outer.smtpHost() + ":" + outer.smtpPort());
    params.put("smtpsink.grpc.addr", outer.grpcTarget());
    params.put("smtpsink.http.addr", web.getHost() + ":" + web.getPort());

    TestExecutionSummary summary = launch(params, LeavesMailAndARule.class);
    assertEquals(1, summary.getTestsSucceededCount(), failures(summary));

    SmtpSink inner = (SmtpSink) SEEN.get("sink");
    assertNotNull(inner, "the fixture ran");
    assertTrue(inner.container().isEmpty(), "no container for a running sink");
    assertEquals(outer.smtpPort(), inner.smtpPort());
    assertEquals(outer.webUrl().orElseThrow(), SEEN.get("webUrl"));
    String domain = (String) SEEN.get("domain");
    SmtpSinkClient client = outer.client();
    assertTrue(outer.container().orElseThrow().isRunning(), "the running sink is left running");
    assertEquals(List.of(), client.listMessages(SmtpSinkClient.rcptTo("*@" + domain)), "mail left");
    assertFalse(
        client.rejectRules().stream().anyMatch(r -> r.getMatch().endsWith("@" + domain)),
        "rule left");
  }

  @Test
  void runningSinkNeedsBothAddressesAsHostPortAndHttpOnlyWithThem(SmtpSink outer) {
    Map<String, String> onlySmtp = Map.of("smtpsink.smtp.addr", "localhost:" + outer.smtpPort());
    assertConfigurationError(launch(onlySmtp, LeavesMailAndARule.class), "set both");
    Map<String, String> noPort =
        Map.of("smtpsink.smtp.addr", "localhost", "smtpsink.grpc.addr", outer.grpcTarget());
    assertConfigurationError(launch(noPort, LeavesMailAndARule.class), "expected HOST:PORT");
    Map<String, String> onlyHttp = Map.of("smtpsink.http.addr", "localhost:8025");
    assertConfigurationError(launch(onlyHttp, LeavesMailAndARule.class), "set SMTPSINK_SMTP_ADDR");
  }

  static void assertConfigurationError(TestExecutionSummary summary, String message) {
    assertEquals(1, summary.getTestsFailedCount(), failures(summary));
    Throwable e = summary.getFailures().get(0).getException();
    while (!(e instanceof ExtensionConfigurationException) && e.getCause() != null) {
      e = e.getCause(); // JUnit wraps it in a ParameterResolutionException
    }
    assertInstanceOf(ExtensionConfigurationException.class, e);
    assertTrue(e.getMessage().contains(message), e.getMessage());
    assertTrue(SEEN.isEmpty(), "the fixture did not run");
  }

  /** Two classes of one run: each records the sink it got. */
  @SmtpSinkTest
  @EnabledIf("dev.smtpsink.junit.SmtpSinkExtensionLifecycleTest#innerRun")
  static class FirstClass {
    @Test
    void fixture(SmtpSink sink) {
      SEEN.put("first", sink);
      SEEN.put("maxMessageSize", sink.client().serverInfo().getMaxMessageSize());
    }
  }

  @SmtpSinkTest
  @EnabledIf("dev.smtpsink.junit.SmtpSinkExtensionLifecycleTest#innerRun")
  static class SecondClass {
    @Test
    void fixture(SmtpSink sink) {
      SEEN.put("second", sink);
    }
  }

  @Test
  void aContainerStartedForARunIsSharedByItsClassesAndStoppedAtItsEnd() {
    assumeTrue(
        System.getenv(SmtpSinkExtension.SMTP_ADDR_ENV) == null,
        "a running sink is configured: this run starts no container");
    Map<String, String> params = new HashMap<>();
    params.put("smtpsink.args", " --max-message-size  3M ");
    // explicit parameters hide the system properties: keep the run's labels (CI cleanup)
    String runLabels = System.getProperty("smtpsink.labels", "");
    params.put(
        "smtpsink.labels", (runLabels.isBlank() ? "" : runLabels + ",") + "dev.smtpsink.fixture=lifecycle");

    TestExecutionSummary summary = launch(params, FirstClass.class, SecondClass.class);
    assertEquals(2, summary.getTestsSucceededCount(), failures(summary));

    SmtpSink sink = (SmtpSink) SEEN.get("first");
    assertSame(sink, SEEN.get("second"), "one sink per run");
    SmtpSinkContainer c = sink.container().orElseThrow();
    assertFalse(c.isRunning(), "stopped at the end of the run");
    assertEquals(3L << 20, SEEN.get("maxMessageSize"), "smtpsink.args reach the server");
    assertEquals("lifecycle", c.getLabels().get("dev.smtpsink.fixture"));
  }
}
