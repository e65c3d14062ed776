"""The Mailpit-compatible subset (/api/v1/): the endpoints on their own, then
side by side with a real Mailpit (built by .ci/mailpit.sh; SMTPSINK_MAILPIT
names the binary): the same mails to both, the same JSON keys and JSON types
back, recursively, and the values that must agree."""
import json
import os
import smtplib
import subprocess
import tempfile
import time
import socket

import pytest

import http_util as hu

MAILPIT_DEFAULT = os.path.expanduser("~/.cache/smtpsink-ci/mailpit-v1.33.1/bin/mailpit")
MAILPIT = os.environ.get("SMTPSINK_MAILPIT") or MAILPIT_DEFAULT


@pytest.fixture
def web(sink_factory):
    s = sink_factory()
    for f, r, d in hu.MAILS:
        hu.send(s.smtp_addr, f, r, d)
    return s


def test_messages_and_search(web):
    a = web.http_addr
    r = hu.get_json(a, "/api/v1/messages")
    assert (r["total"], r["count"], r["messages_count"], r["start"]) == (4, 4, 4, 0)
    assert [m["ID"] for m in r["messages"]] == ["4", "3", "2", "1"]  # newest first
    assert r["messages"][0]["Subject"] == "\u00e9\u00e9 encoded"
    assert r["messages"][0]["From"] == {"Name": "J\u00f6rg", "Address": "jorg@example.com"}
    m3 = r["messages"][1]
    assert m3["Attachments"] == 1 and m3["Snippet"] == "see attached"
    assert m3["Bcc"] == [{"Name": "", "Address": "hidden@example.com"}]
    assert hu.get_json(a, "/api/v1/messages?limit=0")["count"] == 4  # 0: the page maximum
    r = hu.get_json(a, "/api/v1/messages?start=1&limit=2")
    assert [m["ID"] for m in r["messages"]] == ["3", "2"] and r["start"] == 1 and r["count"] == 2
    assert [m["ID"] for m in hu.get_json(a, "/api/v1/search?query=subject:three")["messages"]] == ["3"]
    assert [m["ID"] for m in hu.get_json(a, "/api/v1/search?query=to:erin")["messages"]] == ["4"]
    assert [m["ID"] for m in hu.get_json(a, "/api/v1/search?query=from:alice%20attached")["messages"]] == ["3"]
    assert [m["ID"] for m in hu.get_json(a, "/api/v1/search?query=%22plain%20text%22")["messages"]] == ["1"]
    assert hu.get_json(a, "/api/v1/search?query=subject:%22*%5B%22")["messages"] == []  # globs escaped
    assert hu.request(a, "GET", "/api/v1/search")[0] == 400
    st, _, body = hu.request(a, "DELETE", "/api/v1/search?query=subject:plain", {})
    assert (st, body) == (200, b"ok")
    assert hu.get_json(a, "/api/v1/info")["Messages"] == 3


def test_listing_pages_dense_and_with_gaps(sink_factory):
    """The unfiltered listing finds its page without a scan (by id while the
    ids are dense, by a walk after a gap): every page equals the slice of
    the newest-first ids, before and after deletes in the middle, and past
    the end."""
    s = sink_factory("--max-messages", "30")
    a = s.http_addr
    host, _, port = s.smtp_addr.rpartition(":")
    with smtplib.SMTP(host, int(port), timeout=10) as c:
        for i in range(40):  # ids 1..10 evicted: 11..40 stored
            c.sendmail("a@x.test", ["b@y.test"], b"Subject: n%d\r\n\r\nbody\r\n" % i)

    def check(want):
        for start, limit in ((0, 50), (0, 7), (5, 7), (len(want) - 3, 7), (len(want), 5), (len(want) + 9, 5)):
            r = hu.get_json(a, "/api/v1/messages?start=%d&limit=%d" % (start, limit))
            assert [m["ID"] for m in r["messages"]] == [str(i) for i in want[start:start + limit]], (start, limit)
            assert (r["total"], r["messages_count"], r["start"], r["count"]) == \
                (len(want), len(want), start, len(want[start:start + limit]))

    check(list(range(40, 10, -1)))
    st, _, _ = hu.request(a, "DELETE", "/api/v1/messages", {"IDs": ["20", "33", "34"]})
    assert st == 200
    check([i for i in range(40, 10, -1) if i not in (20, 33, 34)])


def test_message_headers_raw_part(web):
    a = web.http_addr
    m = hu.get_json(a, "/api/v1/message/3")
    assert m["ID"] == "3" and m["Subject"] == "attachment three" and m["Text"].startswith("see attached")
    assert [x["Address"] for x in m["To"]] == ["bob@example.com", "carol@example.com"]
    assert m["ReplyTo"] == [{"Name": "", "Address": "replies@example.com"}] and m["ReturnPath"] == "alice@example.com"
    [att] = m["Attachments"]
    assert att["FileName"] == "r\u00e9sum\u00e9 1.pdf" and att["Size"] == len(hu.ATTACHMENT_BYTES)
    st, h, body = hu.request(a, "GET", "/api/v1/message/3/part/" + att["PartID"])
    assert st == 200 and body == hu.ATTACHMENT_BYTES
    import hashlib
    assert att["Checksums"]["SHA256"] == hashlib.sha256(body).hexdigest()
    assert hu.get_json(a, "/api/v1/message/2")["HTML"].startswith("<p>html")
    h = hu.get_json(a, "/api/v1/message/1/headers")
    assert h["Message-Id"] == ["<plain@example.com>"] and h["Subject"] == ["plain one"]
    st, _, body = hu.request(a, "GET", "/api/v1/message/3/raw")
    assert st == 200 and body == hu.ATTACH
    assert hu.request(a, "GET", "/api/v1/message/99")[0] == 404
    assert hu.request(a, "GET", "/api/v1/message/3/part/7")[0] == 404


def test_delete(web):
    a = web.http_addr
    st, _, body = hu.request(a, "DELETE", "/api/v1/messages", {"IDs": ["1", "3", "nope"]})
    assert (st, body) == (200, b"ok")
    assert [m["ID"] for m in hu.get_json(a, "/api/v1/messages")["messages"]] == ["4", "2"]
    assert hu.request(a, "DELETE", "/api/v1/messages", b"", {"Content-Type": "application/json"})[0] == 200
    assert hu.get_json(a, "/api/v1/messages")["total"] == 0
    info = hu.get_json(a, "/api/v1/info")
    assert info["Messages"] == 0 and info["RuntimeStats"]["SMTPAccepted"] == 4


# --- side by side -------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture
def mailpit():
    if not os.access(MAILPIT, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail("no Mailpit at %s (.ci/mailpit.sh builds it)" % MAILPIT)
        pytest.skip("no Mailpit at %s (run .ci/mailpit.sh)" % MAILPIT)
    d = tempfile.TemporaryDirectory()
    smtp, web = "127.0.0.1:%d" % free_port(), "127.0.0.1:%d" % free_port()
    p = subprocess.Popen([MAILPIT, "--smtp", smtp, "--listen", web, "--database", os.path.join(d.name, "db"),
                          "--disable-version-check"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            if hu.request(web, "GET", "/api/v1/info", timeout=1)[0] == 200:
                break
        except OSError:
            pass
        assert p.poll() is None and time.monotonic() < deadline, "mailpit did not start"
        time.sleep(0.1)
    yield smtp, web
    p.terminate()
    p.wait(10)
    d.cleanup()


def jtype(v):
    if v is None or isinstance(v, list):
        return "list-or-null"  # Mailpit sends null for some empty lists
    return {bool: "bool", int: "number", float: "number", str: "string", dict: "object"}[type(v)]


def same_shape(ours, theirs, path="$"):
    """Same keys and JSON types, recursively (lists: each of our items against their first)."""
    assert jtype(ours) == jtype(theirs), "%s: ours %r, Mailpit's %r" % (path, ours, theirs)
    if isinstance(ours, dict):
        assert sorted(ours) == sorted(theirs), "%s: keys differ: ours %s, Mailpit's %s" % (
            path, sorted(ours), sorted(theirs))
        for k in ours:
            same_shape(ours[k], theirs[k], path + "." + k)
    elif isinstance(ours, list) and ours and theirs:
        for i, item in enumerate(ours):
            same_shape(item, theirs[0], "%s[%d]" % (path, i))


def addrs(lst):
    return [(x["Name"], x["Address"]) for x in lst or []]


def test_side_by_side_with_mailpit(web, mailpit):
    mp_smtp, mp = mailpit
    for f, r, d in hu.MAILS:
        hu.send(mp_smtp, f, r, d)
    deadline = time.monotonic() + 10
    while hu.get_json(mp, "/api/v1/messages")["total"] < len(hu.MAILS):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ours, theirs = hu.get_json(web.http_addr, "/api/v1/messages"), hu.get_json(mp, "/api/v1/messages")
    same_shape(ours, theirs)
    assert ours["total"] == theirs["total"] and ours["count"] == theirs["count"]
    for o, t in zip(ours["messages"], theirs["messages"]):  # both newest first
        for k in ("Subject", "Attachments", "Snippet"):
            assert o[k] == t[k], (k, o[k], t[k])
        for k in ("From",):
            assert (o[k]["Name"], o[k]["Address"]) == (t[k]["Name"], t[k]["Address"])
        for k in ("To", "Cc", "ReplyTo"):
            assert addrs(o[k]) == addrs(t[k]), k
        om = hu.get_json(web.http_addr, "/api/v1/message/" + o["ID"])
        tm = hu.get_json(mp, "/api/v1/message/" + t["ID"])
        same_shape(om, tm)
        for k in ("Subject", "Text", "HTML", "ReturnPath"):
            assert om[k].strip() == tm[k].strip(), (k, om[k], tm[k])
        if om["MessageID"]:  # Mailpit makes one up when the mail has none
            assert om["MessageID"] == tm["MessageID"]
        assert addrs(om["Bcc"]) == addrs(tm["Bcc"])
        assert [(x["FileName"], x["ContentType"], x["Size"], x["Checksums"]) for x in om["Attachments"]] == \
            [(x["FileName"], x["ContentType"], x["Size"], x["Checksums"]) for x in tm["Attachments"]]
        for a, b in zip(om["Attachments"], tm["Attachments"]):
            assert hu.request(web.http_addr, "GET", "/api/v1/message/%s/part/%s" % (o["ID"], a["PartID"]))[2] == \
                hu.request(mp, "GET", "/api/v1/message/%s/part/%s" % (t["ID"], b["PartID"]))[2]
        oh = hu.get_json(web.http_addr, "/api/v1/message/%s/headers" % o["ID"])
        th = hu.get_json(mp, "/api/v1/message/%s/headers" % t["ID"])
        same_shape(oh, {k: v for k, v in th.items() if k in oh})
        assert set(oh) <= set(th)  # Mailpit adds Received and Return-Path
        raw = hu.request(web.http_addr, "GET", "/api/v1/message/%s/raw" % o["ID"])[2]
        assert raw in [d for _, _, d in hu.MAILS]  # byte-exact (Mailpit's has headers added)
    for q in ("subject:three", "to:erin", "from:jorg"):
        o = hu.get_json(web.http_addr, "/api/v1/search?query=" + q)
        t = hu.get_json(mp, "/api/v1/search?query=" + q)
        same_shape(o, t)
        assert [m["Subject"] for m in o["messages"]] == [m["Subject"] for m in t["messages"]], q
    same_shape(hu.get_json(web.http_addr, "/api/v1/info"), hu.get_json(mp, "/api/v1/info"))
    for a in (web.http_addr, mp):
        st, _, body = hu.request(a, "DELETE", "/api/v1/search?query=subject:three", {})
        assert (st, body.strip()) == (200, b"ok")
        st, _, body = hu.request(a, "DELETE", "/api/v1/messages", {})
        assert (st, body.strip()) == (200, b"ok")
        assert hu.get_json(a, "/api/v1/messages")["total"] == 0
