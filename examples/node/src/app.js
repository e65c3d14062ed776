// The example app: POST /signup {"email", "name"} sends a welcome mail
// through the SMTP server at smtpHost:smtpPort (SMTP_HOST / SMTP_PORT).
// 201 once the server took the mail, 400 for a bad request, 502 when the
// SMTP server refused it.
'use strict';
const express = require('express');
const nodemailer = require('nodemailer');

function createApp({
  smtpHost = process.env.SMTP_HOST || 'localhost',
  smtpPort = Number(process.env.SMTP_PORT || 1025),
  from = process.env.MAIL_FROM || 'welcome@app.example',
} = {}) {
  const mailer = nodemailer.createTransport({ host: smtpHost, port: smtpPort, ignoreTLS: true });
  const app = express();
  app.use(express.json());

  app.post('/signup', async (req, res) => {
    const { email, name } = req.body ?? {};
    if (typeof email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(email) || typeof name !== 'string' || !name) {
      res.status(400).json({ error: 'email and name required' });
      return;
    }
    try {
      await mailer.sendMail({
        from, to: email, subject: `Welcome, ${name}!`,
        text: `Hello ${name},\n\nthanks for signing up.\n`,
      });
    } catch (e) {
      res.status(502).json({ error: `mail not sent: ${e.response ?? e.message}` });
      return;
    }
    res.status(201).json({ ok: true });
  });
  app.on('close', () => mailer.close());
  return app;
}

module.exports = { createApp };
