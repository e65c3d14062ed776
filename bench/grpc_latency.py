#!/usr/bin/python3
"""Control-API latency benchmark (issue 3, item 5), with the HTTP-polling
peers (Mailpit, MailDev) measured in the same run.

1. WaitForMessages wake-up latency.  Each trial parks a WaitForMessages with
   a fresh filter (rcpt_to = a recipient used by that trial only), makes sure
   it is parked (GetServerInfo until counters.waiters is 1), sends one message over an open SMTP session and measures from
   the moment the SMTP client has read its 250 to the moment the gRPC client
   has the WaitForMessages response (taken in the future's done-callback; a
   response that is in before the 250 is read counts as 0, and the latency
   from the end of DATA being sent is reported too).
   The client is Python grpcio, so the figures include its own overhead; the
   round trip of a trivial unary RPC (GetServerInfo) on the same channel is
   reported as the floor.  Repeated with --background-waits (default 1,000)
   other waits parked whose filters never match.
2. ListMessages over N (default 100,000) stored 1 KiB messages with a
   selective filter (rcpt_to of one recipient that 10 of them have), timed
   end to end in the client; also a "*@select.local" glob.
3. Peers, same trials: Mailpit (GET /api/v1/search?query=to:"RCPT") and
   MailDev (GET /api/email?envelope.to.address=RCPT), polled back to back on
   a keep-alive HTTP connection from the 250 until the message shows up
   (tight polling = their best case; a test that sleeps between polls adds
   about half its interval).  Their "list with a selective filter over N
   stored" equivalent is measured the same way as ListMessages.

Usage (Debian's python3 with python3-grpcio, python3-protobuf):
  /usr/bin/python3 bench/grpc_latency.py --smtpsink build-bench/smtpsink
      [--trials 1000] [--stored 100000] [--peers mailpit,maildev]
      [--pygen build-bench/gen/python]
Peers: MAILPIT_BIN (default /tmp/bench-deps/bin/mailpit, from
`GOBIN=/tmp/bench-deps/bin go install github.com/axllent/mailpit@latest`) and
MAILDEV_JS (default /tmp/bench-deps/node_modules/.bin/maildev, from
`npm install --prefix /tmp/bench-deps maildev`); a missing peer is skipped and
said so.  Raw results go to bench/out/.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_smtp import free_port, listening  # noqa: E402  (shared port helpers)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAILPIT_BIN = os.environ.get("MAILPIT_BIN", "/tmp/bench-deps/bin/mailpit")
MAILDEV_JS = os.environ.get("MAILDEV_JS", "/tmp/bench-deps/node_modules/.bin/maildev")
SOURCE_COMMON = ["-M", "bench.local", "-f", "sender@bench.local", "-t", "rcpt@bench.local"]


def wait_listening(proc, ports, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not all(listening(p) for p in ports):
        if proc.poll() is not None:
            raise RuntimeError("%s exited early with %s" % (what, proc.returncode))
        if time.monotonic() > deadline:
            raise RuntimeError("%s not listening" % what)
        time.sleep(0.02)


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def stats_us(values_ns):
    us = [x / 1000.0 for x in values_ns]
    return {"n": len(us), "p50_us": pct(us, 50), "p90_us": pct(us, 90), "p99_us": pct(us, 99),
            "max_us": max(us) if us else float("nan"), "min_us": min(us) if us else float("nan"),
            "mean_us": statistics.fmean(us) if us else float("nan")}


def load_stubs(pygen):
    cands = [pygen] if pygen else []
    cands += [os.environ.get("SMTPSINK_PYGEN", ""), os.path.join(ROOT, "build-bench", "gen", "python")]
    for d in cands:
        if d and os.path.exists(os.path.join(d, "smtpsink", "v1", "smtpsink_pb2.py")):
            sys.path.insert(0, d)
            break
    else:
        # generate them the way tests/CMakeLists.txt does
        d = os.path.join(HERE, "out", "pygen")
        os.makedirs(d, exist_ok=True)
        subprocess.run(["protoc", "-I" + os.path.join(ROOT, "proto"), "-I/usr/include", "--python_out=" + d,
                        "--grpc_out=" + d, "--plugin=protoc-gen-grpc=" + shutil.which("grpc_python_plugin"),
                        os.path.join(ROOT, "proto", "smtpsink", "v1", "smtpsink.proto")], check=True)
        sys.path.insert(0, d)
    global grpc, pb, pbg, duration_pb2
    import grpc  # noqa: F401
    from google.protobuf import duration_pb2  # noqa: F401
    from smtpsink.v1 import smtpsink_pb2 as pb  # noqa: F401
    from smtpsink.v1 import smtpsink_pb2_grpc as pbg  # noqa: F401


# ---------------------------------------------------------------- SMTP client

class SMTPClient:
    """One open SMTP session that sends messages one at a time and reports
    the perf_counter_ns at which the final 250 was read."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.reply()
        self.sock.sendall(b"EHLO bench.local\r\n")
        code, _ = self.reply()
        assert code == 250, code

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def send(self, rcpt, body=b"Subject: latency\r\n\r\nhello\r\n"):
        self.sock.sendall(b"MAIL FROM:<sender@bench.local>\r\nRCPT TO:<" + rcpt.encode() + b">\r\nDATA\r\n")
        for want in (250, 250, 354):
            code, lines = self.reply()
            if code != want:
                raise RuntimeError("unexpected %r" % lines)
        self.sock.sendall(b"To: <" + rcpt.encode() + b">\r\n" + body + b".\r\n")
        t_sent = time.perf_counter_ns()
        code, lines = self.reply()
        t250 = time.perf_counter_ns()
        if code != 250:
            raise RuntimeError("DATA end %r" % lines)
        return t_sent, t250

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, RuntimeError):
            pass
        self.sock.close()


def smtp_source_load(port, count, size=1024):
    argv = ["smtp-source"] + SOURCE_COMMON + ["-d", "-s", "8", "-m", str(count), "-l", str(size),
                                              "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError("smtp-source failed: %s" % p.stderr.decode())
    return time.monotonic() - t0, " ".join(argv)


# ---------------------------------------------------------------- smtpsink

class Smtpsink:
    def __init__(self, binary, extra=()):
        self.tmp = tempfile.mkdtemp(prefix="bench-grpc-")
        ready = os.path.join(self.tmp, "ready.json")
        self.stderr = open(os.path.join(self.tmp, "stderr.log"), "wb")
        self.proc = subprocess.Popen([binary, "--smtp-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0", "--http-listen", "off",
                                      "--ready-file", ready, "--max-messages", "1000000", "--max-bytes", "4G",
                                      "--max-waiters", "100000"] + list(extra),
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("smtpsink did not start: %s" % open(os.path.join(self.tmp, "stderr.log")).read()[-2000:])
            time.sleep(0.01)
        time.sleep(0.05)
        with open(ready) as f:
            r = json.load(f)
        self.smtp_port = int(r["smtp"].rpartition(":")[2])
        self.grpc_addr = r["grpc"]
        self.channel = grpc.insecure_channel(self.grpc_addr)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.stub = pbg.SinkStub(self.channel)

    def stop(self):
        self.channel.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc


def park_background(sink, n):
    """Parks n waits that never match, each on its own channel (so no
    HTTP/2 stream limit queues the measured call behind them); returns
    (channels, futures) once the server counts them all as parked."""
    chans, futs = [], []
    per = 100
    for c in range(0, n, per):
        ch = grpc.insecure_channel(sink.grpc_addr)
        stub = pbg.SinkStub(ch)
        chans.append(ch)
        for i in range(c, min(n, c + per)):
            req = pb.WaitForMessagesRequest(filter=pb.Filter(rcpt_to="bg-%d@never.invalid" % i), count=1,
                                            timeout=duration_pb2.Duration(seconds=900))
            futs.append(stub.WaitForMessages.future(req, timeout=900))
    deadline = time.monotonic() + 60
    while sink.stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=10).counters.waiters < n:
        if time.monotonic() > deadline:
            raise RuntimeError("background waits not all parked")
        time.sleep(0.05)
    return chans, futs


def smtpsink_wakeup(sink, trials, warmup=20, background=0):
    smtp = SMTPClient(sink.smtp_port)
    lat, lat_sent, smtp_rtt, unary = [], [], [], []
    early = 0
    bg_chans, bg_futs = park_background(sink, background) if background else ([], [])
    for i in range(-warmup, trials):
        rcpt = "wake-%d-%d@bench.local" % (os.getpid(), i + warmup)
        req = pb.WaitForMessagesRequest(filter=pb.Filter(rcpt_to=rcpt), count=1,
                                        timeout=duration_pb2.Duration(seconds=10))
        done = {}
        ev = threading.Event()

        def cb(f, done=done, ev=ev):
            done["t"] = time.perf_counter_ns()
            ev.set()

        fut = sink.stub.WaitForMessages.future(req, timeout=15)
        fut.add_done_callback(cb)
        # parked? GetServerInfo until counters.waiters shows it (the
        # previous trial's wait has completed, so the count is `background`)
        polls = 0
        while True:
            u0 = time.perf_counter_ns()
            info = sink.stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)
            u1 = time.perf_counter_ns()
            polls += 1
            if info.counters.waiters >= background + 1 or fut.done():
                break
            if polls > 1000:
                raise RuntimeError("the wait never showed up as parked")
        if fut.done():
            raise RuntimeError("WaitForMessages returned before the message was sent: %r" % (fut.exception(),))
        t_sent, t250 = smtp.send(rcpt)
        if not ev.wait(15):
            raise RuntimeError("WaitForMessages never returned")
        resp = fut.result()
        if len(resp.messages) != 1 or rcpt not in list(resp.messages[0].rcpt_to):
            raise RuntimeError("wrong wake-up response: %r" % resp)
        if i >= 0:
            lat.append(max(0, done["t"] - t250))
            lat_sent.append(done["t"] - t_sent)
            smtp_rtt.append(t250 - t_sent)
            unary.append(u1 - u0)
            if done["t"] < t250:
                early += 1
    smtp.close()
    for f in bg_futs:
        f.cancel()
    for ch in bg_chans:
        ch.close()
    return {"background_waits": background, "wakeup": stats_us(lat), "wakeup_from_end_of_data_sent": stats_us(lat_sent),
            "wakeup_raw_ns": lat, "responses_before_250_read": early,
            "smtp_end_of_data_to_250": stats_us(smtp_rtt), "unary_rpc_rtt": stats_us(unary)}


def smtpsink_list(sink, stored, reps=30):
    load_s, cmd = smtp_source_load(sink.smtp_port, stored)
    smtp = SMTPClient(sink.smtp_port)
    for i in range(10):
        smtp.send("target@select.local" if i % 2 == 0 else "other%d@select.local" % i)
    smtp.close()
    info = sink.stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=30)
    out = {"load_s": load_s, "load_command": cmd, "stored_messages": info.counters.stored_messages,
           "evicted": info.counters.messages_evicted, "stored_footprint": info.counters.stored_bytes,
           # raw message bytes (nothing was evicted, so all of them are stored)
           "stored_bytes": info.counters.bytes_received,
           "vmhwm_kib": status_kib(sink.proc.pid, "VmHWM"), "vmrss_kib": status_kib(sink.proc.pid, "VmRSS")}
    for name, flt, want in (("rcpt_to=target@select.local", pb.Filter(rcpt_to="target@select.local"), 5),
                            ("rcpt_to=*@select.local", pb.Filter(rcpt_to="*@select.local"), 10)):
        times = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            r = sink.stub.ListMessages(pb.ListMessagesRequest(filter=flt), timeout=60)
            times.append(time.perf_counter_ns() - t0)
            if len(r.messages) != want:
                raise RuntimeError("ListMessages %s returned %d, want %d" % (name, len(r.messages), want))
        out[name] = stats_us(times)
    return out


# ---------------------------------------------------------------- HTTP peers

class Peer:
    def __init__(self, kind):
        self.kind = kind
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="bench-peer-")
        env = dict(os.environ)
        if kind == "mailpit":
            argv = [MAILPIT_BIN, "-s", "127.0.0.1:%d" % self.smtp_port, "-l", "127.0.0.1:%d" % self.http_port,
                    "-m", "0", "-q", "--disable-version-check", "-d", os.path.join(self.tmp, "mailpit.db")]
        elif kind == "maildev":
            argv = ["node", MAILDEV_JS, "-s", str(self.smtp_port), "--ip", "127.0.0.1", "-w", str(self.http_port),
                    "--web-ip", "127.0.0.1", "--silent"]
            env["TMPDIR"] = self.tmp
        else:
            raise ValueError(kind)
        self.log = open(os.path.join(self.tmp, "log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, env=env, cwd=self.tmp)
        wait_listening(self.proc, [self.smtp_port, self.http_port], kind)
        self.http = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60)

    def query(self, rcpt):
        if self.kind == "mailpit":
            path = "/api/v1/search?" + urllib.parse.urlencode({"query": 'to:"%s"' % rcpt, "limit": "1000"})
        else:
            path = "/api/email?" + urllib.parse.urlencode({"envelope.to.address": rcpt})
        self.http.request("GET", path)
        r = self.http.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError("%s %s -> %d %r" % (self.kind, path, r.status, body[:200]))
        data = json.loads(body)
        return data["messages"] if self.kind == "mailpit" else data

    def stop(self):
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def peer_poll(peer, trials, warmup=20):
    smtp = SMTPClient(peer.smtp_port)
    lat, polls, rtt = [], [], []
    for i in range(-warmup, trials):
        rcpt = "poll-%d-%d@bench.local" % (os.getpid(), i + warmup)
        t_sent, t250 = smtp.send(rcpt)
        n = 0
        deadline = time.monotonic() + 15
        while True:
            q0 = time.perf_counter_ns()
            found = peer.query(rcpt)
            t = time.perf_counter_ns()
            n += 1
            if found:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("%s never showed %s" % (peer.kind, rcpt))
        if i >= 0:
            lat.append(t - t250)
            polls.append(n)
            rtt.append(t - q0)
    smtp.close()
    return {"poll_latency": stats_us(lat), "polls_per_trial_mean": statistics.fmean(polls),
            "polls_per_trial_max": max(polls), "last_query_rtt": stats_us(rtt)}


def peer_list(peer, stored, reps=10):
    load_s, cmd = smtp_source_load(peer.smtp_port, stored)
    smtp = SMTPClient(peer.smtp_port)
    for i in range(10):
        smtp.send("target@select.local" if i % 2 == 0 else "other%d@select.local" % i)
    smtp.close()
    time.sleep(1.0)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        found = peer.query("target@select.local")
        times.append(time.perf_counter_ns() - t0)
        if len(found) != 5:
            raise RuntimeError("%s found %d, want 5" % (peer.kind, len(found)))
    return {"load_s": load_s, "load_command": cmd, "query_target": stats_us(times)}


def fmt(s):
    return "%.0f / %.0f / %.0f" % (s["p50_us"], s["p99_us"], s["max_us"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smtpsink", default=os.path.join(ROOT, "build-bench", "smtpsink"))
    ap.add_argument("--pygen", default=None)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--stored", type=int, default=100000)
    ap.add_argument("--peers", default="mailpit,maildev")
    ap.add_argument("--background-waits", type=int, default=1000,
                    help="also measure the wake-up with this many non-matching waits parked (0: skip)")
    ap.add_argument("--peer-stored", type=int, default=None, help="messages loaded into the peers for the list test (default: --stored)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: wakeup,list,peers,peerlist")
    args = ap.parse_args()
    skip = set(x for x in args.skip.split(",") if x)
    load_stubs(args.pygen)
    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv}
    rows = []
    if "wakeup" not in skip:
        sink = Smtpsink(args.smtpsink)
        try:
            w = smtpsink_wakeup(sink, args.trials)
        finally:
            sink.stop()
        out["smtpsink_wakeup"] = w
        rows.append(("smtpsink WaitForMessages (parked, woken by the store)", fmt(w["wakeup"]),
                     "%d of %d responses were in before the 250 was read (counted as 0)" % (w["responses_before_250_read"], args.trials)))
        rows.append(("  same, measured from the end of DATA sent (always positive)", fmt(w["wakeup_from_end_of_data_sent"]), ""))
        if args.background_waits:
            sink = Smtpsink(args.smtpsink)
            try:
                wb = smtpsink_wakeup(sink, args.trials, background=args.background_waits)
            finally:
                sink.stop()
            out["smtpsink_wakeup_background"] = wb
            rows.append(("  same with %d other waits parked (filters that never match)" % args.background_waits,
                         fmt(wb["wakeup"]), "%d of %d in before the 250 was read" % (wb["responses_before_250_read"], args.trials)))
            print("wakeup with background: %s" % json.dumps(wb["wakeup"]), flush=True)
        rows.append(("  floor: unary GetServerInfo round trip, same channel", fmt(w["unary_rpc_rtt"]), ""))
        rows.append(("  SMTP end of data -> 250 read", fmt(w["smtp_end_of_data_to_250"]), ""))
        print("wakeup: %s" % json.dumps(w["wakeup"]), flush=True)
    peers = [p for p in args.peers.split(",") if p]
    for kind in peers:
        binpath = MAILPIT_BIN if kind == "mailpit" else MAILDEV_JS
        if not os.path.exists(binpath):
            rows.append(("%s: not installed (%s)" % (kind, binpath), "-", ""))
            continue
        if "peers" not in skip:
            peer = Peer(kind)
            try:
                r = peer_poll(peer, args.trials)
            finally:
                peer.stop()
            out[kind + "_poll"] = r
            rows.append(("%s HTTP API, tight polling from the 250" % kind, fmt(r["poll_latency"]),
                         "mean %.2f polls per trial; one query round trip %s" % (r["polls_per_trial_mean"], fmt(r["last_query_rtt"]))))
            print("%s poll: %s" % (kind, json.dumps(r["poll_latency"])), flush=True)
    lrows = []
    mem_note = None
    if "list" not in skip:
        sink = Smtpsink(args.smtpsink)
        try:
            lst = smtpsink_list(sink, args.stored)
        finally:
            sink.stop()
        out["smtpsink_list"] = lst
        for name in ("rcpt_to=target@select.local", "rcpt_to=*@select.local"):
            lrows.append(("smtpsink ListMessages %s" % name, "%d" % lst["stored_messages"], fmt(lst[name])))
        sb = lst["stored_bytes"]
        mem_note = ("smtpsink with %d messages stored (gRPC on): stored raw message bytes %.1f MiB, peak RSS %.1f MiB; "
                    "goal stored x 1.25 + 16 MiB = %.1f MiB -> %s" % (
                        lst["stored_messages"], sb / 1048576.0, lst["vmhwm_kib"] / 1024.0,
                        (sb * 1.25 + 16 * 1048576) / 1048576.0,
                        "within" if lst["vmhwm_kib"] * 1024 <= sb * 1.25 + 16 * 1048576 else "NOT within"))
        print("list: %s" % json.dumps(lst), flush=True)
    if "peerlist" not in skip:
        for kind in peers:
            binpath = MAILPIT_BIN if kind == "mailpit" else MAILDEV_JS
            if not os.path.exists(binpath):
                continue
            n = args.peer_stored or args.stored
            peer = Peer(kind)
            try:
                r = peer_list(peer, n)
            finally:
                peer.stop()
            out[kind + "_list"] = r
            lrows.append(("%s %s" % (kind, "search to:\"target@select.local\"" if kind == "mailpit" else "GET /api/email?envelope.to.address=target@select.local"),
                          "%d" % (n + 10), fmt(r["query_target"])))
            print("%s list: %s" % (kind, json.dumps(r)), flush=True)
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    path = os.path.join(HERE, "out", "grpc-latency-%s.json" % time.strftime("%H%M%S"))
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print()
    print("| latency from the SMTP 250 read to the client having the message (%d trials) | p50 / p99 / max (us) | notes |" % args.trials)
    print("|---|---:|---|")
    for r in rows:
        print("| %s | %s | %s |" % r)
    if lrows:
        print()
        print("| selective query | messages stored | p50 / p99 / max (us) |")
        print("|---|---:|---:|")
        for r in lrows:
            print("| %s | %s | %s |" % r)
    if mem_note:
        print()
        print(mem_note)
    print("\nraw results: %s" % path)


if __name__ == "__main__":
    main()
