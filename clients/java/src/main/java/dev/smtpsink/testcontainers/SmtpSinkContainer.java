package dev.smtpsink.testcontainers;

import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
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
 *
 * <p>The HTTP API and web UI (port {@link #HTTP_PORT}) are exposed too: {@link #getWebUrl()} is the UI,
 * {@code getWebUrl() + "api/v1/"} the Mailpit-compatible API and {@code getWebUrl() +
 * "smtpsink.v1.Sink/<Method>"} every unary RPC as JSON.
 *
 * <p>TLS and SMTP AUTH: {@link #withStartTls()}, {@link #withImplicitTls()}, {@link
 * #withRequireTls()}, {@link #withAuth()}, {@link #withAuth(Map)}, {@link #withRequireAuth()} turn
 * them on; {@link #sslSocketFactory()} / {@link #sslContext()} trust exactly the certificate the
 * server presents (fetched over the control API), for {@code mail.smtp.ssl.socketFactory}.
 */
public class SmtpSinkContainer extends GenericContainer<SmtpSinkContainer> {

  /** The image tag the project builds. */
  public static final String DEFAULT_IMAGE = "smtpsink:latest";

  /** SMTP port inside the container. */
  public static final int SMTP_PORT = 1025;

  /** gRPC control port inside the container. */
  public static final int GRPC_PORT = 50051;

  /** HTTP API and web UI port inside the container (the image listens on 0.0.0.0:8025). */
  public static final int HTTP_PORT = 8025;

  /** Implicit-TLS (SMTPS, RFC 8314) port inside the container; exposed by withImplicitTls(). */
  public static final int SMTPS_PORT = 1465;

  private SmtpSinkClient client;

  private boolean startTls;
  private boolean implicitTls;
  private boolean requireTls;
  private boolean auth;
  private boolean requireAuth;
  private final Map<String, String> authUsers = new TreeMap<>();
  /** The command before configure() added the TLS/AUTH flags (so a restart adds them once). */
  private String[] baseCommand;

  /** A container from {@link #DEFAULT_IMAGE}. */
  public SmtpSinkContainer() {
    this(DEFAULT_IMAGE);
  }

  public SmtpSinkContainer(String image) {
    this(DockerImageName.parse(image));
  }

  public SmtpSinkContainer(DockerImageName image) {
    super(image);
    withExposedPorts(SMTP_PORT, GRPC_PORT, HTTP_PORT);
    waitingFor(
        new WaitAllStrategy(WaitAllStrategy.Mode.WITH_OUTER_TIMEOUT)
            .withStrategy(Wait.forLogMessage("(?s).*smtpsink ready .*", 1))
            .withStrategy(new GrpcHealthWaitStrategy(GRPC_PORT))
            .withStartupTimeout(Duration.ofSeconds(60)));
  }

  /**
   * Advertises STARTTLS on the SMTP port ({@code --starttls}), with a self-signed certificate
   * generated at start for the container's host names, localhost, 127.0.0.1 and ::1 (plus the
   * Docker host when it is not local: {@code --tls-san}).
   */
  public SmtpSinkContainer withStartTls() {
    startTls = true;
    return self();
  }

  /** Adds an implicit-TLS listener on {@link #SMTPS_PORT}, mapped: {@link #getSmtpsPort()}. */
  public SmtpSinkContainer withImplicitTls() {
    implicitTls = true;
    addExposedPort(SMTPS_PORT);
    return self();
  }

  /**
   * Refuses mail outside TLS ({@code --require-tls}: commands other than EHLO, HELO, STARTTLS,
   * NOOP, RSET and QUIT get 530 before STARTTLS). Implies {@link #withStartTls()}.
   */
  public SmtpSinkContainer withRequireTls() {
    requireTls = true;
    return withStartTls();
  }

  /**
   * Offers SMTP AUTH and accepts any credentials ({@code --auth}). With TLS on, AUTH is offered
   * only after STARTTLS (or on the implicit-TLS port). Without TLS the container also gets {@code
   * --auth-allow-insecure}, since the server refuses AUTH over plain text otherwise.
   */
  public SmtpSinkContainer withAuth() {
    auth = true;
    return self();
  }

  /**
   * Offers SMTP AUTH for exactly these users (name to password, {@code SMTPSINK_AUTH_USERS}); other
   * credentials get 535 5.7.8. See {@link #withAuth()}.
   *
   * @throws IllegalArgumentException for a name that is empty or holds ':' or ',', or a password
   *     holding ','
   */
  public SmtpSinkContainer withAuth(Map<String, String> users) {
    users.forEach(
        (name, password) -> {
          if (name.isEmpty() || name.contains(":") || name.contains(",") || password.contains(",")) {
            throw new IllegalArgumentException(
                "auth user " + name + ": names must be non-empty without ':' or ',', passwords without ','");
          }
        });
    authUsers.putAll(users);
    return withAuth();
  }

  /** MAIL before a successful AUTH gets 530 5.7.0 ({@code --require-auth}); implies withAuth(). */
  public SmtpSinkContainer withRequireAuth() {
    requireAuth = true;
    return withAuth();
  }

  /**
   * The smtpsink flags the TLS/AUTH settings stand for; {@code dockerHost} becomes an extra SAN
   * unless the certificate names it anyway.
   */
  List<String> serverArgs(String dockerHost) {
    List<String> args = new ArrayList<>();
    boolean tls = startTls || implicitTls;
    boolean remote = !List.of("localhost", "127.0.0.1", "::1").contains(dockerHost);
    if (startTls) {
      args.add("--starttls");
    }
    if (implicitTls) {
      args.addAll(List.of("--smtps-listen", "0.0.0.0:" + SMTPS_PORT));
    }
    if (tls && remote) {
      args.addAll(List.of("--tls-san", dockerHost));
    }
    if (requireTls) {
      args.add("--require-tls");
    }
    if (auth) {
      args.add("--auth");
      if (!tls) {
        args.add("--auth-allow-insecure");
      }
    }
    if (requireAuth) {
      args.add("--require-auth");
    }
    return args;
  }

  /** The value of SMTPSINK_AUTH_USERS, "" when no users are listed. */
  String authUsersEnv() {
    List<String> pairs = new ArrayList<>();
    authUsers.forEach((name, password) -> pairs.add(name + ":" + password));
    return String.join(",", pairs);
  }

  @Override
  protected void configure() {
    super.configure();
    if (baseCommand == null) {
      baseCommand = getCommandParts();
    }
    List<String> cmd = new ArrayList<>(Arrays.asList(baseCommand));
    cmd.addAll(serverArgs(getHost()));
    setCommand(cmd.toArray(new String[0]));
    if (!authUsers.isEmpty()) {
      withEnv("SMTPSINK_AUTH_USERS", authUsersEnv());
    }
    String allowed = httpAllowedHost(getHost());
    if (allowed != null && !getEnvMap().containsKey("SMTPSINK_HTTP_ALLOWED_HOSTS")) {
      withEnv("SMTPSINK_HTTP_ALLOWED_HOSTS", allowed);
    }
  }

  /**
   * The name SMTPSINK_HTTP_ALLOWED_HOSTS needs so that the HTTP side answers requests to {@code
   * host}, or null: the server accepts IP addresses and localhost by itself and answers other Host
   * names 403 (its guard against DNS rebinding).
   */
  static String httpAllowedHost(String host) {
    String h = host.toLowerCase(Locale.ROOT).replaceAll("^\\[|\\]$", "");
    boolean ip = h.contains(":") || h.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
    return ip || h.equals("localhost") || h.endsWith(".localhost") ? null : h;
  }

  /** Host to send mail to. */
  public String getSmtpHost() {
    return getHost();
  }

  /** Host port mapped to the container's SMTP port. */
  public int getSmtpPort() {
    return getMappedPort(SMTP_PORT);
  }

  /** Host port mapped to the container's implicit-TLS port (needs {@link #withImplicitTls()}). */
  public int getSmtpsPort() {
    return getMappedPort(SMTPS_PORT);
  }

  /**
   * An {@link SSLContext} whose only trust anchor is the certificate the server presents (from
   * {@code ServerInfo.tls_certificate_pem}); host name checking is left to the TLS client.
   *
   * @throws IllegalStateException when the container serves no TLS
   */
  public SSLContext sslContext() throws GeneralSecurityException {
    return client().sslContext();
  }

  /**
   * {@code sslContext().getSocketFactory()}: for Jakarta Mail's {@code
   * mail.smtp.ssl.socketFactory} (STARTTLS) or {@code mail.smtps.ssl.socketFactory} (implicit TLS).
   */
  public SSLSocketFactory sslSocketFactory() throws GeneralSecurityException {
    return sslContext().getSocketFactory();
  }

  /** Host port mapped to the container's HTTP port ({@link #HTTP_PORT}). */
  public int getHttpPort() {
    return getMappedPort(HTTP_PORT);
  }

  /**
   * The web UI, {@code http://host:port/} with the host and port the container's HTTP port is mapped
   * to; the HTTP API lives below it ({@code api/v1/info}, {@code smtpsink.v1.Sink/GetServerInfo},
   * {@code healthz}).
   */
  public String getWebUrl() {
    return webUrl(getHost(), getHttpPort());
  }

  /** {@code http://host:port/} (an IPv6 literal in brackets): the web UI of an HTTP side there. */
  public static String webUrl(String host, int port) {
    boolean v6 = host.contains(":") && !host.startsWith("[");
    return "http://" + (v6 ? "[" + host + "]" : host) + ":" + port + "/";
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
