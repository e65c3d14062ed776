"""Shared fixtures: start the real smtpsink binary on port 0 and read the
bound addresses from its --ready-file (tests never guess ports).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

SMTPSINK_BIN = os.environ.get("SMTPSINK_BIN", os.path.join(os.path.dirname(__file__), "../../build/smtpsink"))
SMTPSINKCTL_BIN = os.environ.get("SMTPSINKCTL_BIN", os.path.join(os.path.dirname(__file__), "../../build/smtpsinkctl"))
PYGEN = os.environ.get("SMTPSINK_PYGEN", os.path.join(os.path.dirname(__file__), "../../build/gen/python"))
if PYGEN not in sys.path:
    sys.path.insert(0, PYGEN)
# Set by .ci/valgrind.sh: SMTPSINK_BIN runs the sink under memcheck, which
# takes seconds to start and to stop. Only the harness's own waits stretch;
# what a test asserts about timing does not (such tests skip themselves).
VALGRIND = bool(os.environ.get("SMTPSINK_VALGRIND"))
# The HTTP side's default port (8025) would clash between sinks started in
# parallel, also by tests that run the binary themselves: port 0 unless a
# test says otherwise (--http-listen wins over the environment).
os.environ.setdefault("SMTPSINK_HTTP_LISTEN", "127.0.0.1:0")
HARNESS_WAIT = 10.0 * (6 if VALGRIND else 1)


def rss_kib(pid):
    """The resident set size (VmRSS) of process pid, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def _split(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class Sink:
    """A running smtpsink process."""

    def __init__(self, args=(), env=None, grpc=True, timeout=HARNESS_WAIT, preexec_fn=None):
        self.dir = tempfile.TemporaryDirectory(prefix="smtpsink-test-")
        self.ready_file = os.path.join(self.dir.name, "ready.json")
        argv = [SMTPSINK_BIN, "--ready-file", self.ready_file]
        if not any(a.startswith("--smtp-listen") for a in args):
            argv += ["--smtp-listen", "127.0.0.1:0"]
        if not any(a.startswith("--grpc-listen") for a in args):
            argv += ["--grpc-listen", "127.0.0.1:0" if grpc else "off"]
        argv += list(args)
        self.stderr_path = os.path.join(self.dir.name, "stderr.log")
        self._stderr = open(self.stderr_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr, env=full_env,
                                     preexec_fn=preexec_fn)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.ready_file):
            if self.proc.poll() is not None:
                raise RuntimeError("smtpsink exited with %s: %s" % (self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("smtpsink not ready in %ss: %s" % (timeout, self.stderr()))
            time.sleep(0.005)
        with open(self.ready_file) as f:
            self.ready = json.load(f)
        self.smtp_addr = self.ready["smtp"]
        self.smtp_host, self.smtp_port = _split(self.smtp_addr)
        self.grpc_addr = self.ready.get("grpc")
        self.http_addr = (self.ready.get("http") or [None])[0]

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def connect(self, timeout=5.0):
        s = socket.create_connection((self.smtp_host, self.smtp_port), timeout=timeout)
        return s

    def stop(self, sig=signal.SIGTERM, timeout=HARNESS_WAIT):
        """Stops the sink; returns (exit status, stdout bytes)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError("smtpsink did not stop within %ss" % timeout)
        self._stderr.close()
        return self.proc.returncode, out

    def close(self):
        if self.proc.poll() is None and VALGRIND:
            # A SIGKILL leaves no memcheck report: ask first
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.communicate(timeout=HARNESS_WAIT)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._stderr.closed:
            self._stderr.close()
        self.dir.cleanup()


@pytest.fixture
def sink_factory():
    sinks = []

    def make(*args, **kw):
        s = Sink(args, **kw)
        sinks.append(s)
        return s

    yield make
    for s in sinks:
        s.close()


@pytest.fixture
def sink(sink_factory):
    """A fresh sink with default limits, SMTP and gRPC on port 0."""
    s = sink_factory()
    yield s
    rc, _ = s.stop()
    assert rc == 0, "smtpsink exited with %s: %s" % (rc, s.stderr())
    if os.environ.get("SMTPSINK_SANITIZE", "").upper() in ("ON", "1", "TRUE"):
        err = s.stderr()
        assert "ERROR: AddressSanitizer" not in err and "runtime error:" not in err, err


class SMTPConn:
    """A raw SMTP conversation: send bytes, read replies (multi-line aware)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """Reads one reply; returns (code, [lines of text])."""
        lines = []
        while True:
            line = self.readline()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5.0):
        """True if the server closed the connection (after any pending data)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


@pytest.fixture
def smtp(sink):
    """A raw SMTP connection to `sink`, greeting already read."""
    c = SMTPConn(sink.connect())
    code, _ = c.reply()
    assert code == 220
    yield c
    c.sock.close()
