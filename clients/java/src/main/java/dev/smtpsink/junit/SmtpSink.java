package dev.smtpsink.junit;

import dev.smtpsink.testcontainers.SmtpSinkClient;
import dev.smtpsink.testcontainers.SmtpSinkContainer;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;

/**
 * The sink every test of one run shares, as {@link SmtpSinkExtension} provides it: a container
 * started for the run, or a sink already running elsewhere ({@code docker run}, compose, a CI
 * service) named by {@code SMTPSINK_SMTP_ADDR} and {@code SMTPSINK_GRPC_ADDR}. Its {@link
 * #client()} is unfiltered and sees every test's mail: a test works through its {@link Mailbox}.
 *
 * <p>Ownership: the extension closes it when the run ends (the container stops; a sink running
 * elsewhere only loses its client and keeps running). Thread-safe.
 */
public final class SmtpSink {

  /** How long a sink running elsewhere may take to answer SERVING. */
  private static final long READY_SECONDS = 10;

  private final String smtpHost;
  private final int smtpPort;
  private final String grpcTarget;
  private final String webUrl; // null: not known
  private final SmtpSinkContainer container; // null: running elsewhere
  private final SmtpSinkClient client;

  private SmtpSink(
      String smtpHost,
      int smtpPort,
      String grpcTarget,
      String webUrl,
      SmtpSinkContainer container,
      SmtpSinkClient client) {
    this.smtpHost = smtpHost;
    this.smtpPort = smtpPort;
    this.grpcTarget = grpcTarget;
    this.webUrl = webUrl;
    this.container = container;
    this.client = client;
  }

  /** A started container; closing the sink stops it. */
  static SmtpSink of(SmtpSinkContainer c) {
    return new SmtpSink(
        c.getSmtpHost(), c.getSmtpPort(), c.getGrpcTarget(), c.getWebUrl(), c, c.client());
  }

  /**
   * The sink running at these addresses (host:port each; {@code httpAddr} may be null), once its
   * gRPC health check answers SERVING.
   *
   * @throws ExtensionConfigurationException for an address that is not host:port, or a sink that
   *     does not answer SERVING within 10 s
   */
  static SmtpSink running(String smtpAddr, String grpcAddr, String httpAddr) {
    HostPort smtp = HostPort.parse(smtpAddr, SmtpSinkExtension.SMTP_ADDR_ENV);
    HostPort grpc = HostPort.parse(grpcAddr, SmtpSinkExtension.GRPC_ADDR_ENV);
    String web = null;
    if (httpAddr != null) {
      HostPort http = HostPort.parse(httpAddr, SmtpSinkExtension.HTTP_ADDR_ENV);
      web = SmtpSinkContainer.webUrl(http.host, http.port);
    }
    SmtpSinkClient client = new SmtpSinkClient(grpc.host, grpc.port);
    try {
      HealthCheckResponse.ServingStatus status =
          HealthGrpc.newBlockingStub(client.channel())
              .withWaitForReady()
              .withDeadlineAfter(READY_SECONDS, TimeUnit.SECONDS)
              .check(HealthCheckRequest.getDefaultInstance())
              .getStatus();
      if (status != HealthCheckResponse.ServingStatus.SERVING) {
        throw new ExtensionConfigurationException(
            "smtpsink at " + grpcAddr + " answers " + status + ", not SERVING");
      }
    } catch (StatusRuntimeException e) {
      client.close();
      throw new ExtensionConfigurationException(
          "no smtpsink answers at " + grpcAddr + " (" + SmtpSinkExtension.GRPC_ADDR_ENV + "): "
              + e.getStatus(),
          e);
    } catch (RuntimeException e) {
      client.close();
      throw e;
    }
    return new SmtpSink(smtp.host, smtp.port, grpcAddr, web, null, client);
  }

  /** Host to send mail to. */
  public String smtpHost() {
    return smtpHost;
  }

  /** Port to send mail to. */
  public int smtpPort() {
    return smtpPort;
  }

  /** "host:port" of the gRPC control API. */
  public String grpcTarget() {
    return grpcTarget;
  }

  /**
   * The web UI, {@code http://host:port/}, with the HTTP API below it ({@code api/v1/...}, {@code
   * smtpsink.v1.Sink/<Method>}): always known for a container, and for a sink running elsewhere
   * when {@code SMTPSINK_HTTP_ADDR} names it.
   */
  public Optional<String> webUrl() {
    return Optional.ofNullable(webUrl);
  }

  /** The control client, unfiltered and shared; do not close it. */
  public SmtpSinkClient client() {
    return client;
  }

  /** The container the extension started, empty for a sink running elsewhere. */
  public Optional<SmtpSinkContainer> container() {
    return Optional.ofNullable(container);
  }

  /** Stops the container, or closes the client of a sink running elsewhere. */
  void close() {
    if (container != null) {
      container.stop(); // closes its client too
    } else {
      client.close();
    }
  }

  @Override
  public String toString() {
    return "smtpsink smtp=" + smtpHost + ":" + smtpPort + " grpc=" + grpcTarget;
  }

  /** "host:port", "[v6]:port". */
  static final class HostPort {
    final String host;
    final int port;

    private HostPort(String host, int port) {
      this.host = host;
      this.port = port;
    }

    /**
     * Parses {@code value}.
     *
     * @throws ExtensionConfigurationException naming {@code name} when it is not host:port
     */
    static HostPort parse(String value, String name) {
      int colon = value.lastIndexOf(':');
      String host = colon > 0 ? value.substring(0, colon) : "";
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      int port = -1;
      if (colon > 0 && value.substring(colon + 1).matches("[0-9]{1,5}")) {
        port = Integer.parseInt(value.substring(colon + 1));
      }
      if (host.isEmpty() || port < 1 || port > 65535) {
        throw new ExtensionConfigurationException(
            name + "=" + value + ": expected HOST:PORT");
      }
      return new HostPort(host, port);
    }
  }
}
