#!/usr/bin/python3
"""SMTP benchmark: smtpsink side by side with Postfix's smtp-sink and an
aiosmtpd sink that stores in memory, IN THE SAME RUN (issue 2, item 13).

The machine this runs on is shared and noisy, so the numbers that matter are
the ratios against smtp-sink measured in the same repetition, and the
instruction counts from callgrind (deterministic).  Nothing here is a test:
no assertion on time anywhere.

Modes (default: throughput):
  throughput  smtp-source drives each sink with the workloads below; per run:
              messages/s (wall time of smtp-source), server CPU per message
              (utime+stime from /proc/PID/stat before/after), peak RSS (VmHWM),
              client CPU share, and a check that every message was accepted /
              stored.
  callgrind   instructions per message (valgrind --tool=callgrind) for
              smtp-sink and smtpsink: 2,000 and 4,000 x 1 KiB over 8 reused
              connections (also: new connection per message; 200 and 400 x
              256 KiB); Ir/msg including startup, and the marginal
              (Ir(4000)-Ir(2000))/2000 which subtracts startup exactly.
  idle        opens 5,000 concurrent idle SMTP sessions (greeting read) to
              each sink and reports RSS growth per session.

Usage (from the repository root, Debian's python3):
  /usr/bin/python3 bench/run_smtp.py --smtpsink build-bench/smtpsink [--reps 3]
      [--sinks smtp-sink,aiosmtpd,smtpsink,smtpsink+grpc]
      [--workloads reused,newconn,single,big] [--mode throughput|callgrind|idle|all]
Needs: postfix (smtp-source, smtp-sink; installed unconfigured, no postfix
daemon is started), python3-aiosmtpd, valgrind.  Raw results go to bench/out/.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAILPIT_BIN = os.environ.get("MAILPIT_BIN", "/tmp/bench-deps/bin/mailpit")
KIB = 1024
MIB = 1024 * 1024

WORKLOADS = {
    # name: (smtp-source args, messages, payload bytes, description)
    "reused": (["-d", "-s", "32"], 20000, 1024, "20,000 x 1 KiB, 32 sessions, reused connections (-d -s 32)"),
    "newconn": (["-s", "32"], 20000, 1024, "20,000 x 1 KiB, 32 sessions, new connection per message (-s 32)"),
    "single": (["-d", "-s", "1"], 20000, 1024, "20,000 x 1 KiB, 1 session (-d -s 1)"),
    "big": (["-d", "-s", "8"], 2000, 262144, "2,000 x 256 KiB, 8 sessions, reused connections (-d -s 8)"),
}
SOURCE_COMMON = ["-M", "bench.local", "-f", "sender@bench.local", "-t", "rcpt@bench.local"]


def free_port():
    """A fresh port on 127.0.0.1 (bound then released; nothing else here
    hands out ports, so the tiny race is harmless)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1].endswith(want) and parts[3] == "0A":
                return True
    return False


def cpu_ticks_split(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])  # utime, stime (fields 14, 15)


def cpu_ticks(pid):
    return sum(cpu_ticks_split(pid))


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Sink:
    """One sink process on a fresh port."""

    def __init__(self, kind, smtpsink_bin, wrapper=(), extra=(), exit_after=None):
        self.kind = kind
        self.port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        os.chmod(self.tmp, 0o777)
        self.log_path = os.path.join(self.tmp, "stderr.log")
        self.out_path = os.path.join(self.tmp, "stdout.log")
        addr = "127.0.0.1:%d" % self.port
        if kind == "smtp-sink":
            # -m: connection limit well above every workload (idle test: 5,000)
            argv = ["smtp-sink", "-u", "nobody", "-m", "10000", addr, "1024"]
            if exit_after:
                # under valgrind: run everything as nobody (callgrind must be
                # able to write its output after the privilege drop) and let
                # smtp-sink exit by itself after N messages (-M), since a
                # SIGTERM death leaves no callgrind output
                argv = ["-M", str(exit_after), "-m", "10000", addr, "1024"]
                argv = (["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
                        + list(wrapper) + ["smtp-sink"] + argv)
                wrapper = ()
        elif kind == "aiosmtpd":
            argv = ["/usr/bin/python3", os.path.join(HERE, "aiosmtpd_sink.py"), "127.0.0.1", str(self.port)]
        elif kind == "mailpit":
            # optional extra peer (MAILPIT_BIN, built with `go install
            # github.com/axllent/mailpit@latest`); default temp SQLite store
            self.http_port = free_port()
            argv = [MAILPIT_BIN, "-s", addr, "-l", "127.0.0.1:%d" % self.http_port, "-m", "0", "-q",
                    "--disable-version-check"]
        elif kind in ("smtpsink", "smtpsink+grpc"):
            argv = [smtpsink_bin, "--smtp-listen", addr,
                    "--grpc-listen", "127.0.0.1:0" if kind == "smtpsink+grpc" else "off",
                    "--http-listen", "off",  # its default 127.0.0.1:8025 is Mailpit's port too
                    "--max-messages", "10000000", "--max-bytes", "8G", "--max-sessions", "6000",
                    "--ready-file", os.path.join(self.tmp, "ready.json")]
        else:
            raise ValueError(kind)
        self.ctl = os.path.join(os.path.dirname(smtpsink_bin), "smtpsinkctl")
        argv = list(wrapper) + argv + list(extra)
        self.argv = argv
        self.stdout = open(self.out_path, "wb")
        self.stderr = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.stdout, stderr=self.stderr)
        self.pid = self.proc.pid
        deadline = time.monotonic() + (60 if (wrapper or exit_after) else 15)
        while not listening(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited early (%s): %s" % (kind, self.proc.returncode, self.read(self.log_path)[-2000:]))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("%s not listening on %s" % (kind, addr))
            time.sleep(0.01)
        if kind in ("aiosmtpd", "mailpit") or kind.startswith("smtpsink"):
            # wait for its own readiness signal too
            while True:
                if kind == "aiosmtpd" and b"ready" in self.read_b(self.out_path):
                    break
                if kind.startswith("smtpsink") and os.path.exists(os.path.join(self.tmp, "ready.json")):
                    break
                if kind == "mailpit" and listening(self.http_port):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("%s not ready" % kind)
                time.sleep(0.01)

    @staticmethod
    def read_b(path):
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def read(self, path):
        return self.read_b(path).decode("utf-8", "replace")

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def stop(self, timeout=60):
        """SIGTERM, wait; returns (returncode, stored messages or None, stored bytes or None)."""
        stored = nbytes = None
        ctl_counts = None
        if self.kind == "smtpsink+grpc" and self.proc.poll() is None and os.access(self.ctl, os.X_OK):
            # counters from the control API itself (smtpsinkctl info --json)
            with open(os.path.join(self.tmp, "ready.json")) as f:
                gaddr = json.load(f)["grpc"]
            p = subprocess.run([self.ctl, "--addr", gaddr, "--json", "info"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            if p.returncode == 0:
                c = json.loads(p.stdout)["counters"]
                ctl_counts = (int(c["stored_messages"]), int(c["bytes_received"]))
        if self.kind == "mailpit" and self.proc.poll() is None:
            import urllib.request
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/messages?limit=1" % self.http_port, timeout=30) as r:
                stored = json.load(r)["total"]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.stdout.close()
        self.stderr.close()
        if self.kind == "aiosmtpd":
            m = re.search(r"stored=(\d+) bytes=(\d+)", self.read(self.out_path))
            if m:
                stored, nbytes = int(m.group(1)), int(m.group(2))
        elif self.kind.startswith("smtpsink"):
            log = self.read(self.log_path)
            sizes = [int(x) for x in re.findall(r"message stored .*?size=(\d+)", log)]
            m = re.search(r"stopped .*messages_received=(\d+)", log)
            stored = int(m.group(1)) if m else (len(sizes) if sizes else None)
            nbytes = sum(sizes) if sizes else None
            if m and sizes and len(sizes) != stored:
                print("  warning: %d 'message stored' log lines, exit says %d" % (len(sizes), stored), file=sys.stderr)
            if ctl_counts is not None:
                if stored is not None and stored != ctl_counts[0]:
                    print("  warning: log says %s stored, smtpsinkctl info %d" % (stored, ctl_counts[0]), file=sys.stderr)
                stored, nbytes = ctl_counts
        self.rc = rc
        return rc, stored, nbytes

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_source(sink, wl, timeout=900):
    args, count, size, _ = WORKLOADS[wl]
    argv = ["smtp-source"] + SOURCE_COMMON + args + ["-m", str(count), "-l", str(size), sink.addr()]
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    wall = time.monotonic() - t0
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ccpu = (after_children.ru_utime + after_children.ru_stime) - (before_children.ru_utime + before_children.ru_stime)
    return argv, p.returncode, wall, ccpu, p.stderr.decode("utf-8", "replace")


def throughput_once(kind, wl, smtpsink_bin):
    _, count, size, _ = WORKLOADS[wl]
    sink = Sink(kind, smtpsink_bin)
    try:
        rss0 = status_kib(sink.pid, "VmRSS")
        u0, s0 = cpu_ticks_split(sink.pid)
        argv, rc, wall, ccpu, err = run_source(sink, wl)
        u1, s1 = cpu_ticks_split(sink.pid)
        t0, t1 = u0 + s0, u1 + s1
        hwm = status_kib(sink.pid, "VmHWM")
        src_rc = rc
    finally:
        src = sink.stop()
        sink.cleanup()
    rrc, stored, nbytes = src
    ok = src_rc == 0 and (stored == count if kind != "smtp-sink" else True)
    res = {
        "sink": kind, "workload": wl, "messages": count, "payload": size,
        "wall_s": wall, "msgs_per_s": count / wall,
        "server_cpu_s": (t1 - t0) / CLK_TCK,
        "server_cpu_us_per_msg": (t1 - t0) / CLK_TCK / count * 1e6,
        "server_user_us_per_msg": (u1 - u0) / CLK_TCK / count * 1e6,
        "server_sys_us_per_msg": (s1 - s0) / CLK_TCK / count * 1e6,
        "client_cpu_s": ccpu,
        "rss_start_kib": rss0, "peak_rss_kib": hwm,
        "stored": stored, "stored_bytes": nbytes,
        "source_rc": src_rc, "sink_rc": rrc, "ok": ok,
        "command": " ".join(argv),
    }
    if src_rc != 0:
        res["source_stderr"] = err[-500:]
    return res


def mode_throughput(args, out):
    sinks = args.sinks
    results = []
    for rep in range(args.reps):
        for wl in args.workloads:
            # rotate the order each repetition so no sink always runs first
            order = sinks[rep % len(sinks):] + sinks[:rep % len(sinks)]
            for kind in order:
                if kind in args.slow_sinks and rep >= args.slow_reps:
                    continue
                r = throughput_once(kind, wl, args.smtpsink)
                r["rep"] = rep
                results.append(r)
                print("rep=%d %-8s %-14s %8.0f msg/s  cpu %7.1f us/msg (user %6.1f)  client %4.0f%%  peakRSS %7.1f MiB  stored=%s ok=%s"
                      % (rep, wl, kind, r["msgs_per_s"], r["server_cpu_us_per_msg"], r["server_user_us_per_msg"],
                         100 * r["client_cpu_s"] / r["wall_s"], r["peak_rss_kib"] / 1024,
                         r["stored"], r["ok"]), flush=True)
                if not r["ok"]:
                    print("   FAILED: %s" % json.dumps(r), flush=True)
    out["throughput"] = results
    return results


def summarize_throughput(results, sinks, workloads):
    lines = []
    lines.append("| workload | sink | msgs/s (median) | msgs/s ratio vs smtp-sink: median of same-rep ratios (min-max); higher is better | server CPU us/msg, median (user + sys) | CPU ratio vs smtp-sink, median (min-max); lower is better | peak RSS MiB | stored / expected | client (smtp-source) CPU share |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for wl in workloads:
        base = {r["rep"]: r for r in results if r["workload"] == wl and r["sink"] == "smtp-sink"}
        for kind in sinks:
            rs = [r for r in results if r["workload"] == wl and r["sink"] == kind]
            if not rs:
                continue
            mps = statistics.median(r["msgs_per_s"] for r in rs)
            cpu = statistics.median(r["server_cpu_us_per_msg"] for r in rs)
            ratios = [r["msgs_per_s"] / base[r["rep"]]["msgs_per_s"] for r in rs if r["rep"] in base]
            cratios = [r["server_cpu_us_per_msg"] / base[r["rep"]]["server_cpu_us_per_msg"]
                       for r in rs if r["rep"] in base and base[r["rep"]]["server_cpu_us_per_msg"] > 0]
            hwm = max(r["peak_rss_kib"] for r in rs) / 1024
            stored = "/".join(sorted({"%s" % r["stored"] if r["stored"] is not None else "n/a (rc %d)" % r["source_rc"] for r in rs}))
            allok = all(r["ok"] for r in rs)
            ccpu = statistics.median(r["client_cpu_s"] / r["wall_s"] for r in rs)
            usr = statistics.median(r.get("server_user_us_per_msg", float("nan")) for r in rs)
            sys_ = statistics.median(r.get("server_sys_us_per_msg", float("nan")) for r in rs)
            lines.append("| %s | %s | %.0f | %s | %.1f (%.1f + %.1f) | %s | %.1f | %s / %d%s | %.0f%% |" % (
                wl, kind, mps,
                "%.2fx (%.2f-%.2f)" % (statistics.median(ratios), min(ratios), max(ratios)) if ratios else "-",
                cpu, usr, sys_,
                "%.2fx (%.2f-%.2f)" % (statistics.median(cratios), min(cratios), max(cratios)) if cratios else "-",
                hwm, stored, rs[0]["messages"], "" if allok else " FAILED", 100 * ccpu))
    return "\n".join(lines)


def summarize_memory(results):
    lines = ["| workload | sink | stored bytes (MiB) | RSS at start (MiB) | peak RSS (MiB) | goal: stored x 1.25 + 16 MiB | within goal | peak / stored | RSS beyond start + stored, per message |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|"]
    seen = {}
    for r in results:
        if r["stored_bytes"]:
            seen.setdefault((r["workload"], r["sink"]), []).append(r)
    for (wl, kind), rs in sorted(seen.items()):
        sb = max(r["stored_bytes"] for r in rs)
        hwm = max(r["peak_rss_kib"] for r in rs) * KIB
        start = statistics.median(r["rss_start_kib"] for r in rs) * KIB
        n = rs[0]["messages"]
        goal = sb * 1.25 + 16 * MIB
        lines.append("| %s | %s | %.1f | %.1f | %.1f | %.1f | %s | %.2fx | %.0f B |" % (
            wl, kind, sb / MIB, start / MIB, hwm / MIB, goal / MIB, "yes" if hwm <= goal else "NO",
            hwm / sb, (hwm - start - sb) / n))
    return "\n".join(lines)


# ---------------------------------------------------------------- callgrind

def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("no totals in %s" % path)


CG_WORKLOADS = {
    # name: (smtp-source args, payload, smaller count, larger count)
    "reused": (["-d", "-s", "8"], 1024, 2000, 4000),
    "newconn": (["-s", "8"], 1024, 2000, 4000),
    "big": (["-d", "-s", "8"], 262144, 200, 400),
}


def callgrind_once(kind, wl, count, smtpsink_bin, tmpdir):
    args, size = CG_WORKLOADS[wl][0], CG_WORKLOADS[wl][1]
    outf = os.path.join(tmpdir, "callgrind.%s.%s.%d.out" % (kind.replace("+", "_"), wl, count))
    wrapper = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outf]
    sink = Sink(kind, smtpsink_bin, wrapper=wrapper, exit_after=count if kind == "smtp-sink" else None)
    argv = ["smtp-source"] + SOURCE_COMMON + args + ["-m", str(count), "-l", str(size), sink.addr()]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1800)
    rc, stored, _ = sink.stop(timeout=300)
    sink.cleanup()
    if kind == "smtp-sink":
        # smtp-sink -M exits right after the N-th message, so smtp-source may
        # see "lost connection" while its other sessions send QUIT; the
        # messages were all accepted if smtp-sink exited 0 on its own
        if rc != 0:
            raise RuntimeError("smtp-sink exited %s: %s" % (rc, p.stderr.decode()))
    elif p.returncode != 0:
        raise RuntimeError("smtp-source failed: %s" % p.stderr.decode())
    if stored is not None and stored != count:
        raise RuntimeError("%s stored %s of %d" % (kind, stored, count))
    return callgrind_total(outf), outf, " ".join(argv)


def mode_callgrind(args, out):
    tmpdir = tempfile.mkdtemp(prefix="bench-cg-")
    os.chmod(tmpdir, 0o777)  # smtp-sink drops to nobody before callgrind writes
    res = []
    lines = ["| workload | sink | Ir, fewer msgs | Ir, more msgs | Ir/msg incl. startup (fewer) | marginal Ir/msg (difference / extra msgs) | ratio vs smtp-sink (marginal) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for wl in args.cg_workloads:
        _, size, n1, n2 = CG_WORKLOADS[wl]
        base = None
        for kind in [k for k in args.sinks if k in ("smtp-sink", "smtpsink", "smtpsink+grpc")]:
            ir1, f1, cmd = callgrind_once(kind, wl, n1, args.smtpsink, tmpdir)
            ir2, f2, _ = callgrind_once(kind, wl, n2, args.smtpsink, tmpdir)
            marg = (ir2 - ir1) / (n2 - n1)
            if kind == "smtp-sink":
                base = marg
            r = {"workload": wl, "sink": kind, "n1": n1, "n2": n2, "ir_n1": ir1, "ir_n2": ir2,
                 "ir_per_msg_incl_startup": ir1 / n1, "ir_per_msg_marginal": marg, "files": [f1, f2], "command": cmd}
            res.append(r)
            lines.append("| %s (%d / %d x %s) | %s | %d | %d | %.0f | %.0f | %s |" % (
                wl, n1, n2, "%d KiB" % (size // 1024), kind, ir1, ir2, ir1 / n1, marg,
                "%.2fx" % (marg / base) if base else "-"))
            print(lines[-1], flush=True)
    out["callgrind"] = res
    out["callgrind_dir"] = tmpdir
    return "\n".join(lines)


# ---------------------------------------------------------------- idle sessions

def open_idle(sink, n):
    """Opens up to n sessions, each reads its greeting; stops at the first
    refusal.  Returns (sockets held, None or the reason it stopped)."""
    socks = []
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", sink.port), timeout=30)
            greet = b""
            while b"\r\n" not in greet:
                chunk = s.recv(512)
                if not chunk:
                    return socks, "session %d closed before greeting" % i
                greet += chunk
        except OSError as e:
            return socks, "session %d: %s" % (i, e)
        if not greet.startswith(b"220"):
            s.close()
            return socks, "session %d greeting %r" % (i, greet.strip().decode("ascii", "replace"))
        socks.append(s)
    return socks, None


def smtp_probe(sink):
    """One full short session (EHLO, QUIT); True if it got its 250 and 221."""
    s = socket.create_connection(("127.0.0.1", sink.port), timeout=30)
    f = s.makefile("rb")
    ok = f.readline().startswith(b"220")
    s.sendall(b"EHLO probe.local\r\n")
    while True:
        line = f.readline()
        if not line:
            ok = False
            break
        if line[3:4] == b" ":
            ok = ok and line.startswith(b"250")
            break
    s.sendall(b"QUIT\r\n")
    ok = ok and f.readline().startswith(b"221")
    f.close()
    s.close()
    return ok


def mode_idle(args, out):
    n = args.idle
    res = []
    lines = ["| sink | idle sessions held (of %d) | RSS before (MiB) | RSS with them (MiB) | growth per session (KiB) | new session served meanwhile |" % n,
             "|---|---|---:|---:|---:|---|"]
    for kind in args.sinks:
        sink = Sink(kind, args.smtpsink)
        try:
            smtp_probe(sink)  # warm-up: first-session lazy allocations are not per-session cost
            time.sleep(0.2)
            rss0 = status_kib(sink.pid, "VmRSS")
            t0 = time.monotonic()
            socks, why = open_idle(sink, n)
            t_open = time.monotonic() - t0
            time.sleep(1.0)
            rss1 = status_kib(sink.pid, "VmRSS")
            try:
                probe = smtp_probe(sink)
            except OSError:
                probe = False
            hwm = status_kib(sink.pid, "VmHWM")
            for s in socks:
                s.close()
        finally:
            sink.stop()
            sink.cleanup()
        held = len(socks)
        per = (rss1 - rss0) / held if held else float("nan")
        r = {"sink": kind, "sessions_wanted": n, "sessions_held": held, "stopped_because": why,
             "rss_before_kib": rss0, "rss_after_kib": rss1,
             "kib_per_session": per, "open_s": t_open, "probe_ok": probe, "hwm_kib": hwm}
        res.append(r)
        lines.append("| %s | %d%s | %.1f | %.1f | %.2f | %s |" % (
            kind, held, "" if why is None else " (stopped: %s)" % why,
            rss0 / 1024, rss1 / 1024, per, "yes" if probe else "NO"))
        print(lines[-1], flush=True)
    out["idle"] = res
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smtpsink", default=os.path.join(ROOT, "build-bench", "smtpsink"))
    ap.add_argument("--sinks", default="smtp-sink,aiosmtpd,mailpit,smtpsink,smtpsink+grpc")
    ap.add_argument("--workloads", default="reused,newconn,single,big")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--slow-sinks", default="aiosmtpd,mailpit",
                    help="sinks run only in the first --slow-reps repetitions (they take minutes per run)")
    ap.add_argument("--slow-reps", type=int, default=2)
    ap.add_argument("--idle", type=int, default=5000)
    ap.add_argument("--cg-workloads", default="reused,newconn,big")
    ap.add_argument("--mode", default="throughput", choices=["throughput", "callgrind", "idle", "all"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.sinks = [s for s in args.sinks.split(",") if s]
    if "mailpit" in args.sinks and not os.access(MAILPIT_BIN, os.X_OK):
        print("note: no Mailpit binary at %s (MAILPIT_BIN); skipping it" % MAILPIT_BIN, file=sys.stderr)
        args.sinks.remove("mailpit")
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.cg_workloads = [w for w in args.cg_workloads.split(",") if w]
    args.slow_sinks = [w for w in args.slow_sinks.split(",") if w]
    if subprocess.run(["pgrep", "-x", "master"], stdout=subprocess.DEVNULL).returncode == 0:
        print("note: a postfix master process is running; this benchmark does not need or touch it", file=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.idle + 1000))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # inherited by the sinks too

    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv,
           "uname": os.uname()._asdict() if hasattr(os.uname(), "_asdict") else list(os.uname()),
           "nproc": os.cpu_count()}
    try:
        out["smtpsink_commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                                stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        pass
    report = []
    if args.mode in ("throughput", "all"):
        res = mode_throughput(args, out)
        report.append("### Throughput (%d repetitions, %s only in the first %d; sinks interleaved)\n\n%s" % (
            args.reps, ",".join(args.slow_sinks) or "-", args.slow_reps, summarize_throughput(res, args.sinks, args.workloads)))
        report.append("### Peak RSS vs stored bytes\n\n%s" % summarize_memory(res))
    if args.mode in ("callgrind", "all"):
        report.append("### Instructions per message (callgrind)\n\n%s" % mode_callgrind(args, out))
    if args.mode in ("idle", "all"):
        report.append("### Idle sessions\n\n%s" % mode_idle(args, out))
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    path = args.out or os.path.join(HERE, "out", "smtp-%s-%s.json" % (args.mode, time.strftime("%H%M%S")))
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("\n\n".join(report))
    print("\nraw results: %s" % path)


if __name__ == "__main__":
    main()
