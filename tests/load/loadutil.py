"""Shared pieces of the load tests (tests/load/test_*.py).

- The scale: LOAD_SCALE=ci (default: sizes that finish quickly and assert)
  or full (the sizes of RESULTS.md); pick(ci, full) chooses.
- The integration tests' Sink, SMTPConn, gRPC Client and fixtures, imported
  from tests/integration (no copies): start_sink() adds a raised descriptor
  limit for the child, stop_ok() stops it and wants exit status 0.
- RSS of the sink from /proc/<pid>/status, sampled by a thread.
- Session: one raw SMTP session sending transactions pipelined in batches
  (BDAT ... LAST, or DATA with one round trip), recording the queued ids.
- list_all(): ListMessages in pages; run_threads(): bounded threads.
- figure(): one "FIGURE name key=value ..." line on stdout for RESULTS.md
  (run pytest with -s to see them).
Everything binds or connects to 127.0.0.1 only and every wait is bounded.
"""
import os
import re
import resource
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import conftest  # noqa: E402  (also puts the generated stubs on sys.path)
import grpc_util  # noqa: E402
from conftest import SMTPConn, rss_kib, sink_factory  # noqa: E402,F401  (fixture)
from smtp_util import no_sanitizer_reports, wait_for  # noqa: E402,F401  (autouse fixture)

SCALE = os.environ.get("LOAD_SCALE", "ci")
assert SCALE in ("ci", "full"), "LOAD_SCALE must be ci or full, not %r" % SCALE
FULL = SCALE == "full"
SANITIZE = os.environ.get("SMTPSINK_SANITIZE", "").upper() in ("ON", "1", "TRUE")
QUEUED = re.compile(rb"^250 [0-9.]+ Ok: queued as (\d+)$")


def pick(ci, full):
    return full if FULL else ci


def raise_nofile(need=None):
    """Raises this process's soft descriptor limit to the hard limit (enough
    for `need` if given, else fails the test). Used as preexec_fn too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if need is not None and hard != resource.RLIM_INFINITY and hard < need:
        raise AssertionError("need %d descriptors, hard limit is %d" % (need, hard))
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_sink(factory, *args):
    """A sink (integration Sink via sink_factory) whose soft descriptor limit
    is raised to the hard limit in the child before exec."""
    return factory(*args, preexec_fn=raise_nofile)


def stop_ok(s):
    """SIGTERM; the sink must exit 0 (the sanitizer fixture reads its stderr)."""
    rc, _ = s.stop(timeout=30)
    assert rc == 0, "exit %s: %s" % (rc, s.stderr()[-2000:])


class RSSSampler(threading.Thread):
    """Samples the RSS (KiB) of `pid` every `interval` seconds until stop()."""

    def __init__(self, pid, interval=1.0):
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples = pid, interval, []
        self._stop_ev = threading.Event()

    def run(self):
        while True:
            self.samples.append(rss_kib(self.pid))
            if self._stop_ev.wait(self.interval):
                return

    def stop(self):
        self._stop_ev.set()
        self.join(10)
        self.samples.append(rss_kib(self.pid))
        return self.samples


def percentiles(values, ps=(50, 90, 99, 99.9, 100)):
    """Nearest-rank percentiles of `values` as {"p50": v, ...}."""
    xs = sorted(values)
    out = {}
    for p in ps:
        k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
        out["p%g" % p] = xs[k]
    return out


def ms(d):
    return {k: round(v * 1000, 2) for k, v in d.items()}


def figure(name, **kv):
    print("FIGURE %s [%s] %s" % (name, SCALE, " ".join("%s=%s" % i for i in kv.items())), flush=True)


def body(i, size, tag):
    """A message of about `size` bytes whose Subject names it: tag-i."""
    head = b"From: s@x.test\r\nTo: r@y.test\r\nSubject: %s-%d\r\n\r\n" % (tag.encode(), i)
    line = b"%-76d\r\n" % i
    n = max(1, (size - len(head)) // len(line))
    return head + line * n


class Session:
    """One raw SMTP session (greeting and EHLO read) that sends transactions.

    send(txs, batch, bdat): txs is a list of (mail_from, rcpt, body); with
    bdat, `batch` transactions go out in one write (MAIL, RCPT, BDAT LAST:
    every reply pipelined); without, each DATA waits for its 354. Returns the
    queued ids in order; any other reply than expected fails, except a 421
    or a close, which raise EOFError. self.acked holds every id read from a
    "250 ... queued as <id>" reply, in order, whatever happened after."""

    def __init__(self, sink, timeout=60.0, helo="load.test"):
        self.sock = socket.create_connection((sink.smtp_host, sink.smtp_port), timeout=timeout)
        self.buf, self.pos, self.acked = b"", 0, []
        self.expect([b"220 "])
        self.sock.sendall(b"EHLO %s\r\n" % helo.encode())
        while not self.lines(1)[0].startswith(b"250 "):
            pass

    def lines(self, n):
        out = []
        while len(out) < n:
            i = self.buf.find(b"\r\n", self.pos)
            if i < 0:
                chunk = self.sock.recv(262144)
                if not chunk:
                    raise EOFError("closed after %r" % out[-1:])
                self.buf, self.pos = self.buf[self.pos:] + chunk, 0
                continue
            line, self.pos = self.buf[self.pos:i], i + 2
            m = QUEUED.match(line)
            if m:
                self.acked.append(int(m.group(1)))
            out.append(line)
        return out

    def expect(self, codes):
        for r, e in zip(self.lines(len(codes)), codes):
            if r.startswith(b"421 "):
                raise EOFError(r)
            assert r.startswith(e), "expected %r, got %r" % (e, r)

    def send(self, txs, batch=32, bdat=True):
        start = len(self.acked)
        for k in range(0, len(txs), batch if bdat else 1):
            chunk = txs[k:k + batch] if bdat else txs[k:k + 1]
            wire = []
            for frm, rcpt, data in chunk:
                wire.append(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n" % (frm.encode(), rcpt.encode()))
                wire.append(b"BDAT %d LAST\r\n%s" % (len(data), data) if bdat else b"DATA\r\n")
            self.sock.sendall(b"".join(wire))
            if bdat:
                self.expect([b"250 "] * (3 * len(chunk)))
            else:
                self.expect([b"250 ", b"250 ", b"354 "])
                self.sock.sendall(grpc_util.dot_stuff(chunk[0][2]) + b".\r\n")
                self.expect([b"250 "])
        return self.acked[start:]

    def drain(self):
        """Reads (recording ids) until the server closes or resets."""
        try:
            while True:
                self.lines(1)
        except (EOFError, OSError):
            pass

    def close(self):
        self.sock.close()


def list_all(client, page=2000, **filter_kw):
    """Every matching message, in id order, read in pages (gRPC's size limit)."""
    out, after = [], 0
    while True:
        got = client.list(limit=page, after_id=after, **filter_kw).messages
        out += got
        if len(got) < page:
            return out
        after = got[-1].id


def run_threads(fns, timeout):
    """Runs each fn in a thread; returns their results, re-raising the first error."""
    results, errors = [None] * len(fns), []

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: B902 - reported to the test
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    assert not any(t.is_alive() for t in threads), "threads still running after %ss" % timeout
    return results
