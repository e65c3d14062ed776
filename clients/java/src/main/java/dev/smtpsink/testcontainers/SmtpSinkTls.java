package dev.smtpsink.testcontainers;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collection;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;

/**
 * Trust exactly the certificate an smtpsink serves: turns the PEM of {@code
 * ServerInfo.tls_certificate_pem} into a trust store, an {@link SSLContext} and an {@link
 * SSLSocketFactory}. Nothing else is trusted (not the JDK's CAs) and certificate and host name
 * verification stay as the TLS client does them; there is no "trust all" here.
 *
 * <p>The certificate smtpsink generates is self-signed with basicConstraints CA:TRUE, so it is its
 * own trust anchor. Most callers use {@link SmtpSinkContainer#sslSocketFactory()} or {@link
 * SmtpSinkClient#sslContext()} instead.
 */
public final class SmtpSinkTls {

  private SmtpSinkTls() {}

  /**
   * A {@link KeyStore} (the JDK's default type) holding each certificate of {@code pem} as a
   * trusted-certificate entry.
   *
   * @throws IllegalArgumentException when {@code pem} holds no certificate
   */
  public static KeyStore trustStore(String pem) throws GeneralSecurityException {
    Collection<? extends Certificate> certs =
        CertificateFactory.getInstance("X.509")
            .generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
    if (certs.isEmpty()) {
      throw new IllegalArgumentException("no certificate in the PEM");
    }
    KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
    try {
      ks.load(null, null);
    } catch (IOException e) {
      throw new GeneralSecurityException("empty key store", e);
    }
    int i = 0;
    for (Certificate c : certs) {
      ks.setCertificateEntry("smtpsink-" + i++, c);
    }
    return ks;
  }

  /** A TLS {@link SSLContext} whose only trust anchors are the certificates in {@code pem}. */
  public static SSLContext sslContext(String pem) throws GeneralSecurityException {
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trustStore(pem));
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, tmf.getTrustManagers(), null);
    return ctx;
  }

  /** {@code sslContext(pem).getSocketFactory()}. */
  public static SSLSocketFactory sslSocketFactory(String pem) throws GeneralSecurityException {
    return sslContext(pem).getSocketFactory();
  }
}
