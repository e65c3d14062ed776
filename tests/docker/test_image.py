"""Checks of the smtpsink image: size, metadata, non-root, locked-down run,
charset decoding with the trimmed iconv set, health check, SIGTERM as PID 1."""
import http.client
import json
import smtplib
import time

from conftest import IMAGE, LABEL_ARGS, docker, inspect

SIZE_BUDGET = 35 * 1000 * 1000  # bytes, as `docker image ls` counts MB


def test_image_size_within_budget():
    size = inspect(IMAGE, "image")["Size"]
    print(f"image {IMAGE}: {size / 1e6:.1f} MB")
    assert size < SIZE_BUDGET, f"{size / 1e6:.1f} MB"


def test_image_metadata():
    cfg = inspect(IMAGE, "image")["Config"]
    assert cfg["User"] == "10001:10001"
    assert set(cfg["ExposedPorts"]) == {"1025/tcp", "50051/tcp", "8025/tcp"}
    assert "SMTPSINK_SMTP_LISTEN=0.0.0.0:1025" in cfg["Env"]
    assert "SMTPSINK_GRPC_LISTEN=0.0.0.0:50051" in cfg["Env"]
    assert "SMTPSINK_HTTP_LISTEN=0.0.0.0:8025" in cfg["Env"]
    assert cfg["Entrypoint"] == ["/usr/bin/smtpsink"]
    assert "smtpsinkctl health" in " ".join(cfg["Healthcheck"]["Test"])


def test_runs_as_non_root_with_a_shell_for_port_checks():
    out = docker("run", "--rm", *LABEL_ARGS, "--entrypoint", "/bin/sh", IMAGE,
                 "-c", "id -u; id -g; for c in cat awk grep nc; do command -v $c || echo missing-$c; done"
                 ).stdout.split()
    assert out[:2] == ["10001", "10001"]
    # what Testcontainers' internal port check runs
    assert out[2:] == ["cat", "awk", "grep", "nc"]


def test_locked_down_container_captures_and_decodes(run_sink):
    # read-only root, no capabilities, no privilege escalation: as in deploy/k8s
    sink = run_sink("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true")
    raw = (b"From: a@example.test\r\nTo: b@example.test\r\n"
           b"Subject: =?ISO-8859-1?Q?caf=E9?= =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\r\n"
           b"Content-Type: text/plain; charset=windows-1252\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\nprice \x80 5\r\n")
    with smtplib.SMTP("127.0.0.1", sink.port(1025), timeout=10) as s:
        s.sendmail("a@example.test", ["b@example.test"], raw)
    out = json.loads(sink.ctl("wait", "--to", "b@example.test", "--json", "--timeout", "10s").stdout)
    [m] = out["messages"]
    assert m["mail_from"] == "a@example.test" and m["rcpt_to"] == ["b@example.test"]
    assert m["size"] == len(raw)
    # iconv modules present: ISO-8859-1, ISO-2022-JP and windows-1252 decode
    assert m["subject"] == "caf\u00e9\u30c6\u30b9\u30c8"
    assert m["text_body"].rstrip("\r\n") == "price \u20ac 5"


def test_http_api_on_8025(run_sink):
    # reached through the published port by IP address: Host is an IP literal
    sink = run_sink("-p", "127.0.0.1::8025", "--read-only")
    port = sink.port(8025)
    with smtplib.SMTP("127.0.0.1", sink.port(1025), timeout=10) as s:
        s.sendmail("a@example.test", ["b@example.test"], b"Subject: over http\r\n\r\nhi\r\n")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/api/v1/messages")
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read())["messages"][0]["Subject"] == "over http"
    c.request("GET", "/readyz", headers={"Host": "smtpsink.evil.example"})
    assert c.getresponse().status == 403  # DNS rebinding refused


def test_runs_under_an_arbitrary_uid(run_sink):
    # OpenShift-style random UID without a passwd entry
    sink = run_sink("--user", "123456:0")
    with smtplib.SMTP("127.0.0.1", sink.port(1025), timeout=10) as s:
        assert s.noop()[0] == 250
    assert sink.ctl("health").returncode == 0


def test_becomes_healthy(run_sink):
    sink = run_sink("--health-interval", "1s")
    until = time.monotonic() + 30
    while (status := inspect(sink.id)["State"]["Health"]["Status"]) != "healthy":
        assert status != "unhealthy", inspect(sink.id)["State"]["Health"]
        assert time.monotonic() < until, status
        time.sleep(0.2)


def test_healthcheck_follows_grpc_listen_override(run_sink):
    sink = run_sink("--health-interval", "1s", "-e", "SMTPSINK_GRPC_LISTEN=0.0.0.0:6000")
    until = time.monotonic() + 30
    while (status := inspect(sink.id)["State"]["Health"]["Status"]) != "healthy":
        assert status != "unhealthy", inspect(sink.id)["State"]["Health"]
        assert time.monotonic() < until, status
        time.sleep(0.2)


def test_sigterm_as_pid1_exits_cleanly(run_sink):
    sink = run_sink()
    # an idle SMTP session open: shutdown tells it 421 and does not wait for it
    s = smtplib.SMTP("127.0.0.1", sink.port(1025), timeout=10)
    s.ehlo("idle")
    t0 = time.monotonic()
    docker("stop", "-t", "10", sink.id)
    elapsed = time.monotonic() - t0
    try:
        assert s.getreply()[0] == 421
    except smtplib.SMTPServerDisconnected:
        pass
    s.close()
    state = inspect(sink.id)["State"]
    print(f"docker stop took {elapsed * 1000:.0f} ms (exit code {state['ExitCode']})")
    # 0 = smtpsink handled SIGTERM itself; 137 would mean docker had to SIGKILL it
    assert state["ExitCode"] == 0, docker("logs", sink.id).stderr
    assert "stopped" in docker("logs", sink.id).stderr


def test_testcontainers_internal_port_check_works(run_sink):
    # the command testcontainers-java/-node run inside a container to see a port listen
    sink = run_sink()
    for port in (1025, 50051):
        cmd = (f"true && (cat /proc/net/tcp* | awk '{{print $2}}' | grep -i ':0*{port:x}' "
               f"|| nc -vz -w 1 localhost {port})")
        r = docker("exec", sink.id, "/bin/sh", "-c", cmd, check=False)
        assert r.returncode == 0, (port, r.stdout, r.stderr)
    r = docker("exec", sink.id, "/bin/sh", "-c",
               "true && (cat /proc/net/tcp* | awk '{print $2}' | grep -i ':0*1f90' || nc -vz -w 1 localhost 8080)",
               check=False)
    assert r.returncode != 0  # and a port nobody listens on is not reported
