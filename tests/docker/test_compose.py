"""Compose smoke test: deploy/docker-compose.yml comes up, smtpsink turns
healthy, the example app (started only then: depends_on service_healthy)
sends its mail, the mail is listed with smtpsinkctl in the container, and
the published ports work from the host; then everything is torn down.
The project name and the labels on its containers and network come from
runlabels.py (one project per CI run)."""
import base64
import json
import os
import shutil
import smtplib
import ssl
import subprocess
import uuid

import pytest
import yaml

from conftest import IMAGE, ROOT, docker, inspect
from runlabels import COMPOSE_PROJECT, LABELS

FILE = os.path.join(ROOT, "deploy", "docker-compose.yml")
TLS_FILE = os.path.join(ROOT, "deploy", "docker-compose.tls.yml")
RELAY_FILE = os.path.join(ROOT, "deploy", "docker-compose.relay.yml")


def compose_cmd():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor docker compose is installed")


def compose_for(path, tmp_path):
    # the labels go on in an override file (JSON is YAML), deploy/ stays as users see it
    labels = tmp_path / "labels.yml"
    with open(path) as f:
        spec = yaml.safe_load(f)
    over = {"services": {name: {"labels": LABELS} for name in spec["services"]},
            "networks": {"default": {"labels": LABELS}}}
    if spec.get("volumes"):
        over["volumes"] = {name: {"labels": LABELS} for name in spec["volumes"]}
    labels.write_text(json.dumps(over))
    base = compose_cmd() + ["-p", COMPOSE_PROJECT, "-f", path, "-f", str(labels)]
    env = dict(os.environ, SMTPSINK_IMAGE=IMAGE, MAIL_TO=f"user-{uuid.uuid4().hex[:8]}@example.test")

    def run(*args, check=True, timeout=300):
        return subprocess.run(base + list(args), env=env, check=check, timeout=timeout, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    run.env = env
    run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)
    return run


@pytest.fixture
def compose(tmp_path):
    run = compose_for(FILE, tmp_path)
    yield run
    run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)


@pytest.fixture
def compose_tls(tmp_path):
    run = compose_for(TLS_FILE, tmp_path)
    yield run
    run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)


@pytest.fixture
def compose_relay(tmp_path):
    run = compose_for(RELAY_FILE, tmp_path)
    yield run
    run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)


def test_compose_up_healthy_send_list_down(compose):
    rcpt = compose.env["MAIL_TO"]
    up = compose("up", "-d", "--build")
    sink_id = compose("ps", "-q", "smtpsink").stdout.strip()
    app_id = compose("ps", "-q", "app").stdout.strip()
    assert sink_id and app_id, up.stdout + up.stderr
    # the app was started only after smtpsink's health check passed
    assert inspect(sink_id)["State"]["Health"]["Status"] == "healthy"
    assert docker("wait", app_id, timeout=60).stdout.strip() == "0", docker("logs", app_id).stderr

    out = compose("exec", "-T", "smtpsink", "smtpsinkctl", "wait", "--to", rcpt, "--json", "--timeout", "10s")
    [m] = json.loads(out.stdout)["messages"]
    assert m["mail_from"] == "app@example.test" and m["rcpt_to"] == [rcpt]
    assert m["subject"] == "Welcome from the example app"
    assert m["text_body"].rstrip("\r\n") == "Hello from the example app."
    assert [(a["filename"], a["content_type"]) for a in m["attachments"]] == [("report.csv", "text/csv")]

    # the published SMTP port reaches the same store from the host
    host, port = compose("port", "smtpsink", "1025").stdout.strip().rsplit(":", 1)
    with smtplib.SMTP("127.0.0.1" if host in ("0.0.0.0", "") else host, int(port), timeout=10) as s:
        s.sendmail("host@example.test", [rcpt], b"Subject: from the host\r\n\r\nhi\r\n")
    out = compose("exec", "-T", "smtpsink", "smtpsinkctl", "wait", "--to", rcpt, "--count", "2", "--json",
                  "--timeout", "10s")
    assert [x["subject"] for x in json.loads(out.stdout)["messages"]] == [
        "Welcome from the example app", "from the host"]

    compose("down", "-v", "--remove-orphans", "--timeout", "5")
    assert compose("ps", "-q").stdout.strip() == ""


def test_compose_tls_app_trusts_the_shared_certificate(compose_tls):
    """deploy/docker-compose.tls.yml: STARTTLS required, AUTH, the app
    verifies the certificate the sink wrote into the shared volume."""
    rcpt = compose_tls.env["MAIL_TO"]
    up = compose_tls("up", "-d", "--build")
    app_id = compose_tls("ps", "-q", "app").stdout.strip()
    assert app_id, up.stdout + up.stderr
    assert docker("wait", app_id, timeout=60).stdout.strip() == "0", docker("logs", app_id).stderr
    out = compose_tls("exec", "-T", "smtpsink", "smtpsinkctl", "wait", "--to", rcpt, "--json", "--timeout", "10s")
    [m] = json.loads(out.stdout)["messages"]
    assert m["tls"] is True and m["tls_version"].startswith("TLSv1.")
    assert (m["auth_user"], m["auth_mechanism"]) == ("app", "CRAM-MD5")  # smtplib's first choice
    pem = compose_tls("exec", "-T", "smtpsink", "smtpsinkctl", "cert").stdout
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert compose_tls("exec", "-T", "smtpsink", "cat", "/certs/smtpsink.pem").stdout == pem

    # from the host: plaintext MAIL is refused (--require-tls), STARTTLS with the same PEM works
    # (127.0.0.1 is among the generated certificate's SANs)
    host, port = compose_tls("port", "smtpsink", "1025").stdout.strip().rsplit(":", 1)
    ctx = ssl.create_default_context(cadata=pem)
    with smtplib.SMTP("127.0.0.1" if host in ("0.0.0.0", "") else host, int(port), timeout=10) as s:
        s.ehlo("host.test")
        assert s.mail("host@example.test")[0] == 530
        s.starttls(context=ctx)
        s.login("app", "app-password")
        s.sendmail("host@example.test", [rcpt], b"Subject: from the host\r\n\r\nhi\r\n")
    out = compose_tls("exec", "-T", "smtpsink", "smtpsinkctl", "wait", "--to", rcpt, "--count", "2", "--json",
                      "--timeout", "10s")
    assert len(json.loads(out.stdout)["messages"]) == 2


def test_compose_relay_forwards_the_apps_mail_unchanged(compose_relay):
    """deploy/docker-compose.relay.yml: the sink captures the app's mail and
    relays it (async, --relay-rcpt '*@example.test') to the upstream service,
    which receives exactly the captured bytes; a recipient outside the glob
    is captured but not forwarded."""
    run = compose_relay
    rcpt = run.env["MAIL_TO"]
    up = run("up", "-d", "--build")
    app_id = run("ps", "-q", "app").stdout.strip()
    assert app_id, up.stdout + up.stderr
    assert docker("wait", app_id, timeout=60).stdout.strip() == "0", docker("logs", app_id).stderr

    # arrival upstream first (the relay is asynchronous), then the sink's record of it
    out = run("exec", "-T", "upstream", "smtpsinkctl", "wait", "--to", rcpt, "--json", "--raw", "--timeout", "20s")
    [fwd] = json.loads(out.stdout)["messages"]
    out = run("exec", "-T", "smtpsink", "smtpsinkctl", "wait", "--to", rcpt, "--json", "--raw", "--timeout", "10s")
    [m] = json.loads(out.stdout)["messages"]
    assert m["subject"] == "Welcome from the example app"
    assert m["relay"]["state"] == "RELAY_STATE_RELAYED", m["relay"]
    assert m["relay"]["rcpt_to"] == [rcpt] and m["relay"]["last_reply"].startswith("250 "), m["relay"]
    assert (fwd["mail_from"], fwd["rcpt_to"]) == ("app@example.test", [rcpt])
    assert fwd["raw"] and base64.b64decode(fwd["raw"]) == base64.b64decode(m["raw"])
    info = json.loads(run("exec", "-T", "smtpsink", "smtpsinkctl", "--json", "info").stdout)
    assert "upstream:1025" in json.dumps(info)

    # from the host: a recipient outside example.test is captured, not forwarded
    host, port = run("port", "smtpsink", "1025").stdout.strip().rsplit(":", 1)
    with smtplib.SMTP("127.0.0.1" if host in ("0.0.0.0", "") else host, int(port), timeout=10) as s:
        s.sendmail("host@example.test", ["someone@elsewhere.test", rcpt],
                   b"Subject: from the host\r\n\r\nhi\r\n")
    out = run("exec", "-T", "upstream", "smtpsinkctl", "wait", "--to", rcpt, "--count", "2", "--json",
              "--timeout", "20s")
    fwd2 = json.loads(out.stdout)["messages"][1]
    assert fwd2["subject"] == "from the host" and fwd2["rcpt_to"] == [rcpt]
    out = run("exec", "-T", "upstream", "smtpsinkctl", "--json", "list", "--to", "someone@elsewhere.test")
    assert json.loads(out.stdout)["messages"] == []


def readme_shows(path):
    with open(path) as f:
        body = f.read().split("services:", 1)[1]
    with open(os.path.join(ROOT, "README.md")) as f:
        assert "services:" + body in f.read()


def test_readme_shows_the_tls_compose_file():
    readme_shows(TLS_FILE)


def test_readme_shows_the_relay_compose_file():
    readme_shows(RELAY_FILE)
