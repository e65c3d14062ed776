#!/usr/bin/env python3
"""Measures the smtpsink image (numbers for the README; no pass/fail):
size, `docker run` to readiness line, process start (exec) to readiness
line, `docker stop` time and idle memory. Usage: measure.py [IMAGE] [RUNS]"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

from runlabels import LABEL_ARGS

IMAGE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SMTPSINK_IMAGE", "smtpsink:latest")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 10


def docker(*args):
    return subprocess.run(["docker", *args], check=True, text=True, capture_output=True).stdout


def ts(s):
    # docker's RFC 3339 with nanoseconds -> seconds since the epoch (float)
    s = s.rstrip("Z")
    base, _, frac = s.partition(".")
    t = datetime.datetime.fromisoformat(base).replace(tzinfo=datetime.timezone.utc).timestamp()
    return t + float("0." + (frac or "0"))


run_ms, exec_ms, stop_ms, mem_mib = [], [], [], []
for i in range(RUNS):
    name = f"smtpsink-measure-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    p = subprocess.Popen(["docker", "run", "--rm", "--name", name, *LABEL_ARGS, IMAGE],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = p.stdout.readline()
        run_ms.append((time.monotonic() - t0) * 1000)
        assert line.startswith("smtpsink ready "), line
        started = ts(json.loads(docker("inspect", name))[0]["State"]["StartedAt"])
        logged = next(l for l in docker("logs", "--timestamps", name).splitlines() if "smtpsink ready" in l)
        exec_ms.append((ts(logged.split()[0]) - started) * 1000)
        if i == 0:
            time.sleep(1.0)
            usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).split("/")[0].strip()
            mem_mib.append(usage)
        t1 = time.monotonic()
        docker("stop", name)
        stop_ms.append((time.monotonic() - t1) * 1000)
    finally:
        p.wait(timeout=30)

size = json.loads(docker("image", "inspect", IMAGE))[0]["Size"]
med = statistics.median
print(f"image {IMAGE}: {size / 1e6:.1f} MB uncompressed")
print(f"docker run -> readiness line: median {med(run_ms):.0f} ms (min {min(run_ms):.0f}, max {max(run_ms):.0f}, n={RUNS})")
print(f"process start -> readiness line (inside the container): median {med(exec_ms):.0f} ms "
      f"(min {min(exec_ms):.0f}, max {max(exec_ms):.0f})")
print(f"docker stop (SIGTERM -> exit 0): median {med(stop_ms):.0f} ms (max {max(stop_ms):.0f})")
print(f"idle memory (docker stats, 1 s after ready): {mem_mib[0]}")
