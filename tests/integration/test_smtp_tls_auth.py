"""TLS and AUTH together (issue 9): AUTH only inside TLS when TLS is
configured (538 before), what STARTTLS discards, production-style clients
(smtplib, swaks, curl) with STARTTLS + login, and the negotiated TLS and
login read back over gRPC. Certificates verified against the served PEM."""
import base64
import shutil
import smtplib
import subprocess

import pytest

from conftest import SMTPConn
from test_smtp_tls import TLSSink

PASSWORD = "S3cret-tls-auth"
PLAIN = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()


@pytest.fixture
def ts(sink_factory):
    t = TLSSink(sink_factory, "--auth", "--log-level", "debug", env={"SMTPSINK_AUTH_USERS": "alice:" + PASSWORD})
    yield t
    t.client.close()
    assert PASSWORD not in t.sink.stderr()
    assert PLAIN not in t.sink.stderr()


def test_auth_only_inside_tls(ts):
    info = ts.info
    assert info.starttls and list(info.auth_mechanisms) == ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]
    assert info.auth_users == 1 and not info.auth_allow_insecure
    c = ts.raw()
    code, lines = c.cmd("EHLO client.test")
    assert code == 250 and "STARTTLS" in lines
    assert not any(x.startswith("AUTH") for x in lines)
    code, lines = c.cmd("HELP")
    assert code == 214 and " STARTTLS " in lines[0] and " AUTH " not in lines[0]
    assert c.cmd("AUTH PLAIN " + PLAIN)[0] == 538
    t = ts.starttls(c)
    code, lines = t.cmd("EHLO client.test")
    assert "AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2" in lines and "STARTTLS" not in lines
    code, lines = t.cmd("HELP")
    assert code == 214 and " STARTTLS " not in lines[0] and " AUTH " in lines[0]
    assert t.cmd("AUTH PLAIN " + PLAIN)[0] == 235
    assert t.cmd("MAIL FROM:<a@example.test> AUTH=<>")[0] == 250
    assert t.cmd("RCPT TO:<b@example.test>")[0] == 250
    assert t.cmd("DATA")[0] == 354
    assert t.cmd("Subject: raw\r\n\r\nx\r\n.")[0] == 250
    m = ts.client.list().messages[0]
    assert m.tls and m.tls_version.startswith("TLSv1.") and m.tls_cipher
    assert (m.auth_user, m.auth_mechanism) == ("alice", "PLAIN")


def test_injected_auth_after_starttls_never_runs(ts):
    c = ts.raw()
    assert c.cmd("EHLO client.test")[0] == 250
    c.send("STARTTLS\r\nAUTH PLAIN %s\r\n" % PLAIN)
    assert c.reply()[0] == 220
    t = SMTPConn(ts.ctx.wrap_socket(c.sock, server_hostname="127.0.0.1"))
    assert t.cmd("EHLO client.test")[0] == 250
    # Not authenticated by the injected line: AUTH is still possible
    assert t.cmd("AUTH PLAIN " + PLAIN)[0] == 235


def test_starttls_discards_a_plaintext_login(sink_factory):
    t = TLSSink(sink_factory, "--auth", "--auth-allow-insecure")
    try:
        c = t.raw()
        code, lines = c.cmd("EHLO client.test")
        assert any(x.startswith("AUTH ") for x in lines)  # offered before TLS when asked
        assert c.cmd("AUTH PLAIN " + PLAIN)[0] == 235
        s = t.starttls(c)
        assert s.cmd("EHLO client.test")[0] == 250
        assert s.cmd("AUTH PLAIN " + base64.b64encode(b"\0bob\0x").decode())[0] == 235  # not 503: reset
        assert s.cmd("MAIL FROM:<a@example.test>")[0] == 250
        assert s.cmd("RCPT TO:<b@example.test>")[0] == 250
        assert s.cmd("DATA")[0] == 354
        assert s.cmd("Subject: x\r\n\r\nx\r\n.")[0] == 250
        assert t.client.list().messages[0].auth_user == "bob"
    finally:
        t.client.close()


def test_smtplib_starttls_and_smtps_login(ts):
    host, port = ts.sink.smtp_host, ts.sink.smtp_port
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.starttls(context=ts.ctx)
        s.login("alice", PASSWORD)
        s.sendmail("a@example.test", ["starttls@example.test"], b"Subject: s\r\n\r\nx\r\n")
    with smtplib.SMTP_SSL(*ts.smtps, context=ts.ctx, timeout=10) as s:
        s.login("alice", PASSWORD)
        s.sendmail("a@example.test", ["smtps@example.test"], b"Subject: i\r\n\r\nx\r\n")
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.starttls(context=ts.ctx)
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("alice", "wrong")
        assert e.value.smtp_code == 535
    msgs = {m.rcpt_to[0]: m for m in ts.client.list().messages}
    assert set(msgs) == {"starttls@example.test", "smtps@example.test"}
    for m in msgs.values():
        assert m.tls and m.auth_user == "alice" and m.auth_mechanism in ("PLAIN", "CRAM-MD5", "LOGIN")


@pytest.mark.skipif(shutil.which("swaks") is None or shutil.which("curl") is None, reason="swaks/curl missing")
def test_swaks_and_curl_starttls_auth(ts, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(ts.pem)
    host, port = ts.sink.smtp_host, ts.sink.smtp_port
    r = subprocess.run(["swaks", "--server", "%s:%d" % (host, port), "--tls", "--tls-verify", "--tls-ca-path", str(ca),
                        "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", PASSWORD,
                        "--from", "a@example.test", "--to", "swaks@example.test"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    mail = tmp_path / "m.eml"
    mail.write_bytes(b"Subject: curl\r\n\r\nx\r\n")
    r = subprocess.run(["curl", "-sS", "--ssl-reqd", "--cacert", str(ca), "--user", "alice:" + PASSWORD,
                        "--mail-from", "a@example.test", "--mail-rcpt", "curl@example.test",
                        "--upload-file", str(mail), "smtp://127.0.0.1:%d" % port], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    msgs = {m.rcpt_to[0]: m for m in ts.client.list().messages}
    assert (msgs["swaks@example.test"].auth_mechanism, msgs["swaks@example.test"].auth_user) == ("LOGIN", "alice")
    assert msgs["curl@example.test"].tls and msgs["curl@example.test"].auth_user == "alice"


def test_require_tls_and_auth(sink_factory):
    t = TLSSink(sink_factory, "--require-tls", "--require-auth", "--auth")
    try:
        c = t.raw()
        assert c.cmd("EHLO client.test")[0] == 250
        assert c.cmd("MAIL FROM:<a@example.test>")[0] == 530
        assert c.cmd("AUTH PLAIN " + PLAIN)[0] in (530, 538)
        s = t.starttls(c)
        assert s.cmd("EHLO client.test")[0] == 250
        code, lines = s.cmd("MAIL FROM:<a@example.test>")
        assert code == 530 and lines[0].startswith("5.7.0")
        assert s.cmd("AUTH PLAIN " + PLAIN)[0] == 235
        assert s.cmd("MAIL FROM:<a@example.test>")[0] == 250
    finally:
        t.client.close()
