"""HTTP helpers for the tests of the HTTP side (stdlib only)."""
import base64
import http.client
import json
import smtplib


def request(addr, method, path, body=None, headers=None, timeout=10):
    """One request; returns (status, headers dict (lower-case names), body bytes)."""
    host, _, port = addr.rpartition(":")
    c = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
    h = {"Host": addr}
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def rpc(addr, method, body=None, base=""):
    """A control API call over HTTP/JSON: (status, decoded JSON)."""
    st, _, data = request(addr, "POST", base + "/smtpsink.v1.Sink/" + method, body if body is not None else {})
    return st, json.loads(data)


def get_json(addr, path):
    st, _, data = request(addr, "GET", path)
    assert st == 200, (path, st, data)
    return json.loads(data)


def send(smtp_addr, mail_from, rcpts, data):
    host, _, port = smtp_addr.rpartition(":")
    s = smtplib.SMTP(host, int(port), timeout=10)
    s.sendmail(mail_from, rcpts, data)
    s.quit()


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


# The mails both sinks get in the side-by-side test, and the API tests use
PLAIN = b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: plain one\r\n" \
        b"Message-ID: <plain@example.com>\r\n\r\nHello Bob,\r\nplain text.\r\n"
HTML = (b"From: alice@example.com\r\nTo: Bob <bob@example.com>\r\nSubject: html two\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative; boundary=ALT\r\n\r\n--ALT\r\nContent-Type: text/plain\r\n\r\n"
        b"text part\r\n--ALT\r\nContent-Type: text/html\r\n\r\n<p>html <b>part</b></p>\r\n--ALT--\r\n")
ATTACH = (b"From: Alice <alice@example.com>\r\nTo: Bob <bob@example.com>, carol@example.com\r\n"
          b"Cc: dave@example.com\r\nReply-To: replies@example.com\r\nSubject: attachment three\r\n"
          b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
          b"Content-Type: text/plain\r\n\r\nsee attached\r\n--BB\r\n"
          b"Content-Type: application/pdf; name=\"r\xc3\xa9sum\xc3\xa9 1.pdf\"\r\n"
          b"Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf\r\n"
          b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCg==\r\n--BB--\r\n")
ENCODED = (b"From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.com>\r\nTo: erin@example.com\r\n"
           b"Subject: =?UTF-8?B?w6nDqSBlbmNvZGVk?=\r\n\r\nencoded subject\r\n")
MAILS = [  # (mail_from, rcpts, data)
    ("alice@example.com", ["bob@example.com"], PLAIN),
    ("alice@example.com", ["bob@example.com"], HTML),
    ("alice@example.com", ["bob@example.com", "carol@example.com", "dave@example.com", "hidden@example.com"], ATTACH),
    ("jorg@example.com", ["erin@example.com"], ENCODED),
]
ATTACHMENT_BYTES = base64.b64decode("JVBERi0xLjQKJcOkw7zDtsOfCg==")
