"""smtpsink: Python client and Testcontainers module for the smtpsink SMTP sink.

    from smtpsink import SmtpSinkContainer

    with SmtpSinkContainer() as sink:
        with smtplib.SMTP(sink.smtp_host, sink.smtp_port) as smtp:
            smtp.sendmail("app@example.test", ["alice@example.test"], raw)
        [msg] = sink.client().wait_for_messages(rcpt_to="alice@example.test", timeout=5)

`SinkClient` wraps the generated `smtpsink.v1` gRPC stubs (also importable
directly: `from smtpsink.v1 import smtpsink_pb2, smtpsink_pb2_grpc`).
`SmtpSinkContainer` needs the `testcontainers` extra.
"""
from .client import (
    Filter,
    Message,
    RejectRule,
    RelayStatus,
    SinkClient,
    SmtpSinkError,
    SmtpSinkTimeout,
    Stage,
    make_filter,
    make_release_request,
    ssl_context_from_pem,
)

__version__ = "0.1.0"

__all__ = [
    "Filter",
    "Message",
    "RejectRule",
    "RelayStatus",
    "SinkClient",
    "SmtpSinkContainer",
    "SmtpSinkError",
    "SmtpSinkTimeout",
    "Stage",
    "make_filter",
    "make_release_request",
    "ssl_context_from_pem",
]


def __getattr__(name):
    # testcontainers is an optional dependency: import it only when asked
    if name == "SmtpSinkContainer":
        from .container import SmtpSinkContainer

        return SmtpSinkContainer
    raise AttributeError(f"module 'smtpsink' has no attribute {name!r}")
