package dev.smtpsink.junit;

import dev.smtpsink.testcontainers.SmtpSinkClient;
import dev.smtpsink.v1.Filter;
import dev.smtpsink.v1.Message;
import dev.smtpsink.v1.RejectRule;
import dev.smtpsink.v1.Stage;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * One test's share of the {@link SmtpSink}: every address in a domain unique to the test, and
 * helpers that see only mail to that domain. {@link SmtpSinkExtension} makes one per test and, after
 * the test (after its {@code @AfterEach} methods), deletes the reject rules it added and clears its
 * mail, and nothing else: tests running in parallel against one sink never see, wait on, bounce or
 * clear each other's mail.
 *
 * <p>The helpers that take a {@link Filter} narrow this mailbox's filter with it (subject, body,
 * sender, ...); its {@code rcpt_to} may name a local part ({@code "alice"}) or an address of this
 * mailbox, and anything outside the domain is an {@link IllegalArgumentException}. Thread-safe.
 */
public final class Mailbox {

  /** Stages whose match is on an address, so the mailbox's domain can scope them. */
  private static final Set<Stage> SCOPED_STAGES = Set.of(Stage.MAIL_FROM, Stage.RCPT_TO, Stage.DATA);

  private static final Pattern GLOB_META = Pattern.compile("[*?\\[\\]\\\\]");
  private static final Pattern NON_LABEL = Pattern.compile("[^a-z0-9-]+");

  private final SmtpSink sink;
  private final String domain;
  private final List<String> rules = new ArrayList<>();

  Mailbox(SmtpSink sink, String domain) {
    this.sink = sink;
    this.domain = domain;
  }

  /**
   * A DNS-safe domain unique to one test: a random label, then the test's name (for reading logs),
   * under smtpsink.test, e.g. {@code t-1f2e3d4c5b6a.welcome.smtpsink.test}.
   */
  static String domainFor(String testName) {
    String label = strip(NON_LABEL.matcher(testName.toLowerCase(Locale.ROOT)).replaceAll("-"));
    if (label.length() > 40) {
      label = strip(label.substring(0, 40));
    }
    if (label.isEmpty()) {
      label = "test";
    }
    String random = UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    return "t-" + random + "." + label + ".smtpsink.test";
  }

  private static String strip(String s) {
    return s.replaceAll("^-+|-+$", "");
  }

  /** The domain every address of this mailbox is in. */
  public String domain() {
    return domain;
  }

  /**
   * {@code local@domain()}.
   *
   * @throws IllegalArgumentException for an empty local part or one holding '@' or glob characters
   */
  public String address(String local) {
    if (local == null || local.isEmpty() || local.contains("@") || GLOB_META.matcher(local).find()) {
      throw new IllegalArgumentException(
          "local part '" + local + "': non-empty, without '@' or glob characters");
    }
    return local + "@" + domain;
  }

  /** The filter every call of this mailbox starts from: any recipient in its domain. */
  public Filter filter() {
    return Filter.newBuilder().setRcptTo("*@" + domain).build();
  }

  /** {@code f} (null: {@link #filter()}) with its recipient bound to this mailbox. */
  Filter scoped(Filter f) {
    if (f == null) {
      return filter();
    }
    String rcpt = f.getRcptTo();
    if (rcpt.isEmpty()) {
      rcpt = "*@" + domain;
    } else if (!rcpt.contains("@")) {
      rcpt = rcpt + "@" + domain;
    } else if (!rcpt.toLowerCase(Locale.ROOT).endsWith("@" + domain)) {
      throw new IllegalArgumentException(
          "rcpt_to '" + rcpt + "' is outside this mailbox (@" + domain + ")");
    }
    return f.toBuilder().setRcptTo(rcpt).build();
  }

  /**
   * All of this mailbox's messages, in id order, as soon as at least {@code count} are stored. The
   * server wakes the call: nothing polls.
   *
   * @throws AssertionError when fewer than {@code count} arrived within {@code timeout}
   */
  public List<Message> waitFor(int count, Duration timeout) {
    return waitFor(count, timeout, null);
  }

  /**
   * All of this mailbox's messages matching {@code filter} (see the class comment), as soon as at
   * least {@code count} match.
   *
   * @throws AssertionError when fewer than {@code count} matched within {@code timeout}
   */
  public List<Message> waitFor(int count, Duration timeout, Filter filter) {
    Filter f = scoped(filter);
    try {
      return client().waitForMessages(f, count, timeout);
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.DEADLINE_EXCEEDED) {
        throw e;
      }
      AssertionError fail =
          new AssertionError(
              "smtpsink mailbox @"
                  + domain
                  + ": expected "
                  + Math.max(count, 1)
                  + " message(s) within "
                  + timeout
                  + ": "
                  + e.getStatus().getDescription());
      fail.initCause(e);
      throw fail;
    }
  }

  /** This mailbox's stored messages, in id order (without raw bytes or attachment data). */
  public List<Message> messages() {
    return messages(null);
  }

  /** This mailbox's stored messages matching {@code filter} (see the class comment). */
  public List<Message> messages(Filter filter) {
    return client().listMessages(scoped(filter));
  }

  /** Deletes this mailbox's messages; returns how many. */
  public long clear() {
    return clear(null);
  }

  /** Deletes this mailbox's messages matching {@code filter}; returns how many. */
  public long clear(Filter filter) {
    return client().clear(scoped(filter));
  }

  /**
   * Adds a reject rule bound to this mailbox and deleted after the test: at {@code stage} ({@code
   * RCPT_TO}: that recipient; {@code MAIL_FROM}: the sender; {@code DATA}: any recipient) for the
   * addresses {@code localGlob@domain()} ({@code "*"}: all of them), answering {@code code
   * message}.
   *
   * @throws IllegalArgumentException for another stage (use {@code client().rejectRule} for
   *     server-wide rules) or a glob that is empty, holds '@' or ends in a backslash
   */
  public RejectRule reject(Stage stage, String localGlob, int code, String message) {
    return reject(stage, localGlob, code, message, null);
  }

  /**
   * As {@link #reject(Stage, String, int, String)}, with the rule's other fields (enhanced code,
   * times, delay, disconnect) taken from {@code options} (null: none).
   */
  public RejectRule reject(
      Stage stage, String localGlob, int code, String message, RejectRule options) {
    RejectRule rule = client().rejectRule(rejectRule(stage, localGlob, code, message, options));
    synchronized (rules) {
      rules.add(rule.getId());
    }
    return rule;
  }

  /** The rule {@link #reject(Stage, String, int, String, RejectRule)} sends. */
  RejectRule rejectRule(
      Stage stage, String localGlob, int code, String message, RejectRule options) {
    if (!SCOPED_STAGES.contains(stage)) {
      throw new IllegalArgumentException(
          "stage "
              + stage
              + ": a mailbox binds only MAIL_FROM, RCPT_TO and DATA rules"
              + " (use client().rejectRule for server-wide ones)");
    }
    if (localGlob == null
        || localGlob.isEmpty()
        || localGlob.contains("@")
        || localGlob.endsWith("\\")) {
      throw new IllegalArgumentException(
          "local part glob '" + localGlob + "': non-empty, without '@', no trailing '\\'");
    }
    RejectRule.Builder b = RejectRule.newBuilder();
    if (options != null) {
      b.setEnhancedCode(options.getEnhancedCode())
          .setTimes(options.getTimes())
          .setDelayMs(options.getDelayMs())
          .setDisconnect(options.getDisconnect());
    }
    return b.setStage(stage)
        .setMatch(localGlob + "@" + domain)
        .setCode(code)
        .setMessage(message == null ? "" : message)
        .build();
  }

  /** Host to send mail to. */
  public String smtpHost() {
    return sink.smtpHost();
  }

  /** Port to send mail to. */
  public int smtpPort() {
    return sink.smtpPort();
  }

  /** The sink's web UI, when known (see {@link SmtpSink#webUrl()}). */
  public Optional<String> webUrl() {
    return sink.webUrl();
  }

  /** The shared sink. */
  public SmtpSink sink() {
    return sink;
  }

  /** The sink's unfiltered client, for what the helpers do not cover; do not close it. */
  public SmtpSinkClient client() {
    return sink.client();
  }

  /** Teardown: deletes this mailbox's rules, then its mail; nothing else is touched. */
  void close() {
    List<String> ids;
    synchronized (rules) {
      ids = new ArrayList<>(rules);
      rules.clear();
    }
    for (String id : ids) {
      client().deleteRejectRule(id);
    }
    client().clear(filter());
  }

  @Override
  public String toString() {
    return "Mailbox @" + domain;
  }
}
