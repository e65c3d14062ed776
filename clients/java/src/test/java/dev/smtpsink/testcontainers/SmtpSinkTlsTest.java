package dev.smtpsink.testcontainers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS and AUTH settings without a container: the trust SmtpSinkTls builds, the server flags. */
class SmtpSinkTlsTest {

  @TempDir Path dir;

  /** keytool: a self-signed CA:TRUE ECDSA P-256 key pair for localhost in a PKCS12 file. */
  Path keyPair(String name) throws Exception {
    Path ks = dir.resolve(name + ".p12");
    run(
        "-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=localhost", "-ext", "san=dns:localhost,ip:127.0.0.1", "-ext", "bc:c",
        "-validity", "2", "-keystore", ks.toString(), "-storetype", "PKCS12",
        "-storepass", "changeit");
    return ks;
  }

  /** The certificate of keyPair(name), PEM. */
  String certificatePem(String name) throws Exception {
    Path pem = dir.resolve(name + ".pem");
    run("-exportcert", "-rfc", "-alias", name, "-keystore", dir.resolve(name + ".p12").toString(),
        "-storepass", "changeit", "-file", pem.toString());
    return Files.readString(pem, StandardCharsets.US_ASCII);
  }

  static void run(String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), "keytool: " + out);
  }

  /** Handshakes with a TLS server holding {@code served}, trusting {@code pem}, checking "localhost". */
  static void handshake(Path served, String pem) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(served)) {
      ks.load(in, "changeit".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, "changeit".toCharArray());
    SSLContext server = SSLContext.getInstance("TLS");
    server.init(kmf.getKeyManagers(), null, null);
    try (SSLServerSocket ss =
        (SSLServerSocket)
            server.getServerSocketFactory().createServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      CompletableFuture<Void> accept =
          CompletableFuture.runAsync(
              () -> {
                try (SSLSocket s = (SSLSocket) ss.accept()) {
                  s.startHandshake();
                } catch (IOException e) {
                  // the client refused the certificate
                }
              });
      try (SSLSocket c =
          (SSLSocket) SmtpSinkTls.sslSocketFactory(pem).createSocket("localhost", ss.getLocalPort())) {
        SSLParameters params = c.getSSLParameters();
        params.setEndpointIdentificationAlgorithm("HTTPS"); // host name checking, as mail clients do
        c.setSSLParameters(params);
        c.startHandshake();
      } finally {
        accept.get(10, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void trustsExactlyTheGivenCertificate() throws Exception {
    Path served = keyPair("served");
    keyPair("other");
    handshake(served, certificatePem("served"));
    assertThrows(SSLHandshakeException.class, () -> handshake(served, certificatePem("other")));
    assertThrows(IllegalArgumentException.class, () -> SmtpSinkTls.trustStore(""));
  }

  @Test
  void authWithoutTlsAllowsInsecureAuthAndRemoteHostsGetASan() {
    try (SmtpSinkContainer plain = new SmtpSinkContainer().withAuth();
        SmtpSinkContainer tls =
            new SmtpSinkContainer()
                .withImplicitTls()
                .withRequireAuth()
                .withAuth(Map.of("b", "p:2", "a", "p1"));
        SmtpSinkContainer required = new SmtpSinkContainer().withRequireTls()) {
      assertEquals(List.of("--auth", "--auth-allow-insecure"), plain.serverArgs("localhost"));
      assertEquals(
          List.of(
              "--smtps-listen", "0.0.0.0:1465", "--tls-san", "docker.example.test", "--auth",
              "--require-auth"),
          tls.serverArgs("docker.example.test"));
      assertEquals("a:p1,b:p:2", tls.authUsersEnv());
      assertEquals(List.of("--starttls", "--require-tls"), required.serverArgs("127.0.0.1"));
      assertThrows(IllegalArgumentException.class, () -> plain.withAuth(Map.of("a,b", "x")));
    }
  }

  /** The HTTP side's Host check: names other than localhost and IP addresses must be allowed. */
  @Test
  void onlyADockerHostNameIsAddedToTheHttpAllowedHosts() {
    assertEquals("docker.example.test", SmtpSinkContainer.httpAllowedHost("Docker.Example.test"));
    for (String accepted :
        new String[] {"localhost", "app.localhost", "127.0.0.1", "172.17.0.1", "::1", "[fd00::1]"}) {
      assertEquals(null, SmtpSinkContainer.httpAllowedHost(accepted), accepted);
    }
  }

  @Test
  void webUrlPutsIpv6LiteralsInBrackets() {
    assertEquals("http://localhost:49153/", SmtpSinkContainer.webUrl("localhost", 49153));
    assertEquals("http://[::1]:8025/", SmtpSinkContainer.webUrl("::1", 8025));
    assertEquals("http://[::1]:8025/", SmtpSinkContainer.webUrl("[::1]", 8025));
  }
}
