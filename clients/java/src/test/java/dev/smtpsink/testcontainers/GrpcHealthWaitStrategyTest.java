package dev.smtpsink.testcontainers;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.mail.Session;
import jakarta.mail.Transport;
import java.time.Duration;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/**
 * The gRPC health wait strategy alone (replacing the module's log + health wait) is enough for
 * SMTP and gRPC to answer. Uses its own container.
 */
class GrpcHealthWaitStrategyTest {

  @Test
  void healthStrategyAloneMeansSmtpAndGrpcAnswer() throws Exception {
    try (SmtpSinkContainer sink =
        new SmtpSinkContainer(SmtpSinkContainerTest.image())
            .withLabels(SmtpSinkContainerTest.testLabels())
            .waitingFor(
                new GrpcHealthWaitStrategy(SmtpSinkContainer.GRPC_PORT)
                    .withStartupTimeout(Duration.ofSeconds(30)))) {
      sink.start();
      assertFalse(sink.client().serverInfo().getVersion().isEmpty(), "server version");

      Properties props = new Properties();
      props.put("mail.smtp.host", sink.getSmtpHost());
      props.put("mail.smtp.port", String.valueOf(sink.getSmtpPort()));
      try (Transport transport = Session.getInstance(props).getTransport("smtp")) {
        transport.connect(); // greeting + EHLO
        assertTrue(transport.isConnected());
      }
    }
  }
}
