"""Soak: many messages through a 10,000-message store (--max-messages 10000)
from pipelined raw sessions; the sink's RSS, sampled every second (every
0.25 s in ci, whose run is short), stays flat: max over the second half <=
1.10 x max over the first half. Every message is accounted for: received =
stored + evicted (GetServerInfo)."""
import itertools
import time

from loadutil import SANITIZE, RSSSampler, Session, body, figure, grpc_util, pick, run_threads
from loadutil import start_sink, stop_ok
from loadutil import no_sanitizer_reports, sink_factory  # noqa: F401 (fixtures)

TOTAL = pick(100_000, 1_000_000)
SESSIONS = 16
CAP = 10_000
SIZES = (300, 1200, 4000, 700, 9000, 2500)      # varied, so freed blocks do not simply fit again


def test_messages_through_a_capped_store_keep_rss_flat(sink_factory):
    s = start_sink(sink_factory, "--max-messages", str(CAP))
    per = TOTAL // SESSIONS
    sizes = itertools.cycle(SIZES)
    # a few distinct bodies per session, reused: the sender's CPU goes to the wire
    bodies = [body(i, next(sizes), "soak") for i in range(len(SIZES) * 2)]

    def sender(k):
        sess = Session(s)
        txs = [("s%d@x.test" % k, "r%d@y.test" % (i % 7), bodies[(i + k) % len(bodies)])
               for i in range(2000)]
        ids = []
        for done in range(0, per, len(txs)):
            ids += sess.send(txs[:per - done], batch=50, bdat=k % 4 != 0)
        sess.close()
        return len(ids)

    sampler = RSSSampler(s.proc.pid, interval=pick(0.25, 1.0))
    sampler.start()
    t0 = time.monotonic()
    sent = sum(run_threads([lambda k=k: sender(k) for k in range(SESSIONS)], timeout=pick(150, 1800)))
    secs = time.monotonic() - t0
    rss = sampler.stop()
    c = grpc_util.Client(s)
    n = c.info().counters
    c.close()
    stop_ok(s)

    half = len(rss) // 2
    first, second = max(rss[:half]), max(rss[half:])
    figure("soak_rss", messages=sent, seconds=round(secs, 1), msgs_per_s=int(sent / secs),
           samples=len(rss), rss_start_kib=rss[0], rss_max_first_half_kib=first,
           rss_max_second_half_kib=second, rss_end_kib=rss[-1], ratio=round(second / first, 3),
           stored=n.stored_messages, evicted=n.messages_evicted)
    assert sent == per * SESSIONS
    assert n.messages_received == sent
    assert n.messages_received == n.stored_messages + n.messages_evicted
    assert n.stored_messages == CAP
    assert len(rss) >= 8, "too few RSS samples: %s" % rss
    if not SANITIZE:        # ASan's quarantine grows RSS by design
        assert second <= first * 1.10, "RSS grew: first half max %d KiB, second half max %d KiB: %s" % (
            first, second, rss)
