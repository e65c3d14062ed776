"""Hostile HTTP/2 peers on the gRPC port (the Hardening issue, item 2).

Each test runs one attack from a raw HTTP/2 client (h2_abuse.py) while a
normal gRPC client keeps calling GetServerInfo, then closes the attacking
sockets. What smtpsink guarantees, asserted for every attack:
  - the process survives and a normal client gets answers afterwards;
  - the RSS comes back near the baseline within SETTLE_S once the sockets
    are closed (control.c trims glibc's arenas);
  - the RSS stays under the baseline + PEAK_MIB during the attack, and the
    normal client gets answers during it (UNAVAILABLE / RESOURCE_EXHAUSTED
    allowed: gRPC's resource quota closes idle connections and cancels
    streams under pressure; a deadline is not allowed).
The last point cannot hold for attacks that gRPC 1.51 itself cannot bound
(HTTP2_ABUSE.md): those tests name the limit and are reported as xfail
with the figures when it shows; the first two still have to hold.

The figures go to stdout (pytest -s): HTTP2_ABUSE.md records them.
Not under valgrind (RSS and timing mean nothing there); under the
sanitizers the RSS checks are skipped (ASan keeps freed memory in
quarantine) but the attacks still run.
"""
import os
import threading
import time

import grpc
import pytest

from conftest import VALGRIND, rss_kib
from grpc_util import Client, pb

import h2_abuse as ha  # Debian's python3-h2 (bootstrap.sh installs it)

SANITIZED = os.environ.get("SMTPSINK_SANITIZE", "").upper() in ("ON", "1", "TRUE")
PEAK_MIB = 200          # over the baseline while attacked
SETTLED_MIB = 48        # over the baseline once the attacker is gone...
SETTLE_S = 20           # ...within this many seconds
CALL_TIMEOUT = 5        # a normal call slower than this is a stall
RECOVER_S = 30          # a loaded machine's patience for the first answer or refusal

pytestmark = pytest.mark.skipif(VALGRIND, reason="RSS bounds and timing mean nothing under valgrind")

# Limits of gRPC 1.51 that no channel argument fixes (HTTP2_ABUSE.md)
SMALL_HEADERS = "CVE-2023-33953: the metadata limit is checked per frame"
QUADRATIC = "CVE-2023-33953: a literal spanning frames is re-parsed per frame"
RAPID_RESET = "CVE-2023-44487: reset streams leave their calls queued"
NO_SETTINGS_ACK = "max concurrent streams applies only once the peer ACKs SETTINGS"


def rss_mib(pid):
    return rss_kib(pid) / 1024.0


class NormalClient:
    """Calls GetServerInfo every 50 ms in a thread until stop() (at least once)."""

    def __init__(self, sink):
        self.client = Client(sink)
        self.ok = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:         # at least one call, however short the attack
            try:
                self.client.sink.GetServerInfo(pb.GetServerInfoRequest(), timeout=CALL_TIMEOUT)
                self.ok += 1
            except grpc.RpcError as e:
                self.errors.append((e.code(), e.details()))
            if self._stop.wait(0.05):
                return

    def stop(self):
        self._stop.set()
        self._thread.join(CALL_TIMEOUT + 5)
        self.client.close()
        return self


def settle(pid, base):
    """Waits until the RSS is near the baseline; returns (rss, seconds).
    Not under the sanitizers: their allocator keeps what was freed."""
    t0 = time.monotonic()
    while True:
        rss = rss_mib(pid)
        waited = time.monotonic() - t0
        if rss <= base + SETTLED_MIB or waited > SETTLE_S or SANITIZED:
            return rss, waited
        time.sleep(0.1)


def attacked(sink, attack, known_limit=None):
    """Runs attack() (returns its H2Clients) against sink with a normal
    client calling alongside, closes the attacking sockets, and checks.
    known_limit names what gRPC 1.51 cannot bound for this attack."""
    pid = sink.proc.pid
    warm = Client(sink)
    warm.info()
    warm.close()
    time.sleep(0.3)
    base = rss_mib(pid)
    normal = NormalClient(sink)
    peak = ha.RssPeak(pid)
    t0 = time.monotonic()
    clients = attack()
    seconds = time.monotonic() - t0
    normal.stop()
    cut = [c.closed_by_peer for c in clients]
    for c in clients:
        c.close()
    settled, waited = settle(pid, base)
    top = peak.stop() / 1024.0
    print("\nfigures: base=%.0f MiB peak=%.0f MiB after=%.0f MiB (%.1f s after close) "
          "attack=%.1f s normal ok=%d errors=%s closed_by_server=%s"
          % (base, top, settled, waited, seconds, normal.ok, sorted({str(e[0]) for e in normal.errors}),
             cut))

    assert sink.proc.poll() is None, "smtpsink died: %s" % sink.stderr()[-2000:]
    # The server answers again: at once on a quiet machine; a loaded CI
    # machine under the sanitizers may still be chewing on the attack's
    # frames, so the first answer may take up to RECOVER_S
    after = Client(sink)
    try:
        deadline = time.monotonic() + RECOVER_S
        while True:
            try:
                assert after.info().version
                break
            except grpc.RpcError as e:
                if time.monotonic() > deadline:
                    raise AssertionError("no answer %d s after the attack: %s" % (RECOVER_S, e.code()))
        for _ in range(3):
            assert after.info().version
    finally:
        after.close()
    if not SANITIZED:
        assert settled <= base + SETTLED_MIB, \
            "RSS %.0f MiB still above the baseline %.0f MiB + %d after %d s" % (
                settled, base, SETTLED_MIB, SETTLE_S)

    limits = []
    if not SANITIZED and top > base + PEAK_MIB:
        limits.append("peak RSS %.0f MiB over the baseline %.0f MiB + %d" % (top, base, PEAK_MIB))
    stalls = [e for e in normal.errors
              if e[0] not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)]
    if normal.ok == 0 or stalls:
        limits.append("normal client during the attack: %d answers, errors %s" % (normal.ok, stalls[:3]))
    if limits and known_limit is not None:
        pytest.xfail("gRPC 1.51 (%s): %s" % (known_limit, "; ".join(limits)))
    assert not limits, "; ".join(limits)


def attacked_then_stopped(sink, attack):
    """attacked() for a sink of sink_factory's, which must then stop cleanly
    (the `sink` fixture checks that itself)."""
    try:
        attacked(sink, attack)
    finally:
        rc, _ = sink.stop()
    assert rc == 0, sink.stderr()


def concurrently(clients, fn, *args):
    """Runs fn(client, *args) for every client in its own thread."""
    threads = [threading.Thread(target=fn, args=(c,) + args) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return clients


# --- CONTINUATION -------------------------------------------------------------

def test_continuation_flood_of_oversized_headers(sink):
    """HEADERS without END_HEADERS, then 4 x 16 MiB of CONTINUATION frames
    each carrying one 16 KiB header: over the metadata limit at once."""
    def attack():
        clients = [ha.H2Client(sink.grpc_addr, timeout=3) for _ in range(4)]
        return concurrently(clients, ha.continuation_flood, 16 << 20, "headers")
    attacked(sink, attack)


def test_continuation_flood_of_small_headers(sink):
    """The same with headers of 1 byte each (an HPACK index), 100 to a frame,
    so that no single frame passes the metadata limit: 4 x 2 MiB sent."""
    def attack():
        clients = [ha.H2Client(sink.grpc_addr, timeout=3) for _ in range(4)]
        return concurrently(clients, ha.continuation_flood, 2 << 20, "indexed", 100)
    attacked(sink, attack, known_limit=SMALL_HEADERS)


def test_continuation_flood_of_one_endless_literal(sink):
    """One header whose value is announced as 1 GiB and sent in CONTINUATION
    frames (2 x 4 MiB, for at most the send timeout)."""
    def attack():
        clients = [ha.H2Client(sink.grpc_addr, timeout=3) for _ in range(2)]
        return concurrently(clients, ha.continuation_flood, 4 << 20, "literal")
    attacked(sink, attack, known_limit=QUADRATIC)


# --- control frames -----------------------------------------------------------

@pytest.mark.parametrize("kind", ["settings", "ping"])
def test_control_frame_flood_without_reading(sink, kind):
    """A million SETTINGS or PING frames, never reading the ACKs."""
    def attack():
        c = ha.H2Client(sink.grpc_addr, drain=False, timeout=3)
        ha.control_flood(c, kind, 1000000)
        return [c]
    attacked(sink, attack)


def test_rapid_reset(sink):
    """2 x 10,000 streams, each opened and reset at once (RST_STREAM CANCEL)."""
    def attack():
        clients = [ha.H2Client(sink.grpc_addr, timeout=3) for _ in range(2)]
        concurrently(clients, ha.open_streams, 10000, ha.GRPC_PATH, True)
        time.sleep(0.5)
        return clients
    attacked(sink, attack, known_limit=RAPID_RESET)


# --- streams ------------------------------------------------------------------

def test_many_concurrent_streams(sink):
    """4 connections x 3,000 streams that never send their message, from a
    peer that ACKs SETTINGS: refused past the per-connection limit
    (--max-waiters 1024 + 100)."""
    def attack():
        clients = [ha.H2Client(sink.grpc_addr, timeout=3) for _ in range(4)]
        concurrently(clients, ha.open_streams, 3000)
        time.sleep(1)
        # each connection sees a refusal; a loaded machine may take longer
        deadline = time.monotonic() + RECOVER_S
        while not all(c.frames.get(ha.RST_STREAM) or c.closed_by_peer for c in clients) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        for c in clients:
            assert c.frames.get(ha.RST_STREAM) or c.closed_by_peer, \
                "no stream refused: %s" % c.frames
        return clients
    attacked(sink, attack)


def test_many_concurrent_streams_without_settings_ack(sink):
    """The same from a peer that never ACKs SETTINGS (4 x 5,000 streams)."""
    def attack():
        clients = [ha.H2Client(sink.grpc_addr, timeout=3, ack_settings=False) for _ in range(4)]
        concurrently(clients, ha.open_streams, 5000)
        time.sleep(1)
        return clients
    attacked(sink, attack, known_limit=NO_SETTINGS_ACK)


def _wait_request():
    """A WaitForMessages that parks (nothing matches) for a minute."""
    req = pb.WaitForMessagesRequest(filter=pb.Filter(rcpt_to="nobody@http2-abuse.test"), count=1)
    req.timeout.FromMilliseconds(60000)
    return req.SerializeToString()


def test_never_ending_streams_of_messages(sink_factory):
    """2 connections x 6 parked WaitForMessages calls whose clients keep
    sending 16 KiB messages without END_STREAM: nothing reads them, so
    within 2 s flow control (windows of several MiB per stream) and the
    resource quota (64 MiB + the max message: 16 MiB here, so that the
    bound has a margin) must stop the senders for good."""
    sink = sink_factory("--grpc-max-message-size", "16M")
    clients = [ha.H2Client(sink.grpc_addr, drain=False, timeout=3) for _ in range(2)]
    streams = [ha.FlowStream(c, 6, "/smtpsink.v1.Sink/WaitForMessages", _wait_request(),
                             message_len=16384) for c in clients]
    taken = []

    def attack():
        concurrently(streams, ha.FlowStream.pump, 2)
        taken.append(sum(s.sent for s in streams))
        concurrently(streams, ha.FlowStream.pump, 1)
        taken.append(sum(s.sent for s in streams))
        return clients
    attacked_then_stopped(sink, attack)
    print("taken: %.1f MiB after 2 s, %.1f MiB after 3 s" % (taken[0] / 1048576.0, taken[1] / 1048576.0))
    assert taken[1] - taken[0] < 1 << 20, "still taking messages nobody reads: %s" % taken


def test_never_ending_message(sink_factory):
    """2 connections x 10 streams, each one message announced just under the
    max message size (4 MiB here) that never completes, for 3 s: the server
    may buffer up to the max message per stream, no more."""
    s = sink_factory("--grpc-max-message-size", "4M")
    clients = [ha.H2Client(s.grpc_addr, drain=False, timeout=3) for _ in range(2)]
    streams = [ha.FlowStream(c, 10, ha.GRPC_PATH, declared=(4 << 20) - 1024) for c in clients]

    def attack():
        concurrently(streams, ha.FlowStream.pump, 3)
        return clients
    attacked_then_stopped(s, attack)
