"""ReleaseMessage and `smtpsinkctl release` (issue 10): forward one stored
message now, to the configured upstream or another, with the recipients or
the sender replaced; NOT_FOUND, INVALID_ARGUMENT; Message.relay updated."""
import json
import subprocess

import grpc

import grpc_util
from conftest import SMTPSINKCTL_BIN
from grpc_util import pb, rpc_error
from test_relay import sink_factory  # noqa: F401 (stops every sink, checks the exit)


def ctl(sink, *args):
    return subprocess.run([SMTPSINKCTL_BIN, "--addr", sink.grpc_addr] + list(args),
                          capture_output=True, text=True, timeout=30)


def test_release_with_overrides(sink_factory):
    up = sink_factory()
    a = sink_factory()  # no --relay-url: the request names the upstream
    ca, cu = grpc_util.Client(a), grpc_util.Client(up)
    mid = grpc_util.send(a, "orig@example.test", ["r1@example.test", "r2@example.test"])
    assert ca.sink.GetMessage(pb.GetMessageRequest(id=mid)).relay.state == pb.RELAY_STATE_NONE
    st = ca.sink.ReleaseMessage(pb.ReleaseMessageRequest(
        id=mid, relay_url="smtp://" + up.smtp_addr, rcpt_to=["other@example.test"],
        mail_from="bounce@example.test", override_mail_from=True), timeout=20)
    assert st.state == pb.RELAY_STATE_RELAYED, st
    assert st.attempts == 1 and list(st.rcpt_to) == ["other@example.test"]
    assert st.upstream == "smtp://" + up.smtp_addr and st.relayed_at.seconds > 0
    m = cu.list(include_raw=True).messages[0]
    assert m.mail_from == "bounce@example.test" and list(m.rcpt_to) == ["other@example.test"]
    assert m.raw == ca.sink.GetMessage(pb.GetMessageRequest(id=mid, include_raw=True)).raw
    assert ca.sink.GetMessage(pb.GetMessageRequest(id=mid)).relay.state == pb.RELAY_STATE_RELAYED
    # The null sender
    st = ca.sink.ReleaseMessage(pb.ReleaseMessageRequest(
        id=mid, relay_url="smtp://" + up.smtp_addr, override_mail_from=True), timeout=20)
    assert st.state == pb.RELAY_STATE_RELAYED
    m = cu.list(after_id=1).messages[0]
    assert m.mail_from == "" and list(m.rcpt_to) == ["r1@example.test", "r2@example.test"]
    assert rpc_error(ca.sink.ReleaseMessage, pb.ReleaseMessageRequest(
        id=999, relay_url="smtp://" + up.smtp_addr)).code() == grpc.StatusCode.NOT_FOUND
    assert rpc_error(ca.sink.ReleaseMessage, pb.ReleaseMessageRequest(
        id=mid)).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc_error(ca.sink.ReleaseMessage, pb.ReleaseMessageRequest(
        id=mid, relay_url="http://x:1")).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_release_failure_and_ctl(sink_factory):
    up = sink_factory()
    a = sink_factory("--relay-url", "smtp://" + up.smtp_addr, "--relay-rcpt", "none@*")
    ca, cu = grpc_util.Client(a), grpc_util.Client(up)
    mid = grpc_util.send(a, "s@example.test", "r@example.test")
    cu.sink.SetRejectRule(pb.RejectRule(stage=pb.MAIL_FROM, match="s@*", code=554,
                                        enhanced_code="5.7.1", message="go away"))
    st = ca.sink.ReleaseMessage(pb.ReleaseMessageRequest(id=mid), timeout=20)
    assert st.state == pb.RELAY_STATE_FAILED and st.last_reply == "554 5.7.1 go away"
    r = ctl(a, "release", str(mid))
    assert r.returncode == 1 and "FAILED" in r.stdout and "554 5.7.1 go away" in r.stdout, r
    r = ctl(a, "--json", "release", str(mid), "--from", "x@example.test", "--to", "t1@example.test",
            "--to", "t2@example.test")
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    assert out["state"] == "RELAY_STATE_RELAYED" and out["rcpt_to"] == ["t1@example.test", "t2@example.test"]
    m = cu.list().messages[0]
    assert m.mail_from == "x@example.test" and list(m.rcpt_to) == ["t1@example.test", "t2@example.test"]
    r = ctl(a, "release", "4242")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr, r


def test_release_deadline_and_unreachable(sink_factory):
    up = sink_factory()
    addr = up.smtp_addr
    a = sink_factory()
    ca, cu = grpc_util.Client(a), grpc_util.Client(up)
    mid = grpc_util.send(a, "s@example.test", "r@example.test")
    cu.sink.SetRejectRule(pb.RejectRule(stage=pb.MAIL_FROM, delay_ms=3000))
    e = rpc_error(ca.sink.ReleaseMessage, pb.ReleaseMessageRequest(
        id=mid, relay_url="smtp://" + addr), timeout=0.5)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert ca.info().counters.grpc_calls == 1  # the loop answers meanwhile
    up.stop()
    st = ca.sink.ReleaseMessage(pb.ReleaseMessageRequest(id=mid, relay_url="smtp://" + addr), timeout=20)
    assert st.state == pb.RELAY_STATE_FAILED and "connect" in st.last_reply
    assert [r.command for r in st.replies] == ["CONNECT"]
