"""gRPC control API against the real binary: info, list, get, clear,
filters, byte-exact raw, INVALID_ARGUMENT / NOT_FOUND / UNIMPLEMENTED."""
import grpc
import pytest

from grpc_util import (Client, RawSMTP, dot_stuff, pb, queued_id, rpc_error, send,
                       unique)


@pytest.fixture
def client(sink):
    c = Client(sink)
    yield c
    c.close()


def test_server_info(sink, client):
    info = client.info()
    assert info.version
    assert info.grpc_address == sink.grpc_addr
    assert list(info.smtp_addresses) == sink.ready["smtp_addresses"]
    assert "PIPELINING" in info.extensions
    assert "8BITMIME" in info.extensions
    assert any(e.startswith("SIZE ") for e in info.extensions), info.extensions
    assert info.max_message_size > 0
    assert info.grpc_max_message_size >= info.max_message_size
    assert info.counters.grpc_calls == 1
    before = info.counters
    tag = unique()
    send(sink, "a@x.test", tag + "@y.test")
    after = client.info().counters
    assert after.messages_received == before.messages_received + 1
    assert after.stored_messages == before.stored_messages + 1
    assert after.last_id == before.last_id + 1
    assert after.sessions_total >= before.sessions_total + 1
    assert after.stored_bytes > before.stored_bytes


def test_extensions_follow_flags(sink_factory):
    s = sink_factory("--no-pipelining", "--no-dsn")
    c = Client(s)
    try:
        ext = c.info().extensions
        assert "PIPELINING" not in ext and "DSN" not in ext
        assert "8BITMIME" in ext
    finally:
        c.close()
        assert s.stop()[0] == 0


def test_list_order_limit_and_raw(sink, client):
    tag = unique()
    ids = [send(sink, "s@x.test", "%s-%d@y.test" % (tag, i), subject="n%d" % i) for i in range(5)]
    assert ids == sorted(ids)
    r = client.list(rcpt_to=tag + "-*@y.test")
    assert [m.id for m in r.messages] == ids
    assert r.matched == 5
    assert r.last_id >= ids[-1]
    assert all(m.raw == b"" for m in r.messages), "raw only when asked"
    assert [m.subject for m in r.messages] == ["n%d" % i for i in range(5)]
    r = client.list(rcpt_to=tag + "-*@y.test", limit=2)
    assert [m.id for m in r.messages] == ids[:2]
    assert r.matched == 5
    r = client.list(rcpt_to=tag + "-*@y.test", include_raw=True)
    for m in r.messages:
        assert len(m.raw) == m.size > 0
        assert b"Subject: n" in m.raw


def test_filters(sink, client):
    tag = unique()
    a = send(sink, "Alice@Sender.test", [tag + "-1@y.test"], subject="Password reset for you",
             body="click here to reset\n", headers={"X-Tenant": "blue"})
    b = send(sink, "bob@other.test", [tag + "-2@y.test", "cc-" + tag + "@z.test"],
             subject="Weekly news", body="nothing here\n", headers={"X-Tenant": "red"})

    def ids(**kw):
        return [m.id for m in client.list(**kw).messages]

    assert ids(rcpt_to=tag + "-*") == [a, b]
    assert ids(rcpt_to=tag.upper() + "-1@Y.TEST") == [a], "case-insensitive"
    assert ids(rcpt_to="cc-" + tag + "@z.test") == [b], "any recipient"
    assert ids(rcpt_to=tag + "-*", mail_from="*@sender.test") == [a]
    assert ids(rcpt_to=tag + "-*", subject="*reset*") == [a]
    assert ids(rcpt_to=tag + "-*", subject="reset") == [], "whole value"
    assert ids(rcpt_to=tag + "-*", body="*reset*") == [a]
    assert ids(rcpt_to=tag + "-*", header_name="x-tenant", header_value="red") == [b]
    assert ids(rcpt_to=tag + "-*", header_name="x-tenant") == [a, b]
    assert ids(rcpt_to=tag + "-*", header_name="subject", header_value="blue") == [], \
        "name and value must match the same header"
    assert ids(rcpt_to=tag + "-*", after_id=a) == [b]
    assert ids(rcpt_to=tag + "-[12]@y.test") == [a, b]
    assert ids(rcpt_to=tag + "-?@y.test", mail_from="nobody") == []


def test_get_message_fields(sink, client):
    tag = unique()
    rcpt = tag + "@y.test"
    mid = send(sink, "from@x.test", [rcpt, "second-" + rcpt], subject="Hi there",
               body="text body line\n", headers={"Reply-To": "r@x.test", "Cc": "c@x.test"})
    m = client.sink.GetMessage(pb.GetMessageRequest(id=mid), timeout=10)
    assert m.id == mid
    assert m.mail_from == "from@x.test"
    assert list(m.rcpt_to) == [rcpt, "second-" + rcpt]
    assert len(m.rcpt_params) == 2
    assert m.helo == "client.test"
    assert m.peer.startswith("127.0.0.1:")
    assert m.subject == "Hi there"
    assert "from@x.test" in getattr(m, "from")
    assert any("c@x.test" in x for x in m.cc)
    assert any("r@x.test" in x for x in m.reply_to)
    assert any(h.name.lower() == "subject" and h.value == "Hi there" for h in m.headers)
    assert "text body line" in m.text_body
    assert m.received_at.seconds > 0
    assert m.raw == b""
    assert m.size > 0
    full = client.sink.GetMessage(pb.GetMessageRequest(id=mid, include_raw=True), timeout=10)
    assert len(full.raw) == full.size == m.size


def test_get_not_found_and_bad_id(client):
    e = rpc_error(client.sink.GetMessage, pb.GetMessageRequest(id=999999), timeout=10)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert "999999" in e.details()
    e = rpc_error(client.sink.GetMessage, pb.GetMessageRequest(id=0), timeout=10)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_acknowledged_message_is_visible_at_once(sink, client):
    tag = unique()
    for i in range(20):
        mid = send(sink, "s@x.test", "%s@y.test" % tag, subject="v%d" % i)
        m = client.sink.GetMessage(pb.GetMessageRequest(id=mid), timeout=10)
        assert m.subject == "v%d" % i


def test_raw_is_byte_exact(sink, client):
    tag = unique()
    body = (b"From: a@x.test\r\nTo: " + tag.encode() + b"@y.test\r\nSubject: raw\r\n\r\n"
            b".leading dot\r\n..two dots\r\n.\tdot tab\r\n8-bit: \xe9\xe8\xff\x80\r\n"
            b"tail without dot\r\n")
    c = RawSMTP(sink)
    try:
        assert c.cmd("EHLO raw.test")[0] == 250
        assert c.cmd("MAIL FROM:<a@x.test> BODY=8BITMIME")[0] == 250
        assert c.cmd("RCPT TO:<%s@y.test>" % tag)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.sock.sendall(dot_stuff(body) + b".\r\n")
        code, lines = c.reply()
        assert code == 250, lines
        mid = queued_id(lines[0])
        c.cmd("QUIT")
    finally:
        c.close()
    m = client.sink.GetMessage(pb.GetMessageRequest(id=mid, include_raw=True), timeout=10)
    assert m.raw == body
    assert m.size == len(body)
    assert m.eight_bit
    assert m.body_type == "8BITMIME"
    r = client.list(rcpt_to=tag + "@y.test", include_raw=True)
    assert [x.raw for x in r.messages] == [body]


def _send_raw(sink, rcpt, body, mail_params=""):
    c = RawSMTP(sink)
    try:
        assert c.cmd("EHLO raw.test")[0] == 250
        assert c.cmd("MAIL FROM:<a@x.test>%s" % mail_params)[0] == 250
        assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.sock.sendall(dot_stuff(body) + b".\r\n")
        code, lines = c.reply()
        assert code == 250, lines
        c.cmd("QUIT")
        return queued_id(lines[0])
    finally:
        c.close()


def test_anomalies_are_reported_not_repaired(sink, client):
    tag = unique()
    clean = b"From: a@x.test\r\nSubject: clean\r\n\r\nfine\r\n"
    # bare LF in the body, 8-bit header without SMTPUTF8, and a multipart whose
    # closing boundary never comes (malformed MIME: flagged, still stored)
    broken = (b"From: a@x.test\r\nSubject: caf\xc3\xa9\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
              b"--b1\r\nContent-Type: text/plain\r\n\r\nbare\nlf\r\n")
    ok_id = _send_raw(sink, tag + "-clean@y.test", clean)
    bad_id = _send_raw(sink, tag + "-broken@y.test", broken, " BODY=8BITMIME")
    m = client.sink.GetMessage(pb.GetMessageRequest(id=ok_id, include_raw=True), timeout=10)
    assert list(m.anomalies) == []
    m = client.sink.GetMessage(pb.GetMessageRequest(id=bad_id, include_raw=True), timeout=10)
    assert m.raw == broken
    assert {"bare_lf", "8bit_header", "mime"} <= set(m.anomalies), list(m.anomalies)
    assert m.text_body.startswith("bare\nlf")


def test_large_message_over_default_grpc_limit(sink, client):
    tag = unique()
    big = "x" * 76 + "\n"
    body = big * (6 * 1024 * 1024 // len(big))         # ~6 MiB > gRPC's 4 MiB default
    mid = send(sink, "s@x.test", tag + "@y.test", body=body)
    m = client.sink.GetMessage(pb.GetMessageRequest(id=mid, include_raw=True), timeout=30)
    assert m.size == len(m.raw) > 6 * 1024 * 1024


def test_response_over_grpc_limit_is_resource_exhausted(sink_factory):
    s = sink_factory("--grpc-max-message-size", "65536")
    c = Client(s)
    try:
        tag = unique()
        mid = send(s, "s@x.test", tag + "@y.test", body=("z" * 70 + "\n") * 2000)  # ~140 KB
        e = rpc_error(c.sink.GetMessage, pb.GetMessageRequest(id=mid, include_raw=True), timeout=10)
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max message size 65536" in e.details(), e.details()
        e = rpc_error(c.list, rcpt_to=tag + "@y.test", include_raw=True)
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # the server keeps serving; small answers still fit
        small = send(s, "s@x.test", tag + "@y.test")
        assert c.sink.GetMessage(pb.GetMessageRequest(id=small, include_raw=True), timeout=10).id == small
        assert c.info().grpc_max_message_size == 65536
    finally:
        c.close()
        assert s.stop()[0] == 0


def test_request_over_grpc_limit_is_refused(sink_factory):
    s = sink_factory("--grpc-max-message-size", "4096")
    c = Client(s)
    try:
        e = rpc_error(c.list, subject="*" + "a" * 8000 + "*")
        assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert c.info().version, "still serving"
    finally:
        c.close()
        assert s.stop()[0] == 0


def test_wait_include_raw(sink, client):
    tag = unique()
    mid = send(sink, "s@x.test", tag + "@y.test")
    r = client.sink.WaitForMessages(
        pb.WaitForMessagesRequest(filter=pb.Filter(rcpt_to=tag + "@y.test"), include_raw=True), timeout=10)
    assert [m.id for m in r.messages] == [mid]
    assert len(r.messages[0].raw) == r.messages[0].size > 0


def test_unix_socket(sink_factory, tmp_path):
    path = str(tmp_path / "grpc.sock")
    s = sink_factory("--grpc-listen", "unix:" + path)
    try:
        assert s.grpc_addr == "unix:" + path
        c = Client(s)
        assert c.info().grpc_address == "unix:" + path
        with pytest.raises(RuntimeError) as ei:
            sink_factory("--grpc-listen", "unix:" + path)
        assert "another server" in str(ei.value)
        assert c.info().grpc_address == "unix:" + path, "the first one still owns the path"
        c.close()
    finally:
        assert s.stop()[0] == 0


def test_clear(sink, client):
    t1, t2 = unique(), unique()
    a = send(sink, "s@x.test", t1 + "@y.test")
    send(sink, "s@x.test", t1 + "@y.test")
    b = send(sink, "s@x.test", t2 + "@y.test")
    r = client.sink.Clear(pb.ClearRequest(filter=pb.Filter(rcpt_to=t1 + "@y.test")), timeout=10)
    assert r.deleted == 2
    assert list(client.list(rcpt_to=t1 + "@y.test").messages) == []
    assert [m.id for m in client.list(rcpt_to=t2 + "@y.test").messages] == [b]
    e = rpc_error(client.sink.GetMessage, pb.GetMessageRequest(id=a), timeout=10)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    r = client.sink.Clear(pb.ClearRequest(), timeout=10)
    assert r.deleted >= 1
    info = client.info()
    assert info.counters.stored_messages == 0
    assert info.counters.last_id >= b, "ids are never reused"
    c = send(sink, "s@x.test", t2 + "@y.test")
    assert c > b


@pytest.mark.parametrize("field", ["mail_from", "rcpt_to", "subject", "header_name",
                                   "header_value", "body"])
def test_bad_glob_is_invalid_argument(client, field):
    f = pb.Filter(**{field: "[abc"})
    for call, req in [(client.sink.ListMessages, pb.ListMessagesRequest(filter=f)),
                      (client.sink.Clear, pb.ClearRequest(filter=f)),
                      (client.sink.WaitForMessages, pb.WaitForMessagesRequest(filter=f))]:
        e = rpc_error(call, req, timeout=10)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in e.details(), e.details()
    stream = client.sink.WatchMessages(pb.WatchMessagesRequest(filter=f), timeout=10)
    e = rpc_error(lambda: next(stream))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_bad_rules_are_invalid_argument(client):
    cases = [
        (pb.RejectRule(stage=pb.RCPT_TO, code=250), "4xx or 5xx"),
        (pb.RejectRule(stage=pb.RCPT_TO, code=600), "4xx or 5xx"),
        (pb.RejectRule(stage=pb.STAGE_UNSPECIFIED, code=550), "stage"),
        (pb.RejectRule(stage=pb.RCPT_TO, code=550, match="[x"), "glob"),
        (pb.RejectRule(stage=pb.RCPT_TO, code=550, enhanced_code="4.7.1"), "class"),
        (pb.RejectRule(stage=pb.RCPT_TO, code=550, enhanced_code="5.7"), "5.7.1"),
        (pb.RejectRule(stage=pb.RCPT_TO, code=550, message="a\r\n250 ok"), "control"),
        (pb.RejectRule(stage=pb.RCPT_TO, code=0), "delay_ms"),
    ]
    for rule, want in cases:
        e = rpc_error(client.sink.SetRejectRule, rule, timeout=10)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, rule
        assert want in e.details(), (rule, e.details())
    assert list(client.sink.ListRejectRules(pb.ListRejectRulesRequest(), timeout=10).rules) == []


def test_bad_timeout_is_invalid_argument(client):
    req = pb.WaitForMessagesRequest()
    req.timeout.seconds = -1
    e = rpc_error(client.sink.WaitForMessages, req, timeout=10)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "timeout" in e.details()


def test_garbage_request_is_invalid_argument(client):
    call = client.channel.unary_unary("/smtpsink.v1.Sink/GetMessage")
    e = rpc_error(call, b"\xff\xff\xff\xff", timeout=10)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_unknown_method_is_unimplemented(client):
    call = client.channel.unary_unary("/smtpsink.v1.Sink/NoSuchMethod")
    e = rpc_error(call, b"", timeout=10)
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    # and the server keeps answering afterwards (a new catch-all was posted)
    e = rpc_error(call, b"", timeout=10)
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    assert client.info().version


def test_grpc_port_in_use_is_a_startup_error(sink, sink_factory):
    with pytest.raises(RuntimeError) as ei:
        sink_factory("--grpc-listen", sink.grpc_addr)
    assert "gRPC" in str(ei.value) and sink.grpc_addr in str(ei.value)
