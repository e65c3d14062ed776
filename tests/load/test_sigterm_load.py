"""SIGTERM while 16 sessions pipeline transactions (rounds: 3 ci, 10 full,
each a fresh sink, the signal after a varying delay). A held transaction
keeps the SMTP side draining while the test reads the store: the stored
messages are exactly those that got a 250 (each with the content its 250
belongs to), a new client gets 421 4.3.2, a parked wait is still satisfied
by the held message's 250, and the process exits 0 once drained."""
import signal
import socket
import threading
import time

import pytest

from loadutil import Session, figure, grpc_util, list_all, pick, run_threads, start_sink, wait_for
from loadutil import no_sanitizer_reports, sink_factory  # noqa: F401 (fixtures)

pb, health_pb2 = grpc_util.pb, grpc_util.health_pb2
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
ROUNDS = pick(3, 10)
SESSIONS = 16
BATCH = 20


def flood(s, k, rounds=100000):
    """Sends until the sink refuses or closes; returns the acked ids in order."""
    sess = Session(s, timeout=30)
    try:
        for r in range(rounds):
            txs = [("s%d@x.test" % k, "r@y.test", b"Subject: %d-%d\r\n\r\nx\r\n" % (k, r * BATCH + i))
                   for i in range(BATCH)]
            sess.send(txs, batch=BATCH, bdat=k % 2 == 0)
    except (EOFError, OSError):
        sess.drain()                    # replies sent before the close still count
    sess.close()
    return sess.acked


@pytest.mark.parametrize("rnd", range(ROUNDS))
def test_sigterm_during_load_keeps_every_acknowledged_message(sink_factory, rnd):
    s = start_sink(sink_factory, "--shutdown-grace", "60", "--max-messages", "10000000")
    c = grpc_util.Client(s)
    held = grpc_util.RawSMTP(s)
    held.cmd("EHLO held.test")
    assert held.cmd("MAIL FROM:<held@x.test>")[0] == 250
    assert held.cmd("RCPT TO:<held@y.test>")[0] == 250
    assert held.cmd("DATA")[0] == 354
    held.sock.sendall(b"Subject: held\r\n\r\nfirst half\r\n")
    wait = c.sink.WaitForMessages.future(
        pb.WaitForMessagesRequest(filter=pb.Filter(rcpt_to="held@y.test")), timeout=120)
    c.wait_until(lambda i: i.counters.waiters == 1)

    results = []

    def senders():
        try:
            results.append(run_threads([lambda k=k: flood(s, k) for k in range(SESSIONS)], timeout=120))
        except BaseException as e:  # noqa: B902 - re-raised below
            results.append(e)

    t0 = time.monotonic()
    runner = threading.Thread(target=senders, daemon=True)
    runner.start()
    time.sleep(pick(0.5, 2.0) + 0.37 * rnd)
    s.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic() - t0
    wait_for(lambda: c.health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == NOT_SERVING,
             timeout=10, what="NOT_SERVING")
    late = socket.create_connection((s.smtp_host, s.smtp_port), timeout=10)
    assert late.recv(512).startswith(b"421 4.3.2")
    late.close()
    runner.join(130)
    assert results, "senders did not finish"
    if isinstance(results[0], BaseException):
        raise results[0]
    acked = results[0]

    n = c.info().counters
    stored = list_all(c, page=50000, mail_from="s*@x.test")       # the held session keeps it answering
    assert n.messages_received == n.stored_messages + n.messages_evicted == len(stored)
    assert sorted(m.id for m in stored) == sorted(sum(acked, [])), "stored != acknowledged"
    subject = {m.id: m.subject for m in stored}
    for k, ids in enumerate(acked):
        assert [subject[i] for i in ids] == ["%d-%d" % (k, j) for j in range(len(ids))]

    held.sock.sendall(b"second half\r\n.\r\n")
    code, text = held.reply()
    assert code == 250, text
    assert [m.id for m in wait.result(timeout=10).messages] == [grpc_util.queued_id(text[0])]
    assert held.reply()[0] == 421
    s.proc.wait(timeout=30)
    rc, _ = s.stop()
    assert rc == 0, s.stderr()
    held.close()
    c.close()
    figure("sigterm_load", round=rnd, signal_after_s=round(signalled, 2), acked=len(stored),
           per_session_min=min(map(len, acked)), per_session_max=max(map(len, acked)))
