"""The web UI (web/, served by the sink's HTTP server) in a real headless
Chromium from Debian (chromium, chromium-driver, python3-selenium; no
browser download): the list, live updates, the sandboxed HTML view, hostile
mail, delete and clear, reject rules, keyboard navigation.

One sink and one browser for the module (a browser start costs seconds);
each test clears the store and the rules first. Skipped only when Chromium
is not installed outside CI; with CI=true it must run.
"""
import gzip
import http.client
import http.server
import json
import os
import re
import shutil
import smtplib
import threading
import time
import urllib.parse
import email.policy
from email.message import EmailMessage

import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from conftest import Sink  # noqa: E402  (the integration tests' harness)

WEB = os.path.join(os.path.dirname(__file__), "..", "..", "web")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WAIT = 10.0

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

if not (HAVE_SELENIUM and os.access(CHROMEDRIVER, os.X_OK) and os.access(CHROMIUM, os.X_OK)):
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true but chromium, chromium-driver or python3-selenium is missing")
    pytest.skip("chromium, chromium-driver or python3-selenium not installed (apt-get install them)",
                allow_module_level=True)


# --- the sink, the browser, helpers -------------------------------------------


@pytest.fixture(scope="module")
def sink():
    s = Sink(("--http-listen", "127.0.0.1:0"))
    http = s.ready["http"]
    s.http_base = "http://%s/" % (http[0] if isinstance(http, list) else http)
    yield s
    s.close()


@pytest.fixture(scope="module")
def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


@pytest.fixture
def ui(sink, browser):
    """A clean store and rule set, the page loaded and live."""
    rpc(sink, "Clear", {})
    rpc(sink, "DeleteRejectRule", {})
    browser.get("about:blank")
    yield browser


@pytest.fixture
def remote():
    """A stand-in for a tracking pixel's host: (its port, the paths fetched from it)."""
    hits = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_port, hits
    srv.shutdown()
    srv.server_close()


def rpc(sink, method, body):
    c = http.client.HTTPConnection(urllib.parse.urlsplit(sink.http_base).netloc, timeout=10)
    try:
        c.request("POST", "/smtpsink.v1.Sink/" + method, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        assert r.status == 200, (method, r.status, data)
        return json.loads(data or b"{}")
    finally:
        c.close()


def stored(sink, **flt):
    return rpc(sink, "ListMessages", {"filter": flt}).get("messages", [])


def send(sink, subject, text="plain text part", html=None, to="bob@test.example", frm="alice@example.com",
         attachments=(), headers=(), mail_options=(), rcpt_options=()):
    m = EmailMessage()
    m["From"] = frm
    m["To"] = to
    m["Subject"] = subject
    for k, v in headers:
        m[k] = v
    m.set_content(text)
    if html is not None:
        m.add_alternative(html, subtype="html")
    for name, data, mtype in attachments:
        main, sub = mtype.split("/")
        m.add_attachment(data, maintype=main, subtype=sub, filename=name)
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.sendmail(frm, [to], m.as_bytes(policy=email.policy.SMTP), mail_options=list(mail_options), rcpt_options=list(rcpt_options))


def wait_for(fn, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def js(d, script, *args):
    return d.execute_script(script, *args)


def open_ui(sink, d, n=None, hash_="#/messages"):
    d.get(sink.http_base + hash_)
    wait_for(lambda: js(d, "return document.getElementById('live').classList.contains('on')"), "live events")
    if n is not None:
        wait_for(lambda: len(rows(d)) == n, "%d rows (have %d)" % (n, len(rows(d))))


def rows(d):
    return d.find_elements(By.CSS_SELECTOR, "#list li")


def subjects(d):
    return js(d, "return [...document.querySelectorAll('#list li .subj')].map(e => e.textContent)")


def no_alert(d):
    try:
        a = d.switch_to.alert
    except NoAlertPresentException:
        return True
    text = a.text
    a.dismiss()
    raise AssertionError("an alert was shown: %r" % text)


def open_row(d, i):
    rows(d)[i].click()
    wait_for(lambda: d.find_element(By.ID, "msg").is_displayed(), "the message view")


def tab(d, name):
    d.find_element(By.ID, "t-" + name).click()
    return d.find_element(By.ID, "p-" + name)


# --- tests ---------------------------------------------------------------------


def test_list_newest_first_and_live_without_reload(sink, ui):
    for i in range(3):
        send(sink, "stored %d" % i)
    open_ui(sink, ui, 3)
    assert subjects(ui) == ["stored 2", "stored 1", "stored 0"]
    assert ui.find_element(By.ID, "range").text == "1–3 of 3"
    js(ui, "window.sameDocument = 42")
    t0 = time.monotonic()
    send(sink, "arrived live")
    wait_for(lambda: subjects(ui)[:1] == ["arrived live"], "the new message at the top")
    assert time.monotonic() - t0 < 5
    assert js(ui, "return window.sameDocument") == 42, "the page was reloaded"
    assert ui.find_element(By.ID, "range").text == "1–4 of 4"
    # The page's own code ran without any CSP violation
    csp = [e for e in ui.get_log("browser")
           if "Content Security Policy" in e["message"] and "srcdoc" not in e["message"]]
    assert csp == []


def test_paging_newest_first_over_sparse_ids(sink, ui):
    # 120 messages, every third one matching: pages of 50 found by the
    # after_id search, in order, without gaps or duplicates
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        for i in range(120):
            s.sendmail("p@example.com", ["x@test.example"],
                       ("Subject: %s %03d\r\n\r\nbody\r\n" % ("hit" if i % 3 == 0 else "miss", i)).encode())
    open_ui(sink, ui, 50)
    ui.find_element(By.ID, "f-subject").send_keys("hit", Keys.ENTER)
    wait_for(lambda: ui.find_element(By.ID, "range").text == "1–40 of 40", "40 hits")
    got = subjects(ui)
    assert got == ["hit %03d" % i for i in range(117, -1, -3)]
    ui.find_element(By.ID, "f-reset").click()
    wait_for(lambda: ui.find_element(By.ID, "range").text == "1–50 of 120",
             "all 120 (%s)" % ui.find_element(By.ID, "range").text)
    seen = list(subjects(ui))
    ui.find_element(By.ID, "older").click()
    wait_for(lambda: ui.find_element(By.ID, "range").text == "51–100 of 120", "page 2")
    seen += subjects(ui)
    ui.find_element(By.ID, "older").click()
    wait_for(lambda: ui.find_element(By.ID, "range").text == "101–120 of 120", "page 3")
    seen += subjects(ui)
    assert [int(s[-3:]) for s in seen] == list(range(119, -1, -1))
    ui.find_element(By.ID, "newer").click()
    wait_for(lambda: ui.find_element(By.ID, "range").text == "51–100 of 120", "back to page 2")


def test_message_html_in_sandboxed_iframe_and_envelope(sink, ui):
    send(sink, "html mail", text="the text part",
         html='<h1 id="h">Rendered HTML</h1><p style="color: rgb(200, 0, 0)">styled</p>',
         headers=[("X-Custom", "custom value")], mail_options=["BODY=8BITMIME"],
         rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    open_ui(sink, ui, 1)
    open_row(ui, 0)
    frame = ui.find_element(By.ID, "m-frame")
    sandbox = frame.get_attribute("sandbox").split()
    assert frame.get_attribute("sandbox") is not None
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    srcdoc = frame.get_attribute("srcdoc")
    assert "Content-Security-Policy" in srcdoc and "img-src data:;" in srcdoc.replace("&quot;", '"')
    ui.switch_to.frame(frame)
    try:
        wait_for(lambda: js(ui, "const h = document.getElementById('h'); return h && h.textContent") ==
                 "Rendered HTML", "the HTML body rendered in the iframe")
        assert js(ui, "return getComputedStyle(document.querySelector('p')).color") == "rgb(200, 0, 0)"
    finally:
        ui.switch_to.default_content()
    assert tab(ui, "text").text.strip() == "the text part"
    assert "custom value" in tab(ui, "headers").text
    env = tab(ui, "envelope").text
    assert re.search(r"MAIL FROM\n<alice@example.com> (SIZE=\d+ )?BODY=8BITMIME\n", env), env
    for want in ("RCPT TO\n<bob@test.example> NOTIFY=SUCCESS,FAILURE\n",
                 "127.0.0.1", "TLS\nno", "AUTH\nnone"):
        assert want in env, (want, env)
    raw = tab(ui, "raw")
    wait_for(lambda: "X-Custom: custom value" in raw.text, "the raw source")
    assert "None" in tab(ui, "anomalies").text


def test_remote_images_blocked_by_default_cid_images_shown(sink, ui, remote):
    port, hits = remote
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c63f8cfc0f01f0005000201ff8999"
                        "3d1d0000000049454e44ae426082")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.com", "b@test.example", "images"
    m.set_content("x")
    m.add_alternative('<img id="cid" src="cid:logo@x"><img id="remote" src="http://127.0.0.1:%d/t.png">'
                      % port, subtype="html")
    m.get_payload()[1].add_related(png, maintype="image", subtype="png", cid="<logo@x>", filename="logo.png")
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.send_message(m)
    open_ui(sink, ui, 1)
    open_row(ui, 0)
    ui.switch_to.frame(ui.find_element(By.ID, "m-frame"))
    try:
        wait_for(lambda: js(ui, "const i = document.getElementById('cid'); return i && i.complete && "
                                "i.naturalWidth === 1"), "the cid: image shown")
        assert js(ui, "return document.getElementById('cid').src.startsWith('data:image/png;base64,')")
    finally:
        ui.switch_to.default_content()
    time.sleep(0.5)
    assert hits == [], "a remote image was fetched without consent"
    att = tab(ui, "attachments")
    assert "logo.png" in att.text
    wait_for(lambda: js(ui, "const i = document.querySelector('#m-attachments img'); "
                            "return i && i.complete && i.naturalWidth === 1"), "the inline image")


def test_remote_images_after_the_toggle(sink, ui, remote):
    port, hits = remote
    send(sink, "remote", html='<img src="http://127.0.0.1:%d/t.png">' % port)
    open_ui(sink, ui, 1)
    open_row(ui, 0)
    ui.find_element(By.ID, "remote").click()
    wait_for(lambda: hits, "the remote image fetched after the toggle", timeout=3)


HOSTILE_SUBJECT = '<img src=x onerror="window.pwned=1;alert(1)"><script>window.pwned=11</script>'
HOSTILE_FILE = '<img src=x onerror="window.pwned=4;alert(4)">.html'


def test_hostile_mail_runs_nothing(sink, ui):
    send(sink, HOSTILE_SUBJECT,
         text='<script>window.pwned=3;alert(3)</script>',
         html=('<script>parent.pwned=2;top.pwned=2;top.document.title="pwned";alert(2)</script>'
               '<img src=x onerror="parent.pwned=5;top.document.title=\'pwned\';alert(5)">'
               '<svg onload="parent.pwned=6;alert(6)"></svg><iframe src="javascript:parent.pwned=7"></iframe>'
               '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:1/">'
               '<p id="visible">hostile html</p>'),
         frm="evil@example.com", to="victim@test.example",
         headers=[("X-Evil", '<img src=x onerror="window.pwned=8">')],
         attachments=[(HOSTILE_FILE, b"<script>alert(9)</script>", "text/html")])
    open_ui(sink, ui, 1)
    title = ui.title
    assert rows(ui)[0].find_element(By.CSS_SELECTOR, ".subj").text == HOSTILE_SUBJECT
    open_row(ui, 0)
    assert ui.find_element(By.ID, "m-subject").text == HOSTILE_SUBJECT
    for t in ("html", "text", "headers", "envelope", "anomalies", "raw", "attachments"):
        tab(ui, t)
        time.sleep(0.1)
        no_alert(ui)
    text_of = lambda i: js(ui, "return document.getElementById(arguments[0]).textContent", i)  # noqa: E731
    assert text_of("m-text").strip() == '<script>window.pwned=3;alert(3)</script>'
    assert '<img src=x onerror="window.pwned=8">' in text_of("m-headers")
    links = ui.find_elements(By.CSS_SELECTOR, "#m-attachments a")
    assert [a.text for a in links] == [HOSTILE_FILE]
    tab(ui, "raw")
    wait_for(lambda: '<img src=x onerror="window.pwned=1;alert(1)">' in text_of("m-raw"), "the raw source as text")
    ui.switch_to.frame(ui.find_element(By.ID, "m-frame"))
    try:
        assert js(ui, "return document.getElementById('visible').textContent") == "hostile html"
        assert js(ui, "return document.scripts.length") == 0
    finally:
        ui.switch_to.default_content()
    time.sleep(0.5)
    no_alert(ui)
    assert js(ui, "return typeof window.pwned") == "undefined"
    assert ui.title == title == "smtpsink"
    # the markup of the mail never became elements of the page
    assert js(ui, "return document.querySelectorAll('img[src=\"x\"], script:not([src])').length") == 0
    assert ui.current_url.startswith(sink.http_base)


def test_search_from_the_url_and_live_within_it(sink, ui):
    # A link such as a test's mailbox URL opens the list already searched
    # (form field names, "to" as an alias); live mail outside the search
    # stays out, and a hostile value is only ever text in the form
    send(sink, "mine 1", to="alice@t-1.example")
    send(sink, "other", to="alice@t-2.example")
    send(sink, "mine 2", to="bob@t-1.example")
    open_ui(sink, ui, 2, "?to=%40t-1.example&subject=mine#/messages")
    assert subjects(ui) == ["mine 2", "mine 1"]
    assert ui.find_element(By.ID, "f-to").get_attribute("value") == "@t-1.example"
    assert ui.find_element(By.ID, "more").get_attribute("open") is not None
    send(sink, "other live", to="carol@t-2.example")
    send(sink, "mine live", to="carol@t-1.example")
    wait_for(lambda: subjects(ui)[:1] == ["mine live"], "the matching live message")
    assert subjects(ui) == ["mine live", "mine 2", "mine 1"]
    ui.get(sink.http_base + "?subject=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&x%22%5D=1#/messages")
    wait_for(lambda: js(ui, "return document.getElementById('live').classList.contains('on')"), "live events")
    assert ui.find_element(By.ID, "f-subject").get_attribute("value") == "<img src=x onerror=alert(1)>"
    assert js(ui, "return document.querySelectorAll('img[src=\"x\"]').length") == 0
    no_alert(ui)


def test_delete_one_by_key_and_button_and_clear_by_filter(sink, ui):
    for s in ("keep 1", "drop 1", "keep 2", "drop 2", "drop 3"):
        send(sink, s)
    open_ui(sink, ui, 5)
    assert subjects(ui) == ["drop 3", "drop 2", "keep 2", "drop 1", "keep 1"]
    body = ui.find_element(By.TAG_NAME, "body")
    body.send_keys("j")  # second row: "drop 2"
    ui.switch_to.active_element.send_keys(Keys.DELETE)
    wait_for(lambda: subjects(ui) == ["drop 3", "keep 2", "drop 1", "keep 1"], "drop 2 gone from the list")
    assert [m["subject"] for m in stored(sink)] == ["keep 1", "drop 1", "keep 2", "drop 3"]
    open_row(ui, 2)  # "drop 1"
    ui.find_element(By.ID, "m-delete").click()
    wait_for(lambda: subjects(ui) == ["drop 3", "keep 2", "keep 1"], "drop 1 gone from the list")
    assert [m["subject"] for m in stored(sink)] == ["keep 1", "keep 2", "drop 3"]
    ui.find_element(By.ID, "f-subject").send_keys("drop", Keys.ENTER)
    wait_for(lambda: subjects(ui) == ["drop 3"], "the search")
    ui.find_element(By.ID, "clear").click()
    wait_for(lambda: ui.find_element(By.ID, "confirm").is_displayed(), "the confirmation")
    assert "1 messages matching" in ui.find_element(By.ID, "confirm-text").text
    ui.find_element(By.ID, "confirm-yes").click()
    wait_for(lambda: [m["subject"] for m in stored(sink)] == ["keep 1", "keep 2"], "the clear by filter")
    wait_for(lambda: subjects(ui) == [], "an empty result")
    no_alert(ui)


def test_rules_page_adds_a_rule_that_fires_and_deletes_it(sink, ui):
    open_ui(sink, ui, hash_="#/rules")
    wait_for(lambda: ui.find_element(By.ID, "norules").is_displayed(), "no rules yet")
    ui.find_element(By.ID, "r-stage").send_keys("RCPT")
    ui.find_element(By.ID, "r-match").send_keys("*@blocked.example")
    code = ui.find_element(By.ID, "r-code")
    code.clear()
    code.send_keys("550")
    ui.find_element(By.ID, "r-enh").send_keys("5.7.1")
    ui.find_element(By.ID, "r-text").send_keys("blocked by the ui")
    ui.find_element(By.CSS_SELECTOR, "#ruleform button[type=submit]").click()
    wait_for(lambda: len(ui.find_elements(By.CSS_SELECTOR, "#rules tr")) == 1, "the rule in the table")
    row_text = ui.find_element(By.CSS_SELECTOR, "#rules tr").text
    assert "RCPT_TO" in row_text and "*@blocked.example" in row_text and "550 5.7.1 blocked by the ui" in row_text
    with smtplib.SMTP(sink.smtp_host, sink.smtp_port, timeout=10) as s:
        s.ehlo()
        s.mail("a@example.com")
        code_, msg = s.rcpt("x@blocked.example")
        assert (code_, msg) == (550, b"5.7.1 blocked by the ui")
        assert s.rcpt("x@fine.example")[0] == 250
    ui.refresh()
    wait_for(lambda: ui.find_elements(By.CSS_SELECTOR, "#rules tr"), "the rules after a reload")
    assert ui.find_elements(By.CSS_SELECTOR, "#rules tr td")[7].text == "1"  # hits
    ui.find_element(By.CSS_SELECTOR, "#rules tr button").click()
    wait_for(lambda: ui.find_element(By.ID, "norules").is_displayed(), "the rule deleted")
    assert rpc(sink, "ListRejectRules", {}).get("rules", []) == []


def test_keyboard_navigation(sink, ui):
    for i in range(3):
        send(sink, "key %d" % i)
    open_ui(sink, ui, 3)
    sel = lambda: js(ui, "const s = document.querySelector('#list li[aria-selected=true] .subj'); "  # noqa: E731
                         "return s && s.textContent")
    assert sel() == "key 2"
    ui.find_element(By.TAG_NAME, "body").send_keys("j")
    assert sel() == "key 1"
    assert js(ui, "return document.activeElement.id") == "list"
    assert js(ui, "return getComputedStyle(document.querySelector('#list li[aria-selected=true]')).outlineStyle") \
        == "solid", "no visible focus on the selected row"
    act = ui.switch_to.active_element
    act.send_keys(Keys.ARROW_DOWN)
    assert sel() == "key 0"
    act.send_keys("k")
    assert sel() == "key 1"
    act.send_keys(Keys.ENTER)
    wait_for(lambda: ui.find_element(By.ID, "m-subject").text == "key 1", "Enter opens the selected message")
    assert ui.current_url.endswith("#/messages/" + str(stored(sink, subject="key 1")[0]["id"]))
    ui.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(lambda: not ui.find_element(By.ID, "msg").is_displayed(), "Escape closes it")
    ui.switch_to.active_element.send_keys("/")
    assert js(ui, "return document.activeElement.id") == "f-subject"
    ui.switch_to.active_element.send_keys("key 0", Keys.ENTER)
    wait_for(lambda: subjects(ui) == ["key 0"], "the search from the keyboard")
    # labelled controls: every input and select has a label or an aria-label
    unlabelled = js(ui, "return [...document.querySelectorAll('input, select, button')].filter(e => "
                        "!(e.labels && e.labels.length) && !e.getAttribute('aria-label') && "
                        "!e.textContent.trim()).map(e => e.id)")
    assert unlabelled == []


def test_theme_toggle_and_server_page(sink, ui):
    send(sink, "counted")
    open_ui(sink, ui, 1)
    before = js(ui, "return getComputedStyle(document.body).backgroundColor")
    ui.find_element(By.ID, "theme").click()
    after = js(ui, "return getComputedStyle(document.body).backgroundColor")
    assert before != after
    ui.find_element(By.ID, "theme").click()
    assert js(ui, "return getComputedStyle(document.body).backgroundColor") == before
    ui.find_element(By.ID, "nav-server").click()
    wait_for(lambda: "Messages received" in ui.find_element(By.ID, "counters").text, "the counters")
    assert "SMTP" in ui.find_element(By.ID, "info").text
    assert sink.smtp_addr in ui.find_element(By.ID, "info").text


def test_assets_small_and_csp_clean():
    """No inline script or style and no HTML sink for data in web/; under 150 KB gzip'd."""
    total = 0
    for name in sorted(os.listdir(WEB)):
        with open(os.path.join(WEB, name), "rb") as f:
            data = f.read()
        if name.endswith((".html", ".js", ".css")):
            total += len(gzip.compress(data, 9))
        text = data.decode("utf-8", "replace")
        if name.endswith(".html"):
            assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) is None, name
            assert re.search(r"\sstyle=|<style", text) is None, name
            assert re.search(r"\son[a-z]+=", text) is None, name
        if name.endswith(".js"):
            assert re.search(r"\.innerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function|"
                             r"setTimeout\(\s*['\"]|\.style\.|setAttribute\(\s*['\"]style", text) is None, name
    assert total < 150 * 1024, total
