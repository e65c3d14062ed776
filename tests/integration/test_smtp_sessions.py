"""Sessions against the real binary: many at once, a stuck client does not
block the others, --max-sessions pauses accepting, idle timeout and session
deadline, graceful and forced shutdown."""
import selectors
import signal
import socket
import time

import pytest

from conftest import VALGRIND
from smtp_util import Store, connect, ehlo, queued_id, recv_until_closed, send_raw, wait_for
from smtp_util import no_sanitizer_reports  # noqa: F401 (autouse fixture)


def test_200_sessions_at_once_all_served(sink):
    n = 200
    socks = [sink.connect(timeout=10) for _ in range(n)]
    sel = selectors.DefaultSelector()
    bufs = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        bufs[i] = b""
    # every session greeted
    deadline = time.monotonic() + 10
    while sum(b.count(b"220 ") for b in bufs.values()) < n:
        assert time.monotonic() < deadline, "not all greeted"
        for key, _ in sel.select(timeout=1):
            bufs[key.data] += key.fileobj.recv(4096)
    # every session sends a whole pipelined transaction at the same time
    for i, s in enumerate(socks):
        bufs[i] = b""
        s.sendall(b"EHLO c%d\r\nMAIL FROM:<s%d@x.test>\r\nRCPT TO:<r@x.test>\r\nDATA\r\n"
                  b"Subject: n%d\r\n\r\nbody\r\n.\r\nQUIT\r\n" % (i, i, i))
    done = set()
    while len(done) < n:
        assert time.monotonic() < deadline + 20, "only %d sessions finished" % len(done)
        for key, _ in sel.select(timeout=1):
            chunk = key.fileobj.recv(65536)
            bufs[key.data] += chunk
            if not chunk:
                done.add(key.data)
                sel.unregister(key.fileobj)
    ids = set()
    for i in range(n):
        assert b"221 " in bufs[i], bufs[i]
        ids.add(queued_id(bufs[i].decode()))
    assert len(ids) == n
    for s in socks:
        s.close()
    st = Store(sink)
    msgs = st.messages()
    assert len(msgs) == n
    assert sorted(m.mail_from for m in msgs) == sorted("s%d@x.test" % i for i in range(n))
    st.close()


def test_stuck_clients_do_not_block_others(sink):
    # one client mid-command, one mid-DATA, one that never reads its replies
    a = connect(sink)
    a.send(b"EHLO half-a-li")
    b = connect(sink)
    ehlo(b)
    b.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSubject: slow\r\n\r\npartial")
    c = sink.connect()
    c.sendall(b"NOOP\r\n" * 20000)
    t0 = time.monotonic()
    for i in range(20):
        assert send_raw(sink, b"Subject: other %d\r\n\r\nx\r\n.\r\n" % i) == i + 1
    assert time.monotonic() - t0 < 10
    b.send(b"\r\n.\r\n")
    codes = [b.reply()[0] for _ in range(4)]
    assert codes == [250, 250, 354, 250]
    for s in (a.sock, b.sock, c):
        s.close()


def test_max_sessions_pauses_accepting(sink_factory):
    sink = sink_factory("--max-sessions", "2", grpc=False)
    a = connect(sink)
    b = connect(sink)
    # the kernel completes the handshake, but the sink does not accept yet
    c = sink.connect()
    c.settimeout(0.5)
    try:
        data = c.recv(100)
        raise AssertionError("third session greeted while at the limit: %r" % data)
    except socket.timeout:
        pass
    a.cmd("QUIT")
    a.sock.close()
    c.settimeout(5)
    assert c.recv(100).startswith(b"220 ")
    assert b.cmd("NOOP")[0] == 250
    b.sock.close()
    c.close()


def test_idle_timeout(sink_factory):
    sink = sink_factory("--idle-timeout", "1", grpc=False)
    c = connect(sink)
    ehlo(c)
    t0 = time.monotonic()
    data = recv_until_closed(c.sock, timeout=5)
    assert data.startswith(b"421 4.4.2"), data
    assert 0.8 < time.monotonic() - t0 < 4
    # activity re-arms the timer
    c = connect(sink)
    for _ in range(4):
        time.sleep(0.5)
        assert c.cmd("NOOP")[0] == 250
    c.sock.close()


def test_session_deadline_beats_a_slow_drip(sink_factory):
    sink = sink_factory("--idle-timeout", "2", "--session-deadline", "1")
    c = connect(sink)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("RCPT TO:<c@d.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    t0 = time.monotonic()
    c.sock.settimeout(0.2)
    got = b""
    while time.monotonic() - t0 < 5:
        try:
            c.sock.sendall(b"x")
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            chunk = c.sock.recv(1000)
            if not chunk:
                break
            got += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    assert got.startswith(b"421 4.4.2"), got
    assert time.monotonic() - t0 < 4
    st = Store(sink)
    assert st.count() == 0
    st.close()


def test_sigterm_finishes_data_in_flight_and_closes_idle(sink_factory):
    sink = sink_factory("--shutdown-grace", "5", "--print", grpc=False)
    idle = connect(sink)
    ehlo(idle)
    busy = connect(sink)
    ehlo(busy)
    assert busy.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert busy.cmd("RCPT TO:<c@d.test>")[0] == 250
    assert busy.cmd("DATA")[0] == 354
    busy.send(b"Subject: in flight\r\n\r\nfirst\r\n")
    sink.proc.send_signal(signal.SIGTERM)
    assert recv_until_closed(idle.sock).startswith(b"421 4.3.2")
    assert sink.proc.poll() is None
    busy.send(b"second\r\n.\r\n")
    code, lines = busy.reply()
    assert code == 250
    assert queued_id(lines) == 1
    assert busy.reply()[0] == 421
    assert busy.closed()
    sink.proc.wait(timeout=5)       # exits on its own once the last session is gone
    rc, out = sink.stop()
    assert rc == 0
    assert b"Subject: in flight\nX-Peer: 127.0.0.1\n\nfirst\nsecond\n" in out


def test_sigterm_grace_over_closes_without_storing(sink_factory):
    sink = sink_factory("--shutdown-grace", "1", "--print", grpc=False)
    c = connect(sink)
    ehlo(c)
    c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 100 LAST\r\nonly some")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    t0 = time.monotonic()
    sink.proc.send_signal(signal.SIGTERM)
    data = recv_until_closed(c.sock, timeout=5)
    assert data.startswith(b"421 4.3.2"), data
    sink.proc.wait(timeout=5)
    rc, out = sink.stop()
    assert rc == 0
    assert time.monotonic() - t0 < 4
    assert b"MESSAGE FOLLOWS" not in out


def test_connection_reset_mid_session(sink):
    for _ in range(20):
        s = sink.connect()
        s.recv(100)
        s.sendall(b"EHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nSubject: r\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()       # RST
    st = Store(sink)
    wait_for(lambda: st.client.info().counters.sessions_active == 0, what="sessions to close")
    assert st.count() == 0
    st.close()
    assert send_raw(sink, b"Subject: fine\r\n\r\n.\r\n") == 1


@pytest.mark.skipif(VALGRIND, reason="valgrind takes 12 of the 48 descriptors this test "
                                      "allows the sink")
def test_out_of_descriptors_backs_off_and_recovers(sink_factory):
    import resource

    def few_descriptors():
        # hard limit too: the sink raises its soft limit toward the hard one
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))
    # an explicit --max-sessions is kept (with a warning), so accept() can hit EMFILE
    sink = sink_factory("--max-sessions", "1000", grpc=False, preexec_fn=few_descriptors)
    socks = [sink.connect() for _ in range(60)]
    time.sleep(0.5)
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    ready = {key.fileobj for key, _ in sel.select(timeout=0.5)}
    sel.close()
    greeted = [s for s in socks if s in ready]
    waiting = [s for s in socks if s not in ready]
    for s in greeted:
        assert s.recv(100).startswith(b"220 ")
    assert greeted and waiting, (len(greeted), len(waiting))
    assert "backoff_ms=" in sink.stderr()
    for s in greeted:
        s.sendall(b"QUIT\r\n")
        s.close()
    for s in waiting:
        s.settimeout(5)
        assert s.recv(100).startswith(b"220 ")
        s.close()
    assert send_raw(sink, b"Subject: recovered\r\n\r\n.\r\n") == 1
    sink.stop()
