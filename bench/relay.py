#!/usr/bin/python3
"""Relay benchmark (issue 10): smtpsink's async relay beside Mailpit's
relay into THE SAME kind of upstream, IN THE SAME RUN.

Per run a fresh upstream B (a plain smtpsink with its control API on) and a
fresh server A:
  smtpsink     smtpsink --relay-url smtp://127.0.0.1:PORT_B (async mode,
               --relay-queue large enough that nothing is refused by the bound)
  mailpit      Mailpit --smtp-relay-all with a relay config pointing at B
               (no STARTTLS, no AUTH), its database on /dev/shm
  capture      smtpsink without --relay-url: the baseline for A's CPU per
               message (captured only)
smtp-source sends --messages x --size bytes into A over 32 reused sessions
(`-d -s 32`, as run_smtp.py's "reused" workload); B's arrivals are counted by
polling `smtpsinkctl info --json` (stored_messages) every 20 ms.  End to end =
first send to the poll that sees the last arrival at B; A's CPU (utime+stime
from /proc) is taken over the same span (capture: over the client's run).
The machine this runs on is shared and noisy: the figures that matter are the
ratios within one repetition (servers interleaved, order rotated).  Nothing
here is a test: no assertion on time anywhere.

Usage (from the repository root, Debian's python3):
  /usr/bin/python3 bench/relay.py [--smtpsink build-bench/smtpsink]
      [--mailpit build-bench/bin/mailpit] [--reps 3] [--messages 20000]
      [--servers smtpsink,mailpit,capture]
Raw results go to bench/out/.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from run_smtp import CLK_TCK, SOURCE_COMMON, Sink, cpu_ticks_split  # noqa: E402
from tls_auth import earlier_run, same_rep_ratios, split_lists, spread, write_out  # noqa: E402

POLL_S = 0.02


class Upstream:
    """Sink B: a plain smtpsink with its control API; counts arrivals."""

    def __init__(self, smtpsink_bin):
        self.sink = Sink("smtpsink+grpc", smtpsink_bin)
        with open(os.path.join(self.sink.tmp, "ready.json")) as f:
            self.gaddr = json.load(f)["grpc"]

    def stored(self):
        p = subprocess.run([self.sink.ctl, "--addr", self.gaddr, "--json", "info"], stdout=subprocess.PIPE,
                           check=True, timeout=60)
        return int(json.loads(p.stdout)["counters"]["stored_messages"])

    def wait_for(self, n, stall_s):
        """Polls until n messages arrived or nothing new came for stall_s;
        returns (count, monotonic time of the poll that saw the last one)."""
        last, t_last = -1, time.monotonic()
        while True:
            c = self.stored()
            now = time.monotonic()
            if c != last:
                last, t_last = c, now
            if c >= n or now - t_last > stall_s:
                return c, t_last
            time.sleep(POLL_S)


def server_for(kind, args, upstream):
    extra = []
    if kind == "smtpsink":
        extra = ["--relay-url", "smtp://127.0.0.1:%d" % upstream.sink.port,
                 "--relay-queue", str(max(10000, 2 * args.messages))]
        return Sink("smtpsink", args.smtpsink, extra=extra)
    if kind == "capture":
        return Sink("smtpsink", args.smtpsink)
    if kind == "mailpit":
        args.runs += 1
        cfg = os.path.join(upstream.sink.tmp, "relay.yml")
        with open(cfg, "w") as f:
            f.write("host: 127.0.0.1\nport: %d\nstarttls: false\nauth: none\n" % upstream.sink.port)
        extra = ["--smtp-relay-config", cfg, "--smtp-relay-all", "--smtp-disable-rdns",
                 "-d", os.path.join(upstream.sink.tmp, "mailpit.db")]
        return Sink("mailpit", args.smtpsink, extra=extra)
    raise ValueError(kind)


def relay_once(kind, args):
    n = args.messages
    up = Upstream(args.smtpsink)
    a = None
    try:
        a = server_for(kind, args, up)
        argv = (["smtp-source"] + SOURCE_COMMON + ["-d", "-s", str(args.sessions), "-m", str(n), "-l", str(args.size),
                a.addr()])
        u0, s0 = cpu_ticks_split(a.pid)
        t0 = time.monotonic()
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
        t_client = time.monotonic() - t0
        if kind == "capture":
            arrived, t_end = 0, t0 + t_client
        else:
            arrived, t_end = up.wait_for(n, args.stall)
        u1, s1 = cpu_ticks_split(a.pid)
    finally:
        a_rc, a_stored, _ = a.stop() if a else (None, None, None)
        if a:
            a.cleanup()
        up.sink.stop()
        up.sink.cleanup()
    span = t_end - t0
    res = {"server": kind, "messages": n, "size": args.size, "sessions": args.sessions,
           "client_s": t_client, "intake_msgs_per_s": n / t_client,
           "end_to_end_s": span, "msgs_per_s": n / span,
           "a_cpu_us_per_msg": (u1 - u0 + s1 - s0) / CLK_TCK / n * 1e6,
           "a_user_us_per_msg": (u1 - u0) / CLK_TCK / n * 1e6,
           "a_sys_us_per_msg": (s1 - s0) / CLK_TCK / n * 1e6,
           "a_stored": a_stored, "arrived_at_b": arrived, "source_rc": p.returncode, "a_rc": a_rc,
           "command": " ".join(argv), "server_command": " ".join(a.argv) if a else None}
    res["ok"] = p.returncode == 0 and a_stored == n and (kind == "capture" or arrived == n)
    if p.returncode != 0:
        res["source_stderr"] = p.stderr.decode("utf-8", "replace")[-500:]
    return res


def report(args, results):
    lines = ["### Async relay, %d x %d bytes into A (smtp-source -d -s %d), A relaying to a plain smtpsink B, %d repetitions\n"
             % (args.messages, args.size, args.sessions, args.reps),
             "| A | end-to-end msgs/s (first send to last arrival at B), median (min-max) | ratio smtpsink / Mailpit, same rep | intake msgs/s (client) | A's CPU us/msg, median (min-max) | CPU ratio smtpsink / Mailpit, same rep | CPU ratio relayed / captured-only (smtpsink), same rep | arrived at B / sent |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in args.servers:
        rs = [r for r in results if r["server"] == kind]
        if not rs:
            continue
        ratios = []
        if kind == "smtpsink":
            ratios = [same_rep_ratios(results, "msgs_per_s", lambda r: True, "smtpsink", "mailpit"),
                      same_rep_ratios(results, "a_cpu_us_per_msg", lambda r: True, "smtpsink", "mailpit"),
                      same_rep_ratios(results, "a_cpu_us_per_msg", lambda r: True, "smtpsink", "capture")]
        ratios = [spread(x, "%.2f", "x") if x else "" for x in ratios] or ["", "", ""]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s%s |" % (
            kind, "-" if kind == "capture" else spread([r["msgs_per_s"] for r in rs], "%.0f"), ratios[0],
            spread([r["intake_msgs_per_s"] for r in rs], "%.0f"), spread([r["a_cpu_us_per_msg"] for r in rs], "%.1f"),
            ratios[1], ratios[2],
            "-" if kind == "capture" else "/".join(sorted({str(r["arrived_at_b"]) for r in rs})) + " / %d" % args.messages,
            "" if all(r["ok"] for r in rs) else " FAILED"))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smtpsink", default=os.path.join(ROOT, "build-bench", "smtpsink"))
    ap.add_argument("--mailpit", default=os.environ.get("MAILPIT_BIN", os.path.join(ROOT, "build-bench", "bin", "mailpit")))
    ap.add_argument("--servers", default="smtpsink,mailpit,capture")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--sessions", type=int, default=32)
    ap.add_argument("--stall", type=float, default=30, help="give up when nothing arrives at B for this long (s)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--from-json", metavar="PATH", help="only print the table of an earlier run's raw JSON")
    args = ap.parse_args()
    if args.from_json:
        ns, old = earlier_run(ap, args.from_json, ("servers",))
        print(report(ns, old["relay"]))
        return 0
    split_lists(args, ("servers",))
    args.runs = 0
    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv,
           "nproc": os.cpu_count(), "loadavg_start": os.getloadavg(),
           "smtpsink_commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                             stdout=subprocess.PIPE, text=True).stdout.strip()}
    if "mailpit" in args.servers:
        out["mailpit"] = subprocess.run([args.mailpit, "version", "--no-release-check"], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True).stdout.strip()[:200]
    results = []
    try:
        for rep in range(args.reps):
            order = args.servers[rep % len(args.servers):] + args.servers[:rep % len(args.servers)]
            for kind in order:
                r = relay_once(kind, args)
                r["rep"] = rep
                results.append(r)
                print("rep=%d %-8s end-to-end %7.0f msg/s  intake %7.0f msg/s  A cpu %6.1f us/msg (user %5.1f)  A stored=%s at B=%s ok=%s"
                      % (rep, kind, r["msgs_per_s"], r["intake_msgs_per_s"], r["a_cpu_us_per_msg"], r["a_user_us_per_msg"],
                         r["a_stored"], r["arrived_at_b"], r["ok"]), flush=True)
    finally:
        out["relay"] = results
        path = write_out(out, args.out, "relay")
    print(report(args, results))
    print("\nraw results: %s" % path)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
