#!/usr/bin/python3
"""Builds the tables of bench/RESULTS.md from one run_all.sh output directory.

  /usr/bin/python3 bench/make_results.py bench/out/<timestamp> > /tmp/tables.md

Prints Markdown: the goal summary computed from the JSON, then every table.
The prose around it in RESULTS.md is written by hand.
"""
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_smtp  # noqa: E402

MIB = 1048576.0


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ratio_stats(results, wl, kind, key):
    base = {r["rep"]: r for r in results if r["workload"] == wl and r["sink"] == "smtp-sink"}
    rs = [r[key] / base[r["rep"]][key] for r in results
          if r["workload"] == wl and r["sink"] == kind and r["rep"] in base and base[r["rep"]][key] > 0]
    if not rs:
        return None
    return statistics.median(rs), min(rs), max(rs), len(rs)


def main():
    d = sys.argv[1]
    tp = load(os.path.join(d, "throughput.json"))
    cg = load(os.path.join(d, "callgrind.json"))
    idle = load(os.path.join(d, "idle.json"))
    mp = load(os.path.join(d, "mailpit.json"))
    grpc = None
    try:
        with open(os.path.join(d, "grpc.log")) as f:
            m = re.search(r"raw results: (\S+)", f.read())
            if m:
                grpc = load(m.group(1))
    except OSError:
        pass
    with open(os.path.join(d, "commit.txt")) as f:
        lines = f.read().strip().splitlines()
    dirty = [l.strip() for l in lines[2:] if l.strip()]
    print("Run `%s`: code at %s; uncommitted changes in src/ and include/ at build time: %s.\n" % (
        os.path.basename(os.path.normpath(d)), re.sub(r"^commit (\S+) (.*)$", r"commit `\1` (\2)", lines[0]) if lines else "?",
        "; ".join(dirty) if dirty else "none"))

    print("## Goals at a glance\n")
    print("| goal | measured | met? |")
    print("|---|---|---|")
    if tp:
        res = tp["throughput"]
        parts, cparts, ok = [], [], True
        for wl in ("reused", "newconn", "single", "big"):
            r = ratio_stats(res, wl, "smtpsink", "msgs_per_s")
            rg = ratio_stats(res, wl, "smtpsink+grpc", "msgs_per_s")
            c = ratio_stats(res, wl, "smtpsink", "server_cpu_us_per_msg")
            if r:
                parts.append("%s %.2fx (%.2f-%.2f)%s" % (wl, r[0], r[1], r[2], "; gRPC on %.2fx" % rg[0] if rg else ""))
                ok = ok and r[0] >= 1.0
            if c:
                cparts.append("%s %.2fx" % (wl, c[0]))
        print("| >= 1.0x smtp-sink msgs/s while storing every message (median of same-repetition ratios, min-max) | %s. Server CPU per message vs smtp-sink: %s | %s |" % (
            "; ".join(parts), ", ".join(cparts), "yes (medians)" if ok else "not everywhere, see below"))
    if cg:
        parts, ok = [], True
        by = {}
        for r in cg["callgrind"]:
            by.setdefault(r["workload"], {})[r["sink"]] = r
        for wl, v in by.items():
            if "smtp-sink" in v and "smtpsink" in v:
                a, b = v["smtp-sink"]["ir_per_msg_marginal"], v["smtpsink"]["ir_per_msg_marginal"]
                ai, bi = v["smtp-sink"]["ir_per_msg_incl_startup"], v["smtpsink"]["ir_per_msg_incl_startup"]
                parts.append("%s: %s vs %s marginal (%.2fx), %s vs %s incl. startup (%.2fx)" % (
                    wl, format(round(b), ","), format(round(a), ","), b / a, format(round(bi), ","), format(round(ai), ","), bi / ai))
                ok = ok and b <= a and bi <= ai
        print("| instructions per message <= smtp-sink's (callgrind) | %s | %s |" % ("; ".join(parts), "yes" if ok else "NO"))
    if tp:
        parts, ok = [], True
        for wl in ("reused", "big"):
            for kind in ("smtpsink", "smtpsink+grpc"):
                rs = [r for r in tp["throughput"] if r["workload"] == wl and r["sink"] == kind and r["stored_bytes"]]
                if not rs:
                    continue
                sb = max(r["stored_bytes"] for r in rs)
                hwm = max(r["peak_rss_kib"] for r in rs) * 1024
                goal = sb * 1.25 + 16 * MIB
                parts.append("%s %s: %.1f MiB for %.1f MiB stored (goal %.1f) %s" % (
                    wl, kind, hwm / MIB, sb / MIB, goal / MIB, "ok" if hwm <= goal else "OVER"))
                ok = ok and hwm <= goal
        if grpc and "smtpsink_list" in grpc and grpc["smtpsink_list"].get("stored_bytes"):
            lst = grpc["smtpsink_list"]
            sb, hwm = lst["stored_bytes"], lst["vmhwm_kib"] * 1024
            goal = sb * 1.25 + 16 * MIB
            parts.append("100,010 x 1 KiB (gRPC on): %.1f MiB for %.1f MiB stored (goal %.1f) %s" % (
                hwm / MIB, sb / MIB, goal / MIB, "ok" if hwm <= goal else "OVER"))
            ok = ok and hwm <= goal
        print("| peak RSS <= stored x 1.25 + 16 MiB | %s | %s |" % ("; ".join(parts), "yes" if ok else "not everywhere"))
    if idle:
        parts = []
        ok = True
        for r in idle["idle"]:
            parts.append("%s %d held, %.2f KiB each" % (r["sink"], r["sessions_held"], r["kib_per_session"]))
            if r["sink"].startswith("smtpsink"):
                ok = ok and r["sessions_held"] >= 5000 and r["kib_per_session"] <= 8 and r["probe_ok"]
        print("| >= 5,000 idle sessions at <= 8 KiB each | %s | %s |" % ("; ".join(parts), "yes" if ok else "NO"))
    if grpc and "smtpsink_wakeup" in grpc:
        w = grpc["smtpsink_wakeup"]
        p99 = w["wakeup"]["p99_us"]
        print("| WaitForMessages wake-up p99 < 1 ms | p50 %.0f µs, p99 %.0f µs (%d of %d responses in before the 250 was read) | %s |" % (
            w["wakeup"]["p50_us"], p99, w["responses_before_250_read"], w["wakeup"]["n"], "yes" if p99 < 1000 else "NO"))
    if grpc and "smtpsink_list" in grpc:
        lst = grpc["smtpsink_list"]
        a, b = lst["rcpt_to=target@select.local"], lst["rcpt_to=*@select.local"]
        print("| ListMessages over 100,000 stored, selective filter < 50 ms | %d stored; exact rcpt_to: p50 %.1f ms, p99 %.1f ms; glob *@select.local: p50 %.1f ms, p99 %.1f ms | %s |" % (
            lst["stored_messages"], a["p50_us"] / 1000, a["p99_us"] / 1000, b["p50_us"] / 1000, b["p99_us"] / 1000,
            "yes" if a["p99_us"] < 50000 else ("p50 yes, p99 no" if a["p50_us"] < 50000 else "NO")))
    print()
    if tp:
        sinks = [s for s in ("smtp-sink", "aiosmtpd", "smtpsink", "smtpsink+grpc") if any(r["sink"] == s for r in tp["throughput"])]
        print("## Throughput\n")
        print(run_smtp.summarize_throughput(tp["throughput"], sinks, ["reused", "newconn", "single", "big"]))
        print("\n## Memory\n")
        print(run_smtp.summarize_memory(tp["throughput"]))
    if mp:
        print("\n## Mailpit as an extra SMTP peer\n")
        sinks = [s for s in ("smtp-sink", "mailpit", "smtpsink") if any(r["sink"] == s for r in mp["throughput"])]
        print(run_smtp.summarize_throughput(mp["throughput"], sinks, ["reused", "newconn", "single", "big"]))
    for name in ("callgrind", "idle"):
        try:
            with open(os.path.join(d, name + ".log")) as f:
                txt = f.read()
            i = txt.find("### ")
            j = txt.find("raw results:")
            print("\n" + txt[i:j].strip().replace("### ", "## ", 1))
        except OSError:
            pass
    try:
        with open(os.path.join(d, "grpc.log")) as f:
            txt = f.read()
        i = txt.find("| latency")
        j = txt.find("raw results:")
        print("\n## gRPC\n\n" + txt[i:j].strip())
    except OSError:
        pass


if __name__ == "__main__":
    main()
