"""The app's tests: `mailbox` (the smtpsink pytest plugin) gives each test
addresses of its own on one sink, and the app is pointed at that sink."""
import pytest

from signup_app import create_app


@pytest.fixture
def client(mailbox):
    app = create_app({"TESTING": True, "SMTP_HOST": mailbox.smtp_host, "SMTP_PORT": mailbox.smtp_port})
    return app.test_client()


# Both sign up "alice"; under `pytest -n 2` they run at the same time against
# one sink, and each still finds exactly one message: its own.
@pytest.mark.parametrize("run", ["first", "second"])
def test_signup_sends_one_welcome(client, mailbox, run):
    to = mailbox.address("alice")
    r = client.post("/signup", json={"email": to, "name": "Alice"})
    assert r.status_code == 201, r.json

    msgs = mailbox.wait(count=1, timeout=10)
    assert len(msgs) == 1, f"{len(msgs)} messages (see them at {mailbox.web_url})"
    m = msgs[0]
    assert list(m.rcpt_to) == [to] and m.mail_from == "welcome@app.example.test"
    assert m.subject == "Welcome, Alice!"
    assert "thanks for signing up" in m.text_body


def test_refused_address_is_a_502(client, mailbox):
    mailbox.reject("RCPT_TO", local="ghost", code=550, message="no such user")
    r = client.post("/signup", json={"email": mailbox.address("ghost")})
    assert r.status_code == 502 and "550" in r.json["error"]
    assert mailbox.messages() == []
