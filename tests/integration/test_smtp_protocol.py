"""The SMTP protocol against the real binary: every command and reply code,
the EHLO list and each extension switched off, pipelining, BDAT, fidelity
(byte-exact raw, anomalies, no smuggling) and bad input."""
import os
import socket

import pytest

from conftest import SMTPConn
from smtp_util import Store, connect, ehlo, queued_id, recv_until_closed, send_raw
from smtp_util import no_sanitizer_reports  # noqa: F401 (autouse fixture)

ALL_EXT = ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 33554432", "ENHANCEDSTATUSCODES",
           "CHUNKING", "BINARYMIME", "DSN"]


def test_greeting_and_ehlo(sink):
    c = connect(sink, greet=False)
    code, lines = c.reply()
    assert (code, lines) == (220, ["smtpsink ESMTP smtpsink"])
    code, lines = c.cmd("EHLO client.test")
    assert code == 250
    assert lines == ["smtpsink"] + ALL_EXT
    code, lines = c.cmd("HELO client.test")
    assert (code, lines) == (250, ["smtpsink"])
    assert c.cmd("QUIT") == (221, ["2.0.0 Bye"])
    assert c.closed()


def test_every_command(sink_factory):
    sink = sink_factory("--max-recipients", "2", "--max-message-size", "1000")
    c = connect(sink)
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    assert c.cmd("MAIL FROM:<a@b.test>") == (503, ["5.5.1 Error: send HELO/EHLO first"])
    assert c.cmd("HELO") == (501, ["5.5.4 Syntax: EHLO hostname"])
    assert c.cmd("FOO bar")[0] == 500
    ehlo(c)
    assert c.cmd("RCPT TO:<c@d.test>")[0] == 503
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("VRFY postmaster")[0] == 252
    assert c.cmd("VRFY")[0] == 501
    assert c.cmd("EXPN staff") == (502, ["5.5.1 Error: EXPN not supported"])
    code, lines = c.cmd("HELP")
    assert code == 214 and "BDAT" in lines[0]
    assert c.cmd("MAIL FROM:a@b.test")[0] == 501
    assert c.cmd("MAIL FROM:<a@b.test> FOO=1")[0] == 555
    assert c.cmd("MAIL FROM:<a@b.test> SIZE=1001") == (552, ["5.3.4 Message size exceeds fixed maximum message size"])
    assert c.cmd("MAIL FROM:<a@b.test> SIZE=1000") == (250, ["2.1.0 Ok"])
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 503
    assert c.cmd("DATA") == (554, ["5.5.1 Error: no valid recipients"])
    assert c.cmd("RCPT TO:<>")[0] == 501
    assert c.cmd("RCPT TO:<c@d.test> BAR")[0] == 555
    assert c.cmd("RCPT TO:<c@d.test>") == (250, ["2.1.5 Ok"])
    assert c.cmd("RCPT TO:<e@d.test>")[0] == 250
    assert c.cmd("RCPT TO:<f@d.test>") == (452, ["4.5.3 Error: too many recipients"])
    assert c.cmd("RSET") == (250, ["2.0.0 Ok"])
    assert c.cmd("RCPT TO:<c@d.test>")[0] == 503
    assert c.cmd("NOOP with args")[0] == 250
    assert c.cmd("QUIT") == (221, ["2.0.0 Bye"])
    assert c.closed()


@pytest.mark.parametrize("flag,gone,probe,want", [
    ("--no-pipelining", "PIPELINING", None, None),
    ("--no-8bitmime", "8BITMIME", "MAIL FROM:<a@b.test> BODY=8BITMIME", 555),
    ("--no-smtputf8", "SMTPUTF8", "MAIL FROM:<a@b.test> SMTPUTF8", 555),
    ("--no-size", "SIZE 33554432", "MAIL FROM:<a@b.test> SIZE=10", 555),
    ("--no-enhancedstatuscodes", "ENHANCEDSTATUSCODES", None, None),
    ("--no-chunking", "CHUNKING", "BDAT 0 LAST", 500),
    ("--no-binarymime", "BINARYMIME", "MAIL FROM:<a@b.test> BODY=BINARYMIME", 555),
    ("--no-dsn", "DSN", "MAIL FROM:<a@b.test> RET=HDRS", 555),
])
def test_extension_switched_off(sink_factory, flag, gone, probe, want):
    sink = sink_factory(flag, grpc=False)
    c = connect(sink)
    lines = ehlo(c)
    assert gone not in lines
    assert lines[1:] == [e for e in ALL_EXT if e != gone]
    if probe is not None:
        assert c.cmd(probe)[0] == want
    if flag == "--no-pipelining":
        # one command at a time is fine; a client that pipelines anyway is cut off
        assert c.cmd("NOOP")[0] == 250
        c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n")
        assert c.reply() == (554, ["5.5.0 Error: SMTP protocol synchronization (PIPELINING not offered)"])
        assert c.closed()
        return
    if flag == "--no-enhancedstatuscodes":
        assert c.cmd("MAIL FROM:<a@b.test>") == (250, ["Ok"])
        assert c.cmd("BOGUS") == (500, ["Error: command not recognized"])
    if flag == "--no-dsn":
        assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
        assert c.cmd("RCPT TO:<c@d.test> NOTIFY=NEVER")[0] == 555
    if flag == "--no-chunking":
        # without CHUNKING, DATA still works
        assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
        assert c.cmd("RCPT TO:<c@d.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: x\r\n\r\ny\r\n.\r\n")
        assert c.reply()[0] == 250
    c.cmd("QUIT")


def test_pipelining_one_write_every_reply_in_order(sink):
    c = connect(sink)
    wire = (b"EHLO p.test\r\nMAIL FROM:<s@p.test> BODY=8BITMIME\r\nRCPT TO:<r1@p.test>\r\n"
            b"RCPT TO:bad\r\nRCPT TO:<r2@p.test> NOTIFY=FAILURE\r\nDATA\r\n"
            b"Subject: piped\r\n\r\n..stuffed\r\n\xc3\xa9t\xc3\xa9\r\n.\r\n"
            b"MAIL FROM:<>\r\nRCPT TO:<r3@p.test>\r\nDATA\r\n.\r\nNOOP\r\nQUIT\r\n")
    c.send(wire)
    assert c.reply()[0] == 250                      # EHLO
    assert c.reply() == (250, ["2.1.0 Ok"])
    assert c.reply() == (250, ["2.1.5 Ok"])
    assert c.reply()[0] == 501
    assert c.reply() == (250, ["2.1.5 Ok"])
    assert c.reply()[0] == 354
    code, lines = c.reply()
    assert code == 250
    first = queued_id(lines)
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 354
    code, lines = c.reply()
    second = queued_id(lines)
    assert second == first + 1
    assert c.reply() == (250, ["2.0.0 Ok"])
    assert c.reply()[0] == 221
    assert c.closed()

    st = Store(sink)
    m = st.get(first)
    assert m.raw == b"Subject: piped\r\n\r\n.stuffed\r\n\xc3\xa9t\xc3\xa9\r\n"
    assert m.mail_from == "s@p.test"
    assert list(m.rcpt_to) == ["r1@p.test", "r2@p.test"]
    assert [(p.name, p.value) for p in m.mail_params] == [("BODY", "8BITMIME")]
    assert [(p.name, p.value) for p in m.rcpt_params[1].params] == [("NOTIFY", "FAILURE")]
    assert m.helo == "p.test"
    assert m.body_type == "8BITMIME"
    assert list(m.anomalies) == []
    m2 = st.get(second)
    assert m2.raw == b"" and m2.mail_from == ""
    st.close()


def test_bdat_chunks_pipelined(sink):
    c = connect(sink)
    ehlo(c)
    chunk1 = b"Subject: chunks\r\n\r\nfirst\r\n.\r\n"   # CRLF.CRLF is data in BDAT
    chunk2 = b"\x00binary\xff\n"
    c.send(b"MAIL FROM:<a@b.test> BODY=BINARYMIME\r\nRCPT TO:<c@d.test>\r\n"
           b"BDAT %d\r\n%sBDAT %d\r\n%sBDAT 0 LAST\r\n" % (len(chunk1), chunk1, len(chunk2), chunk2))
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply() == (250, ["2.0.0 Ok: %d octets received" % len(chunk1)])
    assert c.reply() == (250, ["2.0.0 Ok: %d octets received" % (len(chunk1) + len(chunk2))])
    code, lines = c.reply()
    assert code == 250
    st = Store(sink)
    m = st.get(queued_id(lines))
    assert m.raw == chunk1 + chunk2
    assert m.body_type == "BINARYMIME"
    assert "nul" not in m.anomalies
    # BODY=BINARYMIME needs BDAT
    assert c.cmd("MAIL FROM:<a@b.test> BODY=BINARYMIME")[0] == 250
    assert c.cmd("RCPT TO:<c@d.test>")[0] == 250
    assert c.cmd("DATA")[0] == 503
    # a refused BDAT's chunk is skipped, not read as commands
    assert c.cmd("RSET")[0] == 250
    c.send(b"BDAT 6\r\nQUIT\r\n")
    assert c.reply()[0] == 503
    assert c.cmd("NOOP")[0] == 250
    st.close()


def test_fidelity_and_anomalies(sink):
    st = Store(sink)
    long_line = b"x" * 1200
    wire = (b"Subject: \xc3\xa9\r\nX-Bare: lf\n\r\n"
            b"..leading dot\r\n"
            b"bare cr\rhere\r\n" + long_line + b"\r\n"
            b"tab\tand \x00 nul\r\n"
            b"\xff8bit\r\n.\r\n")
    mid = send_raw(sink, wire)
    m = st.get(mid)
    want = wire[:-3].replace(b"\r\n..leading", b"\r\n.leading")
    assert m.raw == want
    assert m.size == len(want)
    assert set(m.anomalies) == {"bare_lf", "bare_cr", "long_line", "8bit_header", "8bit_body", "nul"}
    assert m.peer.startswith("127.0.0.1:")
    st.close()


@pytest.mark.parametrize("smuggle", [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r"])
def test_no_smtp_smuggling(sink, smuggle):
    st = Store(sink)
    wire = (b"Subject: s\r\n\r\nhello" + smuggle +
            b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@x.test>\r\nDATA\r\nSubject: evil\r\n\r\n.\r\n")
    mid = send_raw(sink, wire)
    msgs = st.messages()
    assert len(msgs) == 1 and msgs[0].id == mid
    assert b"MAIL FROM:<evil@x.test>" in msgs[0].raw
    assert msgs[0].mail_from == "a@example.test"
    st.close()


def test_utf8_addresses_need_smtputf8(sink):
    c = connect(sink)
    ehlo(c)
    assert c.cmd("MAIL FROM:<j\u00f6rg@b\u00fccher.test>")[0] == 553
    assert c.cmd("MAIL FROM:<j\u00f6rg@b\u00fccher.test> SMTPUTF8")[0] == 250
    assert c.cmd("RCPT TO:<\u7528\u6237@\u4f8b\u5b50.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: caf\u00e9\r\n\r\nhi\r\n.\r\n".encode())
    code, lines = c.reply()
    assert code == 250
    st = Store(sink)
    m = st.get(queued_id(lines))
    assert m.mail_from == "j\u00f6rg@b\u00fccher.test"
    assert list(m.rcpt_to) == ["\u7528\u6237@\u4f8b\u5b50.test"]
    assert m.smtputf8
    assert "8bit_header" not in m.anomalies
    st.close()


def test_garbage_bytes_then_too_many_errors(sink_factory):
    sink = sink_factory("--max-errors", "5")
    c = connect(sink)
    c.send(os.urandom(64).replace(b"\n", b"") + b"\r\n")
    code, _ = c.reply()
    assert code == 500
    c.send(b"\x00\x01\x02\r\n\xff\xfe\r\nMAIL\r\n!!!\r\n")
    codes = [c.reply()[0] for _ in range(4)]
    assert codes[:3] == [500, 500, 503] or codes[:3] == [500, 500, 500], codes
    assert codes[3] == 500
    assert c.reply()[0] == 421
    assert c.closed()
    # the server still serves others
    assert send_raw(sink, b"Subject: after\r\n\r\nok\r\n.\r\n") == 1


def test_100k_line_without_crlf_is_refused_and_closed(sink):
    s = sink.connect()
    assert s.recv(1024).startswith(b"220")
    try:
        s.sendall(b"A" * 100 * 1024)
    except (ConnectionResetError, BrokenPipeError):
        pass
    data = recv_until_closed(s)
    assert data.startswith(b"500 5.5.2"), data
    s.close()
    assert send_raw(sink, b"Subject: still here\r\n\r\n.\r\n") == 1


def test_long_data_line_is_refused(sink_factory):
    sink = sink_factory("--max-data-line-length", "2000")
    c = connect(sink)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("RCPT TO:<c@d.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    try:
        c.send(b"Subject: x\r\n\r\n" + b"y" * 5000)
    except (ConnectionResetError, BrokenPipeError):
        pass
    assert recv_until_closed(c.sock).startswith(b"500 5.5.2")
    st = Store(sink)
    assert st.count() == 0
    st.close()


def test_message_too_big_is_drained_then_552(sink_factory):
    sink = sink_factory("--max-message-size", "10000")
    c = connect(sink)
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("RCPT TO:<c@d.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 50 + b".\r\n")
    assert c.reply() == (552, ["5.3.4 Error: message size exceeds fixed maximum message size"])
    # the session goes on
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("RCPT TO:<c@d.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: small\r\n\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    st = Store(sink)
    assert [m.id for m in st.messages()] == [queued_id(lines)]
    st.close()


def test_half_sent_data_then_disconnect_stores_nothing(sink):
    for tail in (b"Subject: half\r\n\r\nsome body\r\n", b"Subject: half\r\n\r\nx\r\n.", b"Subject: h\r\n\r\nx\r\n.\r"):
        c = connect(sink)
        ehlo(c)
        assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
        assert c.cmd("RCPT TO:<c@d.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(tail)
        c.sock.close()
    c = connect(sink)
    ehlo(c)
    c.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 1000 LAST\r\nonly a part")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    c.sock.close()
    st = Store(sink)
    assert st.count() == 0
    st.close()
    # ids were not consumed by the aborted transactions
    assert send_raw(sink, b"Subject: whole\r\n\r\n.\r\n") == 1


def test_ipv6_listener(sink_factory):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    sink = sink_factory("--smtp-listen", "[::1]:0", grpc=False)
    assert sink.smtp_addr.startswith("[::1]:")
    s = socket.create_connection(("::1", sink.smtp_port), timeout=5)
    assert s.recv(100).startswith(b"220 ")
    s.close()


def test_dual_stack_listener_shows_ipv4_peers(sink_factory):
    try:
        socket.socket(socket.AF_INET6).bind(("::", 0))
    except OSError:
        pytest.skip("no IPv6")
    sink = sink_factory("--smtp-listen", "[::]:0")
    port = sink.smtp_port
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    c = SMTPConn(s)
    assert c.reply()[0] == 220
    ehlo(c)
    assert c.cmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.cmd("RCPT TO:<c@d.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: v4\r\n\r\n.\r\n")
    code, lines = c.reply()
    assert code == 250
    st = Store(sink)
    m = st.get(queued_id(lines))
    assert m.peer == "127.0.0.1:%d" % s.getsockname()[1]
    st.close()
    s.close()
