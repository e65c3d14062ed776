package dev.smtpsink.junit;

import dev.smtpsink.testcontainers.SmtpSinkContainer;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * JUnit 5 extension: one smtpsink per test run, one {@link Mailbox} per test. Use it through
 * {@link SmtpSinkTest} or {@code @ExtendWith(SmtpSinkExtension.class)}; it resolves parameters of
 * two types:
 *
 * <ul>
 *   <li>{@link SmtpSink}: the sink of the run. With {@code SMTPSINK_SMTP_ADDR} and {@code
 *       SMTPSINK_GRPC_ADDR} (host:port each; {@code SMTPSINK_HTTP_ADDR} optionally names its HTTP
 *       side, and is an error without the other two) set, the sink already running there; otherwise a {@link SmtpSinkContainer} started on
 *       first use and stopped when the run ends (kept in the root context's store, so every class
 *       of the run shares it, also under parallel execution).
 *   <li>{@link Mailbox}: the test's own domain on that sink; the test method, its
 *       {@code @BeforeEach} and {@code @AfterEach} methods get the same one. After the test its
 *       reject rules are deleted and its mail cleared. (A Mailbox parameter of a constructor or an
 *       {@code @BeforeAll} method belongs to the test class and is cleared after the class.)
 * </ul>
 *
 * <p>Configuration parameters (junit-platform.properties, or {@code -D} system properties):
 *
 * <ul>
 *   <li>{@code smtpsink.image}: image of the container (default {@code $SMTPSINK_IMAGE}, else
 *       {@code smtpsink:latest});
 *   <li>{@code smtpsink.args}: extra smtpsink flags, separated by white space (e.g. {@code
 *       --max-messages 500});
 *   <li>{@code smtpsink.labels}: container labels, {@code name=value,name=value};
 *   <li>{@code smtpsink.smtp.addr}, {@code smtpsink.grpc.addr}, {@code smtpsink.http.addr}: the
 *       running sink, before the environment variables of the same meaning.
 * </ul>
 */
public class SmtpSinkExtension implements ParameterResolver {

  /** host:port to send mail to, of a sink already running. */
  public static final String SMTP_ADDR_ENV = "SMTPSINK_SMTP_ADDR";

  /** host:port of the gRPC control API of a sink already running. */
  public static final String GRPC_ADDR_ENV = "SMTPSINK_GRPC_ADDR";

  /** host:port of the HTTP API and web UI of a sink already running (optional). */
  public static final String HTTP_ADDR_ENV = "SMTPSINK_HTTP_ADDR";

  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(SmtpSinkExtension.class);

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    return type == Mailbox.class || type == SmtpSink.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    if (parameter.getParameter().getType() == SmtpSink.class) {
      return sink(context);
    }
    return mailbox(context);
  }

  /** The run's sink, started (or connected) by the first test that asks. */
  static SmtpSink sink(ExtensionContext context) {
    ExtensionContext.Store root = context.getRoot().getStore(NAMESPACE);
    Resource r =
        root.getOrComputeIfAbsent(
            SmtpSink.class,
            k -> {
              SmtpSink sink = start(context);
              return new Resource(sink, sink::close);
            },
            Resource.class);
    return (SmtpSink) r.value;
  }

  /**
   * The mailbox of {@code context} (keyed by its unique id, since a store lookup falls back to the
   * enclosing contexts: a test never gets its class's mailbox), closed with the context.
   */
  static Mailbox mailbox(ExtensionContext context) {
    ExtensionContext.Store store = context.getStore(NAMESPACE);
    Resource r =
        store.getOrComputeIfAbsent(
            "mailbox " + context.getUniqueId(),
            k -> {
              Mailbox mb = new Mailbox(sink(context), Mailbox.domainFor(name(context)));
              return new Resource(mb, mb::close);
            },
            Resource.class);
    return (Mailbox) r.value;
  }

  private static String name(ExtensionContext context) {
    return context
        .getTestMethod()
        .map(Method::getName)
        .or(() -> context.getTestClass().map(Class::getSimpleName))
        .orElse("test");
  }

  /** The configuration parameter {@code key}, else the environment variable {@code env}. */
  private static Optional<String> setting(ExtensionContext context, String key, String env) {
    Optional<String> v = context.getConfigurationParameter(key).filter(s -> !s.isBlank());
    if (v.isEmpty() && env != null) {
      v = Optional.ofNullable(System.getenv(env)).filter(s -> !s.isBlank());
    }
    return v.map(String::strip);
  }

  private static SmtpSink start(ExtensionContext context) {
    Optional<String> smtp = setting(context, "smtpsink.smtp.addr", SMTP_ADDR_ENV);
    Optional<String> grpc = setting(context, "smtpsink.grpc.addr", GRPC_ADDR_ENV);
    Optional<String> http = setting(context, "smtpsink.http.addr", HTTP_ADDR_ENV);
    if (smtp.isPresent() || grpc.isPresent()) {
      if (smtp.isEmpty() || grpc.isEmpty()) {
        throw new ExtensionConfigurationException(
            "set both " + SMTP_ADDR_ENV + " and " + GRPC_ADDR_ENV
                + " (host:port) to use a running smtpsink");
      }
      return SmtpSink.running(smtp.get(), grpc.get(), http.orElse(null));
    }
    if (http.isPresent()) {
      throw new ExtensionConfigurationException(
          HTTP_ADDR_ENV + " names the HTTP API of a running smtpsink: set " + SMTP_ADDR_ENV
              + " and " + GRPC_ADDR_ENV + " (host:port) too");
    }
    String image =
        setting(context, "smtpsink.image", "SMTPSINK_IMAGE").orElse(SmtpSinkContainer.DEFAULT_IMAGE);
    SmtpSinkContainer container = new SmtpSinkContainer(image);
    setting(context, "smtpsink.args", null)
        .ifPresent(args -> container.withCommand(args.split("\\s+")));
    setting(context, "smtpsink.labels", null).ifPresent(l -> container.withLabels(labels(l)));
    try {
      container.start();
    } catch (RuntimeException e) {
      container.stop();
      throw e;
    }
    return SmtpSink.of(container);
  }

  /** "a=b,c=d" as a map. */
  static Map<String, String> labels(String spec) {
    Map<String, String> labels = new LinkedHashMap<>();
    for (String item : Arrays.asList(spec.split(","))) {
      int eq = item.indexOf('=');
      if (eq < 1) {
        throw new ExtensionConfigurationException(
            "smtpsink.labels=" + spec + ": expected name=value,name=value");
      }
      labels.put(item.substring(0, eq).strip(), item.substring(eq + 1).strip());
    }
    return labels;
  }

  /** A value closed with its store: by JUnit 5.13+ as AutoCloseable, before as CloseableResource. */
  @SuppressWarnings("deprecation")
  private static final class Resource
      implements AutoCloseable, ExtensionContext.Store.CloseableResource {
    final Object value;
    private final Runnable closer;

    Resource(Object value, Runnable closer) {
      this.value = value;
      this.closer = closer;
    }

    @Override
    public void close() {
      closer.run();
    }
  }
}
