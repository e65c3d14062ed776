#!/usr/bin/python3
"""aiosmtpd peer for the smtpsink benchmark: an SMTP sink that keeps every
message in memory (envelope + raw content appended to a list), the way a
test suite using aiosmtpd would.

Usage: aiosmtpd_sink.py HOST PORT
Prints "ready" on stdout once listening; on SIGTERM/SIGINT prints
"stored=N bytes=B" and exits 0.  Run with Debian's /usr/bin/python3
(package python3-aiosmtpd).
"""
import asyncio
import signal
import sys

from aiosmtpd.smtp import SMTP


class StoreHandler:
    def __init__(self):
        self.messages = []
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        self.messages.append((session.peer, envelope.mail_from,
                              list(envelope.rcpt_tos), content))
        self.bytes += len(content)
        return "250 2.0.0 Ok: queued"


async def main(host, port):
    handler = StoreHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="aiosmtpd-sink", ident="aiosmtpd-sink"),
        host=host, port=port, backlog=1024)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    server.close()
    print("stored=%d bytes=%d" % (len(handler.messages), handler.bytes), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
