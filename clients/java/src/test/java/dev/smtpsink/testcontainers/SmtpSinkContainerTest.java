package dev.smtpsink.testcontainers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.smtpsink.v1.Attachment;
import dev.smtpsink.v1.Filter;
import dev.smtpsink.v1.Message;
import dev.smtpsink.v1.RejectRule;
import dev.smtpsink.v1.RelayState;
import dev.smtpsink.v1.RelayStatus;
import dev.smtpsink.v1.Stage;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import jakarta.activation.DataHandler;
import jakarta.mail.Address;
import jakarta.mail.MessagingException;
import jakarta.mail.SendFailedException;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeBodyPart;
import jakarta.mail.internet.MimeMessage;
import jakarta.mail.internet.MimeMultipart;
import jakarta.mail.util.ByteArrayDataSource;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.angus.mail.smtp.SMTPAddressFailedException;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

/**
 * Starts ONE smtpsink container through the module (image from -Dsmtpsink.image or
 * $SMTPSINK_IMAGE, default smtpsink:latest) and sends mail to it with Jakarta Mail (Angus Mail).
 * Every test uses its own recipient addresses and filters on them, which is what lets tests share
 * the container and run in parallel.
 */
@Testcontainers
class SmtpSinkContainerTest {

  @Container
  static final SmtpSinkContainer SINK =
      new SmtpSinkContainer(image())
          .withLabels(testLabels())
          .withEnv("SMTPSINK_MAX_MESSAGE_SIZE", "10M");

  private static final long RUN_ID = System.currentTimeMillis();
  private static final AtomicLong SEQ = new AtomicLong();

  /**
   * Labels on the containers these tests start: dev.smtpsink.test names the suite, and
   * dev.smtpsink.run=$SMTPSINK_CI_RUN (set by .ci/lib.sh) the CI run whose cleanup removes them,
   * also after a crash, and leaves other runs' containers alone.
   */
  static Map<String, String> testLabels() {
    Map<String, String> labels = new HashMap<>();
    labels.put("dev.smtpsink.test", "clients-java");
    String run = System.getenv("SMTPSINK_CI_RUN");
    if (run != null && !run.isEmpty()) {
      labels.put("dev.smtpsink.run", run);
    }
    return labels;
  }

  static String image() {
    String img = System.getProperty("smtpsink.image");
    if (img == null || img.isEmpty()) {
      img = System.getenv("SMTPSINK_IMAGE");
    }
    return img == null || img.isEmpty() ? SmtpSinkContainer.DEFAULT_IMAGE : img;
  }

  /** A recipient address no other test uses. */
  static String uniqueAddress(String local) {
    return local + "-" + RUN_ID + "-" + SEQ.incrementAndGet() + "@example.test";
  }

  static Session mailSession(Properties extra) {
    Properties props = new Properties();
    props.put("mail.smtp.host", SINK.getSmtpHost());
    props.put("mail.smtp.port", String.valueOf(SINK.getSmtpPort()));
    props.put("mail.smtp.localhost", "client.example.test");
    props.put("mail.smtp.connectiontimeout", "10000");
    props.put("mail.smtp.timeout", "10000");
    props.putAll(extra);
    return Session.getInstance(props);
  }

  static MimeMessage textMessage(Session session, String from, String to, String subject, String body)
      throws MessagingException {
    MimeMessage msg = new MimeMessage(session);
    msg.setFrom(new InternetAddress(from));
    msg.setRecipients(jakarta.mail.Message.RecipientType.TO, to);
    msg.setSubject(subject, "UTF-8");
    msg.setText(body, "UTF-8");
    return msg;
  }

  static String normalizeNewlines(String s) {
    return s.replace("\r\n", "\n").replaceAll("\n+$", "");
  }

  @Test
  void messageWithAttachmentArrivesWithEnvelopeSubjectBodyAndAttachment() throws Exception {
    SmtpSinkClient sink = SINK.client();
    String bounce = uniqueAddress("bounces"); // envelope sender, not the From header
    String from = "App <app@example.test>";
    String to = uniqueAddress("alice");
    String bcc = uniqueAddress("audit"); // envelope only
    String subject = "Grüße: your report";
    String text = "Hello Alice,\n.this line starts with a dot\nthe report is attached: 12 € due.\n";
    byte[] pdf = new byte[3000];
    for (int i = 0; i < pdf.length; i++) {
      pdf[i] = (byte) (i * 7);
    }

    Properties extra = new Properties();
    extra.put("mail.smtp.from", bounce);
    Session session = mailSession(extra);
    MimeMessage msg = new MimeMessage(session);
    msg.setFrom(new InternetAddress(from));
    msg.setRecipients(jakarta.mail.Message.RecipientType.TO, to);
    msg.setSubject(subject, "UTF-8");
    MimeBodyPart textPart = new MimeBodyPart();
    textPart.setText(text, "UTF-8");
    MimeBodyPart filePart = new MimeBodyPart();
    filePart.setDataHandler(new DataHandler(new ByteArrayDataSource(pdf, "application/pdf")));
    filePart.setFileName("report.pdf");
    filePart.setDisposition(MimeBodyPart.ATTACHMENT);
    msg.setContent(new MimeMultipart(textPart, filePart));
    msg.saveChanges();
    ByteArrayOutputStream sent = new ByteArrayOutputStream();
    msg.writeTo(sent);

    // Wait first, send second: the server wakes the wait when the message is stored.
    CompletableFuture<List<Message>> waiting =
        CompletableFuture.supplyAsync(
            () -> sink.waitForMessages(SmtpSinkClient.rcptTo(to), 1, Duration.ofSeconds(20)));
    try (Transport transport = session.getTransport("smtp")) {
      transport.connect();
      transport.sendMessage(
          msg, new Address[] {new InternetAddress(to), new InternetAddress(bcc)});
    }
    List<Message> got = waiting.get(30, TimeUnit.SECONDS);

    assertEquals(1, got.size(), "messages for " + to);
    Message m = got.get(0);
    assertEquals(bounce, m.getMailFrom(), "envelope sender");
    assertEquals(List.of(to, bcc), m.getRcptToList(), "envelope recipients");
    assertTrue(m.getFrom().contains("app@example.test"), "From header: " + m.getFrom());
    assertEquals(1, m.getToCount(), "To header: " + m.getToList());
    assertTrue(m.getTo(0).contains(to), "To header: " + m.getToList());
    assertEquals(subject, m.getSubject());
    assertEquals(normalizeNewlines(text), normalizeNewlines(m.getTextBody()));
    assertEquals(sent.size(), m.getSize(), "size");
    assertEquals(1, m.getAttachmentsCount(), "attachments: " + m.getAttachmentsList());
    Attachment a = m.getAttachments(0);
    assertEquals("report.pdf", a.getFilename());
    assertTrue(a.getContentType().toLowerCase().startsWith("application/pdf"), a.getContentType());
    assertEquals(pdf.length, a.getSize());
    assertTrue(a.getContent().isEmpty(), "wait results carry no attachment content");

    Message full = sink.getMessage(m.getId(), true);
    assertArrayEquals(sent.toByteArray(), full.getRaw().toByteArray(), "raw bytes as sent");
    assertArrayEquals(pdf, full.getAttachments(0).getContent().toByteArray(), "attachment bytes");
  }

  @Test
  void rejectRuleIsSeenByJakartaMailAsSmtpError() throws Exception {
    SmtpSinkClient sink = SINK.client();
    String from = uniqueAddress("sender");
    String blocked = uniqueAddress("blocked");
    String accepted = uniqueAddress("bob");
    RejectRule rule =
        sink.rejectRule(
            RejectRule.newBuilder()
                .setStage(Stage.RCPT_TO)
                .setMatch(blocked)
                .setCode(550)
                .setEnhancedCode("5.1.1")
                .setMessage("no such user here")
                .build());
    assertFalse(rule.getId().isEmpty(), "rule id");
    try {
      Properties extra = new Properties();
      extra.put("mail.smtp.sendpartial", "true"); // deliver to the recipients that were accepted
      Session session = mailSession(extra);
      MimeMessage msg = textMessage(session, from, accepted, "partly rejected", "hi");

      SendFailedException e =
          assertThrows(
              SendFailedException.class,
              () ->
                  Transport.send(
                      msg,
                      new Address[] {new InternetAddress(blocked), new InternetAddress(accepted)}));
      assertEquals(1, e.getInvalidAddresses().length, "invalid addresses");
      assertEquals(blocked, ((InternetAddress) e.getInvalidAddresses()[0]).getAddress());
      SMTPAddressFailedException rcptError =
          assertInstanceOf(SMTPAddressFailedException.class, e.getNextException());
      assertEquals(550, rcptError.getReturnCode());
      assertTrue(
          rcptError.getMessage().contains("5.1.1 no such user here"), rcptError.getMessage());

      List<Message> got =
          sink.waitForMessages(SmtpSinkClient.rcptTo(accepted), 1, Duration.ofSeconds(20));
      assertEquals(1, got.size());
      assertEquals(List.of(accepted), got.get(0).getRcptToList(), "only the accepted recipient");
      assertTrue(sink.listMessages(SmtpSinkClient.rcptTo(blocked)).isEmpty());

      RejectRule listed =
          sink.rejectRules().stream()
              .filter(r -> r.getId().equals(rule.getId()))
              .findFirst()
              .orElseThrow();
      assertEquals(1, listed.getHits(), "rule hits");
    } finally {
      assertEquals(1, sink.deleteRejectRule(rule.getId()));
    }
  }

  /** Container settings reach the server (SMTPSINK_MAX_MESSAGE_SIZE above). */
  @Test
  void containerEnvironmentReachesTheServer() {
    assertEquals(10L << 20, SINK.client().serverInfo().getMaxMessageSize());
    assertEquals(SINK.getHost(), SINK.getSmtpHost());
    assertEquals(SINK.getMappedPort(SmtpSinkContainer.SMTP_PORT), SINK.getSmtpPort());
  }

  /**
   * getWebUrl() reaches the HTTP side through the mapped port: the probe, the Mailpit-compatible
   * info (counting a message just sent), the JSON form of an RPC (answering as gRPC does) and the UI.
   */
  @Test
  void webUrlServesTheHttpApiAndTheUi() throws Exception {
    String web = SINK.getWebUrl();
    assertEquals(
        "http://" + SINK.getHost() + ":" + SINK.getMappedPort(SmtpSinkContainer.HTTP_PORT) + "/",
        web);
    assertEquals(SINK.getMappedPort(SmtpSinkContainer.HTTP_PORT), SINK.getHttpPort());
    String to = uniqueAddress("web");
    Transport.send(textMessage(mailSession(new Properties()), to, to, "over http", "hi"));
    SINK.client().waitForMessages(SmtpSinkClient.rcptTo(to), 1, Duration.ofSeconds(20));

    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    HttpResponse<String> health = http.send(get(web + "healthz"), BodyHandlers.ofString());
    assertEquals(200, health.statusCode());
    assertEquals("ok", health.body().strip());

    HttpResponse<String> info = http.send(get(web + "api/v1/info"), BodyHandlers.ofString());
    assertEquals(200, info.statusCode(), info.body());
    Matcher messages = Pattern.compile("\"Messages\":\\s*(\\d+)").matcher(info.body());
    assertTrue(messages.find(), info.body());
    assertTrue(Long.parseLong(messages.group(1)) >= 1, info.body());

    HttpResponse<String> rpc =
        http.send(
            HttpRequest.newBuilder(URI.create(web + "smtpsink.v1.Sink/GetServerInfo"))
                .timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/json")
                .POST(BodyPublishers.ofString("{}"))
                .build(),
            BodyHandlers.ofString());
    assertEquals(200, rpc.statusCode(), rpc.body());
    String version = SINK.client().serverInfo().getVersion();
    assertFalse(version.isEmpty());
    assertTrue(rpc.body().contains("\"version\":\"" + version + "\""), rpc.body());

    HttpResponse<String> ui = http.send(get(web), BodyHandlers.ofString());
    assertEquals(200, ui.statusCode());
    assertTrue(
        ui.headers().firstValue("Content-Type").orElse("").startsWith("text/html"),
        ui.headers().map().toString());
  }

  static HttpRequest get(String url) {
    return HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build();
  }

  @Test
  void waitForMessagesTimesOutWithDeadlineExceeded() {
    SmtpSinkClient sink = SINK.client();
    Filter nobody = SmtpSinkClient.rcptTo(uniqueAddress("nobody"));
    long start = System.nanoTime();
    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> sink.waitForMessages(nobody, 1, Duration.ofMillis(300)));
    assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
    assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(300));
  }

  /**
   * The container releases a stored message to itself ({@code smtp://127.0.0.1:1025} is the
   * container's own SMTP port): the copy arrives with the overridden envelope and the same bytes,
   * and the original records RELAYED. {@link ReleaseTest} checks the request the client builds
   * against a stand-in server.
   */
  @Test
  void releaseThroughTheRealServerToItsOwnSmtpPort() throws Exception {
    SmtpSinkClient sink = SINK.client();
    String from = uniqueAddress("app");
    String rcpt = uniqueAddress("rel");
    String other = uniqueAddress("copy");
    String bounce = uniqueAddress("bounce");
    // Angus Mail dot-stuffs the line starting with "." on the wire
    byte[] body =
        ("Subject: release " + rcpt + "\r\n\r\n.leading dot\r\nbody\r\n")
            .getBytes(StandardCharsets.US_ASCII);
    Properties extra = new Properties();
    extra.put("mail.smtp.from", from);
    Session session = mailSession(extra);
    MimeMessage msg = new MimeMessage(session, new ByteArrayInputStream(body));
    ByteArrayOutputStream sent = new ByteArrayOutputStream();
    msg.writeTo(sent);
    assertArrayEquals(body, sent.toByteArray(), "the message as Angus Mail sends it");
    try (Transport transport = session.getTransport("smtp")) {
      transport.connect();
      transport.sendMessage(msg, new Address[] {new InternetAddress(rcpt)});
    }
    List<Message> got =
        sink.waitForMessages(SmtpSinkClient.rcptTo(rcpt), 1, Duration.ofSeconds(10));
    assertEquals(1, got.size(), "messages for " + rcpt);
    Message m = got.get(0);

    RelayStatus st = sink.release(m.getId(), List.of(other), bounce, "smtp://127.0.0.1:1025");
    assertEquals(RelayState.RELAY_STATE_RELAYED, st.getState(), st.toString());
    assertEquals(1, st.getAttempts(), st.toString());
    assertEquals(List.of(other), st.getRcptToList());
    assertTrue(st.getLastReply().startsWith("250"), st.getLastReply());

    List<Message> copies =
        sink.waitForMessages(SmtpSinkClient.rcptTo(other), 1, Duration.ofSeconds(10));
    assertEquals(1, copies.size(), "copies for " + other);
    assertEquals(bounce, copies.get(0).getMailFrom(), "the copy's envelope sender");
    Message orig = sink.getMessage(m.getId(), false);
    assertArrayEquals(body, orig.getRaw().toByteArray(), "the original's raw bytes");
    assertArrayEquals(
        orig.getRaw().toByteArray(),
        sink.getMessage(copies.get(0).getId(), false).getRaw().toByteArray(),
        "the copy's raw bytes");
    assertEquals(RelayState.RELAY_STATE_RELAYED, orig.getRelay().getState());

    StatusRuntimeException e =
        assertThrows(
            StatusRuntimeException.class,
            () -> sink.release(m.getId() + 1_000_000_000L, null, null, "smtp://127.0.0.1:1025"));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
  }

  /**
   * Two tests that run at the same time (JUnit parallel execution, see junit-platform.properties)
   * against the one container, each with its own recipient. The barriers make them fail instead of
   * passing vacuously if they do not really run concurrently, and make sure each one lists and
   * clears while the other's mail is stored in the same sink.
   */
  @Nested
  @Execution(ExecutionMode.CONCURRENT)
  class ParallelTests {
    static final int PER_TEST = 3;
    static final CyclicBarrier STARTED = new CyclicBarrier(2);
    static final CyclicBarrier STORED = new CyclicBarrier(2);
    static final CyclicBarrier LISTED = new CyclicBarrier(2);

    @Test
    void carolSeesOnlyHerMail() throws Exception {
      runIsolated("carol");
    }

    @Test
    void daveSeesOnlyHisMail() throws Exception {
      runIsolated("dave");
    }

    void runIsolated(String name) throws Exception {
      SmtpSinkClient sink = SINK.client();
      String rcpt = uniqueAddress(name);
      String from = uniqueAddress("sender");
      Filter mine = SmtpSinkClient.rcptTo(rcpt);
      Session session = mailSession(new Properties());
      STARTED.await(30, TimeUnit.SECONDS);

      for (int i = 0; i < PER_TEST; i++) {
        Transport.send(textMessage(session, from, rcpt, name + " #" + i, "for " + name));
      }
      checkOwn(name, rcpt, sink.waitForMessages(mine, PER_TEST, Duration.ofSeconds(20)));

      STORED.await(30, TimeUnit.SECONDS); // both tests' mail is now in the sink
      checkOwn(name, rcpt, sink.listMessages(mine));
      LISTED.await(30, TimeUnit.SECONDS);

      assertEquals(PER_TEST, sink.clear(mine), "deleted by clear");
      assertTrue(sink.listMessages(mine).isEmpty(), "after clear");
    }

    void checkOwn(String name, String rcpt, List<Message> msgs) {
      assertEquals(PER_TEST, msgs.size(), name + " sees " + msgs.size() + " messages");
      for (Message m : msgs) {
        assertEquals(List.of(rcpt), m.getRcptToList(), name + " sees someone else's mail");
        assertTrue(m.getSubject().startsWith(name + " #"), m.getSubject());
      }
    }
  }
}
