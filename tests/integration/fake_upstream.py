"""A scripted SMTP upstream for the relay tests (issue 10): what a real
upstream does not do on demand -- drop the connection mid-transaction,
dribble its replies a byte at a time, send an over-long line. One thread
accepts connections on 127.0.0.1:0 and runs script(conn) for each; what the
relay sent is kept in conn.received (command lines and raw DATA bytes).
"""
import socket
import threading
import time

EHLO = [b"250-upstream.test", b"250-PIPELINING", b"250-8BITMIME", b"250-SIZE 10000000", b"250 SMTPUTF8"]


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.received = []  # command lines (str) and DATA payloads (bytes)
        self.dribble = 0.0  # > 0: replies go out a byte at a time, this far apart (s)

    def send(self, *lines):
        data = b"".join(line + b"\r\n" for line in lines)
        if self.dribble <= 0:
            self.sock.sendall(data)
            return
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            time.sleep(self.dribble)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def line(self):
        """The next command line (without CRLF), recorded."""
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        self.received.append(line.decode("utf-8", "replace"))
        return self.received[-1]

    def data(self, upto=None):
        """DATA's bytes up to and including CRLF.CRLF (dot-stuffed, as sent), or the
        first `upto` bytes of them; recorded."""
        while True:
            if upto is not None and len(self.buf) >= upto:
                out, self.buf = self.buf[:upto], self.buf[upto:]
                break
            end = self.buf.find(b"\r\n.\r\n")
            if end >= 0 or self.buf.startswith(b".\r\n"):
                cut = end + 5 if end >= 0 else 3
                out, self.buf = self.buf[:cut], self.buf[cut:]
                break
            self._fill()
        self.received.append(out)
        return out

    def greet_and_ehlo(self):
        self.send(b"220 upstream.test ESMTP")
        assert self.line().upper().startswith("EHLO ")
        self.send(*EHLO)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class FakeUpstream:
    def __init__(self, script):
        self.script = script
        self.conns = []
        self.errors = []
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.addr = "127.0.0.1:%d" % self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(10)
            c = Conn(s)
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.script(c)
        except EOFError:
            pass
        except Exception as e:  # reported by the test through .errors
            self.errors.append(repr(e))
        finally:
            c.close()

    def close(self):
        self.lsock.close()
