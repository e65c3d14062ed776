"""The pytest plugin (smtpsink.pytest_plugin), run the way users run it: an
inner pytest session (pytester, in a subprocess so the installed entry
point loads it) with the `mailbox` fixture.

- two tests in parallel (pytest-xdist, -n 2) against one sink started with
  `docker run` (the "already running sink" path: SMTPSINK_SMTP_ADDR /
  SMTPSINK_GRPC_ADDR / SMTPSINK_HTTP_ADDR): each sees only its own mail
  (over gRPC and through `mailbox.web_url`), its own reject rule only
  bounces its own addresses, and teardown leaves nothing behind;
- the container path: no addresses set, the plugin starts the image named
  in pytest.ini with the extra flags from pytest.ini.
"""
import os
import subprocess
import textwrap
import time
import uuid

import pytest
from conftest import run_labels

from smtpsink import SinkClient
from smtpsink.pytest_plugin import Mailbox, RunningSink, mailbox_domain

IMAGE = os.environ.get("SMTPSINK_IMAGE", "smtpsink:latest")

PAIR = textwrap.dedent('''
    import json, os, smtplib, urllib.parse, urllib.request
    import pytest

    MARK = os.environ["PAIR_MARK"]

    def send(mailbox, local, subject):
        with smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=10) as s:
            s.sendmail(mailbox.address("app"), [mailbox.address(local)],
                       f"Subject: {subject}\\r\\n\\r\\nhi\\r\\n")

    def run(mailbox, me, code):
        # the same local part in both tests; only the domain differs
        mailbox.reject("RCPT_TO", local="blocked", code=code, message=f"blocked by {me}")
        send(mailbox, "alice", f"{MARK} {me} 1")
        send(mailbox, "bob", f"{MARK} {me} 2")
        # the sink as a whole holds both tests' mail (and both rules exist):
        # one test alone, or the two one after the other, would time out here
        mailbox.client.wait_for_messages(subject=f"{MARK} *", count=4, timeout=60)
        mine = mailbox.wait(count=2, timeout=10)
        assert sorted(m.subject for m in mine) == [f"{MARK} {me} 1", f"{MARK} {me} 2"]
        assert [m.subject for m in mailbox.messages(rcpt_to="bob")] == [f"{MARK} {me} 2"]
        # the web UI's search for the mailbox's domain: its two messages only
        query = urllib.parse.quote("to:@" + mailbox.domain)
        with urllib.request.urlopen(f"{mailbox.web_url}/api/v1/search?query={query}", timeout=10) as r:
            found = json.load(r)
        assert sorted(m["Subject"] for m in found["messages"]) == [f"{MARK} {me} 1", f"{MARK} {me} 2"]
        assert all(r.endswith("@" + mailbox.domain) for m in mailbox.messages() for r in m.rcpt_to)
        # the other test's rule (created first or not) never answers for us
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            send(mailbox, "blocked", "never stored")
        [(got, text)] = e.value.recipients.values()
        assert got == code and text.decode().endswith(f"blocked by {me}"), (got, text)
        with pytest.raises(ValueError):
            mailbox.messages(rcpt_to="alice@elsewhere.test")
        with open(os.path.join(os.environ["PAIR_OUT"], me), "w") as f:
            f.write(mailbox.domain)

    def test_one(mailbox):
        run(mailbox, "one", 550)

    def test_two(mailbox):
        run(mailbox, "two", 553)
''')

CONTAINER_PATH = textwrap.dedent('''
    import json, urllib.request

    def test_started_by_the_plugin(smtpsink, mailbox):
        info = smtpsink.client().server_info()
        assert info.max_message_size == 123456          # smtpsink_args from pytest.ini
        assert mailbox.messages() == []
        assert mailbox.address("x").endswith(".smtpsink.test")
        assert mailbox.web_url == smtpsink.get_web_url() and mailbox.web_url.startswith("http://")
        with urllib.request.urlopen(mailbox.web_url + "/api/v1/info", timeout=10) as r:
            assert json.load(r)["Version"] == info.version
''')

CONTAINER_CONFTEST = textwrap.dedent('''
    import os, pytest

    @pytest.fixture(scope="session")
    def smtpsink_container_kwargs():
        run = os.environ.get("SMTPSINK_CI_RUN")
        return {"labels": {"dev.smtpsink.run": run}} if run else {}
''')


@pytest.fixture
def running_sink():
    """smtpsink started with `docker run`, loopback ports picked by Docker."""
    labels = [a for k, v in run_labels().items() for a in ("--label", f"{k}={v}")]
    cid = subprocess.run(["docker", "run", "-d", "--rm", *labels, "-p", "127.0.0.1::1025", "-p", "127.0.0.1::50051",
                          "-p", "127.0.0.1::8025", IMAGE], check=True, capture_output=True, text=True).stdout.strip()
    try:
        def port(p):
            out = subprocess.run(["docker", "port", cid, f"{p}/tcp"], check=True, capture_output=True,
                                 text=True).stdout
            return out.splitlines()[0].rsplit(":", 1)[1]

        smtp, grpc_, http = (f"127.0.0.1:{port(p)}" for p in (1025, 50051, 8025))
        with SinkClient(grpc_) as c:
            deadline = time.monotonic() + 30
            while not c.health(timeout=1.0):
                assert time.monotonic() < deadline, "docker run sink not SERVING"
                time.sleep(0.1)
        yield smtp, grpc_, http
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


def test_xdist_pair_against_a_running_sink(pytester, monkeypatch, running_sink):
    smtp, grpc_, http = running_sink
    mark = "pair-" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("SMTPSINK_SMTP_ADDR", smtp)
    monkeypatch.setenv("SMTPSINK_GRPC_ADDR", grpc_)
    monkeypatch.setenv("SMTPSINK_HTTP_ADDR", http)
    monkeypatch.setenv("PAIR_MARK", mark)
    monkeypatch.setenv("PAIR_OUT", str(pytester.path))
    pytester.makepyfile(test_pair=PAIR)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "-v", timeout=180)
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "[gw0]" in out and "[gw1]" in out
    one, two = ((pytester.path / me).read_text() for me in ("one", "two"))
    assert one != two and one.endswith(".test-one.smtpsink.test")

    with SinkClient(grpc_) as c:
        # all four were stored; teardown cleared each mailbox's mail and rules
        counters = c.server_info().counters
        assert (counters.messages_received, counters.rcpts_rejected) == (4, 2)
        assert c.list_messages(subject=f"{mark} *") == []
        assert c.list_reject_rules() == []


def test_container_started_by_the_plugin(pytester, monkeypatch):
    for name in ("SMTPSINK_SMTP_ADDR", "SMTPSINK_GRPC_ADDR", "SMTPSINK_HTTP_ADDR"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini(f"[pytest]\nsmtpsink_image = {IMAGE}\nsmtpsink_args = --max-message-size 123456\n")
    pytester.makeconftest(CONTAINER_CONFTEST)
    pytester.makepyfile(test_container_path=CONTAINER_PATH)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=180)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("only, says", [
    ("SMTPSINK_SMTP_ADDR", "set both SMTPSINK_SMTP_ADDR and SMTPSINK_GRPC_ADDR"),
    ("SMTPSINK_HTTP_ADDR", "SMTPSINK_HTTP_ADDR names the HTTP API of a running smtpsink"),
])
def test_only_one_address_variable_is_a_usage_error(pytester, monkeypatch, only, says):
    for name in ("SMTPSINK_SMTP_ADDR", "SMTPSINK_GRPC_ADDR", "SMTPSINK_HTTP_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(only, "127.0.0.1:1")
    pytester.makepyfile("def test_x(mailbox):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert result.ret != 0
    assert says in result.stdout.str() + result.stderr.str()


def test_running_sink_web_url():
    assert RunningSink("h:1", "h:2").get_web_url() is None
    assert RunningSink("h:1", "h:2", "127.0.0.1:8025").get_web_url() == "http://127.0.0.1:8025"
    assert RunningSink("h:1", "h:2", "[::1]:8025").get_web_url() == "http://[::1]:8025"
    with pytest.raises(pytest.UsageError):
        RunningSink("h:1", "h:2", "nohostport")


class _FakeClient:
    """Records what Mailbox asks of the server (no server needed)."""

    def __init__(self):
        self.calls = []

    def reject_rule(self, stage, **kw):
        self.calls.append(("reject_rule", stage, kw))
        return type("Rule", (), {"id": f"r{len(self.calls)}"})()

    def delete_reject_rule(self, rule_id):
        self.calls.append(("delete_reject_rule", rule_id))

    def clear(self, f):
        self.calls.append(("clear", f.rcpt_to))


class _FakeSink:
    smtp_host, smtp_port = "127.0.0.1", 1025

    def __init__(self):
        self.fake = _FakeClient()

    def client(self):
        return self.fake


def test_mailbox_scopes_rules_and_teardown_to_its_domain():
    sink = _FakeSink()
    box = Mailbox(sink, mailbox_domain("test_x[param-1]"))
    assert box.domain.endswith(".test-x-param-1.smtpsink.test") and box.domain.startswith("t-")
    box.reject("rcpt_to", local="b*", code=450)
    box.reject("DATA")
    for stage in ("CONNECT", "HELO", "AUTH"):
        with pytest.raises(ValueError):
            box.reject(stage)
    for local in ("a@b", "x\\", ""):
        with pytest.raises(ValueError):
            box.reject("RCPT_TO", local=local)
    for local in ("*", "a@b", "", "a?"):
        with pytest.raises(ValueError):
            box.address(local)
    box.close()
    assert sink.fake.calls == [
        ("reject_rule", "RCPT_TO", {"match": f"b*@{box.domain}", "code": 450, "message": ""}),
        ("reject_rule", "DATA", {"match": f"*@{box.domain}", "code": 550, "message": ""}),
        ("delete_reject_rule", "r1"),
        ("delete_reject_rule", "r2"),
        ("clear", f"*@{box.domain}"),
    ]
