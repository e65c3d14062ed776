"""pytest plugin (entry point `pytest11`, loaded by pytest on its own once
smtpsink-testcontainers is installed): one sink per test run, one mailbox
per test.

    def test_signup(mailbox):
        app.register(email=mailbox.address("alice"))      # the code under test sends mail
        [m] = mailbox.wait(count=1, timeout=10)
        assert m.subject == "Welcome"

Fixtures:
  smtpsink  (session) the sink: `smtp_host`, `smtp_port`, `grpc_target`,
            `client()`, `get_web_url()`. With SMTPSINK_SMTP_ADDR and
            SMTPSINK_GRPC_ADDR (host:port each) set, the sink already
            running there (SMTPSINK_HTTP_ADDR, optional, names its web UI
            and HTTP API; without it get_web_url() is None); otherwise an
            SmtpSinkContainer started once per run (per worker under
            pytest-xdist: each worker is its own session) and stopped at
            its end.
  mailbox   (function) a unique address domain and the client filtered to
            it: address(), wait(), messages(), reject(), `web_url`; at
            teardown its rules are deleted and its mail cleared (Clear with
            its filter only), so parallel tests against one sink never see,
            wait on, bounce or clear each other's mail.
  smtpsink_container_kwargs  (session) keyword arguments for
            SmtpSinkContainer (e.g. labels=...); override it in a conftest.

ini options (pytest.ini / pyproject [tool.pytest.ini_options]):
  smtpsink_image  image for the container (default $SMTPSINK_IMAGE, else
                  smtpsink:latest)
  smtpsink_args   extra smtpsink flags, shell-split (e.g. --max-messages 500)
"""
from __future__ import annotations

import os
import re
import ssl
import uuid
from typing import List, Optional

import pytest

from .client import SinkClient, make_filter, web_url
from .v1 import smtpsink_pb2 as pb

SMTP_ADDR_ENV = "SMTPSINK_SMTP_ADDR"
GRPC_ADDR_ENV = "SMTPSINK_GRPC_ADDR"
HTTP_ADDR_ENV = "SMTPSINK_HTTP_ADDR"  # optional, only with the other two
# stages whose match glob is on an address (the sender or a recipient), so
# a rule can be bound to the mailbox's domain; the others match peer IPs,
# HELO names or AUTH user names, which no domain scopes
_SCOPED_STAGES = ("MAIL_FROM", "RCPT_TO", "DATA")
_GLOB_META = re.compile(r"[*?\[\]\\]")


def pytest_addoption(parser):
    parser.addini("smtpsink_image", "smtpsink image the smtpsink fixture starts "
                  "(default $SMTPSINK_IMAGE, else smtpsink:latest)", default="")
    parser.addini("smtpsink_args", "extra smtpsink flags for the container the smtpsink fixture starts",
                  type="args", default=[])


def _split_addr(value: str, name: str):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise pytest.UsageError(f"{name}={value!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


class RunningSink:
    """A sink started elsewhere (docker run, compose, a CI service): the same
    surface as SmtpSinkContainer for what the fixtures use."""

    def __init__(self, smtp_addr: str, grpc_addr: str, http_addr: Optional[str] = None) -> None:
        self.smtp_host, self.smtp_port = _split_addr(smtp_addr, SMTP_ADDR_ENV)
        _split_addr(grpc_addr, GRPC_ADDR_ENV)
        self.grpc_target = grpc_addr
        self._web_url = web_url(*_split_addr(http_addr, HTTP_ADDR_ENV)) if http_addr else None
        self._client: Optional[SinkClient] = None

    def get_web_url(self) -> Optional[str]:
        """"http://host:port" of the web UI and HTTP API (SMTPSINK_HTTP_ADDR),
        None when it was not named."""
        return self._web_url

    def client(self) -> SinkClient:
        if self._client is None:
            c = SinkClient(self.grpc_target)
            c.wait_ready(timeout=10.0)
            self._client = c
        return self._client

    def ssl_context(self) -> ssl.SSLContext:
        return self.client().ssl_context()

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class Mailbox:
    """One test's share of the sink: every address in `domain` (unique per
    test), and a client view that sees only mail to that domain.

    `wait`, `messages` and `clear` take further filter fields (subject=...,
    body=..., mail_from=...); `rcpt_to` may only narrow to addresses of this
    mailbox."""

    def __init__(self, sink, domain: str) -> None:
        self.sink = sink
        self.client: SinkClient = sink.client()
        self.domain = domain
        self.smtp_host, self.smtp_port = sink.smtp_host, sink.smtp_port
        get_web_url = getattr(sink, "get_web_url", None)
        # the sink's web UI and HTTP API; None when not known
        self.web_url: Optional[str] = get_web_url() if get_web_url else None
        self._rules: List[str] = []

    def address(self, local: str = "user") -> str:
        """`local@domain` (e.g. "alice@t-1f2e3d4c.test_signup.smtpsink.test")."""
        if not local or "@" in local or _GLOB_META.search(local):
            raise ValueError(f"local part {local!r}: non-empty, without '@' or glob characters")
        return f"{local}@{self.domain}"

    @property
    def filter(self) -> pb.Filter:
        """The filter every call of this mailbox starts from."""
        return pb.Filter(rcpt_to=f"*@{self.domain}")

    def _filter(self, filter_kwargs) -> pb.Filter:
        rcpt = filter_kwargs.pop("rcpt_to", None)
        f = make_filter(self.filter, **filter_kwargs)
        if rcpt is not None:
            if "@" not in rcpt:
                rcpt = f"{rcpt}@{self.domain}"
            if not rcpt.lower().endswith("@" + self.domain):
                raise ValueError(f"rcpt_to {rcpt!r} is outside this mailbox (@{self.domain})")
            f.rcpt_to = rcpt
        return f

    def wait(self, count: int = 1, timeout: float = 10.0, **filter_kwargs) -> List[pb.Message]:
        """All of this mailbox's matching messages as soon as at least
        `count` match (server-side wait, no polling); SmtpSinkTimeout after
        `timeout` seconds."""
        return self.client.wait_for_messages(self._filter(filter_kwargs), count=count, timeout=timeout)

    def messages(self, *, include_raw: bool = False, **filter_kwargs) -> List[pb.Message]:
        """This mailbox's stored messages (matching the extra fields), oldest first."""
        return self.client.list_messages(self._filter(filter_kwargs), include_raw=include_raw)

    def clear(self, **filter_kwargs) -> int:
        """Deletes this mailbox's (matching) messages; returns how many."""
        return self.client.clear(self._filter(filter_kwargs))

    def reject(self, stage: str = "RCPT_TO", local: str = "*", code: int = 550, message: str = "",
               **rule_kwargs) -> pb.RejectRule:
        """A reject rule bound to this mailbox: at `stage` (RCPT_TO: that
        recipient; MAIL_FROM: the sender; DATA: any recipient), for
        addresses `local@domain`, `local` being a glob on the local part
        ("*" = every address of the mailbox). Further keywords as
        SinkClient.reject_rule (enhanced_code, times, delay_ms,
        disconnect). Deleted at teardown."""
        stage = stage.upper()
        if stage not in _SCOPED_STAGES:
            raise ValueError(f"stage {stage!r}: a mailbox scopes only {', '.join(_SCOPED_STAGES)} rules "
                             "(use mailbox.client.reject_rule for server-wide ones)")
        if not local or "@" in local or local.endswith("\\"):
            raise ValueError(f"local part glob {local!r}: non-empty, without '@', no trailing '\\'")
        rule = self.client.reject_rule(stage, match=f"{local}@{self.domain}", code=code, message=message,
                                       **rule_kwargs)
        self._rules.append(rule.id)
        return rule

    def close(self) -> None:
        """Teardown: its rules and its mail go; nothing else is touched."""
        for rule_id in self._rules:
            self.client.delete_reject_rule(rule_id)
        self._rules.clear()
        self.client.clear(self.filter)


def mailbox_domain(nodename: str) -> str:
    """A DNS-safe domain unique to one test: a random label plus the test's
    name (for reading logs), under smtpsink.test."""
    name = re.sub(r"[^a-z0-9-]+", "-", nodename.lower()).strip("-")[:40].strip("-") or "test"
    return f"t-{uuid.uuid4().hex[:12]}.{name}.smtpsink.test"


@pytest.fixture(scope="session")
def smtpsink_container_kwargs():
    """Keyword arguments for SmtpSinkContainer; override to add labels etc."""
    return {}


@pytest.fixture(scope="session")
def smtpsink(request, smtpsink_container_kwargs):
    """The sink for this run (see the module docstring)."""
    smtp_addr, grpc_addr = os.environ.get(SMTP_ADDR_ENV), os.environ.get(GRPC_ADDR_ENV)
    http_addr = os.environ.get(HTTP_ADDR_ENV)
    if smtp_addr or grpc_addr:
        if not (smtp_addr and grpc_addr):
            raise pytest.UsageError(f"set both {SMTP_ADDR_ENV} and {GRPC_ADDR_ENV} (host:port) "
                                    "to use a running smtpsink")
        sink = RunningSink(smtp_addr, grpc_addr, http_addr)
        try:
            yield sink
        finally:
            sink.stop()
        return
    if http_addr:
        raise pytest.UsageError(f"{HTTP_ADDR_ENV} names the HTTP API of a running smtpsink: "
                                f"set {SMTP_ADDR_ENV} and {GRPC_ADDR_ENV} (host:port) too")
    from .container import SmtpSinkContainer  # needs the testcontainers extra

    image = request.config.getini("smtpsink_image") or None
    args = list(request.config.getini("smtpsink_args"))
    container = SmtpSinkContainer(image, **smtpsink_container_kwargs)
    if args:
        container.with_command(args)
    with container:
        yield container


@pytest.fixture
def mailbox(request, smtpsink):
    """This test's mailbox on the shared sink (see Mailbox)."""
    box = Mailbox(smtpsink, mailbox_domain(request.node.name))
    try:
        yield box
    finally:
        box.close()
