#!/usr/bin/python3
"""TLS + AUTH benchmark (issue 9): smtpsink side by side with Mailpit, TLS on
in both with THE SAME certificate, IN THE SAME RUN.

The machine this runs on is shared and noisy, so the figures that matter are
the ratios smtpsink / Mailpit measured in the same repetition (servers
interleaved, order rotated each repetition).  Nothing here is a test: no
assertion on time anywhere.

Workloads (client: bench/tlsload, Go, standard library; verifies the server
certificate against the generated one, full handshake every connection, key
exchange X25519, TLS 1.3 unless a server refuses it):
  starttls    new connection per message: 220, EHLO, STARTTLS, handshake, EHLO,
              AUTH PLAIN (initial response), MAIL, RCPT, DATA (1 KiB), QUIT;
              32 concurrent sessions, --messages in total
  implicit    the same over implicit TLS (RFC 8314): handshake first, no STARTTLS
  plain       the same without TLS and without AUTH: the
              reference for what TLS + AUTH cost
Per run: msgs/s (client wall time), server CPU per message (utime+stime from
/proc/PID/stat before/after, user + sys), peak RSS, and a check that every
message was stored (smtpsink: `smtpsinkctl info --json`, and through
`smtpsinkctl cert` / `list --auth-user` that it served our certificate and
stored every message as authenticated over TLS with PLAIN; with --no-grpc its
exit log's messages_received; Mailpit: its API total).

Idle sessions (--idle K, default 1,000): RSS (VmRSS) with K sessions held
idle after the handshake and EHLO minus RSS before (after a warm-up), per
session, for STARTTLS, implicit TLS and plain sessions (the last: greeting and
EHLO only, the baseline).

Usage (from the repository root, Debian's python3):
  /usr/bin/python3 bench/tls_auth.py [--smtpsink build-bench/smtpsink]
      [--mailpit build-bench/bin/mailpit] [--reps 5] [--messages 6000]
      [--servers smtpsink,mailpit] [--workloads starttls,implicit,plain]
      [--idle-modes starttls,implicit,plain] [--idle 1000]
The Go client is built into build-bench/bin/tlsload when missing or older
than its source (needs go).  Raw results go to bench/out/.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import run_smtp  # noqa: E402  (Sink, ports, /proc readers)
from run_smtp import CLK_TCK, Sink, cpu_ticks_split, free_port, listening, status_kib  # noqa: E402

AUTH_USER, AUTH_PASS = "bench", "bench-secret"


def make_cert(directory):
    """One self-signed ECDSA P-256 certificate for localhost and 127.0.0.1,
    used by both servers and as the client's trust anchor."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "7", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-addext", "keyUsage=critical,digitalSignature",
                    "-addext", "extendedKeyUsage=serverAuth"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def build_client(path):
    src = os.path.join(HERE, "tlsload")
    newest = max(os.path.getmtime(os.path.join(src, f)) for f in os.listdir(src))
    if os.access(path, os.X_OK) and os.path.getmtime(path) >= newest:
        return
    go = shutil.which("go") or "/usr/local/go/bin/go"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([go, "build", "-o", path, "."], cwd=src, check=True)


class Server:
    """One server (a run_smtp.Sink) set up for one TLS mode; .addr is where
    the client connects (the implicit-TLS port for mode implicit)."""

    def __init__(self, kind, mode, args):
        self.kind = kind
        self.dbfile = None
        extra = []
        smtps_port = None
        if kind == "smtpsink":
            if mode != "plain":
                extra += ["--tls-cert", args.cert, "--tls-key", args.key, "--auth"]
            if mode == "starttls":
                extra += ["--starttls"]
            elif mode == "implicit":
                smtps_port = free_port()
                extra += ["--smtps-listen", "127.0.0.1:%d" % smtps_port]
            sink_kind = "smtpsink+grpc" if args.grpc else "smtpsink"
        elif kind == "mailpit":
            if mode != "plain":
                extra += ["--smtp-tls-cert", args.cert, "--smtp-tls-key", args.key, "--smtp-auth-accept-any"]
            if mode == "starttls":
                extra += ["--smtp-require-starttls"]
            elif mode == "implicit":
                extra += ["--smtp-require-tls"]  # Mailpit's one SMTP listener speaks implicit TLS
            # rDNS off: smtpsink does none; its own database file on /dev/shm
            args.runs += 1
            self.dbfile = os.path.join(args.tmp, "mailpit-%d.db" % args.runs)
            extra += ["--smtp-disable-rdns", "-d", self.dbfile]
            sink_kind = "mailpit"
        else:
            raise ValueError(kind)
        self.sink = Sink(sink_kind, args.smtpsink, extra=extra)
        self.pid = self.sink.pid
        port = smtps_port or self.sink.port
        deadline = time.monotonic() + 15
        while not listening(port):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s: nothing listening on %d" % (kind, port))
            time.sleep(0.01)
        self.addr = "127.0.0.1:%d" % port

    def ctl(self, *argv):
        """smtpsinkctl against this smtpsink's control API (--grpc): stdout"""
        with open(os.path.join(self.sink.tmp, "ready.json")) as f:
            gaddr = json.load(f)["grpc"]
        return subprocess.run([self.sink.ctl, "--addr", gaddr] + list(argv), stdout=subprocess.PIPE,
                              check=True, timeout=60).stdout

    def check_tls_auth(self, args, expected):
        """Through the control API: the served certificate is ours, and
        `expected` messages were stored that authenticated as AUTH_USER (the
        first of them over TLS with PLAIN). Returns (ok, what was seen)."""
        if self.sink.kind != "smtpsink+grpc":
            return True, None
        with open(args.cert, "rb") as f:
            same_cert = self.ctl("cert") == f.read()
        d = json.loads(self.ctl("--json", "list", "--auth-user", AUTH_USER, "--limit", "1"))
        m = d["messages"][0] if d["messages"] else {}
        seen = {"same_cert": same_cert, "matched_auth_user": d["matched"], "tls": m.get("tls"),
                "tls_version": m.get("tls_version"), "tls_cipher": m.get("tls_cipher"),
                "auth_mechanism": m.get("auth_mechanism")}
        return same_cert and d["matched"] == expected and m.get("tls") is True and m.get("auth_mechanism") == "PLAIN", seen

    def stop(self):
        try:
            return self.sink.stop()
        finally:
            self.sink.cleanup()
            for suffix in ("", "-wal", "-shm"):
                if self.dbfile and os.path.exists(self.dbfile + suffix):
                    os.unlink(self.dbfile + suffix)


def client_argv(args, mode, addr):
    argv = [args.tlsload, "-addr", addr, "-tls", mode]
    if mode == "plain":
        argv += ["-user", ""]
    else:
        argv += ["-ca", args.cert, "-servername", "localhost", "-user", AUTH_USER, "-pass", AUTH_PASS]
    return argv


def load_once(kind, mode, args):
    srv = Server(kind, mode, args)
    argv = client_argv(args, mode, srv.addr) + ["-mode", "load", "-workers", str(args.workers),
                                                "-messages", str(args.messages), "-size", str(args.size)]
    try:
        u0, s0 = cpu_ticks_split(srv.pid)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
        u1, s1 = cpu_ticks_split(srv.pid)
        hwm = status_kib(srv.pid, "VmHWM")
        checked, seen = srv.check_tls_auth(args, args.messages) if mode != "plain" else (True, None)
    finally:
        rc, stored, nbytes = srv.stop()
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = {"messages": 0, "errors": -1, "first_error": p.stdout.decode()[-300:]}
    n = max(res.get("messages", 0), 1)
    res.update({
        "server": kind, "workload": mode, "expected": args.messages,
        "server_cpu_us_per_msg": (u1 - u0 + s1 - s0) / CLK_TCK / n * 1e6,
        "server_user_us_per_msg": (u1 - u0) / CLK_TCK / n * 1e6,
        "server_sys_us_per_msg": (s1 - s0) / CLK_TCK / n * 1e6,
        "peak_rss_kib": hwm, "stored": stored, "stored_bytes": nbytes,
        "control_api_check": seen, "client_rc": p.returncode, "server_rc": rc, "command": " ".join(argv),
        "server_command": " ".join(srv.sink.argv),
    })
    res["ok"] = checked and p.returncode == 0 and res.get("messages") == args.messages and stored == args.messages
    if p.returncode != 0:
        res["client_stderr"] = p.stderr.decode("utf-8", "replace")[-500:]
    return res


def idle_once(kind, mode, args):
    srv = Server(kind, mode, args)
    base = client_argv(args, mode, srv.addr)
    proc = None
    try:
        # warm-up: lazy first-use allocations (TLS contexts, AUTH, the store)
        # are not per-session cost
        subprocess.run(base + ["-mode", "load", "-workers", "4", "-messages", "40"],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        time.sleep(0.5)
        rss0 = status_kib(srv.pid, "VmRSS")
        proc = subprocess.Popen(base + ["-mode", "idle", "-sessions", str(args.idle)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = json.loads(proc.stdout.readline() or b"{}")
        time.sleep(1.0)
        rss1 = status_kib(srv.pid, "VmRSS")
        hwm = status_kib(srv.pid, "VmHWM")
        proc.stdin.close()
        proc.wait(timeout=120)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        srv.stop()
    held = ready.get("ready", 0)
    return {"server": kind, "mode": mode, "wanted": args.idle, "held": held,
            "first_error": ready.get("first_error"), "open_s": ready.get("open_s"),
            "rss_before_kib": rss0, "rss_after_kib": rss1, "hwm_kib": hwm,
            "kib_per_session": (rss1 - rss0) / held if held else float("nan"),
            "ok": held == args.idle, "server_command": " ".join(srv.sink.argv)}


def spread(values, fmt, unit=""):
    if not values:
        return "-"
    return (fmt + unit + " (" + fmt + "-" + fmt + ")") % (statistics.median(values), min(values), max(values))


def same_rep_ratios(results, key, select, num="smtpsink", den="mailpit"):
    by = {}
    for r in results:
        if select(r):
            by.setdefault(r["rep"], {})[r["server"]] = r
    return [v[num][key] / v[den][key] for v in by.values() if num in v and den in v and v[den][key]]


def summarize_load(results, servers, workloads):
    lines = ["| workload | server | msgs/s, median (min-max) | msgs/s ratio smtpsink / Mailpit, same rep, median (min-max) | server CPU us/msg, median (user + sys) | CPU ratio smtpsink / Mailpit, median (min-max) | peak RSS MiB | stored / expected | client CPU share | protocol |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for wl in workloads:
        for kind in servers:
            rs = [r for r in results if r["workload"] == wl and r["server"] == kind]
            if not rs:
                continue
            sel = (lambda r, wl=wl: r["workload"] == wl)
            mr = same_rep_ratios(results, "msgs_per_s", sel) if kind == "smtpsink" else []
            cr = same_rep_ratios(results, "server_cpu_us_per_msg", sel) if kind == "smtpsink" else []
            stored = "/".join(sorted({str(r["stored"]) for r in rs}))
            lines.append("| %s | %s | %s | %s | %.0f (%.0f + %.0f) | %s | %.1f | %s / %d%s | %.0f%% | %s |" % (
                wl, kind, spread([r["msgs_per_s"] for r in rs], "%.0f"),
                spread(mr, "%.2f", "x") if mr else "",
                statistics.median(r["server_cpu_us_per_msg"] for r in rs),
                statistics.median(r["server_user_us_per_msg"] for r in rs),
                statistics.median(r["server_sys_us_per_msg"] for r in rs),
                spread(cr, "%.2f", "x") if cr else "",
                max(r["peak_rss_kib"] for r in rs) / 1024, stored, rs[0]["expected"],
                "" if all(r["ok"] for r in rs) else " FAILED",
                100 * statistics.median(r.get("client_cpu_s", 0) / r["seconds"] for r in rs if r.get("seconds")),
                "/".join(sorted({r.get("protocol") or "-" for r in rs}))))
    return "\n".join(lines)


def summarize_idle(results, servers, modes, goal_kib):
    lines = ["| sessions | server | held | RSS before MiB | RSS with them MiB | KiB per idle session, median (min-max) | ratio smtpsink / Mailpit, same rep | goal <= %g KiB (TLS) |" % goal_kib,
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for mode in modes:
        for kind in servers:
            rs = [r for r in results if r["mode"] == mode and r["server"] == kind]
            if not rs:
                continue
            per = [r["kib_per_session"] for r in rs]
            rat = same_rep_ratios(results, "kib_per_session", lambda r, m=mode: r["mode"] == m) if kind == "smtpsink" else []
            goal = ""
            if kind == "smtpsink" and mode != "plain":
                goal = "yes" if max(per) <= goal_kib else "**NO**"
            lines.append("| %s | %s | %s | %.1f | %.1f | %s | %s | %s |" % (
                mode, kind, "/".join(sorted({"%d" % r["held"] for r in rs})) + ("" if all(r["ok"] for r in rs) else " FAILED"),
                statistics.median(r["rss_before_kib"] for r in rs) / 1024,
                statistics.median(r["rss_after_kib"] for r in rs) / 1024,
                spread(per, "%.1f"), spread(rat, "%.2f", "x") if rat else "", goal))
    return "\n".join(lines)


def split_lists(args, names):
    """Comma-separated list options to lists; --mailpit checked and handed to
    run_smtp.Sink when "mailpit" is among args.servers."""
    for k in names:
        setattr(args, k, [x for x in getattr(args, k).split(",") if x])
    if "mailpit" in args.servers:
        if not os.access(args.mailpit, os.X_OK):
            sys.exit("no Mailpit binary at %s (--mailpit or MAILPIT_BIN)" % args.mailpit)
        run_smtp.MAILPIT_BIN = args.mailpit


def earlier_run(ap, path, names):
    """(its arguments, its raw JSON) of an earlier run, for --from-json."""
    with open(path) as f:
        old = json.load(f)
    ns = ap.parse_args(old["argv"][1:])
    for k in names:
        setattr(ns, k, [x for x in getattr(ns, k).split(",") if x])
    return ns, old


def write_out(out, path, prefix):
    """Stamps `out` finished and writes it as JSON to path (default
    bench/out/PREFIX-HHMMSS.json); returns the path."""
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out["loadavg_end"] = os.getloadavg()
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    path = path or os.path.join(HERE, "out", "%s-%s.json" % (prefix, time.strftime("%H%M%S")))
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smtpsink", default=os.path.join(ROOT, "build-bench", "smtpsink"))
    ap.add_argument("--mailpit", default=os.environ.get("MAILPIT_BIN", os.path.join(ROOT, "build-bench", "bin", "mailpit")))
    ap.add_argument("--tlsload", default=os.path.join(ROOT, "build-bench", "bin", "tlsload"))
    ap.add_argument("--servers", default="smtpsink,mailpit")
    ap.add_argument("--workloads", default="starttls,implicit,plain", help="of starttls, implicit, plain")
    ap.add_argument("--idle-modes", default="starttls,implicit,plain")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--messages", type=int, default=6000, help="per load run")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--idle", type=int, default=1000, help="idle sessions held per idle run")
    ap.add_argument("--goal-kib", type=float, default=48)
    ap.add_argument("--no-grpc", dest="grpc", action="store_false",
                    help="smtpsink without its control API (stored count from its exit log only; no checks of "
                    "the served certificate, the AUTH user and the TLS version through `smtpsinkctl`)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--from-json", metavar="PATH", help="only print the tables of an earlier run's raw JSON")
    args = ap.parse_args()
    lists = ("servers", "workloads", "idle_modes")
    if args.from_json:
        ns, old = earlier_run(ap, args.from_json, lists)
        print(report(ns, old["load"], old["idle"]))
        return 0
    split_lists(args, lists)
    build_client(args.tlsload)
    soft, hard = run_smtp.resource.getrlimit(run_smtp.resource.RLIMIT_NOFILE)
    run_smtp.resource.setrlimit(run_smtp.resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 1000)), hard))
    tmp = tempfile.mkdtemp(prefix="bench-tls-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args.tmp, args.runs = tmp, 0
    args.cert, args.key = make_cert(tmp)

    out = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv,
           "nproc": os.cpu_count(), "loadavg_start": os.getloadavg(),
           "cert": subprocess.run(["openssl", "x509", "-in", args.cert, "-noout", "-text"],
                                  stdout=subprocess.PIPE, text=True).stdout,
           "versions": {"openssl": subprocess.run(["openssl", "version"], stdout=subprocess.PIPE, text=True).stdout.strip()}}
    if "mailpit" in args.servers:
        out["versions"]["mailpit"] = subprocess.run([args.mailpit, "version", "--no-release-check"], stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT, text=True).stdout.strip()[:200]
    out["smtpsink_commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                            stdout=subprocess.PIPE, text=True).stdout.strip()
    loads, idles = [], []
    try:
        for rep in range(args.reps):
            order = args.servers[rep % len(args.servers):] + args.servers[:rep % len(args.servers)]
            for wl in args.workloads:
                for kind in order:
                    r = load_once(kind, wl, args)
                    r["rep"] = rep
                    loads.append(r)
                    print("rep=%d %-8s %-8s %7.0f msg/s  server cpu %6.0f us/msg (user %5.0f)  client %3.0f%%  stored=%s ok=%s %s"
                          % (rep, wl, kind, r.get("msgs_per_s", 0), r["server_cpu_us_per_msg"], r["server_user_us_per_msg"],
                             100 * r.get("client_cpu_s", 0) / max(r.get("seconds", 1), 1e-9), r["stored"], r["ok"],
                             "" if r["ok"] else json.dumps(r)), flush=True)
            for mode in args.idle_modes:
                for kind in order:
                    r = idle_once(kind, mode, args)
                    r["rep"] = rep
                    idles.append(r)
                    print("rep=%d idle %-8s %-8s held %d  %.1f KiB/session  ok=%s %s"
                          % (rep, mode, kind, r["held"], r["kib_per_session"], r["ok"], r["first_error"] or ""), flush=True)
    finally:
        out["load"], out["idle"] = loads, idles
        path = write_out(out, args.out, "tls-auth")
        shutil.rmtree(tmp, ignore_errors=True)
    print(report(args, loads, idles))
    print("\nraw results: %s" % path)
    bad = [r for r in loads + idles if not r["ok"]]
    return 1 if bad else 0


def report(args, loads, idles):
    report = []
    if loads:
        report.append("### New connection per message (STARTTLS or implicit TLS + AUTH PLAIN; plain: neither), one %d-byte message, %d sessions, %d messages per run, %d repetitions\n\n%s"
                      % (args.size, args.workers, args.messages, args.reps, summarize_load(loads, args.servers, args.workloads)))
    if idles:
        report.append("### Memory per idle session (%d held, after handshake + EHLO)\n\n%s"
                      % (args.idle, summarize_idle(idles, args.servers, args.idle_modes, args.goal_kib)))
    return "\n\n".join(report)


if __name__ == "__main__":
    sys.exit(main())
