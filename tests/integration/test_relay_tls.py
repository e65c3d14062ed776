"""Relay to an upstream over STARTTLS or implicit TLS (smtps://) with AUTH
(issue 10): the certificate verified against --relay-ca (or not at all with
--relay-insecure), credentials taken from SMTPSINK_RELAY_URL and never
logged, AUTH refused outside TLS unless the upstream is on loopback."""
import os
import tempfile

import grpc_util
from grpc_util import pb
from test_relay import sink_factory, upstream_message, wait_state

PASSWORD = "Relay-S3cret%"
USERS = {"SMTPSINK_AUTH_USERS": "relayuser:" + PASSWORD}
QUOTED = "Relay-S3cret%25"


def tls_upstream(factory):
    d = tempfile.mkdtemp(prefix="relay-tls-")
    pem = os.path.join(d, "up.pem")
    up = factory("--starttls", "--smtps-listen", "127.0.0.1:0", "--auth", "--tls-cert-out", pem, env=USERS)
    return up, pem


def check_relayed(a, up, tls_version_prefix="TLSv1."):
    ca, cu = grpc_util.Client(a), grpc_util.Client(up)
    mid = grpc_util.send(a, "s@example.test", "r@example.test")
    m = wait_state(ca, mid, [pb.RELAY_STATE_RELAYED, pb.RELAY_STATE_FAILED])
    assert m.relay.state == pb.RELAY_STATE_RELAYED, m.relay
    u = upstream_message(cu)[0]
    assert u.tls and u.tls_version.startswith(tls_version_prefix)
    assert (u.auth_user, u.auth_mechanism) == ("relayuser", "PLAIN")
    return ca


def test_relay_starttls_auth_with_ca(sink_factory):
    up, pem = tls_upstream(sink_factory)
    url = "smtp://relayuser:%s@%s?starttls=require" % (QUOTED, up.smtp_addr)
    a = sink_factory("--relay-ca", pem, "--log-level", "debug", env={"SMTPSINK_RELAY_URL": url})
    ca = check_relayed(a, up)
    assert ca.info().relay_upstream == "smtp://" + up.smtp_addr
    err = a.stderr()
    assert PASSWORD not in err and QUOTED not in err and "relayuser" not in err
    assert "relay_url=smtp://%s" % up.smtp_addr in err


def test_relay_smtps_auth(sink_factory):
    up, pem = tls_upstream(sink_factory)
    url = "smtps://relayuser:%s@%s" % (QUOTED, up.ready["smtps"][0])
    a = sink_factory("--relay-ca", pem, env={"SMTPSINK_RELAY_URL": url})
    check_relayed(a, up)


def test_relay_certificate_checked(sink_factory):
    up, pem = tls_upstream(sink_factory)
    url = "smtp://relayuser:%s@%s?starttls=require" % (QUOTED, up.smtp_addr)
    a = sink_factory("--relay-backoff", "10s", env={"SMTPSINK_RELAY_URL": url})  # system store
    ca = grpc_util.Client(a)
    mid = grpc_util.send(a, "s@example.test", "r@example.test")
    import time
    deadline = time.monotonic() + 10
    while True:
        m = ca.sink.GetMessage(pb.GetMessageRequest(id=mid))
        if m.relay.last_reply:
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert m.relay.state == pb.RELAY_STATE_PENDING and "certificate" in m.relay.last_reply, m.relay
    a2 = sink_factory("--relay-insecure", env={"SMTPSINK_RELAY_URL": url})
    check_relayed(a2, up)


def test_relay_auth_needs_tls_off_loopback_only(sink_factory):
    up = sink_factory("--auth", "--auth-allow-insecure", env=USERS)
    url = "smtp://relayuser:%s@%s" % (QUOTED, up.smtp_addr)
    a = sink_factory(env={"SMTPSINK_RELAY_URL": url})
    ca, cu = grpc_util.Client(a), grpc_util.Client(up)
    mid = grpc_util.send(a, "s@example.test", "r@example.test")
    wait_state(ca, mid, [pb.RELAY_STATE_RELAYED])
    u = upstream_message(cu)[0]
    assert not u.tls and u.auth_user == "relayuser"
    # A wrong password: 535 is permanent
    bad = "smtp://relayuser:nope@%s" % up.smtp_addr
    b = sink_factory(env={"SMTPSINK_RELAY_URL": bad})
    cb = grpc_util.Client(b)
    mid = grpc_util.send(b, "s@example.test", "r@example.test")
    m = wait_state(cb, mid, [pb.RELAY_STATE_FAILED])
    assert m.relay.last_reply.startswith("535"), m.relay
    assert "nope" not in b.stderr()
