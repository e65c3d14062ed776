"""Parked WaitForMessages calls (500 full, 200 ci) and WatchMessages streams
(100 full, 40 ci) while 32 SMTP sessions send, with full accounting:
received = stored + evicted; every stream sees each of its messages exactly
once, in id order, no gap (= the stored list for its filter); every wait
returns at least its count, in id order, and exactly the matching messages
up to the last id it returned. Figures: send rate, time until the last
stream caught up."""
import threading
import time

from loadutil import Session, figure, grpc_util, list_all, pick, run_threads, start_sink, stop_ok
from loadutil import no_sanitizer_reports, sink_factory  # noqa: F401 (fixtures)

pb = grpc_util.pb
M = pick(4000, 20000)                   # messages
SESSIONS, R = 32, 50                    # SMTP sessions, distinct recipients
WAITS, WATCHES = pick(200, 500), pick(40, 100)
CHANNELS = 8
TIMEOUT = pick(120, 600)


def rcpt(j, tag):
    return "r%d@%s.test" % (j % R, tag)


def watch(stub, flt, want, out):
    """Collects the ids of one stream until `want` arrived (then cancels)."""
    stream = stub.WatchMessages(pb.WatchMessagesRequest(filter=flt), timeout=TIMEOUT)
    for m in stream:
        out.append(m.id)
        if len(out) == want:
            stream.cancel()
            return


def test_waits_and_watches_account_for_every_message(sink_factory):
    s = start_sink(sink_factory, "--max-messages", str(2 * M))
    tag = grpc_util.unique("w")
    clients = [grpc_util.Client(s) for _ in range(CHANNELS)]
    c = clients[0]
    everything = pb.Filter(rcpt_to="*@%s.test" % tag)
    waits = []
    for i in range(WAITS):
        count = 1 + (i * 7) % (M // R)
        f = pb.Filter(rcpt_to=rcpt(i, tag))
        fut = clients[i % CHANNELS].sink.WaitForMessages.future(
            pb.WaitForMessagesRequest(filter=f, count=count), timeout=TIMEOUT)
        waits.append((i % R, count, fut))
    streams, threads = [], []
    for k in range(WATCHES):
        flt, want = (everything, M) if k % 2 == 0 else (pb.Filter(rcpt_to=rcpt(k, tag)), M // R)
        got = []
        streams.append((flt, got))
        threads.append(threading.Thread(target=watch, args=(clients[k % CHANNELS].sink, flt, want, got),
                                        daemon=True))
        threads[-1].start()
    c.wait_until(lambda i: i.counters.waiters == WAITS + WATCHES, timeout=60)

    def sender(k):
        sess = Session(s)
        txs = [("s%d@x.test" % k, rcpt(j, tag), b"Subject: %d\r\n\r\nbody %d\r\n" % (j, j))
               for j in range(k, M, SESSIONS)]
        ids = sess.send(txs, batch=20, bdat=k % 2 == 0)
        sess.close()
        return ids

    t0 = time.monotonic()
    acked = sum(run_threads([lambda k=k: sender(k) for k in range(SESSIONS)], timeout=TIMEOUT), [])
    send_s = time.monotonic() - t0
    for t in threads:
        t.join(max(1.0, t0 + TIMEOUT - time.monotonic()))
    caught_up_s = time.monotonic() - t0

    n = c.info().counters
    assert len(acked) == M and n.messages_received == M
    assert n.messages_received == n.stored_messages + n.messages_evicted
    stored = list_all(c, rcpt_to=everything.rcpt_to)
    by_rcpt = {}
    for m in stored:
        by_rcpt.setdefault(m.rcpt_to[0], []).append(m.id)
    assert [m.id for m in stored] == sorted(acked)
    for flt, got in streams:
        want = [m.id for m in stored] if flt is everything else by_rcpt[flt.rcpt_to]
        assert got == want, "stream %s: %d ids, gap/duplicate/order" % (flt.rcpt_to, len(got))
    for r, count, fut in waits:
        ids = [m.id for m in fut.result(timeout=30).messages]
        assert len(ids) >= count
        mine = by_rcpt[rcpt(r, tag)]
        assert ids == mine[:len(ids)], "wait on %s returned %s" % (rcpt(r, tag), ids[:10])
    c.wait_until(lambda i: i.counters.waiters == 0, timeout=30)
    for x in clients:
        x.close()
    stop_ok(s)
    figure("waiters_load", messages=M, sessions=SESSIONS, waits=WAITS, watches=WATCHES,
           send_s=round(send_s, 2), msgs_per_s=int(M / send_s), streams_caught_up_s=round(caught_up_s, 2),
           stream_deliveries=sum(len(g) for _, g in streams))
