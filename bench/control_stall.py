#!/usr/bin/python3
"""Does a control call stall SMTP? (Hardening issue, items 1 and 8.)

One smtpsink per binary given, filled with --stored messages (1 KiB ones plus
--big messages of 1 MiB, bodies and subjects made of 'a's so that the globs
below do their worst).  Then each nasty control call runs alone while a
separate prober process (so neither the GIL nor the gRPC client's
deserialisation delays it) runs SMTP transactions back to back on fresh
connections and times every reply: the greeting from connect(), then EHLO,
MAIL, RCPT, DATA, the end of data and QUIT, each from the moment its command
was sent.  Reported per call: its duration and the p50 / p99 / max of the
reply latencies seen while it ran (the goal is max < 50 ms).

The calls (1024-byte globs: MATCH_PATTERN_MAX):
  list_body       ListMessages  body    = "*" + "a"*1022 + "b"  (no match)
  list_subject    ListMessages  subject = the same glob
  list_header     ListMessages  header_name = "x-*", header_value = the glob
  list_all        ListMessages  no filter: every message built and sent
  list_body_all   ListMessages  body = "*a*": every body matched and sent
  clear_body      Clear         body = the nasty glob (deletes nothing)
  wait_body       WaitForMessages body = the nasty glob, count 2^31-1, 3 s timeout
  watch_body      WatchMessages body = the nasty glob from id 0, for 3 s
and, with --waits N (default 1000), the intake case: a sink holding at most
--stored messages and already holding a tenth of them, N waits parked with
count = 2^31-1 and no filter, then --stored more messages sent (the last tenth
evict); reported: the time they took and the server's RSS growth.

Usage (Debian's python3 with python3-grpcio, python3-protobuf):
  /usr/bin/python3 bench/control_stall.py --smtpsink old=/tmp/base/build/smtpsink \\
      --smtpsink new=build-bench/smtpsink [--stored 10000] [--big 20] [--pygen DIR]
"""
import argparse
import json
import multiprocessing
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grpc_latency import Smtpsink, load_stubs, pct, status_kib  # noqa: E402

NASTY = "*" + "a" * 1022 + "b"
CALLS = ("list_body", "list_subject", "list_header", "list_all", "list_body_all", "clear_body",
         "wait_body", "watch_body")


def smtp_reply(sock, buf):
    while True:
        while b"\r\n" not in buf[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            buf[0] += chunk
        line, buf[0] = buf[0].split(b"\r\n", 1)
        if line[3:4] != b"-":
            return int(line[:3])


def probe(port, stop, out):
    """Runs transactions until stop is set; sends back (start, end) of
    every reply (time.monotonic(): one clock for every process)."""
    lat, errors = [], 0
    msg = b"Subject: probe\r\n\r\nprobe\r\n.\r\n"
    steps = ((b"EHLO probe.local\r\n", 250), (b"MAIL FROM:<p@probe.local>\r\n", 250),
             (b"RCPT TO:<p@probe.local>\r\n", 250), (b"DATA\r\n", 354), (msg, 250), (b"QUIT\r\n", 221))
    while not stop.is_set():
        try:
            t0 = time.monotonic()
            s = socket.create_connection(("127.0.0.1", port), timeout=60)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = [b""]
            if smtp_reply(s, buf) != 220:
                raise RuntimeError("greeting")
            lat.append((t0, time.monotonic()))
            for data, want in steps:
                t0 = time.monotonic()
                s.sendall(data)
                if smtp_reply(s, buf) != want:
                    raise RuntimeError("reply")
                lat.append((t0, time.monotonic()))
            s.close()
        except (OSError, RuntimeError):
            errors += 1
            time.sleep(0.01)
    out.send((lat, errors))
    out.close()


def fill(port, n, big, start=0):
    """n messages over one pipelining session: every n/big-th is 1 MiB."""
    s = socket.create_connection(("127.0.0.1", port), timeout=120)
    buf = [b""]
    smtp_reply(s, buf)
    s.sendall(b"EHLO fill.local\r\n")
    smtp_reply(s, buf)
    line = b"a" * 76 + b"\r\n"
    every = n // big if big else 0
    for i in range(start, start + n):
        body = line * (1024 * 1024 // len(line)) if every and i % every == every - 1 else line * 12
        hdr = b"Subject: " + b"a" * 60 + b"\r\nX-Fill: " + b"a" * 60 + b"\r\n\r\n"
        s.sendall(b"MAIL FROM:<f@fill.local>\r\nRCPT TO:<r%d@fill.local>\r\nDATA\r\n" % i)
        for want in (250, 250, 354):
            assert smtp_reply(s, buf) == want
        s.sendall(hdr + body + b".\r\n")
        assert smtp_reply(s, buf) == 250
    s.sendall(b"QUIT\r\n")
    s.close()


def run_call(sink, name):
    f = {"list_body": pb.Filter(body=NASTY), "list_subject": pb.Filter(subject=NASTY),
         "list_header": pb.Filter(header_name="x-*", header_value=NASTY), "list_all": pb.Filter(),
         "list_body_all": pb.Filter(body="*a*"), "clear_body": pb.Filter(body=NASTY),
         "wait_body": pb.Filter(body=NASTY), "watch_body": pb.Filter(body=NASTY)}[name]
    stub = sink.stub
    if name.startswith("list"):
        r = stub.ListMessages(pb.ListMessagesRequest(filter=f), timeout=600)
        return "matched=%d" % r.matched
    if name == "clear_body":
        return "deleted=%d" % stub.Clear(pb.ClearRequest(filter=f), timeout=600).deleted
    if name == "wait_body":
        try:
            stub.WaitForMessages(pb.WaitForMessagesRequest(filter=f, count=2**31 - 1,
                                 timeout=duration_pb2.Duration(seconds=3)), timeout=600)
            return "satisfied?"
        except grpc.RpcError as e:
            return e.code().name
    stream = stub.WatchMessages(pb.WatchMessagesRequest(filter=f), timeout=3)
    n = 0
    try:
        for _ in stream:
            n += 1
    except grpc.RpcError as e:
        return "%s after %d messages" % (e.code().name, n)
    return "%d messages" % n


def measure(sink, name):
    stop = multiprocessing.Event()
    rd, wr = multiprocessing.Pipe(duplex=False)
    p = multiprocessing.Process(target=probe, args=(sink.smtp_port, stop, wr))
    p.start()
    time.sleep(0.3)                 # the prober is up and connected
    t0 = time.monotonic()
    res = run_call(sink, name)
    dur = time.monotonic() - t0
    t1 = time.monotonic()
    time.sleep(0.1)
    stop.set()
    spans, errors = rd.recv()
    p.join()
    # the replies that were awaited while the call ran
    lat = [(e - s) * 1000 for s, e in spans if e >= t0 and s <= t1]
    return {"call": name, "result": res, "seconds": round(dur, 3), "replies": len(lat), "errors": errors,
            "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
            "max_ms": round(max(lat), 2) if lat else None}


def open_sink(binary, extra):
    """A started smtpsink whose channel takes responses up to 1 GiB."""
    sink = Smtpsink(binary, extra)
    sink.channel.close()
    big = 1 << 30
    sink.channel = grpc.insecure_channel(sink.grpc_addr, options=[("grpc.max_receive_message_length", big)])
    sink.stub = pbg.SinkStub(sink.channel)
    return sink


def intake(binary, stored, waits):
    # --max-messages = stored: the last tenth of the intake evicts, as a full store does
    sink = open_sink(binary, ["--max-messages", str(stored), "--max-waiters", str(waits + 10)])
    try:
        fill(sink.smtp_port, stored // 10, 0)
        chans, futs = [], []
        for c in range(0, waits, 100):
            ch = grpc.insecure_channel(sink.grpc_addr)
            st = pbg.SinkStub(ch)
            chans.append(ch)
            for _ in range(c, min(waits, c + 100)):
                futs.append(st.WaitForMessages.future(pb.WaitForMessagesRequest(
                    count=2**31 - 1, timeout=duration_pb2.Duration(seconds=900)), timeout=900))
        while sink.stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=30).counters.waiters < waits:
            time.sleep(0.05)
        rss0 = status_kib(sink.proc.pid, "VmRSS")
        t0 = time.monotonic()
        fill(sink.smtp_port, stored, 0, start=stored)
        dur = time.monotonic() - t0
        rss1 = status_kib(sink.proc.pid, "VmRSS")
        for f in futs:
            f.cancel()
        for ch in chans:
            ch.close()
        return {"call": "intake_%d_waits" % waits, "seconds": round(dur, 2),
                "rss_growth_mib": round((rss1 - rss0) / 1024, 1)}
    finally:
        sink.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smtpsink", action="append", required=True, help="label=path (repeatable)")
    ap.add_argument("--stored", type=int, default=10000)
    ap.add_argument("--big", type=int, default=20, help="how many of them are 1 MiB")
    ap.add_argument("--waits", type=int, default=1000)
    ap.add_argument("--calls", default=",".join(CALLS))
    ap.add_argument("--pygen", default=None)
    args = ap.parse_args()
    load_stubs(args.pygen)
    global grpc, pb, pbg, duration_pb2
    import grpc  # noqa: F811
    from google.protobuf import duration_pb2  # noqa: F811
    from smtpsink.v1 import smtpsink_pb2 as pb  # noqa: F811
    from smtpsink.v1 import smtpsink_pb2_grpc as pbg  # noqa: F811
    results = {}
    for spec in args.smtpsink:
        label, _, path = spec.rpartition("=")
        label = label or path
        rows = []
        for name in args.calls.split(","):
            if not name:
                continue
            # a fresh, freshly filled sink per call: no call sees another's caches
            sink = open_sink(path, ["--max-messages", str(args.stored * 10)])
            try:
                fill(sink.smtp_port, args.stored, args.big)
                rows.append(measure(sink, name))
            finally:
                sink.stop()
            print("%-8s %s" % (label, json.dumps(rows[-1])), flush=True)
        if args.waits:
            rows.append(intake(path, args.stored, 0))
            print("%-8s %s" % (label, json.dumps(rows[-1])), flush=True)
            rows.append(intake(path, args.stored, args.waits))
            print("%-8s %s" % (label, json.dumps(rows[-1])), flush=True)
        results[label] = rows
    print()
    labels = list(results)
    print("| call | " + " | ".join("%s: s / p50 / p99 / max ms" % lb for lb in labels) + " |")
    print("|---|" + "---|" * len(labels))
    for i, row in enumerate(results[labels[0]]):
        cells = []
        for lb in labels:
            r = results[lb][i]
            if "p50_ms" in r:
                cells.append("%.2f / %.1f / %.1f / %.1f" % (r["seconds"], r["p50_ms"], r["p99_ms"], r["max_ms"]))
            else:
                cells.append("%.2f s, RSS +%.1f MiB" % (r["seconds"], r["rss_growth_mib"]))
        print("| %s | %s |" % (row["call"], " | ".join(cells)))


if __name__ == "__main__":
    main()
