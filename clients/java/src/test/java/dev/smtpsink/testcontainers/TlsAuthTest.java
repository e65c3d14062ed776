package dev.smtpsink.testcontainers;

import static dev.smtpsink.testcontainers.SmtpSinkContainerTest.image;
import static dev.smtpsink.testcontainers.SmtpSinkContainerTest.testLabels;
import static dev.smtpsink.testcontainers.SmtpSinkContainerTest.textMessage;
import static dev.smtpsink.testcontainers.SmtpSinkContainerTest.uniqueAddress;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.smtpsink.v1.Filter;
import dev.smtpsink.v1.Message;
import dev.smtpsink.v1.RejectRule;
import dev.smtpsink.v1.ServerInfo;
import dev.smtpsink.v1.Stage;
import jakarta.mail.AuthenticationFailedException;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;

/**
 * TLS and SMTP AUTH through the module: ONE container with STARTTLS, an implicit-TLS port and two
 * users, reached with Jakarta Mail (Angus Mail) trusting only the certificate the control API
 * hands out ({@code mail.smtp.ssl.socketFactory}; {@code mail.smtp.ssl.trust} is never "*").
 */
@Testcontainers
class TlsAuthTest {

  @Container
  static final SmtpSinkContainer SINK =
      new SmtpSinkContainer(image())
          .withLabels(testLabels())
          .withStartTls()
          .withImplicitTls()
          .withAuth(Map.of("alice", "s3cret", "bob", "hunter2"));

  /** Session properties for STARTTLS (required) + AUTH PLAIN, or implicit TLS with "smtps". */
  static Session session(String protocol, int port) throws Exception {
    String p = "mail." + protocol + ".";
    Properties props = new Properties();
    props.put(p + "host", SINK.getSmtpHost());
    props.put(p + "port", String.valueOf(port));
    props.put(p + "localhost", "client.example.test");
    props.put(p + "connectiontimeout", "10000");
    props.put(p + "timeout", "10000");
    props.put(p + "auth", "true");
    props.put(p + "auth.mechanisms", "PLAIN");
    props.put(p + "ssl.socketFactory", SINK.sslSocketFactory());
    props.put(p + "ssl.checkserveridentity", "true");
    if (protocol.equals("smtp")) {
      props.put(p + "starttls.enable", "true");
      props.put(p + "starttls.required", "true");
    }
    return Session.getInstance(props);
  }

  /** Sends one message as user/password; returns the recipient. */
  static String send(String protocol, int port, String user, String password) throws Exception {
    Session session = session(protocol, port);
    String to = uniqueAddress("tls-" + protocol);
    try (Transport t = session.getTransport(protocol)) {
      t.connect(user, password);
      var msg = textMessage(session, uniqueAddress("sender"), to, "over " + protocol, "hi");
      t.sendMessage(msg, msg.getAllRecipients());
    }
    return to;
  }

  @Test
  void serverInfoShowsTlsAndAuthSettings() {
    ServerInfo info = SINK.client().serverInfo();
    assertTrue(info.getStarttls(), "starttls");
    assertEquals(List.of("0.0.0.0:1465"), info.getSmtpsAddressesList());
    assertTrue(info.getTlsSelfSigned(), "self-signed");
    assertTrue(info.getTlsCertificatePem().startsWith("-----BEGIN CERTIFICATE-----"));
    assertEquals(2, info.getAuthUsers());
    assertTrue(info.getAuthMechanismsList().contains("PLAIN"), info.getAuthMechanismsList().toString());
    assertFalse(info.getAuthAllowInsecure(), "AUTH only after TLS");
  }

  @Test
  void startTlsAndAuthPlainAreRecordedOnTheMessage() throws Exception {
    String to = send("smtp", SINK.getSmtpPort(), "alice", "s3cret");
    Filter mine = Filter.newBuilder().setRcptTo(to).setAuthUser("ali*").build();
    List<Message> got = SINK.client().waitForMessages(mine, 1, Duration.ofSeconds(20));
    Message m = got.get(0);
    assertTrue(m.getTls(), "tls");
    assertTrue(m.getTlsVersion().startsWith("TLSv1."), m.getTlsVersion());
    assertFalse(m.getTlsCipher().isEmpty(), "cipher");
    assertEquals("alice", m.getAuthUser());
    assertEquals("PLAIN", m.getAuthMechanism());
    Filter asBob = Filter.newBuilder().setRcptTo(to).setAuthUser("bob").build();
    assertTrue(SINK.client().listMessages(asBob).isEmpty(), "auth_user filter");
  }

  @Test
  void implicitTlsWithSmtps() throws Exception {
    String to = send("smtps", SINK.getSmtpsPort(), "bob", "hunter2");
    Message m = SINK.client().waitForMessages(SmtpSinkClient.rcptTo(to), 1, Duration.ofSeconds(20)).get(0);
    assertTrue(m.getTls(), "tls");
    assertFalse(m.getTlsVersion().isEmpty(), "tls_version");
    assertEquals("bob", m.getAuthUser());
  }

  @Test
  void wrongPasswordIsAuthenticationFailed535() {
    AuthenticationFailedException e =
        assertThrows(
            AuthenticationFailedException.class,
            () -> send("smtp", SINK.getSmtpPort(), "alice", "wrong"));
    assertTrue(String.valueOf(e.getMessage()).contains("535"), e.getMessage());
  }

  @Test
  void authRejectRuleRepliesInsteadOf235() throws Exception {
    SmtpSinkClient sink = SINK.client();
    RejectRule rule = sink.rejectRule(Stage.AUTH, "bob", 454, "try later");
    try {
      AuthenticationFailedException e =
          assertThrows(
              AuthenticationFailedException.class,
              () -> send("smtp", SINK.getSmtpPort(), "bob", "hunter2"));
      assertTrue(String.valueOf(e.getMessage()).contains("454"), e.getMessage());
    } finally {
      assertEquals(1, sink.deleteRejectRule(rule.getId()));
    }
  }
}
