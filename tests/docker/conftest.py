"""Helpers for the image and compose tests (Debian's python3 + pytest, stdlib only).

The image under test is $SMTPSINK_IMAGE (default smtpsink:latest); it must
already be built (.ci/docker-image.sh builds it). Every container started
here carries the labels of runlabels.py and is removed afterwards.
"""
import json
import os
import subprocess
import time

import pytest

from runlabels import LABEL_ARGS

IMAGE = os.environ.get("SMTPSINK_IMAGE", "smtpsink:latest")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def docker(*args, check=True, timeout=120, **kw):
    return subprocess.run(["docker", *args], check=check, timeout=timeout, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def inspect(ref, what="container"):
    return json.loads(docker(what, "inspect", ref).stdout)[0]


def wait_for_log(cid, needle, timeout=20.0):
    """Returns the first log line (stdout or stderr) containing needle, with docker's timestamp."""
    until = time.monotonic() + timeout
    while True:
        out = docker("logs", "--timestamps", cid, check=False)
        for line in (out.stdout + out.stderr).splitlines():
            if needle in line:
                return line
        state = inspect(cid)["State"]
        if not state["Running"] and state["Status"] != "created":
            raise AssertionError(f"container exited ({state['ExitCode']}) before {needle!r}:\n"
                                 f"{out.stdout}{out.stderr}")
        if time.monotonic() > until:
            raise AssertionError(f"no {needle!r} within {timeout}s:\n{out.stdout}{out.stderr}")
        time.sleep(0.02)


def host_port(cid, port):
    out = docker("port", cid, f"{port}/tcp").stdout.split()[0]
    return int(out.rsplit(":", 1)[1])


class Started:
    def __init__(self, cid):
        self.id = cid

    def ctl(self, *args, check=True):
        """smtpsinkctl inside the container."""
        return docker("exec", self.id, "smtpsinkctl", *args, check=check)

    def port(self, p):
        return host_port(self.id, p)


@pytest.fixture
def run_sink():
    """run_sink(*docker_run_args, cmd=[...]) -> Started, after the readiness line."""
    started = []

    def run(*args, cmd=(), ready=True):
        cid = docker("run", "-d", *LABEL_ARGS, "-p", "127.0.0.1::1025", "-p", "127.0.0.1::50051",
                     *args, IMAGE, *cmd).stdout.strip()
        started.append(cid)
        if ready:
            wait_for_log(cid, "smtpsink ready ")
        return Started(cid)

    yield run
    for cid in started:
        docker("rm", "-f", cid, check=False)
