"""The HTTP side: health, the control API over HTTP/JSON (same answers as
gRPC), Server-Sent Events with Last-Event-ID replay, raw and attachment
downloads, and the security rules (Host, CSRF, basic auth, limits)."""
import json
import os
import select
import signal
import socket
import tempfile
import threading
import time

import grpc
import pytest

import http_util as hu
from smtpsink.v1 import smtpsink_pb2 as pb
from smtpsink.v1 import smtpsink_pb2_grpc as pbg
from google.protobuf import json_format


@pytest.fixture
def web(sink_factory):
    """A sink with HTTP on; stopped after the test, which must exit 0 (no leak
    under LeakSanitizer or valgrind, whose reports turn into the exit status)."""
    s = sink_factory()
    assert s.http_addr, s.ready
    yield s
    rc, _ = s.stop()
    assert rc == 0, "smtpsink exited with %s: %s" % (rc, s.stderr()[-3000:])


def stub(s):
    return pbg.SinkStub(grpc.insecure_channel(s.grpc_addr))


def test_health_ready_and_headers(web):
    st, h, body = hu.request(web.http_addr, "GET", "/healthz")
    assert (st, body) == (200, b"ok\n")
    assert h["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in h["content-security-policy"]
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["x-frame-options"] == "DENY" and h["referrer-policy"] == "no-referrer"
    assert hu.request(web.http_addr, "GET", "/readyz")[0] == 200
    st, h, body = hu.request(web.http_addr, "GET", "/")
    assert st == 200 and b"smtpsink" in body and h["content-type"].startswith("text/html")
    st, h, gz = hu.request(web.http_addr, "GET", "/", headers={"Accept-Encoding": "gzip"})
    assert h.get("content-encoding") == "gzip"
    import gzip
    assert gzip.decompress(gz) == body
    assert hu.request(web.http_addr, "GET", "/nope")[0] == 404
    for p in ("/ui", "/ui/", "/index.html"):
        st, h, _ = hu.request(web.http_addr, "GET", p)
        assert (st, h.get("location")) == (301, "/"), p


def test_readyz_follows_drain(sink_factory):
    s = sink_factory("--shutdown-grace", "3s")
    c = socket.create_connection((s.smtp_host, s.smtp_port))
    c.recv(1024)
    c.sendall(b"EHLO x\r\nMAIL FROM:<a@b>\r\n")  # a transaction in flight keeps SMTP draining
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while (r := hu.request(s.http_addr, "GET", "/readyz"))[0] == 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    st, _, body = r
    assert st == 503 and body == b"draining\n"
    assert hu.request(s.http_addr, "GET", "/healthz")[0] == 200
    c.close()


def send_all(s):
    for f, r, d in hu.MAILS:
        hu.send(s.smtp_addr, f, r, d)


def test_every_unary_rpc_matches_grpc(web):
    send_all(web)
    g = stub(web)
    cases = [
        ("ListMessages", pb.ListMessagesRequest(filter=pb.Filter(subject="*three*"), include_raw=True)),
        ("ListMessages", pb.ListMessagesRequest(limit=2)),
        ("GetMessage", pb.GetMessageRequest(id=3, include_raw=True, include_attachments=True)),
        ("WaitForMessages", pb.WaitForMessagesRequest(filter=pb.Filter(rcpt_to="erin@*"), count=1)),
        ("ListRejectRules", pb.ListRejectRulesRequest()),
    ]
    for method, req in cases:
        want = getattr(g, method)(req, timeout=10)
        st, got = hu.rpc(web.http_addr, method, json.loads(json_format.MessageToJson(req)))
        assert st == 200, got
        assert json_format.ParseDict(got, type(want)()) == want, method
    # rules: set over HTTP, seen over gRPC, deleted over HTTP
    st, rule = hu.rpc(web.http_addr, "SetRejectRule",
                      {"stage": "RCPT_TO", "match": "nobody@*", "code": 550, "message": "no"})
    assert st == 200 and rule["stage"] == "RCPT_TO" and rule["id"]
    assert [r.id for r in g.ListRejectRules(pb.ListRejectRulesRequest()).rules] == [rule["id"]]
    assert hu.rpc(web.http_addr, "DeleteRejectRule", {"id": rule["id"]}) == (200, {"deleted": "1"})
    st, err = hu.rpc(web.http_addr, "DeleteRejectRule", {"id": "nope"})
    assert st == 404 and err["code"] == "not_found"
    st, info = hu.rpc(web.http_addr, "GetServerInfo")
    assert st == 200 and info["counters"]["lastId"] == "4" and info["smtpAddresses"] == [web.smtp_addr]
    # int64 as strings, bytes base64, Timestamp RFC 3339
    st, m = hu.rpc(web.http_addr, "GetMessage", {"id": "1", "includeRaw": True})
    assert m["id"] == "1" and m["size"] == str(len(hu.PLAIN))
    import base64
    assert base64.b64decode(m["raw"]) == hu.PLAIN and m["receivedAt"].endswith("Z")
    assert hu.rpc(web.http_addr, "Clear", {"filter": {"subject": "plain*"}}) == (200, {"deleted": "1"})
    assert g.ListMessages(pb.ListMessagesRequest()).matched == 3


def test_rpc_errors(web):
    st, err = hu.rpc(web.http_addr, "GetMessage", {"id": "99"})
    assert st == 404 and err["code"] == "not_found"
    st, err = hu.rpc(web.http_addr, "GetMessage", {"id": "x"})
    assert st == 400 and err["code"] == "invalid_argument" and "id" in err["message"]
    st, err = hu.rpc(web.http_addr, "ListMessages", {"filter": {"subject": "[unclosed"}})
    assert st == 400 and err["code"] == "invalid_argument"
    st, err = hu.rpc(web.http_addr, "NoSuchMethod")
    assert st == 404 and err["code"] == "unimplemented"
    st, err = hu.rpc(web.http_addr, "WatchMessages")
    assert st == 404 and "events" in err["message"]
    st, _, body = hu.request(web.http_addr, "POST", "/smtpsink.v1.Sink/ListMessages", b"{nope",
                             {"Content-Type": "application/json"})
    assert st == 400 and json.loads(body)["code"] == "invalid_argument"
    st, err = hu.rpc(web.http_addr, "WaitForMessages", {"count": 1, "timeout": "0.2s"})
    assert st == 504 and err["code"] == "deadline_exceeded"


def test_wait_parks_and_client_may_leave(web):
    got = {}

    def wait():
        got["r"] = hu.rpc(web.http_addr, "WaitForMessages", {"filter": {"subject": "plain*"}, "timeout": "5s"})

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.3)
    # a client that leaves while parked: its waiter goes away
    c = socket.create_connection(web.http_addr.rsplit(":", 1))
    body = b'{"timeout":"30s"}'
    c.sendall(b"POST /smtpsink.v1.Sink/WaitForMessages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    time.sleep(0.3)
    assert hu.rpc(web.http_addr, "GetServerInfo")[1]["counters"]["waiters"] == "2"
    c.close()
    hu.send(web.smtp_addr, *hu.MAILS[0])
    t.join(10)
    st, resp = got["r"]
    assert st == 200 and resp["matched"] == "1" and resp["messages"][0]["subject"] == "plain one"
    deadline = time.monotonic() + 5
    while hu.rpc(web.http_addr, "GetServerInfo")[1]["counters"].get("waiters", "0") != "0":
        assert time.monotonic() < deadline
        time.sleep(0.05)


class SSE:
    """A raw Server-Sent Events reader."""

    def __init__(self, addr, path, last_id=None):
        self.sock = socket.create_connection(addr.rsplit(":", 1), timeout=10)
        extra = b"Last-Event-ID: %d\r\n" % last_id if last_id is not None else b""
        self.sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path.encode(), addr.encode(), extra))
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n")[0], head
        assert b"text/event-stream" in head

    def _until(self, sep):
        while sep not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        out, _, self.buf = self.buf.partition(sep)
        return out

    def event(self):
        """The next event as a dict of fields (chunk framing removed)."""
        while True:
            size = int(self._until(b"\r\n"), 16)
            while len(self.buf) < size + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:size], self.buf[size + 2:]
            self.pending = getattr(self, "pending", b"") + data
            while b"\n\n" in self.pending:
                block, _, self.pending = self.pending.partition(b"\n\n")
                fields = {}
                for line in block.decode().split("\n"):
                    if line and not line.startswith(":"):
                        k, _, v = line.partition(": ")
                        fields[k] = v
                if "data" in fields:
                    return fields

    def close(self):
        self.sock.close()


def test_events_replay_and_resume(web):
    hu.send(web.smtp_addr, *hu.MAILS[0])
    hu.send(web.smtp_addr, *hu.MAILS[1])
    ev = SSE(web.http_addr, "/api/events?rcpt_to=bob@*")
    seen = [ev.event(), ev.event()]
    assert [e["id"] for e in seen] == ["1", "2"] and seen[0]["event"] == "message"
    assert json.loads(seen[0]["data"])["subject"] == "plain one"
    assert "raw" not in json.loads(seen[0]["data"])
    hu.send(web.smtp_addr, *hu.MAILS[2])
    assert ev.event()["id"] == "3"
    ev.close()
    for f, r, d in [hu.MAILS[0], hu.MAILS[3], hu.MAILS[1]]:  # 4, 5 (not bob's), 6
        hu.send(web.smtp_addr, f, r, d)
    ev = SSE(web.http_addr, "/api/events?rcpt_to=bob@*", last_id=3)
    ids = [ev.event()["id"], ev.event()["id"]]
    hu.send(web.smtp_addr, *hu.MAILS[0])
    ids.append(ev.event()["id"])
    assert ids == ["4", "6", "7"]  # no gap, no duplicate, filter kept
    ev.close()
    ev = SSE(web.http_addr, "/api/events?after_id=6")
    assert ev.event()["id"] == "7"
    ev.close()
    st, _, body = hu.request(web.http_addr, "GET", "/api/events?subject=[bad")
    assert st == 400


def test_events_slow_reader_bounded(web):
    # many events to a client that never reads: the sink's memory stays bounded
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 300
    for _ in range(30):
        hu.send(web.smtp_addr, "a@b.c", ["d@e.f"], big)
    s = socket.create_connection(web.http_addr.rsplit(":", 1))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    time.sleep(1)
    assert hu.request(web.http_addr, "GET", "/healthz")[0] == 200
    st, info = hu.rpc(web.http_addr, "GetServerInfo")
    assert info["counters"]["waiters"] == "1"  # parked, one event in flight
    s.close()


def test_raw_and_attachment_downloads(web):
    send_all(web)
    st, h, body = hu.request(web.http_addr, "GET", "/api/messages/3.eml")
    assert st == 200 and body == hu.ATTACH and h["content-type"] == "message/rfc822"
    assert hu.request(web.http_addr, "GET", "/api/messages/3/raw")[2] == hu.ATTACH
    st, h, body = hu.request(web.http_addr, "GET", "/api/messages/3/attachments/0")
    assert st == 200 and body == hu.ATTACHMENT_BYTES and h["content-type"] == "application/pdf"
    assert h["content-disposition"] == "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf"
    assert hu.request(web.http_addr, "GET", "/api/messages/3/attachments/1")[0] == 404
    assert hu.request(web.http_addr, "GET", "/api/messages/99.eml")[0] == 404
    assert hu.request(web.http_addr, "GET", "/api/messages/x.eml")[0] == 404


def test_csrf_and_dns_rebinding(sink_factory):
    s = sink_factory("--http-allowed-hosts", "sink.test,other.test")
    a = s.http_addr
    hu.send(s.smtp_addr, *hu.MAILS[0])
    # a form post from another site cannot clear the store
    st, _, _ = hu.request(a, "POST", "/smtpsink.v1.Sink/Clear", b"filter=x",
                          {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"})
    assert st == 415
    st, _, _ = hu.request(a, "POST", "/smtpsink.v1.Sink/Clear", b"{}", {"Content-Type": "text/plain"})
    assert st == 415
    st, _, _ = hu.request(a, "POST", "/smtpsink.v1.Sink/Clear", {}, {"Origin": "http://evil.example"})
    assert st == 403
    st, _, _ = hu.request(a, "DELETE", "/api/v1/messages", {}, {"Origin": "http://evil.example"})
    assert st == 403
    assert hu.rpc(a, "GetServerInfo")[1]["counters"]["storedMessages"] == "1"
    assert hu.request(a, "POST", "/smtpsink.v1.Sink/GetServerInfo", {}, {"Origin": "http://" + a})[0] == 200
    # DNS rebinding: a name that is not ours
    assert hu.request(a, "GET", "/healthz", headers={"Host": "evil.example"})[0] == 403
    assert hu.request(a, "GET", "/api/v1/messages", headers={"Host": "evil.example:8025"})[0] == 403
    for ok in ("sink.test", "Other.Test:8025", "localhost:1", "[::1]:8025", "127.0.0.1"):
        assert hu.request(a, "GET", "/healthz", headers={"Host": ok})[0] == 200, ok


def test_basic_auth_and_base_path(sink_factory):
    with tempfile.NamedTemporaryFile("w", suffix=".users", delete=False) as f:
        f.write("# users\nalice:s3cret:with:colons\nbob:pw\n")
    try:
        s = sink_factory("--http-auth-file", f.name, "--http-base-path", "/sink/")
        a = s.http_addr
        assert hu.request(a, "GET", "/sink/healthz")[0] == 200  # probes are exempt
        st, h, _ = hu.request(a, "GET", "/sink/api/v1/messages")
        assert st == 401 and h["www-authenticate"].startswith("Basic")
        assert hu.request(a, "GET", "/sink/api/v1/messages", headers=hu.basic("alice", "wrong"))[0] == 401
        assert hu.request(a, "GET", "/sink/api/v1/messages", headers=hu.basic("alice", "s3cret:with:colons"))[0] == 200
        assert hu.request(a, "GET", "/sink/api/v1/messages", headers=hu.basic("bob", "pw"))[0] == 200
        assert hu.request(a, "GET", "/api/v1/messages", headers=hu.basic("bob", "pw"))[0] == 404
        assert hu.request(a, "GET", "/sink/", headers=hu.basic("bob", "pw"))[0] == 200
        for p in ("/sink", "/sink/ui", "/sink/ui/", "/sink/index.html"):  # the page's URLs are relative
            st, h, _ = hu.request(a, "GET", p, headers=hu.basic("bob", "pw"))
            assert (st, h.get("location")) == (301, "/sink/"), p
    finally:
        os.unlink(f.name)


def test_hostile_requests(sink_factory):
    s = sink_factory("--http-max-connections", "8")
    a = s.http_addr
    st, _, _ = hu.request(a, "POST", "/smtpsink.v1.Sink/ListMessages", b"{" + b" " * (2 << 20) + b"}",
                          {"Content-Type": "application/json"})
    assert st == 413
    for garbage in (b"\x00\x01\x02 nonsense\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"):
        c = socket.create_connection(a.rsplit(":", 1), timeout=5)
        c.sendall(garbage)
        reply = c.recv(100)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 4") or reply.startswith(b"HTTP/1.0 4"), reply
        c.close()
    # many idle keep-alive connections: accepting pauses at the cap, SMTP goes on
    idle = []
    for _ in range(20):
        c = socket.create_connection(a.rsplit(":", 1), timeout=10)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        idle.append(c)
    # the first 8 are served; accepting pauses there, the rest wait in the backlog (no 503)
    replies, deadline = {}, time.monotonic() + 3
    while len(replies) < len(idle) and time.monotonic() < deadline:
        ready, _, _ = select.select([c for c in idle if c not in replies], [], [], 0.2)
        for c in ready:
            replies[c] = c.recv(100)[:12]
    got = list(replies.values())
    assert got.count(b"HTTP/1.1 200") == 8 and len(got) == 8, got  # the cap
    late = socket.create_connection(a.rsplit(":", 1), timeout=1)
    late.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    with pytest.raises(socket.timeout):
        late.recv(100)  # still in the backlog
    hu.send(s.smtp_addr, *hu.MAILS[0])
    for c in idle:
        c.close()
    # Accepting resumes. The idle sockets that were still in the backlog are
    # accepted too (the kernel does not drop them when the client closes) and
    # count until their close is seen; the late client waits its turn, and is
    # served, not refused.
    late.settimeout(5)
    first = late.recv(100)
    assert first.startswith(b"HTTP/1.1 200"), first
    late.close()
    deadline = time.monotonic() + 5
    while hu.request(a, "GET", "/healthz")[0] != 200:
        assert time.monotonic() < deadline, "the cap still refuses after the idle clients left"
        time.sleep(0.1)


def wait_log(s, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in s.stderr():
        assert time.monotonic() < deadline, "no %r in the log: %s" % (text, s.stderr()[-2000:])
        time.sleep(0.02)


def test_silent_connections_count_and_time_out(sink_factory):
    """--http-max-connections counts connections from their accept on, silent
    ones included; they are closed after --http-idle-timeout. Beyond the cap a
    connection is neither refused nor answered 503: accepting pauses, it
    waits in the listen backlog and is served once a slot frees."""
    cap, extra = 4, 3
    s = sink_factory("--http-max-connections", str(cap), "--http-idle-timeout", "3s")
    addr = s.http_addr.rsplit(":", 1)
    silent = [socket.create_connection(addr, timeout=20) for _ in range(cap + extra)]
    t0 = time.monotonic()
    wait_log(s, "http listen paused connections=%d" % cap)
    # the cap holds: a legitimate request gets nothing while the silent ones are open
    legit = socket.create_connection(addr, timeout=1)
    legit.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    with pytest.raises(socket.timeout):
        legit.recv(100)
    assert time.monotonic() - t0 < 3, "too slow to tell the cap from the timeout"
    hu.send(s.smtp_addr, *hu.MAILS[0])  # SMTP is not held up meanwhile
    # the server closes the silent ones it accepted; the others come in after them
    # (3 + the legitimate one fit under the cap of 4) and are closed in turn
    legit.settimeout(20)
    reply = legit.recv(100)
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert time.monotonic() - t0 >= 2.5, "served before the silent connections timed out"
    legit.close()
    for c in silent:
        c.settimeout(20)
        assert c.recv(100) == b"", "a silent connection got data instead of being closed"
        c.close()
    wait_log(s, "http listen resumed")
    st, _, body = hu.request(s.http_addr, "GET", "/healthz")
    assert (st, body) == (200, b"ok\n")


def test_http_off_and_grpc_off(sink_factory):
    s = sink_factory("--http-listen", "off")
    assert "http" not in s.ready
    s = sink_factory(grpc=False)  # the HTTP API works without gRPC
    assert "grpc" not in s.ready
    hu.send(s.smtp_addr, *hu.MAILS[0])
    st, r = hu.rpc(s.http_addr, "ListMessages")
    assert st == 200 and r["matched"] == "1"
    rc, _ = s.stop()
    assert rc == 0
