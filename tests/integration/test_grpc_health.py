"""grpc.health.v1.Health and the graceful shutdown of the control API:
SERVING while up, NOT_SERVING when the shutdown starts, parked waits and
streams ended with UNAVAILABLE, a stalled stream cancelled, exit 0."""
import signal
import socket
import threading
import time

import grpc
import pytest

import health_pb2
from grpc_util import Client, RawSMTP, pb, queued_id, rpc_error, send, unique

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


def test_check(sink):
    c = Client(sink)
    try:
        for svc in ("", "smtpsink.v1.Sink"):
            r = c.health.Check(health_pb2.HealthCheckRequest(service=svc), timeout=10)
            assert r.status == SERVING
        e = rpc_error(c.health.Check, health_pb2.HealthCheckRequest(service="nope.v1.X"), timeout=10)
        assert e.code() == grpc.StatusCode.NOT_FOUND
    finally:
        c.close()


def test_watch_reports_not_serving_on_shutdown(sink_factory):
    s = sink_factory()
    c = Client(s)
    try:
        stream = c.health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(stream).status == SERVING
        unknown = c.health.Watch(health_pb2.HealthCheckRequest(service="other"), timeout=30)
        assert next(unknown).status == SERVICE_UNKNOWN
        c.wait_until(lambda i: i.counters.grpc_calls == 3)
        # keep an SMTP transaction open so the shutdown lasts a while
        smtp = RawSMTP(s)
        smtp.cmd("EHLO c.test")
        smtp.cmd("MAIL FROM:<a@x.test>")
        s.proc.send_signal(signal.SIGTERM)
        assert next(stream).status == NOT_SERVING
        e = rpc_error(lambda: next(stream))
        assert e.code() == grpc.StatusCode.UNAVAILABLE
        e = rpc_error(lambda: next(unknown))
        assert e.code() == grpc.StatusCode.UNAVAILABLE
        smtp.close()
    finally:
        c.close()
        s.proc.wait(timeout=10)          # already signalled: don't signal twice
        rc, _ = s.stop()
        assert rc == 0, s.stderr()


def test_issue_8_sigterm_keeps_the_control_api_until_smtp_drained(sink_factory):
    """After SIGTERM: health NOT_SERVING at once, new clients 421 4.3.2,
    transactions in flight finish, and every message that got its 250 stays
    readable (and satisfies parked waits) until the SMTP side has drained."""
    s = sink_factory("--shutdown-grace", "20")
    c = Client(s)
    tag = unique()
    try:
        health = c.health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(health).status == SERVING
        smtp = []
        for who in ("a", "b"):
            r = RawSMTP(s)
            r.cmd("EHLO %s.test" % who)
            assert r.cmd("MAIL FROM:<%s@x.test>" % who)[0] == 250
            assert r.cmd("RCPT TO:<%s-%s@y.test>" % (tag, who))[0] == 250
            assert r.cmd("DATA")[0] == 354
            r.sock.sendall(b"Subject: in flight\r\n\r\nfirst half\r\n")
            smtp.append(r)
        wait = c.sink.WaitForMessages.future(
            pb.WaitForMessagesRequest(filter=pb.Filter(rcpt_to=tag + "-a@y.test")), timeout=30)
        c.wait_until(lambda i: i.counters.waiters == 1)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        assert next(health).status == NOT_SERVING
        assert time.monotonic() - t0 < 2
        assert len(c.list(rcpt_to=tag + "-*").messages) == 0   # still answering
        late = RawSMTP.__new__(RawSMTP)                          # a new client
        late.sock = socket.create_connection((s.smtp_host, s.smtp_port), timeout=10)
        late.buf = b""
        code, text = late.reply()
        assert code == 421 and text[0].startswith("4.3.2"), (code, text)
        late.close()

        smtp[0].sock.sendall(b"second half\r\n.\r\n")
        code, text = smtp[0].reply()
        assert code == 250, text
        mid = queued_id(text[0])
        got = wait.result(timeout=10)                            # satisfied, not UNAVAILABLE
        assert [m.id for m in got.messages] == [mid]
        m = c.sink.GetMessage(pb.GetMessageRequest(id=mid, include_raw=True), timeout=10)
        assert m.raw.endswith(b"second half\r\n")
        assert s.proc.poll() is None                              # b is still in flight

        smtp[1].sock.sendall(b"second half\r\n.\r\n")
        assert smtp[1].reply()[0] == 250
        assert smtp[1].reply()[0] == 421                          # then closed: drained
        e = rpc_error(lambda: next(health))
        assert e.code() == grpc.StatusCode.UNAVAILABLE
        s.proc.wait(timeout=10)
        rc, _ = s.stop()
        assert rc == 0, s.stderr()
        for r in smtp:
            r.close()
    finally:
        c.close()


def test_shutdown_ends_parked_calls(sink_factory):
    s = sink_factory()
    c = Client(s)
    try:
        tag = unique()
        waits = [c.sink.WaitForMessages.future(
            pb.WaitForMessagesRequest(filter=pb.Filter(rcpt_to=tag + "@y.test")), timeout=60)
            for _ in range(5)]
        watch = c.sink.WatchMessages(pb.WatchMessagesRequest(filter=pb.Filter(rcpt_to=tag + "@y.test")),
                                     timeout=60)
        errors = []

        def drain():
            try:
                for _ in watch:
                    pass
            except grpc.RpcError as e:
                errors.append(e)

        t = threading.Thread(target=drain)
        t.start()
        c.wait_until(lambda i: i.counters.waiters == 6)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        for f in waits:
            e = f.exception(timeout=10)
            assert e is not None and e.code() == grpc.StatusCode.UNAVAILABLE, e
            assert "shutting down" in e.details()
        t.join(10)
        assert errors and errors[0].code() == grpc.StatusCode.UNAVAILABLE
        s.proc.wait(timeout=10)
        rc, _ = s.stop()
        print("stopped in %.3f s" % (time.monotonic() - t0))
        assert rc == 0, s.stderr()
    finally:
        c.close()


def test_shutdown_cancels_stalled_stream(sink_factory):
    """A watcher that stopped reading must not hold the shutdown up."""
    s = sink_factory()
    # no BDP probing: the client's HTTP/2 window stays small, so the stream surely stalls
    c = Client(s, options=[("grpc.http2.bdp_probe", 0)])
    try:
        tag = unique()
        body = ("y" * 76 + "\n") * 3000          # ~230 KB each
        for _ in range(30):              # ~7 MB
            send(s, "s@x.test", tag + "@y.test", body=body)
        watch = c.sink.WatchMessages(
            pb.WatchMessagesRequest(filter=pb.Filter(rcpt_to=tag + "@y.test"), include_raw=True),
            timeout=60)
        first = next(watch)              # then never read again: flow control stalls
        assert first.size > 200000
        time.sleep(0.5)
        s.proc.send_signal(signal.SIGTERM)
        s.proc.wait(timeout=10)
        rc, _ = s.stop()
        assert rc == 0, s.stderr()
        err = s.stderr()
        assert "grpc cancelling remaining calls=" in err, \
            ("the stream really stalled", [x for x in err.splitlines() if " grpc " in x])
        watch.cancel()
    finally:
        c.close()


def test_requests_after_shutdown_fail_cleanly(sink_factory):
    s = sink_factory()
    c = Client(s)
    try:
        assert c.health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == SERVING
        rc, _ = s.stop()
        assert rc == 0
        e = rpc_error(c.health.Check, health_pb2.HealthCheckRequest(), timeout=10)
        assert e.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        c.close()


@pytest.mark.parametrize("grpc_off", [True])
def test_no_grpc(sink_factory, grpc_off):
    s = sink_factory(grpc=False)
    assert s.grpc_addr is None
    send(s, "a@x.test", "b@y.test")
    assert s.stop()[0] == 0
