"""Example application for deploy/docker-compose.yml.

Sends one message with a text body and a small attachment to
SMTP_HOST:SMTP_PORT (the smtpsink service), then exits 0. Any SMTP error
is fatal (exit 1), so `docker-compose up --exit-code-from app` reports it.
"""
import os
import smtplib
import sys
from email.message import EmailMessage


def main() -> int:
    host = os.environ.get("SMTP_HOST", "smtpsink")
    port = int(os.environ.get("SMTP_PORT", "1025"))
    sender = os.environ.get("MAIL_FROM", "app@example.test")
    rcpt = os.environ.get("MAIL_TO", "user@example.test")

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = rcpt
    msg["Subject"] = os.environ.get("MAIL_SUBJECT", "Welcome from the example app")
    msg.set_content("Hello from the example app.\n")
    msg.add_attachment(b"id,name\n1,example\n", maintype="text", subtype="csv",
                       filename="report.csv")

    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.ehlo("example-app")
        refused = smtp.send_message(msg, from_addr=sender, to_addrs=[rcpt])
    if refused:
        print(f"example-app: refused {refused}", file=sys.stderr)
        return 1
    print(f"example-app: sent to {rcpt} via {host}:{port}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, smtplib.SMTPException) as e:
        print(f"example-app: {e}", file=sys.stderr)
        sys.exit(1)
