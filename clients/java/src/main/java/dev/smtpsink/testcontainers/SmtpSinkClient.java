package dev.smtpsink.testcontainers;

import dev.smtpsink.v1.ClearRequest;
import dev.smtpsink.v1.DeleteRejectRuleRequest;
import dev.smtpsink.v1.Filter;
import dev.smtpsink.v1.GetMessageRequest;
import dev.smtpsink.v1.GetServerInfoRequest;
import dev.smtpsink.v1.ListMessagesRequest;
import dev.smtpsink.v1.ListRejectRulesRequest;
import dev.smtpsink.v1.Message;
import dev.smtpsink.v1.RejectRule;
import dev.smtpsink.v1.RelayStatus;
import dev.smtpsink.v1.ReleaseMessageRequest;
import dev.smtpsink.v1.ServerInfo;
import dev.smtpsink.v1.SinkGrpc;
import dev.smtpsink.v1.Stage;
import dev.smtpsink.v1.WaitForMessagesRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;

/**
 * Control client of one smtpsink, over its gRPC API. Thread-safe.
 *
 * <p>Every method that reads or deletes mail takes a {@link Filter} (case-insensitive globs;
 * {@code null} matches everything). Tests sharing one sink stay isolated by filtering on their own
 * recipients, e.g. {@code SmtpSinkClient.rcptTo("alice-123@example.test")}.
 *
 * <p>Errors surface as {@link io.grpc.StatusRuntimeException}: {@code DEADLINE_EXCEEDED} when
 * {@link #waitForMessages} times out, {@code NOT_FOUND} for a message that is gone, {@code
 * INVALID_ARGUMENT} for a bad glob or rule.
 */
public final class SmtpSinkClient implements AutoCloseable {

  /** Extra RPC deadline past the wait timeout, so the server's own timeout status arrives. */
  private static final Duration WAIT_GRACE = Duration.ofSeconds(5);

  private final ManagedChannel channel;
  private final SinkGrpc.SinkBlockingStub stub;

  /** Connects without TLS to host:port. */
  public SmtpSinkClient(String host, int port) {
    this(ManagedChannelBuilder.forAddress(host, port).usePlaintext().build());
  }

  /** Uses a channel built by the caller; {@link #close()} shuts it down. */
  public SmtpSinkClient(ManagedChannel channel) {
    this.channel = channel;
    this.stub = SinkGrpc.newBlockingStub(channel);
  }

  /** Filter on one envelope recipient (a glob). */
  public static Filter rcptTo(String glob) {
    return Filter.newBuilder().setRcptTo(glob).build();
  }

  /** The generated blocking stub, for the RPCs the helpers do not wrap. */
  public SinkGrpc.SinkBlockingStub stub() {
    return stub;
  }

  /** The underlying channel (e.g. for async or streaming stubs such as WatchMessages). */
  public ManagedChannel channel() {
    return channel;
  }

  /**
   * Returns, as soon as at least {@code count} (minimum 1) stored messages match {@code filter},
   * all the matching messages in id order. The server wakes the call when a message is stored;
   * nothing polls.
   *
   * @throws io.grpc.StatusRuntimeException with code DEADLINE_EXCEEDED after {@code timeout}; its
   *     description says how many messages matched
   */
  public List<Message> waitForMessages(Filter filter, int count, Duration timeout) {
    WaitForMessagesRequest req =
        WaitForMessagesRequest.newBuilder()
            .setFilter(orAll(filter))
            .setCount(Math.max(count, 1))
            .setTimeout(
                com.google.protobuf.Duration.newBuilder()
                    .setSeconds(timeout.getSeconds())
                    .setNanos(timeout.getNano()))
            .build();
    return stub.withDeadlineAfter(timeout.plus(WAIT_GRACE).toMillis(), TimeUnit.MILLISECONDS)
        .waitForMessages(req)
        .getMessagesList();
  }

  /** Stored messages matching {@code filter}, in id order, without raw bytes or attachment data. */
  public List<Message> listMessages(Filter filter) {
    return stub.listMessages(ListMessagesRequest.newBuilder().setFilter(orAll(filter)).build())
        .getMessagesList();
  }

  /** One message with its raw bytes and, if asked, the attachments' decoded contents. */
  public Message getMessage(long id, boolean withAttachments) {
    return stub.getMessage(
        GetMessageRequest.newBuilder()
            .setId(id)
            .setIncludeRaw(true)
            .setIncludeAttachments(withAttachments)
            .build());
  }

  /**
   * Deletes the messages matching {@code filter} and returns how many. A null or empty filter
   * deletes everything: with a shared sink, pass your own recipient filter.
   */
  public long clear(Filter filter) {
    return stub.clear(ClearRequest.newBuilder().setFilter(orAll(filter)).build()).getDeleted();
  }

  /** Adds a reject / fault-injection rule; returns it with its server-assigned id. */
  public RejectRule rejectRule(RejectRule rule) {
    return stub.setRejectRule(rule);
  }

  /** Adds a rule replying {@code code message} at {@code stage} when {@code match} matches. */
  public RejectRule rejectRule(Stage stage, String match, int code, String message) {
    return rejectRule(
        RejectRule.newBuilder()
            .setStage(stage)
            .setMatch(match)
            .setCode(code)
            .setMessage(message)
            .build());
  }

  /** The rules in creation order, with their hit counts. */
  public List<RejectRule> rejectRules() {
    return stub.listRejectRules(ListRejectRulesRequest.getDefaultInstance()).getRulesList();
  }

  /** Deletes the rule with this id (an empty id deletes all); returns how many were deleted. */
  public long deleteRejectRule(String id) {
    return stub.deleteRejectRule(DeleteRejectRuleRequest.newBuilder().setId(id).build())
        .getDeleted();
  }

  /**
   * Forwards stored message {@code id} to an upstream SMTP server now (ReleaseMessage), as
   * received, to the server's {@code --relay-url}, and returns the final status.
   */
  public RelayStatus release(long id) {
    return release(id, null, null, null);
  }

  /**
   * Forwards stored message {@code id} to an upstream SMTP server now (ReleaseMessage) and returns
   * the final status: state, attempts, last reply and the upstream's replies. The server works
   * within a 60 s deadline.
   *
   * @param rcptTo these recipients instead of the message's own; null or empty: its own
   * @param mailFrom this envelope sender instead of the message's own ("" = the null sender);
   *     null: its own
   * @param relayUrl e.g. {@code smtp://mailpit:1025}; null: the server's {@code --relay-url}
   */
  public RelayStatus release(long id, List<String> rcptTo, String mailFrom, String relayUrl) {
    return stub.withDeadlineAfter(60, TimeUnit.SECONDS)
        .releaseMessage(releaseRequest(id, rcptTo, mailFrom, relayUrl));
  }

  /** The request {@link #release(long, List, String, String)} sends. */
  static ReleaseMessageRequest releaseRequest(
      long id, List<String> rcptTo, String mailFrom, String relayUrl) {
    ReleaseMessageRequest.Builder b = ReleaseMessageRequest.newBuilder().setId(id);
    if (rcptTo != null) {
      b.addAllRcptTo(rcptTo);
    }
    if (mailFrom != null) {
      b.setMailFrom(mailFrom).setOverrideMailFrom(true);
    }
    if (relayUrl != null) {
      b.setRelayUrl(relayUrl);
    }
    return b.build();
  }

  /** Version, addresses, advertised extensions, TLS and AUTH settings, and counters. */
  public ServerInfo serverInfo() {
    return stub.getServerInfo(GetServerInfoRequest.getDefaultInstance());
  }

  /**
   * The certificate (chain) the server presents on STARTTLS and its implicit-TLS port, in PEM.
   *
   * @throws IllegalStateException when the server serves no TLS
   */
  public String tlsCertificatePem() {
    String pem = serverInfo().getTlsCertificatePem();
    if (pem.isEmpty()) {
      throw new IllegalStateException("the server serves no TLS (no certificate in ServerInfo)");
    }
    return pem;
  }

  /** An {@link SSLContext} trusting exactly the served certificate (see {@link SmtpSinkTls}). */
  public SSLContext sslContext() throws GeneralSecurityException {
    return SmtpSinkTls.sslContext(tlsCertificatePem());
  }

  /** Filter on the user a message's session authenticated as (SMTP AUTH; a glob). */
  public static Filter authUser(String glob) {
    return Filter.newBuilder().setAuthUser(glob).build();
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static Filter orAll(Filter filter) {
    return filter == null ? Filter.getDefaultInstance() : filter;
  }
}
