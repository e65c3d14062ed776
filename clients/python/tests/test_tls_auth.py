"""TLS and SMTP AUTH through the module: ONE container for this file with
STARTTLS, an implicit-TLS port and two users, reached with smtplib trusting
only the certificate the control API hands out (ssl_context()).

The last tests need no container: the flags the builder methods stand for,
and ssl_context_from_pem trusting exactly the given certificate.
"""
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import uuid

import pytest
from conftest import run_labels

from smtpsink import SmtpSinkContainer, ssl_context_from_pem
from smtpsink.container import SMTPS_PORT

USERS = {"alice": "s3cret", "bob": "hunter2"}


def unique(local: str) -> str:
    return f"{local}-{uuid.uuid4().hex[:12]}@example.test"


def message(sender: str, rcpt: str, subject: str) -> str:
    return f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nhi\r\n"


@pytest.fixture(scope="module")
def tls_sink():
    with (SmtpSinkContainer(labels=run_labels()).with_starttls().with_implicit_tls()
          .with_auth(USERS)) as c:
        yield c


def starttls_session(sink) -> smtplib.SMTP:
    smtp = smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10)
    smtp.ehlo("client.example.test")
    assert not smtp.has_extn("auth"), "AUTH offered before STARTTLS"
    smtp.starttls(context=sink.ssl_context())
    smtp.ehlo("client.example.test")
    return smtp


def test_server_info_shows_tls_and_auth(tls_sink):
    info = tls_sink.client().server_info()
    assert info.starttls and list(info.smtps_addresses) == [f"0.0.0.0:{SMTPS_PORT}"]
    assert info.tls_self_signed and info.tls_certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert info.auth_users == 2 and "PLAIN" in info.auth_mechanisms
    assert not info.auth_allow_insecure


def test_starttls_and_login(tls_sink):
    sender, rcpt = unique("app"), unique("tls")
    with starttls_session(tls_sink) as smtp:
        smtp.login("alice", "s3cret")
        smtp.sendmail(sender, [rcpt], message(sender, rcpt, "over STARTTLS"))
    client = tls_sink.client()
    [m] = client.wait_for_messages(rcpt_to=rcpt, auth_user="ali*", count=1, timeout=10)
    assert m.tls and m.tls_version.startswith("TLSv1.") and m.tls_cipher
    # smtplib.login tries CRAM-MD5, PLAIN, LOGIN in that order, as advertised
    assert m.auth_user == "alice" and m.auth_mechanism in ("CRAM-MD5", "PLAIN", "LOGIN")
    assert client.list_messages(rcpt_to=rcpt, auth_user="bob") == []


def test_wrong_password_is_535(tls_sink):
    with starttls_session(tls_sink) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
            smtp.login("alice", "wrong")
    assert ei.value.smtp_code == 535


def test_auth_reject_rule(tls_sink):
    client = tls_sink.client()
    rule = client.reject_rule("AUTH", match="bob", code=454, enhanced_code="4.7.0", message="try later")
    try:
        with starttls_session(tls_sink) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
                smtp.login("bob", "hunter2")
        assert ei.value.smtp_code == 454 and b"try later" in ei.value.smtp_error
    finally:
        assert client.delete_reject_rule(rule) == 1


def test_implicit_tls_with_smtp_ssl(tls_sink):
    sender, rcpt = unique("app"), unique("smtps")
    with smtplib.SMTP_SSL(tls_sink.smtp_host, tls_sink.smtps_port, context=tls_sink.ssl_context(),
                          timeout=10) as smtp:
        smtp.login("bob", "hunter2")
        smtp.sendmail(sender, [rcpt], message(sender, rcpt, "over implicit TLS"))
    [m] = tls_sink.client().wait_for_messages(rcpt_to=rcpt, count=1, timeout=10)
    assert m.tls and m.tls_version and m.auth_user == "bob"


# -- no container ------------------------------------------------------------


def test_server_args():
    assert SmtpSinkContainer().with_auth().server_args("localhost") == ["--auth", "--auth-allow-insecure"]
    c = SmtpSinkContainer().with_implicit_tls().with_require_auth().with_auth({"b": "p:2", "a": "p1"})
    assert c.server_args("docker.example.test") == [
        "--smtps-listen", "0.0.0.0:1465", "--tls-san", "docker.example.test", "--auth", "--require-auth"]
    assert SmtpSinkContainer().with_require_tls().server_args("127.0.0.1") == ["--starttls", "--require-tls"]
    with pytest.raises(ValueError):
        SmtpSinkContainer().with_auth({"a,b": "x"})


def self_signed(tmp_path, name):
    """A CA:TRUE ECDSA P-256 certificate for localhost, like smtpsink's own."""
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:TRUE"], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_ssl_context_from_pem_trusts_exactly_that_certificate(tmp_path):
    served_cert, served_key = self_signed(tmp_path, "served")
    other_cert, _ = self_signed(tmp_path, "other")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(served_cert, served_key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with server_ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused us

    threading.Thread(target=serve, daemon=True).start()

    def handshake(pem: str, name: str) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ssl_context_from_pem(pem).wrap_socket(raw, server_hostname=name):
                pass

    try:
        handshake(served_cert.read_text(), "localhost")
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(other_cert.read_text(), "localhost")
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(served_cert.read_text(), "mail.example.test")
        with pytest.raises(ValueError):
            ssl_context_from_pem("")
    finally:
        listener.close()
