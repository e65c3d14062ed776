"""Hardening issue, items 1 and 8, against the real binary.

Item 1: a control call's cost is the client's to choose (a 1024-byte glob over
the bodies of thousands of messages, some of 1 MiB) and it used to run on the
loop thread in one go, holding every SMTP client for seconds. Now it runs in
slices: while the nastiest calls run (together), a raw SMTP client that
connects and runs transactions back to back gets every reply. The bound is
generous (1 s a reply) for a loaded 2-core CI machine; bench/control_stall.py
measures the real figures (the goal is 50 ms).

Item 8: a Subject or any header after 200,000 header fields is found by
subject and header filters.

Also: the answers are what they were (ListMessages' bytes are those of the
response packed whole; Clear, Wait and Watch give the same results).
"""
import os
import socket
import threading
import time

import grpc
import pytest

from conftest import SMTPConn
from grpc_util import CHANNEL_OPTIONS, Client, pb
from smtp_util import queued_id, send_raw

NASTY = "*" + "a" * 1022 + "b"                 # MATCH_PATTERN_MAX bytes, matches nothing here
SMALL = 3000                                    # 1 KiB messages
BIG = 48                                        # 1 MiB messages, lines of 998 'a's
# seconds: generous, see above; 2.5 under the sanitizers, whose build runs
# each slice 2-3x slower (before the slicing, one call held SMTP for
# seconds, see above)
SANITIZED = os.environ.get("SMTPSINK_SANITIZE", "").upper() in ("ON", "1", "TRUE")
REPLY_MAX = 2.5 if SANITIZED else 1.0


def fill(sink, small, big):
    """small + big messages over one pipelined session; the last id."""
    c = SMTPConn(socket.create_connection((sink.smtp_host, sink.smtp_port), timeout=120))
    c.reply()
    c.cmd("EHLO fill.test")
    long_line = b"a" * 998 + b"\r\n"
    every = small // big
    last = 0
    for i in range(small + big):
        if i % (every + 1) == every:
            body = long_line * (1024 * 1024 // len(long_line))
        else:
            body = b"a" * 76 + b"\r\n" + b"a" * 900 + b"\r\n"
        c.send(b"MAIL FROM:<f@fill.test>\r\nRCPT TO:<r%d@fill.test>\r\nDATA\r\n" % i)
        for want in (250, 250, 354):
            assert c.reply()[0] == want
        c.send(b"Subject: " + b"a" * 60 + b"\r\nX-Fill: " + b"a" * 60 + b"\r\n\r\n" + body + b".\r\n")
        code, lines = c.reply()
        assert code == 250, lines
        last = queued_id(lines)
    c.cmd("QUIT")
    c.sock.close()
    return last


class Prober(threading.Thread):
    """Transactions on fresh connections, back to back, each reply timed."""

    def __init__(self, sink):
        super().__init__(daemon=True)
        self.sink = sink
        self.stop = threading.Event()
        self.worst = 0.0
        self.replies = 0
        self.errors = []

    def timed(self, c, data, want):
        t0 = time.monotonic()
        if data:
            c.send(data)
        code, lines = c.reply()
        self.worst = max(self.worst, time.monotonic() - t0)
        self.replies += 1
        if code != want:
            self.errors.append(lines)

    def run(self):
        msg = b"Subject: probe\r\n\r\nprobe\r\n.\r\n"
        while not self.stop.is_set():
            try:
                t0 = time.monotonic()
                c = SMTPConn(socket.create_connection((self.sink.smtp_host, self.sink.smtp_port), timeout=30))
                c.sock.settimeout(30)
                self.timed(c, None, 220)
                self.worst = max(self.worst, time.monotonic() - t0)     # from connect()
                for data, want in ((b"EHLO probe.test\r\n", 250), (b"MAIL FROM:<p@probe.test>\r\n", 250),
                                   (b"RCPT TO:<p@probe.test>\r\n", 250), (b"DATA\r\n", 354), (msg, 250),
                                   (b"QUIT\r\n", 221)):
                    self.timed(c, data, want)
                c.sock.close()
            except (OSError, EOFError) as e:
                self.errors.append(repr(e))
                return


@pytest.fixture
def big_sink(sink_factory):
    s = sink_factory("--max-messages", "100000", "--max-bytes", "1G")
    yield s
    rc, _ = s.stop()
    assert rc == 0, s.stderr()


def test_nasty_calls_do_not_stall_smtp(big_sink):
    sink = big_sink
    last = fill(sink, SMALL, BIG)
    c = Client(sink)
    try:
        prober = Prober(sink)
        prober.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        f = pb.Filter(body=NASTY)
        futs = [c.sink.ListMessages.future(pb.ListMessagesRequest(filter=f), timeout=300),
                c.sink.ListMessages.future(pb.ListMessagesRequest(filter=pb.Filter(subject=NASTY)), timeout=300),
                c.sink.ListMessages.future(pb.ListMessagesRequest(
                    filter=pb.Filter(header_name="x-*", header_value=NASTY)), timeout=300),
                c.sink.ListMessages.future(pb.ListMessagesRequest(filter=f), timeout=300),
                c.sink.Clear.future(pb.ClearRequest(filter=f), timeout=300)]
        wait = pb.WaitForMessagesRequest(filter=f, count=2**31 - 1)
        wait.timeout.FromMilliseconds(3000)
        wait_fut = c.sink.WaitForMessages.future(wait, timeout=300)
        watch = c.sink.WatchMessages(pb.WatchMessagesRequest(filter=f), timeout=4)
        watched = []
        try:
            for m in watch:
                watched.append(m.id)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        results = [fu.result() for fu in futs]
        with pytest.raises(grpc.RpcError) as ei:
            wait_fut.result()
        took = time.monotonic() - t0
        prober.stop.set()
        prober.join(30)
        assert ei.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "0 of 2147483647 messages matched" in ei.value.details()
        assert watched == []
        for r in results[:4]:
            assert r.matched == 0 and len(r.messages) == 0 and r.last_id >= last
        assert results[4].deleted == 0
        assert not prober.errors, prober.errors
        assert prober.replies > 20, "the SMTP client was served while the calls ran (%.1f s)" % took
        assert prober.worst < REPLY_MAX, "an SMTP reply took %.3f s while the calls ran" % prober.worst
        # the store is intact and the answers are exact
        r = c.list(timeout=120, body="*a*", limit=3)
        assert r.matched == SMALL + BIG and [m.id for m in r.messages] == [1, 2, 3]
        print("calls took %.2f s; %d SMTP replies, the slowest %.1f ms" % (took, prober.replies,
                                                                       prober.worst * 1000))
    finally:
        c.close()


def test_list_response_bytes_unchanged(sink):
    """The listing is packed in slices; its bytes are those of the whole response."""
    for i in range(5):
        send_raw(sink, b"Subject: s%d\r\n\r\nbody %d\r\n.\r\n" % (i, i))
    ch = grpc.insecure_channel(sink.grpc_addr, options=CHANNEL_OPTIONS)
    try:
        raw_list = ch.unary_unary("/smtpsink.v1.Sink/ListMessages",
                                  request_serializer=pb.ListMessagesRequest.SerializeToString,
                                  response_deserializer=lambda b: b)
        for req in (pb.ListMessagesRequest(), pb.ListMessagesRequest(limit=2, include_raw=True),
                    pb.ListMessagesRequest(filter=pb.Filter(subject="s3"))):
            raw = raw_list(req, timeout=10)
            r = pb.ListMessagesResponse.FromString(raw)
            assert r.SerializeToString() == raw
        r = pb.ListMessagesResponse.FromString(raw_list(pb.ListMessagesRequest(limit=2), timeout=10))
        assert [m.id for m in r.messages] == [1, 2] and r.matched == 5 and r.last_id == 5
        empty = raw_list(pb.ListMessagesRequest(filter=pb.Filter(subject="none")), timeout=10)
        assert pb.ListMessagesResponse.FromString(empty).last_id == 5
    finally:
        ch.close()


def test_headers_past_200000_fields(sink):
    """Item 8: filters see a Subject and a header after 200,000 fields."""
    fields = b"".join(b"X-F%d: v%d\r\n" % (i, i) for i in range(200000))
    mid = send_raw(sink, fields + b"Subject: late subject\r\nX-Late: needle\r\n\r\nbody\r\n.\r\n")
    other = send_raw(sink, b"Subject: early\r\nX-Late: haystack\r\n\r\nbody\r\n.\r\n")
    c = Client(sink)
    try:
        r = c.list(timeout=60, subject="late subject")
        assert [m.id for m in r.messages] == [mid]
        assert r.messages[0].subject == "late subject"
        assert len(r.messages[0].headers) == 1024        # the view still lists the first ones
        r = c.list(timeout=60, header_name="x-late", header_value="needle")
        assert [m.id for m in r.messages] == [mid]
        r = c.list(timeout=60, header_name="x-late")
        assert [m.id for m in r.messages] == [mid, other]
        r = c.list(timeout=60, header_name="x-f199999", header_value="v199999")
        assert [m.id for m in r.messages] == [mid]
        r = c.list(timeout=60, header_value="v1999990")
        assert r.matched == 0
    finally:
        c.close()
