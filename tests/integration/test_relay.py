"""Forwarding relay, async mode (issue 10): a second smtpsink is the
upstream. Fidelity (raw bytes, envelope, parameters, dots, 8-bit, BDAT for
BINARYMIME), retries with backoff, 5xx without retry, --relay-rcpt, the
queue bound, relay_state in filters and counters in GetServerInfo."""
import time

import pytest

import conftest
import grpc_util
from fake_upstream import FakeUpstream
from grpc_util import RawSMTP, pb

BACKOFF = "100ms"


@pytest.fixture
def sink_factory():
    """conftest's, but every sink still running at the end is stopped with
    SIGTERM and must exit 0 without a sanitizer report (leaks included)."""
    sinks = []

    def make(*args, **kw):
        s = conftest.Sink(args, **kw)
        sinks.append(s)
        return s

    yield make
    bad = []
    for s in sinks:
        if s.proc.poll() is None:
            rc, _ = s.stop(timeout=conftest.HARNESS_WAIT * 3)
            err = s.stderr()
            if rc != 0 or "AddressSanitizer" in err or "runtime error:" in err:
                bad.append((rc, err[-3000:]))
        s.close()
    assert not bad, bad


def relayed_pair(factory, *args, upstream_args=(), **kw):
    up = factory(*upstream_args)
    a = factory("--relay-url", "smtp://" + up.smtp_addr, "--relay-backoff", BACKOFF, *args, **kw)
    return a, up, grpc_util.Client(a), grpc_util.Client(up)


def dead_upstream(factory, *args):
    """A sink relaying to a port where nothing listens (an upstream that stopped)."""
    up = factory()
    addr = up.smtp_addr
    up.stop()
    a = factory("--relay-url", "smtp://" + addr, *args)
    return a, grpc_util.Client(a), addr


def wait_state(client, msg_id, states, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        m = client.sink.GetMessage(pb.GetMessageRequest(id=msg_id), timeout=10)
        if m.relay.state in states:
            return m
        if time.monotonic() > deadline:
            raise AssertionError("relay state %s, want %s: %s" % (m.relay.state, states, m.relay))
        time.sleep(0.02)


def raw_send(sink, mail, rcpts, data, bdat=False):
    c = RawSMTP(sink)
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd(mail)[0] == 250
    for r in rcpts:
        assert c.cmd(r)[0] == 250
    if bdat:
        c.sock.sendall(b"BDAT %d LAST\r\n" % len(data) + data)
    else:
        assert c.cmd("DATA")[0] == 354
        c.sock.sendall(grpc_util.dot_stuff(data) + b".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    c.cmd("QUIT")
    c.close()
    return grpc_util.queued_id(lines[0])


def upstream_message(up_client, count=1, timeout=10.0):
    r = up_client.sink.WaitForMessages(pb.WaitForMessagesRequest(count=count, include_raw=True),
                                       timeout=timeout)
    assert len(r.messages) >= count
    return r.messages


def test_relay_identical_bytes_and_envelope(sink_factory):
    a, up, ca, cu = relayed_pair(sink_factory)
    data = (b"From: a@example.test\r\nSubject: dots \xc3\xa9\r\n\r\n.leading dot\r\n"
            b"..two dots\r\n.\r\nmiddle\r\n8bit \xff\xfe body\r\n")
    mid = raw_send(a, "MAIL FROM:<s@example.test> BODY=8BITMIME SIZE=%d RET=HDRS ENVID=e1" % len(data),
                   ["RCPT TO:<r1@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r1@example.test",
                    "RCPT TO:<r2@example.test>"], data)
    m = wait_state(ca, mid, [pb.RELAY_STATE_RELAYED])
    assert m.relay.attempts == 1
    assert m.relay.upstream == "smtp://" + up.smtp_addr
    assert list(m.relay.rcpt_to) == ["r1@example.test", "r2@example.test"]
    assert m.relay.last_reply.startswith("250 ")
    cmds = [r.command.split(":")[0] for r in m.relay.replies]
    assert cmds == ["MAIL FROM", "RCPT TO", "RCPT TO", "DATA", "END-OF-MESSAGE"], cmds
    u = upstream_message(cu)[0]
    assert u.raw == data
    assert u.mail_from == "s@example.test" and list(u.rcpt_to) == ["r1@example.test", "r2@example.test"]
    params = {p.name: p.value for p in u.mail_params}
    assert params == {"BODY": "8BITMIME", "SIZE": str(len(data)), "RET": "HDRS", "ENVID": "e1"}
    r1 = {p.name: p.value for p in u.rcpt_params[0].params}
    assert r1 == {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;r1@example.test"}
    assert u.raw.count(b"\r\n") == data.count(b"\r\n")  # no header added
    info = ca.info()
    assert info.relay_upstream == "smtp://" + up.smtp_addr and info.relay_mode == "async"
    assert info.relay_queue_max == 10000
    assert info.counters.relay_relayed == 1 and info.counters.relay_attempts == 1
    assert info.counters.relay_queued == 0
    assert [x.id for x in ca.list(relay_state=pb.RELAY_STATE_RELAYED).messages] == [mid]
    assert len(ca.list(relay_state=pb.RELAY_STATE_FAILED).messages) == 0


def test_relay_binarymime_goes_by_bdat(sink_factory):
    a, up, ca, cu = relayed_pair(sink_factory)
    data = b"Subject: bin\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\x02\n.\r\n.x"
    mid = raw_send(a, "MAIL FROM:<s@example.test> BODY=BINARYMIME", ["RCPT TO:<r@example.test>"],
                   data, bdat=True)
    m = wait_state(ca, mid, [pb.RELAY_STATE_RELAYED])
    assert [r.command for r in m.relay.replies][-1] == "BDAT"
    u = upstream_message(cu)[0]
    assert u.raw == data and u.body_type == "BINARYMIME"


def test_relay_retries_until_upstream_is_back(sink_factory):
    a, ca, addr = dead_upstream(sink_factory, "--relay-backoff", "200ms")
    mid = grpc_util.send(a, "s@example.test", "r@example.test")
    deadline = time.monotonic() + 10
    while ca.sink.GetMessage(pb.GetMessageRequest(id=mid)).relay.attempts < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    m = ca.sink.GetMessage(pb.GetMessageRequest(id=mid))
    assert m.relay.state == pb.RELAY_STATE_PENDING and "connect" in m.relay.last_reply
    up2 = sink_factory("--smtp-listen", addr)
    m = wait_state(ca, mid, [pb.RELAY_STATE_RELAYED])
    assert m.relay.attempts > 1
    assert len(upstream_message(grpc_util.Client(up2))) == 1


def test_relay_5xx_fails_at_once_4xx_is_retried(sink_factory):
    a, up, ca, cu = relayed_pair(sink_factory)
    cu.sink.SetRejectRule(pb.RejectRule(stage=pb.RCPT_TO, match="hard@*", code=550,
                                        enhanced_code="5.1.1", message="no such user"))
    cu.sink.SetRejectRule(pb.RejectRule(stage=pb.RCPT_TO, match="soft@*", code=451,
                                        enhanced_code="4.3.0", message="try later", times=2))
    hard = grpc_util.send(a, "s@example.test", "hard@example.test")
    m = wait_state(ca, hard, [pb.RELAY_STATE_FAILED])
    assert m.relay.attempts == 1
    assert m.relay.last_reply.startswith("550 5.1.1 no such user"), m.relay.last_reply
    assert any(r.code == 550 for r in m.relay.replies)
    soft = grpc_util.send(a, "s@example.test", "soft@example.test")
    m = wait_state(ca, soft, [pb.RELAY_STATE_RELAYED])
    assert m.relay.attempts == 3
    info = ca.info()
    assert info.counters.relay_failed == 1 and info.counters.relay_relayed == 1
    assert info.counters.relay_attempts == 4


def test_relay_rcpt_glob_and_queue_bound(sink_factory):
    a, up, ca, cu = relayed_pair(sink_factory, "--relay-rcpt", "*@fwd.test", "--relay-rcpt", "x@*")
    mid = grpc_util.send(a, "s@example.test", ["keep@other.test", "one@fwd.test", "x@else.test"])
    m = wait_state(ca, mid, [pb.RELAY_STATE_RELAYED])
    assert list(m.relay.rcpt_to) == ["one@fwd.test", "x@else.test"]
    assert list(upstream_message(cu)[0].rcpt_to) == ["one@fwd.test", "x@else.test"]
    local = grpc_util.send(a, "s@example.test", "only@other.test")
    assert ca.sink.GetMessage(pb.GetMessageRequest(id=local)).relay.state == pb.RELAY_STATE_NONE
    assert list(ca.info().relay_rcpt) == ["*@fwd.test", "x@*"]


def test_relay_queue_full_keeps_the_mail(sink_factory):
    a, ca, _ = dead_upstream(sink_factory, "--relay-queue", "1", "--relay-backoff", "10s")
    first = grpc_util.send(a, "s@example.test", "r@example.test")
    second = grpc_util.send(a, "s@example.test", "r@example.test")
    m = ca.sink.GetMessage(pb.GetMessageRequest(id=second))
    assert m.relay.state == pb.RELAY_STATE_FAILED and m.relay.last_reply == "relay queue full"
    assert ca.sink.GetMessage(pb.GetMessageRequest(id=first)).relay.state == pb.RELAY_STATE_PENDING
    assert ca.info().counters.relay_queued == 1


def test_relay_smtputf8_to_upstream_without_it_fails_clearly(sink_factory):
    a, up, ca, cu = relayed_pair(sink_factory, upstream_args=("--no-smtputf8",))
    data = "Subject: caf\u00e9\r\n\r\nbody\r\n".encode()
    mid = raw_send(a, "MAIL FROM:<j\u00f6rg@example.test> SMTPUTF8", ["RCPT TO:<r@example.test>"], data)
    m = wait_state(ca, mid, [pb.RELAY_STATE_FAILED])
    assert "SMTPUTF8" in m.relay.last_reply, m.relay.last_reply
    assert m.relay.attempts == 1
    time.sleep(0.2)
    assert cu.info().counters.messages_received == 0


def test_relay_evicted_while_queued_is_dropped(sink_factory):
    a, ca, _ = dead_upstream(sink_factory, "--relay-backoff", "300ms")
    for _ in range(3):
        grpc_util.send(a, "s@example.test", "r@example.test")
    ca.sink.Clear(pb.ClearRequest(), timeout=10)
    ca.wait_until(lambda i: i.counters.relay_queued == 0)
    assert a.proc.poll() is None


def test_relay_shutdown_gives_a_last_attempt(sink_factory):
    a, ca, addr = dead_upstream(sink_factory, "--relay-backoff", "1m")
    mid = grpc_util.send(a, "s@example.test", "r@example.test")
    ca.wait_until(lambda i: i.counters.relay_attempts == 1)
    up = sink_factory("--smtp-listen", addr)
    rc, _ = a.stop()
    assert rc == 0, a.stderr()
    assert len(upstream_message(grpc_util.Client(up))) == 1
    assert "relay done id=%d attempts=2" % mid in a.stderr()
    # Upstream still down: the last attempt fails, the message is named in the log
    b, cb, _ = dead_upstream(sink_factory, "--relay-backoff", "1m")
    mid = grpc_util.send(b, "s@example.test", "r@example.test")
    cb.wait_until(lambda i: i.counters.relay_attempts == 1)
    rc, _ = b.stop()
    assert rc == 0 and "relay failed id=%d attempts=2" % mid in b.stderr(), b.stderr()


def test_relay_one_connection_many_messages(sink_factory):
    """One upstream connection reused (RSET between), the next message's commands
    pipelined behind the previous one's data: all arrive, in order, unchanged."""
    a, up, ca, cu = relayed_pair(sink_factory, "--relay-connections", "1", "--log-level", "debug")
    c = RawSMTP(a)
    assert c.cmd("EHLO client.test")[0] == 250
    n = 40
    batch = b""
    for i in range(n):
        batch += (b"MAIL FROM:<s%d@example.test>\r\nRCPT TO:<r@example.test>\r\nDATA\r\n" % i +
                  b"Subject: %d\r\n\r\n..line %d\r\n.\r\n" % (i, i))
    c.sock.sendall(batch)
    for _ in range(4 * n):
        assert c.reply()[0] in (250, 354)
    c.close()
    ms = upstream_message(cu, count=n)
    assert [m.mail_from for m in ms] == ["s%d@example.test" % i for i in range(n)]
    assert all(m.raw == b"Subject: %d\r\n\r\n.line %d\r\n" % (i, i) for i, m in enumerate(ms))
    ca.wait_until(lambda i: i.counters.relay_relayed == n)
    assert ca.info().counters.relay_attempts == n
    assert up.stderr().count("smtp session ") <= 1  # one upstream session (still open)
    assert "relay pipelined id=" in a.stderr()


def test_relay_4xx_recipient_retried_alone(sink_factory):
    a, up, ca, cu = relayed_pair(sink_factory)
    cu.sink.SetRejectRule(pb.RejectRule(stage=pb.RCPT_TO, match="soft@*", code=452,
                                        enhanced_code="4.2.2", message="mailbox full", times=1))
    mid = grpc_util.send(a, "s@example.test", ["ok@example.test", "soft@example.test"])
    ms = upstream_message(cu, count=2)
    assert [list(m.rcpt_to) for m in ms] == [["ok@example.test"], ["soft@example.test"]]
    ca.wait_until(lambda i: i.counters.relay_queued == 0)
    m = ca.sink.GetMessage(pb.GetMessageRequest(id=mid))
    assert m.relay.state == pb.RELAY_STATE_RELAYED and m.relay.attempts == 2
    assert list(m.relay.rcpt_to) == ["soft@example.test"]


def test_relay_upstream_replies_a_byte_at_a_time(sink_factory):
    """Replies split anywhere (in the middle of a line, between CR and LF,
    inside a multi-line reply) come out whole: each recorded with its text,
    lines joined with a newline; the data goes out dot-stuffed, unchanged."""
    data = b"Subject: dribble\r\n\r\n.dot\r\nbody\r\n"

    def script(c):
        c.dribble = 0.001
        c.greet_and_ehlo()
        assert c.line().startswith("MAIL FROM:<s@example.test>")
        c.send(b"250 2.1.0 sender ok")
        assert c.line() == "RCPT TO:<r@example.test>"
        c.send(b"250-first line", b"250 2.1.5 second line")
        assert c.line() == "DATA"
        c.send(b"354 go ahead")
        c.data()
        c.send(b"250 2.0.0 queued as F1")
        c.line()  # the next transaction's RSET, or the end

    up = FakeUpstream(script)
    a = sink_factory("--relay-url", "smtp://" + up.addr)
    ca = grpc_util.Client(a)
    mid = raw_send(a, "MAIL FROM:<s@example.test>", ["RCPT TO:<r@example.test>"], data)
    m = wait_state(ca, mid, [pb.RELAY_STATE_RELAYED, pb.RELAY_STATE_FAILED])
    up.close()
    assert not up.errors, up.errors
    assert m.relay.state == pb.RELAY_STATE_RELAYED, m.relay
    assert [(r.command.split(":")[0], r.code, r.text) for r in m.relay.replies] == [
        ("MAIL FROM", 250, "2.1.0 sender ok"), ("RCPT TO", 250, "first line\n2.1.5 second line"),
        ("DATA", 354, "go ahead"), ("END-OF-MESSAGE", 250, "2.0.0 queued as F1")]
    assert m.relay.last_reply == "250 2.0.0 queued as F1"
    assert up.conns[0].received[4] == grpc_util.dot_stuff(data) + b".\r\n"


@pytest.mark.parametrize("complete", [True, False])
def test_relay_upstream_reply_line_too_long(sink_factory, complete):
    """A reply line over 2048 bytes drops the connection, whole (CRLF
    received) or not: the attempt fails with the reason, to be retried."""
    def script(c):
        c.sock.sendall(b"220 " + b"x" * 2100 + (b"\r\n" if complete else b""))
        c.line()  # until the sink closes

    up = FakeUpstream(script)
    a = sink_factory("--relay-url", "smtp://" + up.addr, "--relay-backoff", "1m")
    ca = grpc_util.Client(a)
    mid = grpc_util.send(a, "s@example.test", "r@example.test")
    deadline = time.monotonic() + 10
    while "too long" not in ca.sink.GetMessage(pb.GetMessageRequest(id=mid)).relay.last_reply:
        assert time.monotonic() < deadline, ca.sink.GetMessage(pb.GetMessageRequest(id=mid)).relay
        time.sleep(0.02)
    m = ca.sink.GetMessage(pb.GetMessageRequest(id=mid))
    up.close()
    assert m.relay.state == pb.RELAY_STATE_PENDING and m.relay.attempts == 1, m.relay
    assert m.relay.last_reply == "upstream reply line too long"
