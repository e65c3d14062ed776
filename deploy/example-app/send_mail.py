"""Example application for deploy/docker-compose.yml.

Sends one message with a text body and a small attachment to
SMTP_HOST:SMTP_PORT (the smtpsink service), then exits 0. Any SMTP error
is fatal (exit 1), so `docker-compose up --exit-code-from app` reports it.

Production-style settings, as deploy/docker-compose.tls.yml uses them:
SMTP_TLS=starttls (STARTTLS required) or SMTP_TLS=implicit (SMTPS),
SMTP_CA_FILE (the certificate to trust; verification is never off), and
SMTP_USER/SMTP_PASSWORD (AUTH after TLS).
"""
import os
import smtplib
import ssl
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

    tls = os.environ.get("SMTP_TLS", "")
    ctx = ssl.create_default_context(cafile=os.environ.get("SMTP_CA_FILE") or None)
    if tls == "implicit":
        smtp = smtplib.SMTP_SSL(host, port, timeout=10, context=ctx)
    else:
        smtp = smtplib.SMTP(host, port, timeout=10)
    with smtp:
        smtp.ehlo("example-app")
        if tls == "starttls":
            smtp.starttls(context=ctx)  # raises if the server does not offer it
            smtp.ehlo("example-app")
        if os.environ.get("SMTP_USER"):
            smtp.login(os.environ["SMTP_USER"], os.environ.get("SMTP_PASSWORD", ""))
        refused = smtp.send_message(msg, from_addr=sender, to_addrs=[rcpt])
    if refused:
        print(f"example-app: refused {refused}", file=sys.stderr)
        return 1
    print(f"example-app: sent to {rcpt} via {host}:{port}{' with TLS (' + tls + ')' if tls else ''}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, smtplib.SMTPException) as e:
        print(f"example-app: {e}", file=sys.stderr)
        sys.exit(1)
