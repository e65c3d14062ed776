"""A small Flask application that mails a welcome message on sign-up.

POST /signup with JSON {"email": "...", "name": "..."}: 201 once the SMTP
server (app.config SMTP_HOST / SMTP_PORT) has accepted the message, 502
when it refuses it. Nothing here knows about smtpsink; tests/ point the
app at one.
"""
import smtplib
from email.message import EmailMessage

from flask import Flask, jsonify, request


def create_app(config=None):
    app = Flask(__name__)
    app.config.update(SMTP_HOST="localhost", SMTP_PORT=25, MAIL_FROM="welcome@app.example.test")
    app.config.update(config or {})

    @app.post("/signup")
    def signup():
        data = request.get_json(silent=True) or {}
        email, name = data.get("email", ""), data.get("name") or "there"
        if "@" not in email or any(c in email for c in "\r\n<>, "):
            return jsonify(error="a valid email is required"), 400
        msg = EmailMessage()
        msg["From"] = app.config["MAIL_FROM"]
        msg["To"] = email
        msg["Subject"] = f"Welcome, {name}!"
        msg.set_content(f"Hello {name},\n\nthanks for signing up.\n")
        try:
            with smtplib.SMTP(app.config["SMTP_HOST"], app.config["SMTP_PORT"], timeout=10) as smtp:
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            [(code, text)] = e.recipients.values()
            return jsonify(error=f"mail refused: {code} {text.decode(errors='replace')}"), 502
        return jsonify(email=email), 201

    return app
