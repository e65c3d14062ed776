#!/usr/bin/python3
"""HTTP API benchmark (issue 11): smtpsink's HTTP side beside Mailpit's, IN
THE SAME RUN, both holding THE SAME mail.

Both servers are started once and loaded with the same --stored messages
(default 100,000; `smtp-source -d -s 16 -m N -l 1024 -S "bench load"`, then 10
messages of which 5 go to target@select.local), and kept running side by
side; the measurement rounds alternate between them (order rotated each
round), so the figures that matter are the ratios smtpsink / Mailpit within a
round.  Nothing here is a test: no assertion on time anywhere.

  list     GET /api/v1/messages?limit=50 (the first page, newest first) on a
           keep-alive connection, --requests per round; p50/p99 of the client's
           time from sending the request to having the whole body
  search   GET /api/v1/search?query=to:"target@select.local"&limit=50, the same
           way, --search-requests per round (5 hits; smtpsink scans its store,
           Mailpit asks SQLite)
  events   a new message's event: from the SMTP 250 after DATA (on an open
           session) to the event that names the message, --events per round:
           smtpsink's Server-Sent Events (GET /api/events?after_id=LAST),
           Mailpit's websocket (GET /api/events, its "new" message). Both times
           are the kernel's receive timestamps of the two sockets
           (SO_TIMESTAMPNS: when the last segment of the 250 and of the event
           came in), so Python's own scheduling is not in them; an event that
           came before the 250 counts as 0 (and is counted). The time from
           the message and its end of DATA sent to the event is reported too
  idle     RSS per idle keep-alive HTTP connection: on a fresh server (a few
           messages), VmRSS with --idle connections open, each of which made
           one request (GET /api/v1/info) and read the answer, minus VmRSS
           before, divided by --idle

Servers:
  smtpsink  smtpsink --smtp-listen 127.0.0.1:0 --http-listen 127.0.0.1:0
            --grpc-listen off --max-messages 1000000 --max-bytes 4G
            --http-max-connections (idle + 100)
  mailpit   mailpit -s ADDR -l ADDR --max (stored + 1000) -q
            --disable-version-check --smtp-disable-rdns -d /dev/shm/.../mailpit.db
            (its SQLite file on tmpfs, as a developer's temp database would be)

Usage (from the repository root, Debian's python3; postfix's smtp-source):
  /usr/bin/python3 bench/http_api.py [--smtpsink build-bench/smtpsink]
      [--mailpit ~/.cache/smtpsink-ci/mailpit-v1.33.1/bin/mailpit]
      [--stored 100000] [--rounds 3] [--requests 300] [--search-requests 50]
      [--events 1000] [--idle 1000]
      [--parts list,search,events,idle] [--servers smtpsink,mailpit]
  /usr/bin/python3 bench/http_api.py --from-json bench/out/http-api-HHMMSS.json
Raw results go to bench/out/.
"""
import argparse
import base64
import http.client
import json
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from grpc_latency import SMTPClient, pct, stats_us  # noqa: E402  (grpc itself is not loaded)
from run_smtp import SOURCE_COMMON, free_port, listening, status_kib  # noqa: E402
from tls_auth import spread, write_out  # noqa: E402

MAILPIT_DEFAULT = os.environ.get("MAILPIT_BIN", os.path.expanduser(
    "~/.cache/smtpsink-ci/mailpit-v1.33.1/bin/mailpit"))
TARGET = "target@select.local"
SO_TIMESTAMPNS = 35  # Linux; also the SCM_ type of its control message


# ---------------------------------------------------------------- servers

class Server:
    def __init__(self, kind, args, stored, idle=0):
        self.kind = kind
        self.tmp = tempfile.mkdtemp(prefix="bench-http-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self.log = open(os.path.join(self.tmp, "log"), "wb")
        if kind == "smtpsink":
            ready = os.path.join(self.tmp, "ready.json")
            self.argv = [args.smtpsink, "--smtp-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                         "--grpc-listen", "off", "--max-messages", "1000000", "--max-bytes", "4G",
                         "--http-max-connections", str(idle + 100), "--ready-file", ready]
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=self.log)
            deadline = time.monotonic() + 30
            while not os.path.exists(ready):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("smtpsink did not start: %s" % self.read_log())
                time.sleep(0.01)
            time.sleep(0.05)
            with open(ready) as f:
                r = json.load(f)
            self.smtp_port = int(r["smtp"].rpartition(":")[2])
            self.http_port = int(r["http"][0].rpartition(":")[2])
        else:
            self.smtp_port, self.http_port = free_port(), free_port()
            self.argv = [args.mailpit, "-s", "127.0.0.1:%d" % self.smtp_port, "-l", "127.0.0.1:%d" % self.http_port,
                         "--max", str(stored + 1000), "-q", "--disable-version-check", "--smtp-disable-rdns",
                         "-d", os.path.join(self.tmp, "mailpit.db")]
            self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log)
            deadline = time.monotonic() + 30
            while not (listening(self.smtp_port) and listening(self.http_port)):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mailpit did not start: %s" % self.read_log())
                time.sleep(0.02)
        self.pid = self.proc.pid

    def read_log(self):
        with open(os.path.join(self.tmp, "log"), "rb") as f:
            return f.read()[-2000:].decode("utf-8", "replace")

    def http(self):
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=120)

    def total(self):
        c = self.http()
        c.request("GET", "/api/v1/messages?limit=1")
        r = c.getresponse()
        data = json.loads(r.read())
        c.close()
        return data["total"]

    def rss_kib(self):
        return status_kib(self.pid, "VmRSS")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc


class SMTP(SMTPClient):
    """grpc_latency's open SMTP session, with the 250 after DATA left for a
    select() loop to read."""

    def line_ready(self):
        """A whole final reply line in the buffer: its code, else None."""
        for line in self.buf.split(b"\r\n")[:-1]:
            if line[3:4] != b"-":
                return int(line[:3])
        return None

    def code(self):
        return self.reply()[0]

    def start(self, rcpt, subject="event latency"):
        """MAIL, RCPT, DATA and the message; returns the wall-clock time
        (ns) just before the message and its end of DATA were sent (the 250
        is left for the caller to read)."""
        self.sock.sendall(b"MAIL FROM:<sender@bench.local>\r\nRCPT TO:<" + rcpt.encode() + b">\r\nDATA\r\n")
        for want in (250, 250, 354):
            code = self.code()
            if code != want:
                raise RuntimeError("SMTP: %d, want %d" % (code, want))
        data = (b"From: <sender@bench.local>\r\nTo: <" + rcpt.encode()
                + b">\r\nSubject: " + subject.encode() + b"\r\n\r\nhello\r\n.\r\n")
        t = time.time_ns()
        self.sock.sendall(data)
        return t


def load(server, stored):
    argv = (["smtp-source"] + SOURCE_COMMON + ["-S", "bench load", "-d", "-s", "16", "-m", str(stored),
                                               "-l", "1024", "127.0.0.1:%d" % server.smtp_port])
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError("smtp-source into %s failed: %s" % (server.kind, p.stderr.decode()[-500:]))
    s = SMTP(server.smtp_port)
    for i in range(10):
        rcpt = TARGET if i % 2 == 0 else "other%d@select.local" % i
        s.start(rcpt)
        if s.code() != 250:
            raise RuntimeError("no 250")
    s.close()
    secs = time.monotonic() - t0
    want = stored + 10
    deadline = time.monotonic() + 300
    while server.total() < want:
        if time.monotonic() > deadline:
            raise RuntimeError("%s holds %d of %d" % (server.kind, server.total(), want))
        time.sleep(0.5)
    return {"load_s": secs, "load_command": " ".join(argv), "total": server.total(),
            "rss_kib": server.rss_kib()}


# ---------------------------------------------------------------- list, search

def timed_gets(server, path, n, check):
    c = server.http()
    times = []
    for i in range(-20, n):
        t0 = time.perf_counter_ns()
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        t = time.perf_counter_ns() - t0
        if r.status != 200:
            raise RuntimeError("%s %s -> %d %r" % (server.kind, path, r.status, body[:200]))
        if i == -20:
            check(json.loads(body))
        if i >= 0:
            times.append(t)
    c.close()
    return {"path": path, "bytes": len(body), **stats_us(times)}


def part_list(server, args):
    def check(d):
        if len(d["messages"]) != 50 or d["total"] < args.stored + 10:  # events add more
            raise RuntimeError("%s: first page %d messages, total %s" % (server.kind, len(d["messages"]), d["total"]))
    return timed_gets(server, "/api/v1/messages?limit=50", args.requests, check)


def part_search(server, args):
    def check(d):
        if len(d["messages"]) != 5:
            raise RuntimeError("%s: search found %d, want 5" % (server.kind, len(d["messages"])))
    q = urllib.parse.urlencode({"query": 'to:"%s"' % TARGET, "limit": "50"})
    return timed_gets(server, "/api/v1/search?" + q, args.search_requests, check)


# ---------------------------------------------------------------- events

class SSE:
    """smtpsink's GET /api/events: events split on blank lines."""

    def __init__(self, http_port, after_id):
        self.sock = socket.create_connection(("127.0.0.1", http_port), timeout=30)
        self.sock.sendall(("GET /api/events?after_id=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Accept: text/event-stream\r\n\r\n" % after_id).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError("events: %r" % head[:200])

    def feed(self, data):
        """Complete events (bytes) in what came so far."""
        self.buf += data
        out = []
        while b"\n\n" in self.buf:
            ev, self.buf = self.buf.split(b"\n\n", 1)
            out.append(ev)
        return out


class WebSocket:
    """Mailpit's GET /api/events: a minimal RFC 6455 client (text frames,
    pings answered), no extensions offered."""

    def __init__(self, server):
        self.sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           % (server.http_port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError("websocket: %r" % head[:200])

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7f, 2
            if n == 126:
                if len(self.buf) < 4:
                    break
                n, off = struct.unpack(">H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    break
                n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
            if len(self.buf) < off + n:
                break
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            op = b0 & 0x0f
            if op == 9:  # ping: pong, masked as a client must
                mask = os.urandom(4)
                self.sock.sendall(bytes([0x8a, 0x80 | len(payload)]) + mask
                                  + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))
            elif op in (1, 2):
                out.append(payload)
        return out


def recv_ts(sock):
    """recv() with the kernel's receive time (ns, CLOCK_REALTIME) of the last
    segment read; 0 when there is none (the kernel turns receive timestamps
    on a moment after the first socket asks)."""
    data, anc, _, _ = sock.recvmsg(262144, socket.CMSG_SPACE(16))
    for level, kind, val in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", val[:16])
            return data, sec * 1000000000 + nsec
    return data, 0


def part_events(server, args, rnd):
    smtp = SMTP(server.smtp_port)
    if server.kind == "smtpsink":
        c = server.http()
        c.request("GET", "/api/v1/messages?limit=1")
        last = int(json.loads(c.getresponse().read())["messages"][0]["ID"])
        c.close()
        ev = SSE(server.http_port, last)
    else:
        ev = WebSocket(server)
    for sock in (smtp.sock, ev.sock):
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    time.sleep(0.5)  # the kernel turns receive timestamps on from a work queue
    lat, lat_sent, early, frames = [], [], 0, 0
    for i in range(-20, args.events):
        rcpt = "ev-%d-%d-%d@bench.local" % (os.getpid(), rnd, i + 20)
        marker = rcpt.encode()
        t_sent = smtp.start(rcpt)
        t250 = t_ev = None
        deadline = time.monotonic() + 15
        while t250 is None or t_ev is None:
            r, _, _ = select.select([s for s, done in ((smtp.sock, t250), (ev.sock, t_ev)) if done is None],
                                    [], [], 1.0)
            for s in r:
                data, now = recv_ts(s)
                if not data:
                    raise RuntimeError("%s: connection closed" % server.kind)
                if s is smtp.sock:
                    smtp.buf += data
                    if smtp.line_ready() is not None:
                        t250 = now
                        if smtp.code() != 250:
                            raise RuntimeError("%s: no 250" % server.kind)
                else:
                    for e in ev.feed(data):
                        frames += 1
                        if marker in e:
                            t_ev = now
            if time.monotonic() > deadline:
                raise RuntimeError("%s: no event for %s" % (server.kind, rcpt))
        if i >= 0:
            if t_ev == 0 or t250 == 0:
                raise RuntimeError("no receive timestamp (SO_TIMESTAMPNS)")
            lat.append(max(0, t_ev - t250))
            lat_sent.append(t_ev - t_sent)
            early += t_ev < t250
    smtp.close()
    ev.sock.close()
    return {"wakeup": stats_us(lat), "from_end_of_data_sent": stats_us(lat_sent), "events_before_250": early,
            "frames": frames, "transport": "SSE" if server.kind == "smtpsink" else "websocket"}


# ---------------------------------------------------------------- idle connections

def part_idle(kind, args):
    srv = Server(kind, args, 100, idle=args.idle)
    req = b"GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    def one(s):
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("%s closed an idle connection" % kind)
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        n = int([h.split(b":", 1)[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")][0])
        while len(body) < n:
            body += s.recv(65536)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError("%s: %r" % (kind, head[:100]))

    try:
        s = SMTP(srv.smtp_port)
        for i in range(40):
            s.start("idle%d@bench.local" % i)
            s.code()
        s.close()
        for _ in range(3):  # warm-up: what every connection shares is allocated now
            warm = [socket.create_connection(("127.0.0.1", srv.http_port)) for _ in range(20)]
            for w in warm:
                one(w)
            for w in warm:
                w.close()
        time.sleep(1.0)
        rss0 = srv.rss_kib()
        conns = []
        for _ in range(args.idle):
            c = socket.create_connection(("127.0.0.1", srv.http_port), timeout=30)
            one(c)
            conns.append(c)
        time.sleep(1.0)
        rss1 = srv.rss_kib()
        # still open: nothing closed by the server while we measured
        r, _, _ = select.select(conns, [], [], 0)
        held = len(conns) - len(r)
        for c in conns:
            c.close()
        return {"server": kind, "idle": args.idle, "held": held, "rss_before_kib": rss0, "rss_after_kib": rss1,
                "kib_per_conn": (rss1 - rss0) / args.idle, "ok": held == args.idle, "command": " ".join(srv.argv)}
    finally:
        srv.stop()


# ---------------------------------------------------------------- report

def ratio_rows(results, part, key):
    by = {}
    for r in results:
        if r["part"] == part:
            by.setdefault(r["round"], {})[r["server"]] = r
    return [v["smtpsink"][key] / v["mailpit"][key] for v in by.values()
            if "smtpsink" in v and "mailpit" in v and v["mailpit"][key]]


def report(args, out):
    res = out["results"]
    lines = []
    load = out.get("load", {})
    if load:
        lines.append("Stored: " + "; ".join("%s %d messages (loaded in %.0f s, RSS %.0f MiB)" % (
            k, v["total"], v["load_s"], v["rss_kib"] / 1024) for k, v in load.items()))
        lines.append("")
    for part, title, key in (("list", "GET /api/v1/messages?limit=50 (first page of %s stored)" % (args.stored + 10), "p50_us"),
                             ("search", "GET /api/v1/search?query=to:\"%s\"&limit=50 (5 hits)" % TARGET, "p50_us")):
        rs = [r for r in res if r["part"] == part]
        if not rs:
            continue
        lines += ["| %s | server | p50 ms, median (min-max) over rounds | p99 ms, median (min-max) | max ms | body bytes | p50 ratio smtpsink / Mailpit, same round | p99 ratio |" % title.split(" (")[0],
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for kind in args.servers:
            k = [r for r in rs if r["server"] == kind]
            if not k:
                continue
            r50 = ratio_rows(res, part, "p50_us") if kind == "smtpsink" else []
            r99 = ratio_rows(res, part, "p99_us") if kind == "smtpsink" else []
            lines.append("| %s | %s | %s | %s | %.2f | %d | %s | %s |" % (
                title.split(" (", 1)[1].rstrip(")") if kind == args.servers[0] else "", kind,
                spread([r["p50_us"] / 1000 for r in k], "%.2f"), spread([r["p99_us"] / 1000 for r in k], "%.2f"),
                max(r["max_us"] for r in k) / 1000, k[0]["bytes"],
                spread(r50, "%.3f", "x") if r50 else "", spread(r99, "%.3f", "x") if r99 else ""))
        lines.append("")
    rs = [r for r in res if r["part"] == "events"]
    if rs:
        lines += ["| new message event: its 250 -> the event (kernel receive times, %d per round) | transport | p50 us, median (min-max) | p99 us, median (min-max) | max us | from the message sent, p50 / p99 us | in before the 250 | p99 ratio smtpsink / Mailpit, same round |" % args.events,
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for kind in args.servers:
            k = [r for r in rs if r["server"] == kind]
            if not k:
                continue
            r99 = []
            by = {}
            for r in rs:
                by.setdefault(r["round"], {})[r["server"]] = r["wakeup"]["p99_us"]
            if kind == "smtpsink":
                r99 = [v["smtpsink"] / v["mailpit"] for v in by.values() if "smtpsink" in v and v.get("mailpit")]
            lines.append("| %s | %s | %s | %s | %.0f | %.0f / %.0f | %d of %d | %s |" % (
                kind, k[0]["transport"], spread([r["wakeup"]["p50_us"] for r in k], "%.0f"),
                spread([r["wakeup"]["p99_us"] for r in k], "%.0f"), max(r["wakeup"]["max_us"] for r in k),
                statistics.median(r["from_end_of_data_sent"]["p50_us"] for r in k),
                statistics.median(r["from_end_of_data_sent"]["p99_us"] for r in k),
                sum(r["events_before_250"] for r in k), args.events * len(k),
                spread(r99, "%.3f", "x") if r99 else ""))
        lines.append("")
    rs = [r for r in res if r["part"] == "idle"]
    if rs:
        lines += ["| idle keep-alive HTTP connections (each made one request) | server | held | RSS before / with them, MiB | KiB per connection, median (min-max) | ratio smtpsink / Mailpit, same round |",
                  "|---|---|---:|---:|---:|---:|"]
        for kind in args.servers:
            k = [r for r in rs if r["server"] == kind]
            if not k:
                continue
            rat = ratio_rows(res, "idle", "kib_per_conn") if kind == "smtpsink" else []
            lines.append("| %d | %s | %s | %.1f / %.1f | %s | %s |" % (
                args.idle, kind, "/".join(sorted({"%d" % r["held"] for r in k})),
                statistics.median(r["rss_before_kib"] for r in k) / 1024,
                statistics.median(r["rss_after_kib"] for r in k) / 1024,
                spread([r["kib_per_conn"] for r in k], "%.2f"), spread(rat, "%.3f", "x") if rat else ""))
    return "\n".join(lines)


def run_part(part, kind, servers, args, rnd):
    """One part against one server; prints its line."""
    if part == "idle":
        r = part_idle(kind, args)
        print("round %d %-8s idle     %.2f KiB per connection (%d held, RSS %d -> %d KiB)"
              % (rnd, kind, r["kib_per_conn"], r["held"], r["rss_before_kib"], r["rss_after_kib"]), flush=True)
    elif part == "events":
        r = part_events(servers[kind], args, rnd)
        print("round %d %-8s events   p50 %6.0f us  p99 %6.0f us  max %6.0f us  (%d of %d before the 250)"
              % (rnd, kind, r["wakeup"]["p50_us"], r["wakeup"]["p99_us"], r["wakeup"]["max_us"],
                 r["events_before_250"], args.events), flush=True)
    else:
        r = (part_list if part == "list" else part_search)(servers[kind], args)
        print("round %d %-8s %-8s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%d bytes)"
              % (rnd, kind, part, r["p50_us"] / 1000, r["p99_us"] / 1000, r["max_us"] / 1000, r["bytes"]),
              flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smtpsink", default=os.path.join(ROOT, "build-bench", "smtpsink"))
    ap.add_argument("--mailpit", default=MAILPIT_DEFAULT)
    ap.add_argument("--servers", default="smtpsink,mailpit")
    ap.add_argument("--parts", default="list,search,events,idle")
    ap.add_argument("--stored", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=300, help="first-page requests per round and server")
    ap.add_argument("--search-requests", type=int, default=50, help="searches per round and server")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--out", default=None)
    ap.add_argument("--from-json", metavar="PATH", help="only print the tables of an earlier run's raw JSON")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            old = json.load(f)
        ns = ap.parse_args(old["argv"][1:])
        ns.servers = [x for x in ns.servers.split(",") if x]
        print(report(ns, old))
        return 0
    args.servers = [x for x in args.servers.split(",") if x]
    args.parts = [x for x in args.parts.split(",") if x]
    if "mailpit" in args.servers and not os.access(args.mailpit, os.X_OK):
        sys.exit("no Mailpit binary at %s (--mailpit, MAILPIT_BIN, or .ci/mailpit.sh)" % args.mailpit)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.idle + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv,
           "nproc": os.cpu_count(), "loadavg_start": os.getloadavg(), "results": [], "load": {},
           "smtpsink_commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                             stdout=subprocess.PIPE, text=True).stdout.strip()}
    if "mailpit" in args.servers:
        out["mailpit"] = subprocess.run([args.mailpit, "version", "--no-release-check"], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True).stdout.strip()[:200]
    servers = {}
    try:
        if {"list", "search", "events"} & set(args.parts):
            for kind in args.servers:
                servers[kind] = Server(kind, args, args.stored)
                out["load"][kind] = load(servers[kind], args.stored)
                print("%s: %d stored in %.1f s, RSS %.0f MiB" % (kind, out["load"][kind]["total"],
                                                                 out["load"][kind]["load_s"],
                                                                 out["load"][kind]["rss_kib"] / 1024), flush=True)
        # rounds of list, search and idle, then the rounds of events: the
        # messages events add would otherwise be the later rounds' first page
        plan = [(rnd, part) for rnd in range(args.rounds) for part in ("list", "search", "idle")]
        plan += [(rnd, "events") for rnd in range(args.rounds)]
        for rnd, part in plan:
            if part not in args.parts:
                continue
            order = args.servers[rnd % len(args.servers):] + args.servers[:rnd % len(args.servers)]
            for kind in order:
                r = run_part(part, kind, servers, args, rnd)
                r.update({"part": part, "server": kind, "round": rnd})
                out["results"].append(r)
    finally:
        for kind, srv in servers.items():
            out.setdefault("rss_end_kib", {})[kind] = srv.rss_kib() if srv.proc.poll() is None else None
            out.setdefault("exit", {})[kind] = srv.stop()
        path = write_out(out, args.out, "http-api")
    print()
    print(report(args, out))
    print("\nraw results: %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
