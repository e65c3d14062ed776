"""Clients that go away at every step of a transaction, with a FIN or a
RST, step by step or pipelined, from 16 threads at once (100 of each ci, 1,000
full). Asserts: nothing partial is stored (a stored message is byte-exact
and its whole end of data was sent), a message whose end was sent is stored
at most once, one whose 250 was read is stored, sessions_active returns to
0, received = stored + evicted, and the sink still serves a normal client."""
import itertools
import re
import socket
import struct

from loadutil import Session, figure, grpc_util, list_all, pick, run_threads, start_sink, stop_ok
from loadutil import SMTPConn, wait_for
from loadutil import no_sanitizer_reports, sink_factory  # noqa: F401 (fixtures)

REPS = pick(100, 1000)
THREADS = 16
BODY = b"Subject: %s\r\n\r\n" + b"line of the body, long enough to be cut in the middle\r\n" * 40
ENDED = ("dot_unread", "dot_read", "bdat_unread", "bdat_read")      # whole end of data sent

# step -> the conversation up to the close: [(bytes to send, replies to read after them)]
HELLO = [(b"", 1), (b"EHLO c.test\r\n", 1)]
MAIL, RCPT, DATA = b"MAIL FROM:<a@x.test>\r\n", b"RCPT TO:<b@y.test>\r\n", b"DATA\r\n"
TX = HELLO + [(MAIL, 1), (RCPT, 1)]
STEPS = {
    "connect": [],
    "greeting": HELLO[:1],
    "ehlo": HELLO[:1] + [(b"EHLO c.test\r\n", 0)],
    "mail": HELLO + [(MAIL, 0)],
    "rcpt": HELLO + [(MAIL, 1), (RCPT, 0)],
    "data": TX + [(DATA, 0)],
    "mid_body": TX + [(DATA, 1), ("half", 0)],
    "dot_unread": TX + [(DATA, 1), ("body", 0)],
    "dot_read": TX + [(DATA, 1), ("body", 1)],
    "mid_bdat": TX + [("bdat_half", 0)],
    "bdat_chunk": TX + [("bdat_first", 1)],
    "bdat_unread": TX + [("bdat_all", 0)],
    "bdat_read": TX + [("bdat_all", 2)],
}


def wire(part, subject):
    data = BODY % subject.encode()
    half = len(data) // 2
    return {"half": data[:half], "body": data + b".\r\n",
            "bdat_half": b"BDAT %d LAST\r\n%s" % (len(data), data[:half]),
            "bdat_first": b"BDAT %d\r\n%s" % (half, data[:half]),
            "bdat_all": b"BDAT %d\r\n%sBDAT %d LAST\r\n%s" % (half, data[:half], len(data) - half, data[half:]),
            }.get(part, part)


def go_away(s, step, rst, pipelined, subject):
    """Runs `step` and closes; returns the id of a 250 read, else None."""
    c = socket.create_connection((s.smtp_host, s.smtp_port), timeout=30)
    conn = SMTPConn(c)
    plan = STEPS[step]
    if pipelined:       # everything in one write, then read what the plan reads
        c.sendall(b"".join(wire(p, subject) for p, _ in plan))
        plan = [(b"", sum(n for _, n in plan))]
    replies = []
    for part, n in plan:
        conn.send(wire(part, subject))
        replies += [conn.reply() for _ in range(n)]
    if rst:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    last = replies[-1] if replies else (0, [""])
    m = re.search(r"queued as (\d+)", last[1][0])
    return int(m.group(1)) if m else None


def test_disconnect_at_every_step(sink_factory):
    s = start_sink(sink_factory, "--max-messages", "10000000")        # nothing evicted
    cases = [(step, rst, pipe, "%s-%d-%d-%d" % (step, rst, pipe, r))
             for step, rst, pipe, r in itertools.product(STEPS, (0, 1), (0, 1), range(REPS))]
    acked = {}

    def worker(part):
        for step, rst, pipe, subject in part:
            mid = go_away(s, step, rst, pipe, subject)
            if mid is not None:
                acked[subject] = mid

    run_threads([lambda k=k: worker(cases[k::THREADS]) for k in range(THREADS)], timeout=pick(120, 600))
    c = grpc_util.Client(s)
    wait_for(lambda: c.info().counters.sessions_active == 0, timeout=30, what="sessions to close")
    stored = list_all(c, include_raw=True)
    seen = set()
    for m in stored:
        assert m.subject.rsplit("-", 3)[0] in ENDED, "stored without its end of data: " + m.subject
        assert m.subject not in seen, "stored twice: " + m.subject
        seen.add(m.subject)
        assert m.raw == BODY % m.subject.encode(), "partial: " + m.subject
    assert {m.subject: m.id for m in stored if m.subject in acked} == acked, "a 250 read but not stored"
    assert sorted(acked) == sorted(x[3] for x in cases if x[0] in ("dot_read", "bdat_read"))
    n = c.info().counters
    assert n.messages_received == n.stored_messages + n.messages_evicted == len(stored)
    assert n.sessions_total == len(cases)
    sess = Session(s)
    assert len(sess.send([("a@x.test", "b@y.test", b"Subject: after\r\n\r\nstill here\r\n")], bdat=False)) == 1
    sess.close()
    c.close()
    stop_ok(s)
    figure("disconnects", connections=len(cases), stored=len(stored), acked=len(acked),
           ended_unread_stored=sum(1 for m in stored if "unread" in m.subject))
