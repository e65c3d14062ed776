"""Proxy mode (--relay-mode proxy, issue 10): the client's MAIL, each RCPT
and the end of data get the upstream's replies, the final one only after
the upstream answered; the message is captured in every case, with the
upstream's replies; an unreachable upstream, or one lost in the middle of
the transaction, is 451 4.4.1 (never a 250)."""
import smtplib
import time

import pytest

import grpc_util
from grpc_util import pb
from fake_upstream import FakeUpstream
from test_relay import sink_factory, dead_upstream, raw_send


def proxy_pair(factory, *args):
    up = factory()
    a = factory("--relay-url", "smtp://" + up.smtp_addr, "--relay-mode", "proxy", *args)
    return a, up, grpc_util.Client(a), grpc_util.Client(up)


MSG = b"Subject: proxied\r\n\r\n.dot line\r\nbody\r\n"


def test_proxy_rcpt_replies_are_the_upstreams(sink_factory):
    a, up, ca, cu = proxy_pair(sink_factory)
    cu.sink.SetRejectRule(pb.RejectRule(stage=pb.RCPT_TO, match="bad@*", code=550,
                                        enhanced_code="5.1.1", message="no such user here"))
    with smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=10) as s:
        refused = s.sendmail("s@example.test", ["good@example.test", "bad@example.test"], MSG)
    assert refused == {"bad@example.test": (550, b"5.1.1 no such user here")}
    u = cu.list(include_raw=True).messages[0]
    assert list(u.rcpt_to) == ["good@example.test"] and u.raw == MSG
    m = ca.list(include_raw=True).messages[0]
    assert m.raw == MSG and list(m.rcpt_to) == ["good@example.test"]
    assert m.relay.state == pb.RELAY_STATE_RELAYED and list(m.relay.rcpt_to) == ["good@example.test"]
    assert [(r.command, r.code) for r in m.relay.replies] == [
        ("MAIL FROM:<s@example.test> SIZE=%d" % len(MSG), 250), ("RCPT TO:<good@example.test>", 250),
        ("RCPT TO:<bad@example.test>", 550), ("DATA", 354), ("END-OF-MESSAGE", 250)]
    with smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("s@example.test", ["bad@example.test"], MSG)
    assert e.value.recipients["bad@example.test"][0] == 550
    assert ca.info().counters.messages_received == 1


def test_proxy_final_reply_after_the_upstreams(sink_factory):
    a, up, ca, cu = proxy_pair(sink_factory)
    cu.sink.SetRejectRule(pb.RejectRule(stage=pb.DATA, delay_ms=400))
    t0 = time.monotonic()
    with smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("s@example.test")
        s.rcpt("r@example.test")
        code, text = s.data(MSG)
    assert code == 250 and time.monotonic() - t0 >= 0.4
    uid = cu.list().messages[0].id
    assert text.decode().endswith("queued as %d" % uid)  # the upstream's words
    # The upstream refuses the data: the client is told, the message kept as FAILED
    cu.sink.DeleteRejectRule(pb.DeleteRejectRuleRequest())
    cu.sink.SetRejectRule(pb.RejectRule(stage=pb.DATA, code=554, enhanced_code="5.7.1", message="spam"))
    with smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("s@example.test", ["r@example.test"], MSG)
    assert e.value.smtp_code == 554 and e.value.smtp_error == b"5.7.1 spam"
    m = ca.list().messages[-1]
    assert m.relay.state == pb.RELAY_STATE_FAILED and m.relay.last_reply == "554 5.7.1 spam"
    assert ca.info().counters.messages_received == 2


def test_proxy_upstream_unreachable_is_451(sink_factory):
    a, ca, _ = dead_upstream(sink_factory, "--relay-mode", "proxy")
    with smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        code, text = s.mail("s@example.test")
    assert code == 451 and text.startswith(b"4.4.1 "), (code, text)
    assert ca.info().counters.messages_received == 0


def test_proxy_relay_rcpt_and_bdat(sink_factory):
    a, up, ca, cu = proxy_pair(sink_factory, "--relay-rcpt", "*@fwd.test")
    with smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=10) as s:
        assert s.sendmail("s@example.test", ["local@other.test", "x@fwd.test"], MSG) == {}
    assert list(cu.list().messages[0].rcpt_to) == ["x@fwd.test"]
    assert list(ca.list().messages[0].rcpt_to) == ["local@other.test", "x@fwd.test"]
    data = b"Subject: b\r\n\r\n\x00bin\r\n.x"
    raw_send(a, "MAIL FROM:<s@example.test> BODY=BINARYMIME", ["RCPT TO:<y@fwd.test>"], data, bdat=True)
    m = ca.list(include_raw=True).messages[-1]  # the reply named the upstream's id
    assert m.raw == data
    assert m.relay.state == pb.RELAY_STATE_RELAYED and m.relay.replies[-1].command == "BDAT"
    u = cu.list(include_raw=True).messages[-1]
    assert u.raw == data and u.body_type == "BINARYMIME"


@pytest.mark.parametrize("when", ["after-rcpt", "at-data", "in-data"])
def test_proxy_upstream_lost_mid_transaction_is_451(sink_factory, when):
    """The upstream accepted the recipient, then the connection is gone:
    before the data (closed while idle), at DATA (no reply), or halfway
    through the message. The client gets 451 4.4.1, the message is still
    captured, its relay record FAILED with the connection's loss."""
    closed = []

    def script(c):
        c.greet_and_ehlo()
        assert c.line().startswith("MAIL FROM:<s@example.test>")
        c.send(b"250 2.1.0 Ok")
        assert c.line() == "RCPT TO:<r@example.test>"
        c.send(b"250 2.1.5 Ok")
        if when == "at-data":
            assert c.line() == "DATA"
        elif when == "in-data":
            assert c.line() == "DATA"
            c.send(b"354 go ahead")
            c.data(upto=10)
        closed.append(when)  # the script returns: the connection closes

    up = FakeUpstream(script)
    a = sink_factory("--relay-url", "smtp://" + up.addr, "--relay-mode", "proxy")
    ca = grpc_util.Client(a)
    with smtplib.SMTP(a.smtp_host, a.smtp_port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.mail("s@example.test")[0] == 250
        assert s.rcpt("r@example.test")[0] == 250
        if when == "after-rcpt":
            deadline = time.monotonic() + 10
            while not closed:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.2)  # the sink sees the close while nothing is pending
        code, text = s.data(MSG)
    up.close()
    assert not up.errors, up.errors
    assert code == 451 and text.startswith(b"4.4.1 upstream unavailable: "), (code, text)
    m = ca.list(include_raw=True).messages[0]
    assert m.raw == MSG and list(m.rcpt_to) == ["r@example.test"]
    assert m.relay.state == pb.RELAY_STATE_FAILED, m.relay
    assert "connection" in m.relay.last_reply and m.relay.last_reply in text.decode(), m.relay
    assert [(r.command.split(":")[0], r.code) for r in m.relay.replies] == [
        ("MAIL FROM", 250), ("RCPT TO", 250)] + ([("DATA", 354)] if when == "in-data" else []) + [
        ("CONNECTION", 0)], m.relay
    info = ca.info()
    assert info.counters.messages_received == 1
    assert info.counters.relay_failed == 1 and info.counters.relay_relayed == 0
