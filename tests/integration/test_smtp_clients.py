"""Real SMTP clients against the real binary: Python smtplib, swaks, curl.
What they sent is read back over gRPC and compared byte for byte."""
import os
import shutil
import smtplib
import subprocess
from email.message import EmailMessage

import pytest

from smtp_util import Store, queued_id
from smtp_util import no_sanitizer_reports  # noqa: F401 (autouse fixture)


@pytest.fixture
def store(sink):
    st = Store(sink)
    yield st
    st.close()


def test_smtplib_send_message_8bitmime(sink, store):
    msg = EmailMessage()
    msg["From"] = "alice@example.test"
    msg["To"] = "bob@example.test"
    msg["Subject"] = "8bit"
    msg.set_content("caf\u00e9 cr\u00e8me\n.leading dot\n", cte="8bit")
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as c:
        c.ehlo("smtplib.test")
        assert c.has_extn("8bitmime") and c.has_extn("pipelining") and c.has_extn("size")
        refused = c.send_message(msg, mail_options=["BODY=8BITMIME"])
        assert refused == {}
    (m,) = store.messages()
    assert m.mail_from == "alice@example.test"
    assert list(m.rcpt_to) == ["bob@example.test"]
    assert m.body_type == "8BITMIME"
    assert m.helo == "smtplib.test"
    # smtplib converts to CRLF and dot-stuffs; we store what it meant
    want = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    assert m.raw == want
    assert list(m.anomalies) == []
    assert "caf\u00e9" in m.text_body


def test_smtplib_smtputf8(sink, store):
    msg = EmailMessage()
    msg["From"] = "j\u00f6rg@b\u00fccher.test"
    msg["To"] = "\u7528\u6237@\u4f8b\u5b50.test"
    msg["Subject"] = "gr\u00fc\u00dfe"
    msg.set_content("hallo\n")
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as c:
        assert c.ehlo()[0] == 250 and c.has_extn("smtputf8")
        c.send_message(msg)     # smtplib adds SMTPUTF8 and BODY=8BITMIME itself
    (m,) = store.messages()
    assert m.smtputf8
    assert m.mail_from == "j\u00f6rg@b\u00fccher.test"
    assert list(m.rcpt_to) == ["\u7528\u6237@\u4f8b\u5b50.test"]
    assert {p.name for p in m.mail_params} >= {"SMTPUTF8", "BODY"}
    assert "8bit_header" not in m.anomalies
    assert m.subject == "gr\u00fc\u00dfe"


def test_smtplib_sendmail_dsn_options(sink, store):
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as c:
        c.ehlo()
        assert c.has_extn("dsn")
        c.sendmail("a@example.test", ["b@example.test", "c@example.test"],
                   b"Subject: dsn\r\n\r\nbody\r\n",
                   mail_options=["RET=HDRS", "ENVID=QQ314159"],
                   rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;b@example.test"])
    (m,) = store.messages()
    mp = {p.name: p.value for p in m.mail_params}
    assert mp["RET"] == "HDRS" and mp["ENVID"] == "QQ314159" and "SIZE" in mp
    for rp in m.rcpt_params:
        assert [(p.name, p.value) for p in rp.params] == [("NOTIFY", "SUCCESS,DELAY"),
                                                         ("ORCPT", "rfc822;b@example.test")]
    assert m.raw == b"Subject: dsn\r\n\r\nbody\r\n"


def test_smtplib_refusals_raise(sink_factory):
    sink = sink_factory("--max-recipients", "1", "--max-message-size", "100", grpc=False)
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as c:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("a@example.test", ["b@example.test"], b"x" * 200)
        assert e.value.smtp_code == 552
        refused = c.sendmail("a@example.test", ["b@example.test", "c@example.test"], b"Subject: x\r\n\r\ny\r\n")
        assert refused == {"c@example.test": (452, b"4.5.3 Error: too many recipients")}


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
@pytest.mark.parametrize("extra", [[], ["--pipeline"], ["--protocol", "SMTP"]])
def test_swaks(sink, store, tmp_path, extra):
    body = tmp_path / "body.eml"
    body.write_bytes(b"Subject: swaks\r\nX-Test: 1\r\n\r\nline\r\n.dot line\r\n")
    r = subprocess.run(["swaks", "--server", "%s:%d" % (sink.smtp_host, sink.smtp_port),
                        "--from", "s@example.test", "--to", "r1@example.test,r2@example.test",
                        "--helo", "swaks.test", "--data", "@%s" % body] + extra,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    (m,) = store.messages()
    assert m.mail_from == "s@example.test"
    assert list(m.rcpt_to) == ["r1@example.test", "r2@example.test"]
    assert m.helo == "swaks.test"
    # swaks dot-stuffs the ".dot" line and always sends CRLF "." CRLF after the
    # data, so a file that ends in CRLF gains one empty line: stored as sent
    assert m.raw == b"Subject: swaks\r\nX-Test: 1\r\n\r\nline\r\n.dot line\r\n\r\n"
    assert b"queued as %d" % m.id in r.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl(sink, store, tmp_path):
    f = tmp_path / "mail.txt"
    data = b"From: c@example.test\r\nSubject: curl\r\n\r\n.starts with dot\r\nend\r\n"
    f.write_bytes(data)
    r = subprocess.run(["curl", "-sS", "smtp://%s:%d" % (sink.smtp_host, sink.smtp_port),
                        "--mail-from", "c@example.test", "--mail-rcpt", "d@example.test",
                        "--mail-rcpt", "e@example.test", "-T", str(f)],
                       capture_output=True, timeout=30, env=dict(os.environ, no_proxy="*"))
    assert r.returncode == 0, r.stderr.decode()
    (m,) = store.messages()
    assert m.mail_from == "c@example.test"
    assert list(m.rcpt_to) == ["d@example.test", "e@example.test"]
    assert m.raw == data


def test_print_output_matches(sink_factory):
    sink = sink_factory("--print", grpc=False)
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as c:
        c.ehlo()
        c.mail("p@example.test")
        c.rcpt("q@example.test")
        code, resp = c.data(b"Subject: printed\r\n\r\nbody\r\n")
        assert code == 250
        assert queued_id(resp.decode()) == 1
    rc, out = sink.stop()
    assert rc == 0
    text = out.decode()
    assert "mail from: <p@example.test>" in text
    assert "rcpt to: <q@example.test>" in text
    assert "Subject: printed\nX-Peer: 127.0.0.1\n\nbody\n" in text
