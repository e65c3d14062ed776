#!/usr/bin/env python3
"""Web UI timings in headless Chromium (not a timed test; run by hand):

  1. first render of the list with N messages stored (default 10,000):
     navigation start to the first page of rows on screen (goal < 500 ms);
  2. a new message shown: from the SMTP 250 (end of DATA) to its row in the
     list, through the event stream (goal < 100 ms), over --live messages
     (default 500), split into its steps:
       server   250 -> the same event at a plain Python SSE client (both
                times the kernel's receive timestamps, SO_TIMESTAMPNS)
       network  250 -> the page's EventSource 'message' event (a wrapper the
                bench puts around EventSource before the page's own script)
       app      EventSource event -> the row in the DOM (MutationObserver)
       frame    the row in the DOM -> the next animation frame
                (requestAnimationFrame: the frame that paints it)
     The page's clock (performance.timeOrigin + now(), CLOCK_MONOTONIC
     underneath) is mapped onto the wall clock by the round trip of
     execute_script with the smallest delay, before and after the run (the
     error bound and the drift between the two are printed). Main-thread
     tasks over 50 ms (PerformanceObserver 'longtask') are recorded, and the
     slowest samples are listed with their steps and any long task near
     them. The bench polls the page for each result with execute_script
     every --poll-ms (default 2); --poll-ms 50 shows whether that polling
     matters.

  python3 bench/web_ui.py [--sink build/smtpsink] [--stored 10000] [--live 500] [--poll-ms 2]
Needs chromium, chromium-driver and python3-selenium (Debian packages).
"""
import argparse
import json
import os
import select
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from grpc_latency import pct  # noqa: E402
from http_api import SMTP, SO_TIMESTAMPNS, SSE, recv_ts  # noqa: E402

# Before the page's own script: stamp each EventSource message (listener
# added first, so it runs before the page's), and keep long tasks.
PRELUDE = """
window.__ev = {};
window.__long = [];
(() => {
    const ES = window.EventSource;
    window.EventSource = function (url, opts) {
        const es = new ES(url, opts);
        es.addEventListener('message', (e) => {
            const t = performance.timeOrigin + performance.now();
            try { window.__ev[JSON.parse(e.data).subject] = t; } catch (err) {}
        });
        return es;
    };
    window.EventSource.prototype = ES.prototype;
    try {
        new PerformanceObserver((l) => {
            for (const e of l.getEntries())
                window.__long.push([performance.timeOrigin + e.startTime, e.duration]);
        }).observe({type: 'longtask', buffered: true});
    } catch (err) {}
})();
"""
# After the first render: the row's DOM time and its next frame, by subject
OBSERVE = """
window.__dom = {}; window.__raf = {};
new MutationObserver(() => {
    const li = document.querySelector('#list li .subj');
    if (!li || li.textContent in window.__dom) return;
    const s = li.textContent;
    window.__dom[s] = performance.timeOrigin + performance.now();
    requestAnimationFrame(() => { window.__raf[s] = performance.timeOrigin + performance.now(); });
}).observe(document.getElementById('list'), {childList: true});
"""


def calibrate(d, n=60):
    """(page clock - wall clock) in ms from the quickest round trip, and
    half that round trip (the error bound)."""
    best = None
    for _ in range(n):
        t0 = time.time_ns()
        p = d.execute_script("return performance.timeOrigin + performance.now()")
        t1 = time.time_ns()
        if best is None or t1 - t0 < best[0]:
            best = (t1 - t0, p - (t0 + t1) / 2e6)
    return best[1], best[0] / 2e6


def dist(v):
    return "%.1f / %.1f / %.1f / %.1f" % (pct(v, 50), pct(v, 90), pct(v, 99), max(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sink", default=os.path.join(os.path.dirname(__file__), "..", "build", "smtpsink"))
    ap.add_argument("--stored", type=int, default=10000)
    ap.add_argument("--live", type=int, default=500)
    ap.add_argument("--poll-ms", type=float, default=2, help="the bench's polling of the page per sample")
    ap.add_argument("--out", default=None, help="raw samples as JSON")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="smtpsink-bench-")
    ready = os.path.join(tmp, "ready.json")
    p = subprocess.Popen([a.sink, "--smtp-listen", "127.0.0.1:0", "--grpc-listen", "off", "--http-listen",
                          "127.0.0.1:0", "--max-messages", str(a.stored + a.live + 100), "--ready-file", ready],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(ready):
            time.sleep(0.01)
        time.sleep(0.05)
        r = json.load(open(ready))
        host, port = r["smtp"].rsplit(":", 1)
        http = r["http"][0] if isinstance(r["http"], list) else r["http"]
        body = b"From: a@example.com\r\nTo: b@test.example\r\nSubject: stored %d\r\n\r\n" + b"x" * 900 + b"\r\n"
        with smtplib.SMTP(host, int(port)) as s:
            for i in range(a.stored):
                s.sendmail("a@example.com", ["b@test.example"], body.replace(b"%d", str(i).encode()))
        o = webdriver.ChromeOptions()
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
            o.add_argument(arg)
        d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
        try:
            d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PRELUDE})
            firsts = []
            for _ in range(5):
                d.get("about:blank")
                d.get("http://%s/" % http)
                while not d.execute_script("return document.querySelectorAll('#list li').length === 50"):
                    time.sleep(0.005)
                firsts.append(d.execute_script(
                    "return performance.now()"))  # ms since navigation start, just after the rows appeared
            print("first render, %d stored: median %.0f ms, min %.0f ms (polling adds <= 5 ms)"
                  % (a.stored, statistics.median(firsts), min(firsts)))
            d.execute_script(OBSERVE)
            off0, err0 = calibrate(d)
            smtp = SMTP(int(port))
            last = a.stored
            ref = SSE(int(http.rsplit(":", 1)[1]), last)
            for sock in (smtp.sock, ref.sock):
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            time.sleep(0.5)  # the kernel turns receive timestamps on from a work queue
            rows, warm = [], []  # warm: the first 10, the first event of the page among them
            for i in range(-10, a.live):
                subj = "live %d" % (i + 10)
                t_sent = smtp.start("b@test.example", subj)
                t250 = t_ref = None
                while t250 is None or t_ref is None:
                    rd, _, _ = select.select([x for x, done in ((smtp.sock, t250), (ref.sock, t_ref)) if done is None],
                                             [], [], 5)
                    if not rd:
                        raise RuntimeError("no 250 or no event for %s" % subj)
                    for x in rd:
                        data, ts = recv_ts(x)
                        if x is smtp.sock:
                            smtp.buf += data
                            if smtp.line_ready() is not None:
                                t250 = ts
                                if smtp.code() != 250:
                                    raise RuntimeError("no 250")
                        else:
                            for ev in ref.feed(data):
                                if ('"subject":"%s"' % subj).encode() in ev:
                                    t_ref = ts
                if i >= 0 and not (t250 and t_ref):
                    raise RuntimeError("no receive timestamp (SO_TIMESTAMPNS)")
                deadline = time.monotonic() + 10
                while True:
                    got = d.execute_script("const s = arguments[0]; return [window.__ev[s], window.__dom[s], "
                                           "window.__raf[s]]", subj)
                    if None not in got:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError("the page never showed %s: %r" % (subj, got))
                    time.sleep(a.poll_ms / 1000.0)
                (rows if i >= 0 else warm).append({"i": i, "t_sent": t_sent / 1e6, "t250": t250 / 1e6,
                                                   "t_ref": t_ref / 1e6, "page_ev": got[0], "page_dom": got[1],
                                                   "page_raf": got[2]})
            smtp.close()
            off1, err1 = calibrate(d)
            longs = d.execute_script("return window.__long")
        finally:
            d.quit()
    finally:
        p.terminate()
        p.wait()
    off = (off0 + off1) / 2
    for r in rows + warm:
        for k in ("page_ev", "page_dom", "page_raf"):
            r[k[5:]] = r[k] - off  # wall clock, ms
    # the server's timestamps have no timer behind them; only the page's are mapped
    server = [r["t_ref"] - r["t250"] for r in rows]
    net = [r["ev"] - r["t250"] for r in rows]
    app = [r["dom"] - r["ev"] for r in rows]
    frame = [r["raf"] - r["dom"] for r in rows]
    shown = [r["dom"] - r["t250"] for r in rows]
    painted = [r["raf"] - r["t250"] for r in rows]
    print("page clock mapped with +-%.2f ms (before) / +-%.2f ms (after); drift over the run %.2f ms"
          % (err0, err1, off1 - off0))
    print("%d messages, ms: p50 / p90 / p99 / max" % len(rows))
    for name, v in (("server: 250 -> event at a Python SSE client (kernel timestamps)", server),
                    ("250 -> the page's EventSource event", net),
                    ("EventSource event -> row in the DOM", app),
                    ("row in the DOM -> next animation frame", frame),
                    ("new message shown: 250 -> row in the DOM", shown),
                    ("new message painted: 250 -> its frame", painted)):
        print("  %-66s %s" % (name, dist(v)))
    print("  %-66s %s" % ("the 10 warm-up messages (not above), 250 -> row in the DOM",
                          " ".join("%.1f" % (r["dom"] - r["t250"]) for r in warm)))
    print("long tasks (> 50 ms) on the page's main thread during the live part: %d" % sum(
        1 for t, _ in longs if t - off >= rows[0]["t_sent"]))
    print("slowest 5 (250 -> row in the DOM):")
    for r in sorted(rows, key=lambda r: r["dom"] - r["t250"], reverse=True)[:5]:
        near = [(round(t - off - r["t250"], 1), round(dur, 1)) for t, dur in longs
                if abs(t - off - r["t250"]) < 1000]
        print("  #%d: server %.2f, to EventSource %.2f, to DOM %.2f, to frame %.2f ms; long tasks near it "
              "(start after the 250, duration): %s" % (r["i"], r["t_ref"] - r["t250"], r["ev"] - r["t250"],
                                                       r["dom"] - r["ev"], r["raf"] - r["dom"], near or "none"))
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"argv": sys.argv, "offset_ms": [off0, off1], "error_ms": [err0, err1], "rows": rows,
                       "warmup": warm, "long_tasks": longs}, f)


if __name__ == "__main__":
    main()
