"""Helpers for the SMTP integration tests (test_smtp_*.py): a raw SMTP
connection, reading stored messages back over gRPC, and the --print output.
"""
import os
import re
import socket
import time

import pytest

import conftest
import grpc_util
from conftest import SMTPConn


def connect(sink, greet=True, timeout=5.0):
    c = SMTPConn(sink.connect(timeout=timeout))
    if greet:
        code, lines = c.reply()
        assert code == 220, (code, lines)
    return c


def ehlo(c, name="client.test"):
    code, lines = c.cmd("EHLO " + name)
    assert code == 250, (code, lines)
    return lines


def queued_id(lines):
    text = " ".join(lines) if isinstance(lines, list) else lines
    m = re.search(r"queued as (\d+)", text)
    assert m, text
    return int(m.group(1))


def send_raw(sink, wire, frm="a@example.test", rcpts=("b@example.test",)):
    """One transaction with the DATA part given as wire bytes (ending in CRLF.CRLF);
    returns the queued id."""
    c = connect(sink)
    ehlo(c)
    assert c.cmd("MAIL FROM:<%s>" % frm)[0] == 250
    for r in rcpts:
        assert c.cmd("RCPT TO:<%s>" % r)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(wire)
    code, lines = c.reply()
    assert code == 250, (code, lines)
    c.cmd("QUIT")
    c.sock.close()
    return queued_id(lines)


class Store:
    """Reads the sink's store over gRPC."""

    def __init__(self, sink):
        self.client = grpc_util.Client(sink)

    def messages(self):
        return list(self.client.list(include_raw=True).messages)

    def get(self, mid):
        for m in self.messages():
            if m.id == mid:
                return m
        raise AssertionError("message %d not stored; have %s" % (mid, [m.id for m in self.messages()]))

    def count(self):
        return len(self.client.list().messages)

    def close(self):
        self.client.close()


def wait_for(pred, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def recv_until_closed(sock, timeout=5.0):
    """Everything the server sends until it closes; raises if it does not close."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return data
    except socket.timeout:
        raise AssertionError("server did not close; got %r" % data[-200:])


@pytest.fixture(autouse=True)
def no_sanitizer_reports(monkeypatch):
    """In a sanitizer build (SMTPSINK_SANITIZE=ON), fails the test if any sink
    it started reported an ASan/UBSan error on stderr. Import it into a test
    module to apply it to every test there."""
    if os.environ.get("SMTPSINK_SANITIZE", "").upper() not in ("ON", "1", "TRUE"):
        yield
        return
    reports = []
    orig_close = conftest.Sink.close

    def close(self):
        err = self.stderr()
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err or "ERROR: LeakSanitizer" in err:
            reports.append(err)
        orig_close(self)

    monkeypatch.setattr(conftest.Sink, "close", close)
    yield
    assert not reports, reports[0][-4000:]
