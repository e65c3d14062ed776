"""TLS (issue 9): STARTTLS (RFC 3207) and implicit TLS (RFC 8314) against the
real binary. Every client verifies the certificate against the PEM the sink
serves (ServerInfo, smtpsinkctl cert, --tls-cert-out); nothing runs with
verification off.
"""
import concurrent.futures
import datetime
import os
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import conftest
import grpc_util
from conftest import SMTPConn


def _addr(a):
    host, _, port = a.rpartition(":")
    return host.strip("[]"), int(port)


def ctx_for(pem, **kw):
    ctx = ssl.create_default_context(cadata=pem)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


class TLSSink:
    """A running sink with TLS, its served PEM and a gRPC client."""

    def __init__(self, factory, *args, **kw):
        self.sink = factory("--starttls", "--smtps-listen", "127.0.0.1:0", *args, **kw)
        self.client = grpc_util.Client(self.sink)
        self.info = self.client.info()
        self.pem = self.info.tls_certificate_pem
        self.ctx = ctx_for(self.pem)
        self.smtps = _addr(self.sink.ready["smtps"][0])

    def raw(self):
        c = SMTPConn(self.sink.connect())
        assert c.reply()[0] == 220
        return c

    def starttls(self, c, ctx=None):
        """STARTTLS on raw conversation c; returns the conversation inside TLS."""
        code, _ = c.cmd("STARTTLS")
        assert code == 220
        assert c.buf == b"", c.buf
        return SMTPConn((ctx or self.ctx).wrap_socket(c.sock, server_hostname="127.0.0.1"))


@pytest.fixture
def tls_sink(sink_factory):
    t = TLSSink(sink_factory, "--tls-san", "sink.test")
    yield t
    t.client.close()


def test_info_and_messages_over_starttls_and_smtps(tls_sink):
    info = tls_sink.info
    assert info.starttls and not info.require_tls and info.tls_self_signed
    assert info.tls_min_version == "TLSv1.2"
    assert list(info.smtps_addresses) == tls_sink.sink.ready["smtps"]
    assert "STARTTLS" in info.extensions
    host, port = tls_sink.sink.smtp_host, tls_sink.sink.smtp_port
    with smtplib.SMTP(host, port) as s:
        s.starttls(context=tls_sink.ctx)
        s.sendmail("a@example.test", ["starttls@example.test"], b"Subject: s\r\n\r\nbody\r\n")
    with smtplib.SMTP_SSL(*tls_sink.smtps, context=tls_sink.ctx) as s:
        s.sendmail("a@example.test", ["smtps@example.test"], b"Subject: i\r\n\r\nbody\r\n")
    with smtplib.SMTP(host, port) as s:
        s.sendmail("a@example.test", ["plain@example.test"], b"Subject: p\r\n\r\nbody\r\n")
    msgs = {m.rcpt_to[0]: m for m in tls_sink.client.list().messages}
    for r in ("starttls@example.test", "smtps@example.test"):
        assert msgs[r].tls and msgs[r].tls_version == "TLSv1.3", msgs[r]
        assert msgs[r].tls_cipher.startswith("TLS_"), msgs[r].tls_cipher
    p = msgs["plain@example.test"]
    assert not p.tls and p.tls_version == "" and p.tls_cipher == ""


def test_cert_out_ctl_and_sans(sink_factory, tmp_path):
    out = tmp_path / "sink.pem"
    t = TLSSink(sink_factory, "--tls-cert-out", str(out), "--tls-san", "sink.test", "--tls-san", "10.9.8.7")
    assert out.read_text() == t.pem
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    ctl = subprocess.run([conftest.SMTPSINKCTL_BIN, "--addr", t.sink.grpc_addr, "cert"],
                         capture_output=True, text=True, timeout=10)
    assert ctl.returncode == 0 and ctl.stdout == t.pem, ctl.stderr
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(t.pem.encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"smtpsink", "localhost", "sink.test"}
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1", "10.9.8.7"}
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    # Trusted for the extra name, too
    with socket.create_connection(t.smtps) as raw:
        with t.ctx.wrap_socket(raw, server_hostname="sink.test") as s:
            assert s.recv(100).startswith(b"220 ")
    t.client.close()


def test_cert_without_tls_fails(sink):
    ctl = subprocess.run([conftest.SMTPSINKCTL_BIN, "--addr", sink.grpc_addr, "cert"],
                         capture_output=True, text=True, timeout=10)
    assert ctl.returncode == 1 and ctl.stdout == "" and "no TLS" in ctl.stderr


def test_starttls_protocol(tls_sink):
    c = tls_sink.raw()
    code, lines = c.cmd("EHLO client.test")
    assert code == 250 and "STARTTLS" in lines
    assert c.cmd("STARTTLS now") == (501, ["5.5.4 Syntax error (no parameters allowed)"])
    assert c.cmd("MAIL FROM:<a@example.test>")[0] == 250
    t = tls_sink.starttls(c)
    # All state discarded: no HELO, no transaction
    assert t.cmd("MAIL FROM:<a@example.test>")[0] == 503
    code, lines = t.cmd("EHLO client.test")
    assert code == 250 and "STARTTLS" not in lines
    assert t.cmd("RCPT TO:<b@example.test>")[0] == 503
    assert t.cmd("STARTTLS")[0] == 503
    assert t.cmd("QUIT")[0] == 221
    # Never offered inside implicit TLS either
    s = SMTPConn(tls_sink.ctx.wrap_socket(socket.create_connection(tls_sink.smtps), server_hostname="127.0.0.1"))
    assert s.reply()[0] == 220
    code, lines = s.cmd("EHLO client.test")
    assert "STARTTLS" not in lines
    assert s.cmd("STARTTLS")[0] == 503


def test_plaintext_after_starttls_is_discarded(tls_sink):
    c = tls_sink.raw()
    assert c.cmd("EHLO client.test")[0] == 250
    c.send("STARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<a@example.test>\r\nVRFY x\r\n")
    assert c.reply()[0] == 220
    time.sleep(0.1)  # any reply to the injected lines would be here now
    assert c.buf == b""
    t = SMTPConn(tls_sink.ctx.wrap_socket(c.sock, server_hostname="127.0.0.1"))
    assert t.cmd("NOOP") == (250, ["2.0.0 Ok"])  # first reply inside TLS: no 250/252 of the injection
    assert t.cmd("EHLO client.test")[0] == 250
    assert t.cmd("RCPT TO:<b@example.test>")[0] == 503  # the injected MAIL did not run
    assert tls_sink.client.info().counters.messages_received == 0


def test_require_tls(sink_factory):
    t = TLSSink(sink_factory, "--require-tls")
    assert t.info.require_tls
    c = t.raw()
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@example.test>") == (530, ["5.7.0 Must issue a STARTTLS command first"])
    assert c.cmd("VRFY x")[0] == 530
    assert c.cmd("NOOP")[0] == 250 and c.cmd("RSET")[0] == 250
    s = t.starttls(c)
    assert s.cmd("EHLO client.test")[0] == 250
    assert s.cmd("MAIL FROM:<a@example.test>")[0] == 250
    t.client.close()


def test_min_version_13(sink_factory):
    t = TLSSink(sink_factory, "--tls-min-version", "1.3")
    assert t.info.tls_min_version == "TLSv1.3"
    old = ctx_for(t.pem, maximum_version=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(ssl.SSLError):
        smtplib.SMTP_SSL(*t.smtps, context=old, timeout=5)
    with smtplib.SMTP_SSL(*t.smtps, context=t.ctx) as s:
        assert s.noop()[0] == 250
    t.client.close()


def _chain(tmp_path):
    """A CA, a leaf for localhost signed by it; files: chain (leaf+CA), key, ca, other key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, signer, ca):
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        return b.sign(signer, hashes.SHA256())

    ca_key, leaf_key, other = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert("test CA", "test CA", ca_key, ca_key, True)
    leaf = cert("localhost", "test CA", leaf_key, ca_key, False)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    keypem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    files = {"chain": pem(leaf) + pem(ca), "key": keypem(leaf_key), "ca": pem(ca), "other": keypem(other)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {n: str(tmp_path / n) for n in files}


def test_cert_and_key_files(sink_factory, tmp_path):
    f = _chain(tmp_path)
    t = TLSSink(sink_factory, "--tls-cert", f["chain"], "--tls-key", f["key"])
    assert not t.info.tls_self_signed
    assert t.pem.count("BEGIN CERTIFICATE") == 2
    ctx = ssl.create_default_context(cafile=f["ca"])  # trusts the CA only: the chain is needed
    with smtplib.SMTP("localhost", t.sink.smtp_port) as s:
        s.starttls(context=ctx)
        assert s.ehlo()[0] == 250
    t.client.close()
    bad = subprocess.run([conftest.SMTPSINK_BIN, "--starttls", "--grpc-listen", "off", "--smtp-listen",
                          "127.0.0.1:0", "--tls-cert", f["chain"], "--tls-key", f["other"]],
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "--tls-key" in bad.stderr, bad.stderr
    bad = subprocess.run([conftest.SMTPSINK_BIN, "--tls-cert", f["chain"], "--tls-key", f["key"]],
                         capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "--tls-cert needs --starttls or --smtps-listen" in bad.stderr


def test_garbage_handshakes_close_only_their_session(tls_sink):
    other = tls_sink.raw()
    assert other.cmd("EHLO client.test")[0] == 250
    c = tls_sink.raw()
    c.cmd("STARTTLS")
    c.send(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(2000))
    assert c.closed()
    g = socket.create_connection(tls_sink.smtps)
    try:
        g.sendall(b"\x16\x03\x01\xff\xff" + b"\x00" * 5000)  # a ClientHello header with a lying length
        g.sendall(b"\x80" * 20000)
    except ConnectionError:
        pass  # closed while we were still sending: what we want
    assert SMTPConn(g).closed()
    assert other.cmd("NOOP")[0] == 250
    with smtplib.SMTP_SSL(*tls_sink.smtps, context=tls_sink.ctx) as s:
        assert s.noop()[0] == 250
    assert "tls handshake failed" in tls_sink.sink.stderr()


def test_stalled_handshakes_time_out(sink_factory):
    t = TLSSink(sink_factory, "--idle-timeout", "500ms")
    c = t.raw()
    c.cmd("STARTTLS")  # then silence
    quiet = socket.create_connection(t.smtps)  # never says hello
    half = socket.create_connection(t.smtps)
    half.sendall(b"\x16\x03\x01\x00\xc8\x01")  # half a ClientHello
    start = time.monotonic()
    for s in (c, SMTPConn(quiet), SMTPConn(half)):
        assert s.closed(timeout=5)
    assert time.monotonic() - start < 4
    assert t.client.info().counters.sessions_active == 0
    assert "tls handshake timeout" in t.sink.stderr()
    t.client.close()


def test_parallel_tls_sessions(tls_sink):
    def one(i):
        if i % 2:
            with smtplib.SMTP_SSL(*tls_sink.smtps, context=tls_sink.ctx) as s:
                s.sendmail("a@example.test", ["p%d@example.test" % i], b"Subject: x\r\n\r\nx\r\n")
        else:
            with smtplib.SMTP(tls_sink.sink.smtp_host, tls_sink.sink.smtp_port) as s:
                s.starttls(context=tls_sink.ctx)
                s.sendmail("a@example.test", ["p%d@example.test" % i], b"Subject: x\r\n\r\nx\r\n")

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(one, range(64)))
    msgs = tls_sink.client.list().messages
    assert len(msgs) == 64 and all(m.tls for m in msgs)
