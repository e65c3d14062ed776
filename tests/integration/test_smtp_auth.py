"""SMTP AUTH (RFC 4954) against the real binary: smtplib with each mechanism,
XOAUTH2 by hand, swaks, curl; who logged in, read back over gRPC (Message,
Filter, AUTH rules, ServerInfo); start-up refusal without TLS; passwords
never in the log. TLS is not on this branch, so --auth-allow-insecure."""
import base64
import os
import shutil
import smtplib
import subprocess

import pytest

import conftest
from grpc_util import Client, pb
from smtp_util import no_sanitizer_reports  # noqa: F401 (autouse fixture)

PASSWORD = "Pw-7f3a9c-never-logged"
MECHS = ["PLAIN", "LOGIN", "CRAM-MD5"]


@pytest.fixture
def auth_sink(sink_factory, tmp_path):
    users = tmp_path / "users"
    users.write_text("# test users\n\nalice:%s\nbob:other\n" % PASSWORD)
    s = sink_factory("--auth-users", str(users), "--auth-allow-insecure", "--log-level", "debug")
    c = Client(s)
    yield s, c
    c.close()
    assert PASSWORD not in s.stderr()
    assert base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode() not in s.stderr()


def smtplib_auth(sink, mech, user="alice", password=PASSWORD, initial=True, send=True):
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as c:
        c.ehlo("auth.test")
        assert c.has_extn("auth")
        assert c.esmtp_features["auth"].strip() == "PLAIN LOGIN CRAM-MD5 XOAUTH2"
        c.user, c.password = user, password
        code, _ = c.auth(mech, getattr(c, "auth_" + mech.lower().replace("-", "_")),
                         initial_response_ok=initial)
        assert code == 235
        if send:
            c.sendmail("a@example.test", ["b@example.test"], b"Subject: %s\r\n\r\nx\r\n" % mech.encode())


@pytest.mark.parametrize("mech,initial", [("PLAIN", True), ("PLAIN", False), ("LOGIN", True),
                                          ("LOGIN", False), ("CRAM-MD5", True)])
def test_smtplib_mechanisms(auth_sink, mech, initial):
    sink, client = auth_sink
    smtplib_auth(sink, mech, initial=initial)
    (m,) = client.list().messages
    assert m.auth_user == "alice"
    assert m.auth_mechanism == mech


@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password(auth_sink, mech):
    sink, client = auth_sink
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        smtplib_auth(sink, mech, password="wrong", send=False)
    assert e.value.smtp_code == 535
    assert b"5.7.8" in e.value.smtp_error


def test_xoauth2_and_session_rules(auth_sink):
    sink, client = auth_sink
    c = conftest.SMTPConn(sink.connect())
    assert c.reply()[0] == 220
    assert c.cmd("EHLO x.test")[0] == 250
    bad = base64.b64encode(b"user=mallory\x01auth=Bearer t\x01\x01").decode()
    code, text = c.cmd("AUTH XOAUTH2 " + bad)
    assert code == 334 and base64.b64decode(text[0]).startswith(b'{"status":"400"')
    assert c.cmd("")[0] == 535
    good = base64.b64encode(b"user=bob\x01auth=Bearer any-token\x01\x01").decode()
    assert c.cmd("AUTH XOAUTH2 " + good)[0] == 235
    assert c.cmd("MAIL FROM:<a@example.test> AUTH=bob@example.test")[0] == 250
    assert c.cmd("RCPT TO:<b@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    assert c.cmd("Subject: x\r\n\r\nx\r\n.")[0] == 250
    c.sock.close()
    (m,) = client.list().messages
    assert (m.auth_user, m.auth_mechanism) == ("bob", "XOAUTH2")
    assert [(p.name, p.value) for p in m.mail_params] == [("AUTH", "bob@example.test")]


@pytest.fixture
def require_sink(sink_factory):
    """Users from SMTPSINK_AUTH_USERS, MAIL needs AUTH."""
    s = sink_factory("--require-auth", "--auth-allow-insecure",
                     env={"SMTPSINK_AUTH_USERS": "alice:%s,bob:other" % PASSWORD})
    c = Client(s)
    yield s, c
    c.close()


def test_require_auth_env_users_and_server_info(require_sink):
    sink, client = require_sink
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as c:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("a@example.test", ["b@example.test"], b"x\r\n")
        assert e.value.smtp_code == 530
        c.login("bob", "other")
        c.sendmail("a@example.test", ["b@example.test"], b"Subject: y\r\n\r\ny\r\n")
    info = client.info()
    assert list(info.auth_mechanisms) == ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"]
    assert info.auth_users == 2 and info.require_auth and info.auth_allow_insecure
    assert "AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2" in info.extensions
    assert client.list().messages[0].auth_user == "bob"


def test_filter_and_auth_rule(require_sink):
    sink, client = require_sink
    rule = client.sink.SetRejectRule(pb.RejectRule(stage=pb.AUTH, match="ALICE", code=454, times=1),
                                     timeout=10)
    assert rule.enhanced_code == "4.7.0"
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        smtplib_auth(sink, "PLAIN")
    assert e.value.smtp_code == 454
    smtplib_auth(sink, "PLAIN")      # the rule is exhausted
    smtplib_auth(sink, "LOGIN", user="bob", password="other")
    (r,) = client.sink.ListRejectRules(pb.ListRejectRulesRequest(), timeout=10).rules
    assert r.hits == 1
    assert [m.auth_user for m in client.list(auth_user="ALI*").messages] == ["alice"]
    assert [m.auth_user for m in client.list(auth_user="bob").messages] == ["bob"]
    assert len(client.list(auth_user="*").messages) == 2
    waited = client.sink.WaitForMessages(pb.WaitForMessagesRequest(
        filter=pb.Filter(auth_user="b*"), count=1), timeout=10)
    assert [m.auth_mechanism for m in waited.messages] == ["LOGIN"]


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
@pytest.mark.parametrize("mech", MECHS)
def test_swaks(auth_sink, mech):
    sink, client = auth_sink
    r = subprocess.run(["swaks", "--server", "%s:%d" % (sink.smtp_host, sink.smtp_port),
                        "--from", "s@example.test", "--to", "r@example.test",
                        "--auth", mech, "--auth-user", "alice", "--auth-password", PASSWORD],
                       capture_output=True, timeout=30)
    if b"Digest::HMAC" in r.stderr + r.stdout:
        pytest.skip("swaks CRAM-MD5 needs libdigest-hmac-perl")
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    (m,) = client.list().messages
    assert (m.auth_user, m.auth_mechanism) == ("alice", mech)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl(auth_sink, tmp_path):
    sink, client = auth_sink
    f = tmp_path / "mail.txt"
    f.write_bytes(b"Subject: curl\r\n\r\nbody\r\n")
    r = subprocess.run(["curl", "-sS", "smtp://%s:%d" % (sink.smtp_host, sink.smtp_port),
                        "--user", "alice:" + PASSWORD, "--mail-from", "c@example.test",
                        "--mail-rcpt", "d@example.test", "--upload-file", str(f)],
                       capture_output=True, timeout=30, env=dict(os.environ, no_proxy="*"))
    assert r.returncode == 0, r.stderr.decode()
    (m,) = client.list().messages
    assert m.auth_user == "alice" and m.auth_mechanism in MECHS


def test_auth_without_tls_refused_at_start(tmp_path):
    for args, flag in ((["--auth"], "--auth"), (["--auth-users", "/dev/null", "--auth"], "--auth")):
        r = subprocess.run([conftest.SMTPSINK_BIN, "--smtp-listen", "127.0.0.1:0", "--grpc-listen", "off"]
                           + args, capture_output=True, timeout=30)
        assert r.returncode == 2
        assert ("%s needs TLS (--starttls or --smtps-listen) or --auth-allow-insecure" % flag) in r.stderr.decode()
    bad = tmp_path / "users"
    bad.write_text("alice:pw\nno-colon-" + PASSWORD + "\n")
    r = subprocess.run([conftest.SMTPSINK_BIN, "--auth-users", str(bad), "--auth-allow-insecure"],
                       capture_output=True, timeout=30)
    assert r.returncode == 2
    assert ("%s:2: malformed line" % bad) in r.stderr.decode()
    assert PASSWORD not in r.stderr.decode()
