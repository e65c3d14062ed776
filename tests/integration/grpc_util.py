"""Helpers for the gRPC integration tests (test_grpc_*.py): stubs, a
channel to a running sink, and ways to send mail (smtplib or raw bytes).

conftest.py puts SMTPSINK_PYGEN on sys.path, so import this after it.
"""
import re
import smtplib
import socket
import time
import uuid
from email.message import EmailMessage

import grpc

import conftest  # noqa: F401  (sys.path for the generated stubs)
from smtpsink.v1 import smtpsink_pb2 as pb  # noqa: E402
from smtpsink.v1 import smtpsink_pb2_grpc as pbg  # noqa: E402
import health_pb2  # noqa: E402
import health_pb2_grpc  # noqa: E402

MAX_MSG = 128 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MSG),
    ("grpc.max_send_message_length", MAX_MSG),
]


class Client:
    """A Sink and a Health stub on one channel to `sink`."""

    def __init__(self, sink, options=()):
        self.channel = grpc.insecure_channel(sink.grpc_addr, options=CHANNEL_OPTIONS + list(options))
        self.sink = pbg.SinkStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def close(self):
        self.channel.close()

    def info(self):
        return self.sink.GetServerInfo(pb.GetServerInfoRequest(), timeout=10)

    def list(self, timeout=10, **filter_kw):
        limit = filter_kw.pop("limit", 0)
        include_raw = filter_kw.pop("include_raw", False)
        return self.sink.ListMessages(
            pb.ListMessagesRequest(filter=pb.Filter(**filter_kw), limit=limit, include_raw=include_raw),
            timeout=timeout)

    def wait_until(self, pred, timeout=5.0):
        """Polls GetServerInfo until pred(info) holds (test bookkeeping only)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.info()
            if pred(info):
                return info
            if time.monotonic() > deadline:
                raise AssertionError("condition not met; last info: %s" % info)
            time.sleep(0.02)


def unique(prefix="t"):
    """A per-test token for recipients/subjects, so tests never see each other's mail."""
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


def make_message(frm, to, subject="hello", body="body\n", headers=None):
    m = EmailMessage()
    m["From"] = frm
    m["To"] = to if isinstance(to, str) else ", ".join(to)
    m["Subject"] = subject
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(body)
    return m


def send(sink, frm, rcpts, subject="hello", body="body\n", headers=None):
    """Sends one message with smtplib; returns the queued id parsed from the 250 reply."""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    msg = make_message(frm, rcpts, subject, body, headers)
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail(frm)
        for r in rcpts:
            code, resp = s.rcpt(r)
            assert code == 250, (code, resp)
        code, resp = s.data(msg.as_bytes())
        assert code == 250, (code, resp)
    return queued_id(resp)


def queued_id(resp):
    if isinstance(resp, bytes):
        resp = resp.decode()
    m = re.search(r"queued as (\d+)", resp)
    assert m, resp
    return int(m.group(1))


class RawSMTP:
    """Minimal raw client for byte-exact DATA."""

    def __init__(self, sink):
        self.sock = socket.create_connection((sink.smtp_host, sink.smtp_port), timeout=10)
        self.buf = b""
        code, _ = self.reply()
        assert code == 220

    def reply(self):
        lines = []
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError(self.buf)
                self.buf += chunk
            line, _, self.buf = self.buf.partition(b"\n")
            line = line.rstrip(b"\r").decode("utf-8", "replace")
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def dot_stuff(data):
    """SMTP transparency (RFC 5321 4.5.2): a leading '.' on a line is doubled."""
    out = []
    for line in data.split(b"\r\n"):
        out.append(b"." + line if line.startswith(b".") else line)
    return b"\r\n".join(out)


def rpc_error(fn, *a, **kw):
    """Calls fn and returns the grpc.RpcError it raised (fails if none)."""
    try:
        fn(*a, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError("expected an RpcError from %s" % getattr(fn, "__name__", fn))
