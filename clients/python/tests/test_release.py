"""SinkClient.release (ReleaseMessage, issue 10). The server side is not in
this tree yet, so these tests check the request the client builds and
sends, against an in-process gRPC server standing in for smtpsink."""
from concurrent import futures

import grpc
import pytest

from smtpsink import SinkClient, SmtpSinkError, make_release_request
from smtpsink.v1 import smtpsink_pb2 as pb
from smtpsink.v1 import smtpsink_pb2_grpc as pb_grpc


def test_make_release_request():
    r = make_release_request(7)
    assert (r.id, r.relay_url, list(r.rcpt_to), r.mail_from, r.override_mail_from) == (7, "", [], "", False)
    r = make_release_request(8, rcpt_to="x@a.test", relay_url="smtp://up:25")
    assert (list(r.rcpt_to), r.relay_url) == (["x@a.test"], "smtp://up:25")
    r = make_release_request(9, rcpt_to=["a@b.test", "c@d.test"], mail_from="")
    assert list(r.rcpt_to) == ["a@b.test", "c@d.test"]
    assert (r.mail_from, r.override_mail_from) == ("", True)      # "" = the null sender, on purpose
    r = make_release_request(9, mail_from="bounce@a.test")
    assert (r.mail_from, r.override_mail_from) == ("bounce@a.test", True)


class FakeSink(pb_grpc.SinkServicer):
    def __init__(self):
        self.got = []

    def ReleaseMessage(self, request, context):
        self.got.append(request)
        if request.id == 404:
            context.abort(grpc.StatusCode.NOT_FOUND, "no message 404")
        return pb.RelayStatus(state=pb.RELAY_STATE_RELAYED, attempts=1, last_reply="250 2.0.0 Ok",
                              upstream=request.relay_url, rcpt_to=request.rcpt_to)


@pytest.fixture
def fake():
    servicer = FakeSink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_SinkServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with SinkClient(f"127.0.0.1:{port}") as c:
            yield c, servicer
    finally:
        server.stop(None)


def test_release_sends_the_request_and_returns_the_status(fake):
    client, servicer = fake
    st = client.release(42, rcpt_to=["ops@a.test"], mail_from="", relay_url="smtp://up:2525")
    [req] = servicer.got
    assert req == make_release_request(42, rcpt_to=["ops@a.test"], mail_from="", relay_url="smtp://up:2525")
    assert st.state == pb.RELAY_STATE_RELAYED and st.upstream == "smtp://up:2525" and list(st.rcpt_to) == ["ops@a.test"]
    with pytest.raises(SmtpSinkError) as e:
        client.release(404)
    assert e.value.code == grpc.StatusCode.NOT_FOUND and "404" in e.value.details
