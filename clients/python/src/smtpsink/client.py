"""SinkClient: a small, typed wrapper around the smtpsink.v1.Sink gRPC API.

Every method that selects messages takes the same filter, given either as a
`Filter` message, a dict, or keyword arguments (mail_from, rcpt_to, subject,
header_name, header_value, body, after_id, auth_user). Values are case-insensitive
globs matched against the whole value (`*`, `?`, `[set]`; `*text*` for
"contains"). Tests that run in parallel against one server each use their
own recipient addresses and filter on them, so they never see, wait on or
clear each other's mail.
"""
from __future__ import annotations

import ssl
from typing import Iterator, List, Mapping, Optional, Sequence, Union

import grpc
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .v1 import smtpsink_pb2 as pb
from .v1 import smtpsink_pb2_grpc as pb_grpc

Filter = pb.Filter
Message = pb.Message
RejectRule = pb.RejectRule
RelayStatus = pb.RelayStatus
Stage = pb.Stage

FilterLike = Union[pb.Filter, Mapping[str, object], None]

_FILTER_FIELDS = ("mail_from", "rcpt_to", "subject", "header_name", "header_value", "body", "after_id",
                  "auth_user")


class SmtpSinkError(Exception):
    """An RPC failed; `code` is the grpc.StatusCode, `details` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class SmtpSinkTimeout(SmtpSinkError, TimeoutError):
    """wait_for_messages ran out of time; `details` says how many matched."""


def make_filter(filter: FilterLike = None, **kwargs) -> pb.Filter:
    """Builds a Filter from a Filter, a dict and/or keyword arguments (later wins)."""
    f = pb.Filter()
    if isinstance(filter, pb.Filter):
        f.CopyFrom(filter)
    elif filter is not None:
        kwargs = {**dict(filter), **kwargs}
    for k, v in kwargs.items():
        if k not in _FILTER_FIELDS:
            raise TypeError(f"unknown filter field {k!r} (one of {', '.join(_FILTER_FIELDS)})")
        if v is not None:
            setattr(f, k, v)
    return f


def ssl_context_from_pem(pem: str) -> ssl.SSLContext:
    """A client SSLContext whose only trust anchors are the certificates in
    `pem` (smtpsink's own, from ServerInfo.tls_certificate_pem: self-signed
    with CA:TRUE). Certificate and host name checking stay on."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("no certificate in the PEM")
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=pem)


def web_url(host: str, port: int) -> str:
    """"http://host:port" of a sink's web UI and HTTP API (an IPv6 address
    in brackets)."""
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_release_request(id: int, rcpt_to: Union[str, Sequence[str], None] = None,
                         mail_from: Optional[str] = None, relay_url: Optional[str] = None
                         ) -> pb.ReleaseMessageRequest:
    """The ReleaseMessage request: forward stored message `id` to `relay_url`
    (None: the server's --relay-url), to `rcpt_to` (None: the message's own
    recipients), from `mail_from` (None: the message's own sender; "" = the
    null sender <>)."""
    if isinstance(rcpt_to, str):
        rcpt_to = [rcpt_to]
    req = pb.ReleaseMessageRequest(id=id, relay_url=relay_url or "", rcpt_to=list(rcpt_to or []))
    if mail_from is not None:
        req.mail_from = mail_from
        req.override_mail_from = True
    return req


def _stage(stage: Union[str, int]) -> int:
    if isinstance(stage, str):
        return pb.Stage.Value(stage.upper())
    return int(stage)


def _wrap(e: grpc.RpcError) -> SmtpSinkError:
    code, details = e.code(), e.details() or ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return SmtpSinkTimeout(code, details)
    return SmtpSinkError(code, details)


class SinkClient:
    """Connected control client. `target` is "host:port" of the gRPC listener.

    The raw generated stub stays available as `.stub` for anything this
    wrapper does not cover. Use as a context manager or call close().
    """

    def __init__(self, target: str, *, channel: Optional[grpc.Channel] = None, options=None):
        self.target = target
        self._channel = channel or grpc.insecure_channel(
            target,
            options=list(options or [])
            + [
                ("grpc.max_receive_message_length", 256 * 1024 * 1024),
                ("grpc.enable_http_proxy", 0),
            ],
        )
        self.stub = pb_grpc.SinkStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    # -- lifecycle ---------------------------------------------------------

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the channel is connected (raises grpc.FutureTimeoutError)."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "SinkClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- messages ----------------------------------------------------------

    def list_messages(self, filter: FilterLike = None, *, limit: int = 0, include_raw: bool = False,
                      timeout: float = 30.0, **filter_kwargs) -> List[pb.Message]:
        """Stored messages matching the filter, oldest first."""
        req = pb.ListMessagesRequest(filter=make_filter(filter, **filter_kwargs), limit=limit,
                                     include_raw=include_raw)
        try:
            return list(self.stub.ListMessages(req, timeout=timeout).messages)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def wait_for_messages(self, filter: FilterLike = None, count: int = 1, timeout: float = 10.0, *,
                          include_raw: bool = False, **filter_kwargs) -> List[pb.Message]:
        """Returns all messages matching the filter as soon as at least `count` do.

        The server wakes the call when a matching message is stored: no
        polling. Raises SmtpSinkTimeout after `timeout` seconds, its
        message saying how many matched.
        """
        d = Duration()
        d.FromNanoseconds(int(timeout * 1e9))
        req = pb.WaitForMessagesRequest(filter=make_filter(filter, **filter_kwargs), count=count, timeout=d,
                                        include_raw=include_raw)
        try:
            # the server ends the wait at `timeout`; the RPC deadline is only a backstop
            return list(self.stub.WaitForMessages(req, timeout=timeout + 5.0).messages)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def get_message(self, id: int, *, include_raw: bool = False, include_attachments: bool = False,
                    timeout: float = 30.0) -> pb.Message:
        req = pb.GetMessageRequest(id=id, include_raw=include_raw, include_attachments=include_attachments)
        try:
            return self.stub.GetMessage(req, timeout=timeout)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def watch_messages(self, filter: FilterLike = None, *, after_id: int = 0, include_raw: bool = False,
                       timeout: Optional[float] = None, **filter_kwargs):
        """Stored matching messages with id > after_id, then new ones as they arrive
        (no gap, no duplicate). Returns the grpc streaming call: iterate it for
        Message objects, `.cancel()` it to stop; `timeout` (seconds) ends the
        stream with grpc.StatusCode.DEADLINE_EXCEEDED."""
        req = pb.WatchMessagesRequest(filter=make_filter(filter, **filter_kwargs), after_id=after_id,
                                      include_raw=include_raw)
        return self.stub.WatchMessages(req, timeout=timeout)

    def clear(self, filter: FilterLike = None, *, timeout: float = 30.0, **filter_kwargs) -> int:
        """Deletes the matching messages (all of them with no filter); returns how many."""
        req = pb.ClearRequest(filter=make_filter(filter, **filter_kwargs))
        try:
            return self.stub.Clear(req, timeout=timeout).deleted
        except grpc.RpcError as e:
            raise _wrap(e) from None

    # -- reject rules --------------------------------------------------------

    def reject_rule(self, stage: Union[str, int], match: str = "", code: int = 550, message: str = "", *,
                    enhanced_code: str = "", times: int = 0, delay_ms: int = 0, disconnect: bool = False,
                    timeout: float = 30.0) -> pb.RejectRule:
        """Adds a rule making the server answer `code` at `stage`
        ("CONNECT", "HELO", "MAIL_FROM", "RCPT_TO", "DATA", "AUTH") when
        `match` (a glob on peer IP / HELO name / sender / recipient / AUTH
        user name) matches.
        Returns the rule with its id (for delete_reject_rule)."""
        rule = pb.RejectRule(stage=_stage(stage), match=match, code=code, enhanced_code=enhanced_code,
                             message=message, times=times, delay_ms=delay_ms, disconnect=disconnect)
        try:
            return self.stub.SetRejectRule(rule, timeout=timeout)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def list_reject_rules(self, *, timeout: float = 30.0) -> List[pb.RejectRule]:
        try:
            return list(self.stub.ListRejectRules(pb.ListRejectRulesRequest(), timeout=timeout).rules)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def delete_reject_rule(self, id: Union[str, pb.RejectRule] = "", *, timeout: float = 30.0) -> int:
        """Deletes one rule (by id or the rule itself), or all rules with no id."""
        if isinstance(id, pb.RejectRule):
            id = id.id
        try:
            return self.stub.DeleteRejectRule(pb.DeleteRejectRuleRequest(id=id), timeout=timeout).deleted
        except grpc.RpcError as e:
            raise _wrap(e) from None

    # -- relay ---------------------------------------------------------------

    def release(self, id: int, rcpt_to: Union[str, Sequence[str], None] = None, mail_from: Optional[str] = None,
                relay_url: Optional[str] = None, *, timeout: float = 60.0) -> pb.RelayStatus:
        """Forwards stored message `id` to an upstream SMTP server now and
        returns the final RelayStatus (state, attempts, last_reply, the
        upstream's replies). `relay_url` (e.g. "smtp://mailpit:1025")
        defaults to the server's --relay-url; `rcpt_to` and `mail_from`
        replace the envelope (see make_release_request). The server works
        within `timeout` seconds (the RPC deadline)."""
        req = make_release_request(id, rcpt_to=rcpt_to, mail_from=mail_from, relay_url=relay_url)
        try:
            return self.stub.ReleaseMessage(req, timeout=timeout)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    # -- server --------------------------------------------------------------

    def server_info(self, *, timeout: float = 30.0) -> pb.ServerInfo:
        try:
            return self.stub.GetServerInfo(pb.GetServerInfoRequest(), timeout=timeout)
        except grpc.RpcError as e:
            raise _wrap(e) from None

    def tls_certificate_pem(self, *, timeout: float = 30.0) -> str:
        """The certificate (chain) the server presents on STARTTLS and its
        implicit-TLS port, PEM. Raises SmtpSinkError when it serves no TLS."""
        pem = self.server_info(timeout=timeout).tls_certificate_pem
        if not pem:
            raise SmtpSinkError(grpc.StatusCode.FAILED_PRECONDITION,
                                "the server serves no TLS (no certificate in ServerInfo)")
        return pem

    def ssl_context(self, *, timeout: float = 30.0) -> ssl.SSLContext:
        """An SSLContext trusting exactly the served certificate, for
        smtplib.SMTP.starttls(context=...) and smtplib.SMTP_SSL(context=...)."""
        return ssl_context_from_pem(self.tls_certificate_pem(timeout=timeout))

    def health(self, *, timeout: float = 5.0) -> bool:
        """True when grpc.health.v1 reports SERVING."""
        try:
            r = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
        return r.status == health_pb2.HealthCheckResponse.SERVING
