"""TLS with the command-line clients (issue 9): swaks --tls / --tlsc and curl
STARTTLS / smtps://, each verifying the sink's certificate as written by
--tls-cert-out; the stored messages say they came over TLS.
"""
import shutil
import subprocess

import pytest

import grpc_util

MSG = "Subject: tls\r\n\r\nhello over TLS\r\n"


@pytest.fixture
def sink_pem(sink_factory, tmp_path):
    pem = tmp_path / "sink.pem"
    s = sink_factory("--starttls", "--smtps-listen", "127.0.0.1:0", "--tls-cert-out", str(pem))
    c = grpc_util.Client(s)
    yield s, str(pem), c
    c.close()


def _stored(client, rcpt):
    [m] = client.list(rcpt_to=rcpt).messages
    assert m.tls and m.tls_version.startswith("TLSv1."), m
    return m


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
@pytest.mark.parametrize("mode", ["--tls", "--tlsc"])
def test_swaks(sink_pem, mode):
    s, pem, client = sink_pem
    addr = s.ready["smtps"][0] if mode == "--tlsc" else s.smtp_addr
    host, _, port = addr.rpartition(":")
    rcpt = "swaks%s@example.test" % mode.strip("-")
    r = subprocess.run(["swaks", mode, "--tls-verify", "--tls-ca-path", pem, "--server", host, "--port", port,
                        "--from", "a@example.test", "--to", rcpt, "--data", MSG.replace("\r\n", "\n")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    _stored(client, rcpt)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_curl(sink_pem, scheme, tmp_path):
    s, pem, client = sink_pem
    addr = s.ready["smtps"][0] if scheme == "smtps" else s.smtp_addr
    rcpt = "curl-%s@example.test" % scheme
    (tmp_path / "msg").write_text(MSG)
    r = subprocess.run(["curl", "-sS", "--ssl-reqd", "--cacert", pem, "%s://%s" % (scheme, addr),
                        "--mail-from", "a@example.test", "--mail-rcpt", rcpt, "-T", str(tmp_path / "msg")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    _stored(client, rcpt)
