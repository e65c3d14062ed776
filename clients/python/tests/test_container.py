"""End-to-end tests of the Python module against the smtpsink image.

Run by .ci/clients-python.sh (image smtpsink:latest or $SMTPSINK_IMAGE).
Every test uses its own recipient addresses, so all run against one container.
"""
import json
import smtplib
import threading
import urllib.parse
import urllib.request
import uuid
from email.message import EmailMessage

import pytest
from conftest import run_labels

from smtpsink import SmtpSinkTimeout, make_filter
from smtpsink.container import http_allowed_host

ATTACHMENT = bytes(range(256)) * 4  # binary, survives base64 only if decoded right


def unique(local: str) -> str:
    return f"{local}-{uuid.uuid4().hex[:12]}@example.test"


def build_message(sender: str, rcpt: str, subject: str, text: str, attach: bool = True) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = rcpt
    msg["Subject"] = subject
    msg.set_content(text)
    if attach:
        msg.add_attachment(ATTACHMENT, maintype="application", subtype="octet-stream", filename="blob.bin")
    return msg


def send(sink, msg: EmailMessage, sender: str, rcpts):
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as smtp:
        return smtp.send_message(msg, from_addr=sender, to_addrs=rcpts)


def test_send_wait_and_inspect(sink):
    sender, rcpt, cc = unique("app"), unique("alice"), unique("carol")
    subject = "Your invoice " + uuid.uuid4().hex[:6]
    msg = build_message(sender, rcpt, subject, "Hello Alice,\nyour invoice is attached.\n")
    assert send(sink, msg, sender, [rcpt, cc]) == {}

    client = sink.client()
    [m] = client.wait_for_messages(rcpt_to=rcpt, count=1, timeout=10)
    # envelope, kept apart from the headers
    assert m.mail_from == sender
    assert list(m.rcpt_to) == [rcpt, cc]
    assert m.to == [rcpt] and list(m.cc) == []
    # parsed content
    assert m.subject == subject
    assert m.text_body.replace("\r\n", "\n") == "Hello Alice,\nyour invoice is attached.\n"
    assert len(m.attachments) == 1
    att = m.attachments[0]
    assert (att.filename, att.content_type, att.size) == ("blob.bin", "application/octet-stream", len(ATTACHMENT))
    assert att.content == b""  # lists never carry contents

    full = client.get_message(m.id, include_raw=True, include_attachments=True)
    assert full.attachments[0].content == ATTACHMENT
    assert full.size == len(full.raw)
    assert f"Subject: {subject}".encode() in full.raw

    # the filter selects by any recipient, and by subject glob
    assert [x.id for x in client.list_messages(rcpt_to=cc)] == [m.id]
    assert [x.id for x in client.list_messages(make_filter(subject="*invoice " + subject[-6:]))] == [m.id]


def test_wait_times_out_saying_how_many_matched(sink):
    sender, rcpt = unique("app"), unique("bob")
    send(sink, build_message(sender, rcpt, "only one", "1\n", attach=False), sender, [rcpt])
    with pytest.raises(SmtpSinkTimeout) as ei:
        sink.client().wait_for_messages(rcpt_to=rcpt, count=2, timeout=0.5)
    assert "1 of 2" in ei.value.details  # e.g. "deadline exceeded: 1 of 2 messages matched"


def test_watch_replays_stored_then_follows_new(sink):
    client = sink.client()
    sender, rcpt = unique("app"), unique("watcher")
    send(sink, build_message(sender, rcpt, "first", "1\n", attach=False), sender, [rcpt])
    [first] = client.wait_for_messages(rcpt_to=rcpt, count=1, timeout=10)
    stream = client.watch_messages(rcpt_to=rcpt, timeout=20)
    try:
        it = iter(stream)
        replayed = next(it)
        assert (replayed.id, replayed.subject) == (first.id, "first")
        send(sink, build_message(sender, rcpt, "second", "2\n", attach=False), sender, [rcpt])
        live = next(it)
        assert live.subject == "second" and live.id > first.id
    finally:
        stream.cancel()


def test_rcpt_reject_rule_is_seen_by_smtplib(sink):
    client = sink.client()
    sender, ok_rcpt, bad_rcpt = unique("app"), unique("ok"), unique("blocked")
    rule = client.reject_rule("RCPT_TO", match=bad_rcpt, code=550, enhanced_code="5.1.1",
                              message="no such user here")
    assert rule.id
    try:
        # only recipient refused: smtplib raises
        with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
            send(sink, build_message(sender, bad_rcpt, "to the void", "x\n", attach=False), sender, [bad_rcpt])
        code, text = ei.value.recipients[bad_rcpt]
        assert code == 550
        assert b"no such user here" in text

        # mixed: the good recipient gets the mail, the bad one is reported
        refused = send(sink, build_message(sender, ok_rcpt, "mixed", "y\n", attach=False), sender,
                       [ok_rcpt, bad_rcpt])
        assert refused[bad_rcpt][0] == 550
        [m] = client.wait_for_messages(mail_from=sender, count=1, timeout=10)
        assert list(m.rcpt_to) == [ok_rcpt]

        [r] = [r for r in client.list_reject_rules() if r.id == rule.id]
        assert r.hits == 2
    finally:
        assert client.delete_reject_rule(rule.id) == 1
    assert client.list_messages(rcpt_to=bad_rcpt) == []


def test_parallel_tests_on_one_container_are_isolated(sink):
    n = 5
    barrier = threading.Barrier(2, timeout=30)
    results, errors = {}, []

    def one_test(name):
        try:
            sender, rcpt = unique(f"{name}-app"), unique(name)
            client = sink.client()
            barrier.wait()  # both "tests" send at the same time
            for i in range(n):
                send(sink, build_message(sender, rcpt, f"{name} #{i}", f"body {name} {i}\n", attach=False),
                     sender, [rcpt])
            got = client.wait_for_messages(rcpt_to=rcpt, count=n, timeout=15)
            barrier.wait()  # both have waited: now one clears while the other still reads
            deleted = client.clear(rcpt_to=rcpt)
            barrier.wait()
            results[name] = (rcpt, got, deleted, client.list_messages(rcpt_to=rcpt))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((name, e))
            barrier.abort()

    threads = [threading.Thread(target=one_test, args=(name,)) for name in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for name, (rcpt, got, deleted, after) in results.items():
        assert len(got) == n, name
        assert all(list(m.rcpt_to) == [rcpt] for m in got), name
        assert sorted(m.subject for m in got) == [f"{name} #{i}" for i in range(n)]
        assert deleted == n  # clear(filter) removed only this test's mail
        assert after == []


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200, url
        return r.read()


def test_web_url_reaches_the_http_api(sink):
    web = sink.get_web_url()
    assert web == f"http://{sink.smtp_host}:{sink.http_port}"
    assert get(web + "/healthz") == b"ok\n"
    sender, rcpt = unique("app"), unique("web")
    subject = "web " + uuid.uuid4().hex[:6]
    send(sink, build_message(sender, rcpt, subject, "hi\n", attach=False), sender, [rcpt])
    sink.client().wait_for_messages(rcpt_to=rcpt, count=1, timeout=10)

    info = json.loads(get(web + "/api/v1/info"))
    assert info["Version"] == sink.client().server_info().version != ""
    assert isinstance(info["Messages"], int) and info["Messages"] >= 1
    found = json.loads(get(web + "/api/v1/search?query=" + urllib.parse.quote("to:" + rcpt)))
    assert found["messages_count"] == 1
    [m] = found["messages"]
    assert m["Subject"] == subject and [a["Address"] for a in m["To"]] == [rcpt]


def test_http_allowed_host():
    for host in (None, "", "localhost", "app.localhost", "127.0.0.1", "::1", "[::1]", "172.17.0.1"):
        assert http_allowed_host(host) is None, host
    assert http_allowed_host("Docker.Example.test") == "docker.example.test"


def test_module_start_labels_and_teardown():
    import docker
    from smtpsink import SmtpSinkContainer

    with SmtpSinkContainer(labels=run_labels()) as own:
        cid = own.get_container_id()
        c = docker.from_env().containers.get(cid)
        assert c.labels["dev.smtpsink.module"] == "python"
        assert run_labels().items() <= c.labels.items()  # the caller's labels are kept
        assert own.client().health()
        assert own.client().server_info().counters.stored_messages == 0
    with pytest.raises(docker.errors.NotFound):
        docker.from_env().containers.get(cid)
