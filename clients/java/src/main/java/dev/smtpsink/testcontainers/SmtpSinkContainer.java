package dev.smtpsink.testcontainers;

import java.time.Duration;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.containers.wait.strategy.WaitAllStrategy;
import org.testcontainers.utility.DockerImageName;

/**
 * Testcontainers module for smtpsink, an SMTP sink for test suites with a typed gRPC control API.
 *
 * <pre>{@code
 * @Container
 * static SmtpSinkContainer sink = new SmtpSinkContainer("smtpsink:latest");
 *
 * // send mail to sink.getSmtpHost():sink.getSmtpPort(), then
 * List<Message> msgs = sink.client().waitForMessages(
 *     SmtpSinkClient.rcptTo("alice@example.test"), 1, Duration.ofSeconds(10));
 * }</pre>
 *
 * <p>The container is ready when it has printed its {@code smtpsink ready} line and its
 * {@code grpc.health.v1.Health} service answers SERVING through the mapped port (the sink reports
 * SERVING only once SMTP and gRPC both listen).
 *
 * <p>Tests running in parallel may share one container: each uses its own recipient addresses and
 * passes them in every filter, so none sees, waits on or clears another's mail.
 */
public class SmtpSinkContainer extends GenericContainer<SmtpSinkContainer> {

  /** The image tag the project builds. */
  public static final String DEFAULT_IMAGE = "smtpsink:latest";

  /** SMTP port inside the container. */
  public static final int SMTP_PORT = 1025;

  /** gRPC control port inside the container. */
  public static final int GRPC_PORT = 50051;

  private SmtpSinkClient client;

  /** A container from {@link #DEFAULT_IMAGE}. */
  public SmtpSinkContainer() {
    this(DEFAULT_IMAGE);
  }

  public SmtpSinkContainer(String image) {
    this(DockerImageName.parse(image));
  }

  public SmtpSinkContainer(DockerImageName image) {
    super(image);
    withExposedPorts(SMTP_PORT, GRPC_PORT);
    waitingFor(
        new WaitAllStrategy(WaitAllStrategy.Mode.WITH_OUTER_TIMEOUT)
            .withStrategy(Wait.forLogMessage("(?s).*smtpsink ready .*", 1))
            .withStrategy(new GrpcHealthWaitStrategy(GRPC_PORT))
            .withStartupTimeout(Duration.ofSeconds(60)));
  }

  /** Host to send mail to. */
  public String getSmtpHost() {
    return getHost();
  }

  /** Host port mapped to the container's SMTP port. */
  public int getSmtpPort() {
    return getMappedPort(SMTP_PORT);
  }

  /** Host port mapped to the container's gRPC port. */
  public int getGrpcPort() {
    return getMappedPort(GRPC_PORT);
  }

  /** "host:port" of the gRPC control API. */
  public String getGrpcTarget() {
    return getHost() + ":" + getGrpcPort();
  }

  /**
   * The connected control client, created on first use and shared (it is thread-safe). It is closed
   * when the container stops; do not close it yourself.
   */
  public synchronized SmtpSinkClient client() {
    if (client == null) {
      client = new SmtpSinkClient(getHost(), getGrpcPort());
    }
    return client;
  }

  @Override
  public void stop() {
    synchronized (this) {
      if (client != null) {
        client.close();
        client = null;
      }
    }
    super.stop();
  }
}
