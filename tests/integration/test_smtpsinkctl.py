"""smtpsinkctl (the C command-line client) against the real smtpsink binary.

Mail goes in through smtplib; every subcommand is run as a subprocess and its
exit status, stdout (human table/text and --json) and stderr are checked.
Exit statuses: 0 ok, 1 RPC error, 2 usage, 3 deadline, 4 unavailable /
not serving, 130 interrupted.
"""
import base64
import json
import os
import queue
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
from email.message import EmailMessage

import pytest

from conftest import SMTPSINKCTL_BIN

pytestmark = pytest.mark.skipif(not os.path.exists(SMTPSINKCTL_BIN),
                                reason="smtpsinkctl not built")


def ctl(sink, *args, timeout=30, env=None, addr=None):
    """Runs smtpsinkctl against sink; returns CompletedProcess (bytes)."""
    argv = [SMTPSINKCTL_BIN]
    a = addr if addr is not None else (sink.grpc_addr if sink is not None else None)
    if a is not None:
        argv += ["--addr", a]
    argv += list(args)
    full_env = dict(os.environ)
    full_env.pop("SMTPSINK_GRPC_ADDR", None)
    full_env.update(env or {})
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=full_env)


def ctl_json(sink, *args, **kw):
    r = ctl(sink, "--json", *args, **kw)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, out
    return json.loads(out)


def popen_ctl(sink, *args):
    return subprocess.Popen([SMTPSINKCTL_BIN, "--addr", sink.grpc_addr] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def send(sink, sender, rcpts, subject="hello", body="body text\n", headers=None):
    msg = EmailMessage()
    msg["From"] = sender or "nobody@example.test"
    msg["To"] = ", ".join(rcpts)
    msg["Subject"] = subject
    for k, v in (headers or {}).items():
        msg[k] = v
    msg.set_content(body)
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.send_message(msg, from_addr=sender, to_addrs=rcpts)
    return msg


def send_raw(sink, sender, rcpts, data, **kw):
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.sendmail(sender, rcpts, data, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class LineReader:
    """Reads a subprocess's stdout lines on a thread, with timeouts."""

    def __init__(self, proc):
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, args=(proc.stdout,), daemon=True)
        self.t.start()

    def _run(self, f):
        for line in f:
            self.q.put(line)
        self.q.put(None)

    def line(self, timeout=10):
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output line within %ss" % timeout)
        assert line is not None, "stream ended"
        return line.decode()

    def empty_for(self, timeout):
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            return True
        raise AssertionError("unexpected line %r" % line)


# --- no server needed ---------------------------------------------------------

def test_version_and_help():
    r = ctl(None, "--version")
    assert r.returncode == 0
    assert r.stdout.startswith(b"smtpsinkctl ")
    r = ctl(None, "--help")
    assert r.returncode == 0
    out = r.stdout.decode()
    for word in ("list", "get", "wait", "watch", "clear", "rules add", "info", "health",
                 "Exit status", "3  deadline", "4  server unreachable", "2  usage"):
        assert word in out, word
    for cmd in (["list"], ["get"], ["wait"], ["watch"], ["clear"], ["rules", "add"],
                ["rules", "list"], ["rules", "delete"], ["info"], ["health"]):
        r = ctl(None, *cmd, "--help")
        assert r.returncode == 0, cmd
        assert r.stdout.startswith(b"usage: smtpsinkctl " + " ".join(cmd).encode()), r.stdout
        r2 = ctl(None, "help", *cmd)
        assert r2.returncode == 0 and r2.stdout == r.stdout


@pytest.mark.parametrize("args", [
    [],
    ["bogus"],
    ["list", "--bogus"],
    ["list", "extra"],
    ["list", "--limit"],
    ["list", "--limit", "x"],
    ["list", "--limit", "-1"],
    ["list", "--after-id", "1e3"],
    ["get"],
    ["get", "abc"],
    ["get", "1", "2"],
    ["wait", "--timeout", "soon"],
    ["wait", "--count", "0"],
    ["clear", "--limit", "3"],
    ["--from", "x@y", "list"],
    ["list", "--header", "=v"],
    ["rules"],
    ["rules", "frob"],
    ["rules", "add", "--code", "550"],
    ["rules", "add", "--stage", "nope", "--code", "550"],
    ["rules", "add", "--stage", "rcpt"],
    ["rules", "add", "--stage", "rcpt", "--code", "5500"],
    ["rules", "delete", "a", "b"],
    ["health", "--to", "x"],
    ["help", "frob"],
])
def test_usage_errors_exit_2(args):
    # Port 1: nothing may be contacted for a usage error.
    r = ctl(None, *args, addr="127.0.0.1:1")
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == b""
    assert r.stderr.startswith(b"smtpsinkctl: "), r.stderr
    assert b"Try 'smtpsinkctl" in r.stderr


def test_unreachable_exit_4():
    addr = "127.0.0.1:%d" % free_port()
    for args in (["health"], ["info"], ["list"]):
        r = ctl(None, *args, addr=addr, timeout=20)
        assert r.returncode == 4, (args, r.stderr)
        assert r.stdout == b""
        assert r.stderr.startswith(b"smtpsinkctl: UNAVAILABLE: "), r.stderr


# --- info / health ----------------------------------------------------------

def test_info(sink):
    send(sink, "a@x.test", ["b@y.test"])
    r = ctl(sink, "info")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert sink.smtp_addr in out
    assert sink.grpc_addr in out
    assert "PIPELINING" in out
    info = ctl_json(sink, "info")
    assert info["version"]
    assert sink.smtp_addr in info["smtp_addresses"]
    assert info["grpc_address"] == sink.grpc_addr
    assert "8BITMIME" in info["extensions"]
    c = info["counters"]
    assert c["messages_received"] == 1 and isinstance(c["messages_received"], int)
    assert c["stored_messages"] == 1
    assert c["last_id"] >= 1
    assert c["stored_bytes"] > 0


def test_info_address_from_environment(sink):
    r = ctl(None, "--json", "info", env={"SMTPSINK_GRPC_ADDR": sink.grpc_addr})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["grpc_address"] == sink.grpc_addr


def test_health_serving(sink):
    r = ctl(sink, "health")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"", b"")
    # Global options also work after the command (Dockerfile usage).
    r = subprocess.run([SMTPSINKCTL_BIN, "health", "--addr", sink.grpc_addr, "--verbose"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 0 and r.stdout == b"SERVING\n"
    assert ctl_json(sink, "health") == {"status": "SERVING"}
    assert ctl(sink, "health", "--service", "smtpsink.v1.Sink").returncode == 0


def test_health_unknown_service_not_serving(sink):
    r = ctl(sink, "health", "--service", "no.such.Service")
    assert r.returncode == 4
    assert r.stdout == b""
    assert r.stderr.startswith(b"smtpsinkctl: ")


def test_health_after_server_stopped(sink_factory):
    s = sink_factory()
    assert ctl(s, "health").returncode == 0
    rc, _ = s.stop()
    assert rc == 0
    r = ctl(s, "health", timeout=20)
    assert r.returncode == 4
    assert b"UNAVAILABLE" in r.stderr


# --- list ---------------------------------------------------------------------

def _three(sink):
    send(sink, "alice@a.test", ["bob@b.test"], subject="first one", body="nothing here\n",
         headers={"X-Tag": "red"})
    send(sink, "carol@c.test", ["dave@d.test", "erin@b.test"], subject="second one",
         body="there is a needle in it\n", headers={"X-Tag": "blue"})
    send(sink, "", ["frank@f.test"], subject="third one", body="bounce\n")


def test_list_table(sink):
    _three(sink)
    r = ctl(sink, "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["ID", "RECEIVED", "FROM", "TO", "SUBJECT", "SIZE"]
    assert len(lines) == 4
    # Aligned: every column starts where its header starts, SIZE right-aligned.
    hdr = lines[0]
    for col in ("RECEIVED", "FROM", "TO", "SUBJECT"):
        start = hdr.index(col)
        for line in lines[1:]:
            assert line[start - 2:start] == "  " and line[start] != " ", (col, line)
    assert all(len(line) == len(hdr) for line in lines), lines
    assert "alice@a.test" in lines[1] and "bob@b.test" in lines[1] and "first one" in lines[1]
    assert "dave@d.test,erin@b.test" in lines[2]
    assert "<>" in lines[3] and "third one" in lines[3]
    ids = [int(line.split()[0]) for line in lines[1:]]
    assert ids == sorted(ids)


def test_list_empty(sink):
    r = ctl(sink, "list")
    assert r.returncode == 0
    assert r.stdout == b"no messages (last id 0)\n"
    assert ctl_json(sink, "list") == {"messages": [], "last_id": 0, "matched": 0}


def test_list_json_and_filters(sink):
    _three(sink)
    res = ctl_json(sink, "list")
    assert set(res) >= {"messages", "last_id"}
    msgs = res["messages"]
    assert [m["subject"] for m in msgs] == ["first one", "second one", "third one"]
    ids = [m["id"] for m in msgs]
    assert ids == sorted(ids) and all(isinstance(i, int) for i in ids)
    assert res["last_id"] == ids[-1]
    assert msgs[1]["rcpt_to"] == ["dave@d.test", "erin@b.test"]
    assert msgs[2]["mail_from"] == ""
    assert all(m["raw"] == "" for m in msgs)          # not asked for
    assert all(m["size"] > 0 for m in msgs)
    assert msgs[0]["received_at"].endswith("Z")

    def subjects(*flags):
        return [m["subject"] for m in ctl_json(sink, "list", *flags)["messages"]]

    assert subjects("--to", "*@b.test") == ["first one", "second one"]
    assert subjects("--to", "ERIN@B.TEST") == ["second one"]
    assert subjects("--from", "carol@*") == ["second one"]
    assert subjects("--subject", "*IRD*") == ["third one"]
    assert subjects("--header", "X-Tag=blue") == ["second one"]
    assert subjects("--header", "x-tag=*") == ["first one", "second one"]
    assert subjects("--body", "*needle*") == ["second one"]
    assert subjects("--after-id", str(ids[0])) == ["second one", "third one"]
    assert subjects("--to", "*@b.test", "--subject", "first*") == ["first one"]
    assert subjects("--to", "nobody@*") == []
    lim = ctl_json(sink, "list", "--limit", "1")
    assert [m["subject"] for m in lim["messages"]] == ["first one"]
    assert lim["last_id"] == ids[-1]
    r = ctl(sink, "list", "--limit", "1")
    assert b"(1 of 3 matching messages shown" in r.stdout


def test_list_bad_glob_is_rpc_error(sink):
    r = ctl(sink, "list", "--subject", "[unclosed")
    assert r.returncode == 1
    assert r.stderr.startswith(b"smtpsinkctl: INVALID_ARGUMENT: "), r.stderr


RAW = (b"From: Alice <alice@a.test>\r\n"
       b"To: bob@b.test\r\n"
       b"Subject: =?utf-8?q?caf=C3=A9_\"quoted\"_\\_back?=\r\n"
       b"X-Trailing: spaces   \r\n"
       b"MIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n"
       b"Content-Transfer-Encoding: 8bit\r\n"
       b"\r\n"
       b"From the start of a line\r\n"
       b".leading dot survives unstuffing\r\n"
       b"8-bit: \xc3\xa9t\xc3\xa9\r\n"
       b"\ttab and trailing space \r\n")


def test_list_raw_json_and_mbox(sink):
    send_raw(sink, "alice@a.test", ["bob@b.test"], RAW, mail_options=["BODY=8BITMIME"])
    res = ctl_json(sink, "list", "--raw")
    m = res["messages"][0]
    assert base64.b64decode(m["raw"]) == RAW
    assert m["size"] == len(RAW)
    assert m["subject"] == 'café "quoted" \\ back'
    r = ctl(sink, "list", "--raw")
    assert r.returncode == 0
    first = r.stdout.split(b"\n", 1)[0].decode()
    assert re.fullmatch(r"From alice@a\.test \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}", first), first
    assert b"\n>From the start of a line\r\n" in r.stdout   # mboxrd quoting
    assert b".leading dot survives unstuffing\r\n" in r.stdout
    w = ctl(sink, "watch", "--raw", "--count", "1")
    assert w.returncode == 0 and w.stdout == r.stdout


def test_human_output_has_no_control_characters(sink):
    raw = (b"From: x@x.test\r\nTo: y@y.test\r\nSubject: \x1b[31mred\x07 alert\r\n\r\n"
           b"body \x1b]0;title\x07\r\n")
    send_raw(sink, "x@x.test", ["y@y.test"], raw)
    for args in (["list"], ["get", str(ctl_json(sink, "list")["messages"][0]["id"])]):
        r = ctl(sink, *args)
        assert r.returncode == 0, r.stderr
        assert b"\x1b" not in r.stdout and b"\x07" not in r.stdout, r.stdout
        assert b"red" in r.stdout
    r = ctl(sink, "--json", "list")
    assert b"\x1b" not in r.stdout and b"\x07" not in r.stdout
    m = json.loads(r.stdout)["messages"][0]
    assert m["subject"] == "\x1b[31mred\x07 alert"   # JSON keeps them, escaped


def test_json_is_valid_utf8_for_8bit_garbage(sink):
    raw = (b"From: x@x.test\r\nTo: y@y.test\r\nSubject: bad \xff\xfe bytes \xc3\r\n"
           b"X-Latin1: caf\xe9\r\n\r\nbody \xe9\xff\r\n")
    send_raw(sink, "x@x.test", ["y@y.test"], raw, mail_options=["BODY=8BITMIME"])
    r = ctl(sink, "--json", "list", "--raw")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.decode("utf-8"))        # strict: must be UTF-8
    m = res["messages"][0]
    assert base64.b64decode(m["raw"]) == raw
    assert m["subject"].startswith("bad ")
    mid = str(m["id"])
    r = ctl(sink, "--json", "get", mid)
    assert r.returncode == 0
    json.loads(r.stdout.decode("utf-8"))
    r = ctl(sink, "get", mid)
    assert r.returncode == 0
    r.stdout.decode("utf-8")                           # human output too


# --- get ----------------------------------------------------------------------

def test_get_raw_byte_exact(sink):
    send_raw(sink, "alice@a.test", ["bob@b.test"], RAW, mail_options=["BODY=8BITMIME"])
    mid = ctl_json(sink, "list")["messages"][0]["id"]
    r = ctl(sink, "get", str(mid), "--raw")
    assert r.returncode == 0, r.stderr
    assert r.stdout == RAW
    m = ctl_json(sink, "get", str(mid), "--raw")
    assert m["id"] == mid
    assert base64.b64decode(m["raw"]) == RAW
    assert m["mail_from"] == "alice@a.test" and m["rcpt_to"] == ["bob@b.test"]
    assert ["X-Trailing", "spaces"] in [[h["name"], h["value"].strip()] for h in m["headers"]]
    assert m["body_type"] == "8BITMIME"
    assert ctl_json(sink, "get", str(mid))["raw"] == ""
    r = ctl(sink, "get", str(mid))
    out = r.stdout.decode()
    assert r.returncode == 0
    assert "Subject:" in out and 'café "quoted" \\ back' in out
    assert "<alice@a.test>" in out and "<bob@b.test>" in out
    assert "From the start of a line" in out
    assert "\r" not in out


def test_get_not_found_exit_1(sink):
    r = ctl(sink, "get", "999999")
    assert r.returncode == 1
    assert r.stdout == b""
    assert r.stderr.startswith(b"smtpsinkctl: NOT_FOUND: "), r.stderr


def test_get_attachments(sink):
    msg = EmailMessage()
    msg["From"] = "a@a.test"
    msg["To"] = "b@b.test"
    msg["Subject"] = "with attachment"
    msg.set_content("see attached\n")
    blob = bytes(range(256)) * 3
    msg.add_attachment(blob, maintype="application", subtype="octet-stream",
                       filename="data.bin")
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.send_message(msg)
    mid = ctl_json(sink, "list")["messages"][0]["id"]
    plain = ctl_json(sink, "get", str(mid))
    assert plain["attachments"][0]["filename"] == "data.bin"
    assert plain["attachments"][0]["size"] == len(blob)
    assert plain["attachments"][0]["content"] == ""
    full = ctl_json(sink, "get", str(mid), "--attachments")
    assert base64.b64decode(full["attachments"][0]["content"]) == blob
    r = ctl(sink, "get", str(mid))
    assert b"data.bin" in r.stdout and b"application/octet-stream" in r.stdout


# --- wait ---------------------------------------------------------------------

def test_wait_already_satisfied(sink):
    send(sink, "a@a.test", ["w1@wait.test"], subject="early")
    res = ctl_json(sink, "wait", "--to", "w1@wait.test", "--timeout", "20s")
    assert [m["subject"] for m in res["messages"]] == ["early"]
    r = ctl(sink, "wait", "--to", "w1@wait.test")
    assert r.returncode == 0 and b"early" in r.stdout


def test_wait_satisfied_later(sink):
    p = popen_ctl(sink, "--json", "wait", "--to", "*@later.test", "--count", "2",
                  "--timeout", "30s")
    try:
        send(sink, "a@a.test", ["x@later.test"], subject="one")
        send(sink, "a@a.test", ["other@else.test"], subject="noise")
        send(sink, "a@a.test", ["y@later.test"], subject="two")
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    res = json.loads(out)
    assert [m["subject"] for m in res["messages"]] == ["one", "two"]


def test_wait_deadline_exit_3(sink):
    send(sink, "a@a.test", ["one@dl.test"])
    r = ctl(sink, "wait", "--to", "*@dl.test", "--count", "2", "--timeout", "300ms")
    assert r.returncode == 3, r.stderr
    assert r.stdout == b""
    assert r.stderr.startswith(b"smtpsinkctl: DEADLINE_EXCEEDED: "), r.stderr
    assert b"1" in r.stderr      # the server says how many matched
    r = ctl(sink, "wait", "--to", "nobody@dl.test", "--timeout", "200ms")
    assert r.returncode == 3


def test_wait_interrupted_exit_130(sink):
    p = popen_ctl(sink, "wait", "--to", "never@x.test", "--timeout", "60s")
    try:
        # The call is up once the server counts a waiter.
        for _ in range(200):
            if ctl_json(sink, "info")["counters"].get("waiters", 0) >= 1:
                break
            threading.Event().wait(0.05)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert b"interrupted" in err


# --- watch --------------------------------------------------------------------

def test_watch_replay_then_live(sink):
    send(sink, "a@a.test", ["r1@watch.test"], subject="replay 1")
    send(sink, "a@a.test", ["other@else.test"], subject="not watched")
    send(sink, "a@a.test", ["r2@watch.test"], subject="replay 2")
    p = popen_ctl(sink, "--json", "watch", "--to", "*@watch.test")
    try:
        rd = LineReader(p)
        first = json.loads(rd.line())
        second = json.loads(rd.line())
        assert [first["subject"], second["subject"]] == ["replay 1", "replay 2"]
        send(sink, "a@a.test", ["other@else.test"], subject="still not")
        send(sink, "a@a.test", ["r3@watch.test"], subject="live 3")
        third = json.loads(rd.line())
        assert third["subject"] == "live 3"
        assert first["id"] < second["id"] < third["id"]
        assert rd.empty_for(0.3)
        p.send_signal(signal.SIGINT)           # Ctrl-C ends a watch
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read()
    assert p.returncode == 130, err            # the shell convention for SIGINT, as the README says
    assert b"interrupted" in err


def test_issue12_watch_sigterm_exit_130(sink):
    """Issue 12: watch ended by a signal exits 130 like every other command
    (it used to exit 0, against the README's exit status table)."""
    send(sink, "a@a.test", ["t@term.test"], subject="seen")
    p = popen_ctl(sink, "watch", "--to", "*@term.test")
    try:
        assert LineReader(p).line().rstrip().endswith("seen")
        p.terminate()
        p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, p.stderr.read()


def test_watch_human_after_id_and_count(sink):
    send(sink, "a@a.test", ["h@watch.test"], subject="old")
    first_id = ctl_json(sink, "list")["messages"][0]["id"]
    p = popen_ctl(sink, "watch", "--after-id", str(first_id), "--count", "2")
    try:
        rd = LineReader(p)
        send(sink, "s@a.test", ["h@watch.test"], subject="new one")
        line = rd.line()
        assert line.split()[0] == str(first_id + 1)
        assert "s@a.test" in line and "h@watch.test" in line and line.rstrip().endswith("new one")
        send(sink, "s@a.test", ["h@watch.test"], subject="new two")
        assert rd.line().rstrip().endswith("new two")
        p.wait(timeout=20)                     # --count 2: exits by itself
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err


def test_watch_ends_when_server_stops(sink_factory):
    s = sink_factory()
    send(s, "a@a.test", ["b@b.test"], subject="before stop")
    p = popen_ctl(s, "watch")
    try:
        rd = LineReader(p)
        assert rd.line().rstrip().endswith("before stop")
        rc, _ = s.stop()
        assert rc == 0
        p.wait(timeout=30)
        err = p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 4, err
    assert err.startswith(b"smtpsinkctl: UNAVAILABLE: "), err


def test_watch_timeout(sink):
    r = ctl(sink, "watch", "--timeout", "300ms")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b""
    r = ctl(sink, "watch", "--timeout", "300ms", "--count", "1")
    assert r.returncode == 3


# --- clear --------------------------------------------------------------------

def test_clear_with_filter(sink):
    send(sink, "a@a.test", ["one@x.test"], subject="x1")
    send(sink, "a@a.test", ["two@x.test"], subject="x2")
    send(sink, "a@a.test", ["keep@y.test"], subject="y1")
    r = ctl(sink, "clear", "--to", "*@x.test")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"deleted 2 messages\n"
    assert [m["subject"] for m in ctl_json(sink, "list")["messages"]] == ["y1"]
    assert ctl_json(sink, "clear", "--to", "*@x.test") == {"deleted": 0}
    assert ctl_json(sink, "clear") == {"deleted": 1}
    assert ctl_json(sink, "list")["messages"] == []


# --- rules --------------------------------------------------------------------

def test_rules_add_list_delete_seen_by_smtp(sink):
    rule = ctl_json(sink, "rules", "add", "--stage", "rcpt", "--match", "*@blocked.test",
                    "--code", "550", "--enhanced", "5.1.1", "--message", "no such user")
    assert rule["id"]
    assert rule["stage"] == "RCPT_TO" and rule["code"] == 550
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            s.sendmail("a@a.test", ["x@blocked.test"], b"Subject: t\r\n\r\nbody\r\n")
        code, text = ei.value.recipients["x@blocked.test"]
        assert code == 550 and b"no such user" in text and b"5.1.1" in text
        s.sendmail("a@a.test", ["x@fine.test"], b"Subject: t\r\n\r\nbody\r\n")

    rules = ctl_json(sink, "rules", "list")["rules"]
    assert len(rules) == 1
    assert rules[0]["id"] == rule["id"] and rules[0]["hits"] == 1
    assert rules[0]["match"] == "*@blocked.test"
    r = ctl(sink, "rules", "list")
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["ID", "STAGE", "MATCH"]
    assert rule["id"] in lines[1] and "RCPT_TO" in lines[1] and "no such user" in lines[1]

    r = ctl(sink, "rules", "delete", rule["id"])
    assert (r.returncode, r.stdout) == (0, b"deleted 1 rule\n")
    assert ctl_json(sink, "rules", "list")["rules"] == []
    send(sink, "a@a.test", ["x@blocked.test"], subject="now accepted")
    assert ctl_json(sink, "list", "--to", "x@blocked.test")["messages"][0]["subject"] == "now accepted"


def test_rules_times_data_stage_and_delete_all(sink):
    r1 = ctl_json(sink, "rules", "add", "--stage", "data", "--code", "554",
                  "--message", "content refused", "--times", "1")
    ctl_json(sink, "rules", "add", "--stage", "mail_from", "--match", "spam@*",
             "--code", "451", "--message", "try later")
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPDataError) as ei:
            s.sendmail("a@a.test", ["b@b.test"], b"Subject: first\r\n\r\nx\r\n")
        assert ei.value.smtp_code == 554
        s.sendmail("a@a.test", ["b@b.test"], b"Subject: second\r\n\r\nx\r\n")   # times=1 used up
        with pytest.raises(smtplib.SMTPSenderRefused) as ei:
            s.sendmail("spam@a.test", ["b@b.test"], b"Subject: third\r\n\r\nx\r\n")
        assert ei.value.smtp_code == 451
    assert [m["subject"] for m in ctl_json(sink, "list")["messages"]] == ["second"]
    rules = {r["id"]: r for r in ctl_json(sink, "rules", "list")["rules"]}
    assert rules[r1["id"]]["hits"] == 1 and rules[r1["id"]]["times"] == 1
    assert ctl_json(sink, "rules", "delete") == {"deleted": 2}
    assert ctl_json(sink, "rules", "list")["rules"] == []


def test_rules_invalid_code_is_rpc_error(sink):
    r = ctl(sink, "rules", "add", "--stage", "rcpt", "--code", "250")
    assert r.returncode == 1
    assert r.stderr.startswith(b"smtpsinkctl: INVALID_ARGUMENT: "), r.stderr
    r = ctl(sink, "rules", "delete", "no-such-rule")
    assert r.returncode == 1
    assert r.stderr.startswith(b"smtpsinkctl: NOT_FOUND: "), r.stderr


# --- memory -------------------------------------------------------------------

VALGRIND = shutil.which("valgrind")


@pytest.mark.skipif(VALGRIND is None, reason="valgrind not installed")
@pytest.mark.skipif(os.environ.get("SMTPSINK_SANITIZE", "").upper() in ("ON", "1", "TRUE"),
                    reason="sanitizer build: valgrind does not apply")
def test_no_leaks_under_valgrind(sink):
    """Every call path frees what it allocates (gRPC's own statics aside)."""
    send_raw(sink, "alice@a.test", ["bob@b.test"], RAW, mail_options=["BODY=8BITMIME"])
    mid = str(ctl_json(sink, "list")["messages"][0]["id"])
    # One run per code path: unary OK, unary error, stream, deadline.
    runs = [
        (["--json", "list", "--raw"], 0),
        (["get", "999999"], 1),
        (["watch", "--count", "1"], 0),
        (["wait", "--to", "nobody@x.test", "--timeout", "200ms"], 3),
    ]
    for args, want in runs:
        r = subprocess.run([VALGRIND, "-q", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                            "--error-exitcode=99", SMTPSINKCTL_BIN, "--addr", sink.grpc_addr] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        assert r.returncode == want, (args, r.stderr.decode()[-3000:])
        assert b"Invalid read" not in r.stderr and b"Invalid write" not in r.stderr, args
        assert b"uninitialised" not in r.stderr, (args, r.stderr.decode()[-3000:])
