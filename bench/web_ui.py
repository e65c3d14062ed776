#!/usr/bin/env python3
"""Web UI timings in headless Chromium (not a timed test; run by hand):

  1. first render of the list with N messages stored (default 10,000):
     navigation start to the first page of rows on screen (goal < 500 ms);
  2. a new message shown: the SMTP 250 (end of DATA) to its row in the
     list, through the event stream (goal < 100 ms), median and max of K.

  python3 bench/web_ui.py [--sink build/smtpsink] [--stored 10000] [--live 20]
Needs chromium, chromium-driver and python3-selenium (Debian packages).
"""
import argparse
import json
import os
import smtplib
import statistics
import subprocess
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sink", default=os.path.join(os.path.dirname(__file__), "..", "build", "smtpsink"))
    ap.add_argument("--stored", type=int, default=10000)
    ap.add_argument("--live", type=int, default=20)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="smtpsink-bench-")
    ready = os.path.join(tmp, "ready.json")
    p = subprocess.Popen([a.sink, "--smtp-listen", "127.0.0.1:0", "--grpc-listen", "off", "--http-listen",
                          "127.0.0.1:0", "--max-messages", str(a.stored + a.live + 10), "--ready-file", ready],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(ready):
            time.sleep(0.01)
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
            d.execute_script("""
                window.seen = {};
                new MutationObserver(() => {
                    const li = document.querySelector('#list li .subj');
                    if (li && !(li.textContent in window.seen)) window.seen[li.textContent] = performance.timeOrigin + performance.now();
                }).observe(document.getElementById('list'), {childList: true});""")
            lat = []
            with smtplib.SMTP(host, int(port)) as s:
                s.ehlo()
                for i in range(a.live):
                    subj = "live %d" % i
                    s.mail("a@example.com")
                    s.rcpt("b@test.example")
                    s.data(b"Subject: " + subj.encode() + b"\r\n\r\nhi\r\n")  # returns on the 250
                    t250 = time.time() * 1000  # same wall clock as the page's timeOrigin + now()
                    while d.execute_script("return window.seen[arguments[0]]", subj) is None:
                        time.sleep(0.002)
                    lat.append(d.execute_script("return window.seen[arguments[0]]", subj) - t250)
            print("new message shown after its 250: median %.1f ms, max %.1f ms (%d messages)"
                  % (statistics.median(lat), max(lat), len(lat)))
        finally:
            d.quit()
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
