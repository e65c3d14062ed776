"""Reject / fault-injection rules set over gRPC, seen by a real SMTP client
(smtplib) at every stage: the configured code and text, times and hits,
delay_ms, disconnect, DATA rules not storing the message."""
import smtplib
import time

import grpc
import pytest

from grpc_util import Client, RawSMTP, make_message, pb, rpc_error, send, unique


@pytest.fixture
def client(sink):
    c = Client(sink)
    yield c
    c.close()


def add(client, **kw):
    return client.sink.SetRejectRule(pb.RejectRule(**kw), timeout=10)


def rules(client):
    return list(client.sink.ListRejectRules(pb.ListRejectRulesRequest(), timeout=10).rules)


def sendmail(sink, frm, rcpts, helo="client.test"):
    msg = make_message(frm, rcpts)
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, local_hostname=helo, timeout=10) as s:
        return s.sendmail(frm, rcpts, msg.as_bytes())


def test_rule_crud(client):
    r1 = add(client, stage=pb.RCPT_TO, match="*@bad.test", code=550, message="no such user")
    r2 = add(client, stage=pb.DATA, code=451, enhanced_code="4.3.0", times=2)
    assert r1.id and r2.id and r1.id != r2.id
    assert r1.enhanced_code == "5.1.1"          # default for RCPT_TO 5xx
    assert r2.enhanced_code == "4.3.0"
    assert r2.message                            # default text
    assert [r.id for r in rules(client)] == [r1.id, r2.id]
    assert client.sink.DeleteRejectRule(pb.DeleteRejectRuleRequest(id=r1.id), timeout=10).deleted == 1
    e = rpc_error(client.sink.DeleteRejectRule, pb.DeleteRejectRuleRequest(id=r1.id), timeout=10)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert [r.id for r in rules(client)] == [r2.id]
    add(client, stage=pb.HELO, code=421)
    assert client.sink.DeleteRejectRule(pb.DeleteRejectRuleRequest(), timeout=10).deleted == 2
    assert rules(client) == []
    r3 = add(client, stage=pb.HELO, code=421)
    assert r3.id not in (r1.id, r2.id), "ids are not reused"


def test_connect_rule(sink, client):
    add(client, stage=pb.CONNECT, match="127.0.0.*", code=554, message="go away")
    with pytest.raises(smtplib.SMTPConnectError) as ei:
        smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10)
    assert ei.value.smtp_code == 554
    assert b"go away" in ei.value.smtp_error


def test_connect_rule_not_matching(sink, client):
    add(client, stage=pb.CONNECT, match="10.*", code=554)
    tag = unique()
    assert sendmail(sink, "a@x.test", [tag + "@y.test"]) == {}


def test_helo_rule(sink, client):
    add(client, stage=pb.HELO, match="*.evil.test", code=550, message="bad helo")
    with pytest.raises(smtplib.SMTPHeloError) as ei:
        sendmail(sink, "a@x.test", ["b@y.test"], helo="host.evil.test")
    assert ei.value.smtp_code == 550
    assert b"bad helo" in ei.value.smtp_error
    assert sendmail(sink, "a@x.test", [unique() + "@y.test"], helo="good.test") == {}


def test_mail_from_rule(sink, client):
    add(client, stage=pb.MAIL_FROM, match="spammer@*", code=553, enhanced_code="5.7.1",
        message="sender blocked")
    with pytest.raises(smtplib.SMTPSenderRefused) as ei:
        sendmail(sink, "Spammer@x.test", ["b@y.test"])
    assert ei.value.smtp_code == 553
    assert b"5.7.1 sender blocked" in ei.value.smtp_error


def test_rcpt_rule_and_partial_refusal(sink, client):
    tag = unique()
    add(client, stage=pb.RCPT_TO, match="bad-*@" + tag + ".test", code=550,
        message="mailbox unavailable")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
        sendmail(sink, "a@x.test", ["bad-1@" + tag + ".test"])
    code, text = ei.value.recipients["bad-1@" + tag + ".test"]
    assert code == 550 and b"5.1.1 mailbox unavailable" in text
    refused = sendmail(sink, "a@x.test", ["bad-2@" + tag + ".test", "good@" + tag + ".test"])
    assert list(refused) == ["bad-2@" + tag + ".test"]
    ms = client.list(rcpt_to="*@" + tag + ".test").messages
    assert len(ms) == 1 and list(ms[0].rcpt_to) == ["good@" + tag + ".test"]


def test_data_rule_does_not_store(sink, client):
    tag = unique()
    add(client, stage=pb.DATA, match="*@" + tag + ".test", code=554, message="content rejected")
    with pytest.raises(smtplib.SMTPDataError) as ei:
        sendmail(sink, "a@x.test", ["x@other.test", "u@" + tag + ".test"])
    assert ei.value.smtp_code == 554
    assert b"content rejected" in ei.value.smtp_error
    assert list(client.list(rcpt_to="*@" + tag + ".test").messages) == []
    assert client.info().counters.messages_rejected >= 1


def test_times_and_hits(sink, client):
    tag = unique()
    r = add(client, stage=pb.RCPT_TO, match="*@" + tag + ".test", code=451, times=2)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            sendmail(sink, "a@x.test", ["u@" + tag + ".test"])
        assert ei.value.recipients["u@" + tag + ".test"][0] == 451
    assert sendmail(sink, "a@x.test", ["u@" + tag + ".test"]) == {}
    listed = rules(client)
    assert [x.id for x in listed] == [r.id], "an exhausted rule stays listed"
    assert listed[0].hits == 2
    assert len(client.list(rcpt_to="*@" + tag + ".test").messages) == 1


def test_first_matching_rule_wins(sink, client):
    tag = unique()
    add(client, stage=pb.RCPT_TO, match="*@" + tag + ".test", code=450, message="first")
    add(client, stage=pb.RCPT_TO, match="*", code=550, message="second")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
        sendmail(sink, "a@x.test", ["u@" + tag + ".test"])
    code, text = ei.value.recipients["u@" + tag + ".test"]
    assert code == 450 and b"first" in text
    hits = [x.hits for x in rules(client)]
    assert hits == [1, 0]


def test_delay_only_rule(sink, client):
    tag = unique()
    add(client, stage=pb.MAIL_FROM, match="slow-" + tag + "@*", delay_ms=600)
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        t0 = time.monotonic()
        code, _ = s.mail("slow-" + tag + "@x.test")
        elapsed = time.monotonic() - t0
        assert code == 250, "code 0: the normal reply, only late"
        assert elapsed >= 0.55, elapsed
        t0 = time.monotonic()
        s.rset()
        assert s.mail("fast@x.test")[0] == 250


def test_delay_and_reject_with_client_timeout(sink, client):
    """delay_ms makes a client with a short timeout give up; a patient one gets the reply."""
    add(client, stage=pb.RCPT_TO, code=450, message="later", delay_ms=1000)
    c = RawSMTP(sink)
    try:
        assert c.cmd("EHLO c.test")[0] == 250
        assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
        c.sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            c.cmd("RCPT TO:<b@y.test>")
        c.sock.settimeout(5)
        code, lines = c.reply()
        assert code == 450 and "later" in lines[0]
    finally:
        c.close()


def test_disconnect_rule(sink, client):
    tag = unique()
    add(client, stage=pb.RCPT_TO, match="*@" + tag + ".test", code=421, message="closing",
        disconnect=True)
    c = RawSMTP(sink)
    try:
        assert c.cmd("EHLO c.test")[0] == 250
        assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
        code, lines = c.cmd("RCPT TO:<u@%s.test>" % tag)
        assert code == 421 and "closing" in lines[0]
        c.sock.settimeout(5)
        assert c.sock.recv(100) == b"", "connection closed after the reply"
    finally:
        c.close()


def test_rule_applies_to_open_session(sink, client):
    tag = unique()
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.ehlo("c.test")
        assert s.mail("a@x.test")[0] == 250
        add(client, stage=pb.RCPT_TO, match="*@" + tag + ".test", code=550)
        code, _ = s.rcpt("u@" + tag + ".test")
        assert code == 550


def test_enhanced_code_omitted_when_extension_off(sink_factory):
    s = sink_factory("--no-enhancedstatuscodes")
    c = Client(s)
    try:
        c.sink.SetRejectRule(pb.RejectRule(stage=pb.MAIL_FROM, code=550, message="nope"), timeout=10)
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as smtp:
            smtp.ehlo("c.test")
            code, text = smtp.mail("a@x.test")
        assert code == 550
        assert text == b"nope", text
    finally:
        c.close()
        assert s.stop()[0] == 0


def test_rule_count_limit_is_resource_exhausted(client):
    """10,000 rules at most: the next one is RESOURCE_EXHAUSTED (room), a bad
    one stays INVALID_ARGUMENT (input); deleting one makes room again."""
    futures = [client.sink.SetRejectRule.future(pb.RejectRule(stage=pb.HELO, match="h%d.test" % i, code=550),
                                                timeout=60) for i in range(10000)]
    ids = [f.result().id for f in futures]
    e = rpc_error(add, client, stage=pb.HELO, match="one-more.test", code=550)
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "too many rules" in e.details()
    e = rpc_error(add, client, stage=pb.HELO, match="[", code=550)
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # the count is checked first
    client.sink.DeleteRejectRule(pb.DeleteRejectRuleRequest(id=ids[0]), timeout=10)
    e = rpc_error(add, client, stage=pb.HELO, match="[", code=550)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert add(client, stage=pb.HELO, match="one-more.test", code=550).id
