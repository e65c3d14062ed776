"""SmtpSinkContainer: a testcontainers-python module for smtpsink.

    from smtpsink import SmtpSinkContainer

    with SmtpSinkContainer("smtpsink:latest") as sink:
        smtplib.SMTP(sink.smtp_host, sink.smtp_port).sendmail(...)
        msgs = sink.client().wait_for_messages(rcpt_to="bob@example.test")

Startup waits until the container prints its readiness line (both SMTP and
gRPC listen) and gRPC health answers SERVING through the mapped port.
The image defaults to $SMTPSINK_IMAGE or "smtpsink:latest".
"""
from __future__ import annotations

import os
import re
import threading
import time
from typing import Optional

from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import WaitStrategy

from .client import SinkClient

SMTP_PORT = 1025
GRPC_PORT = 50051
DEFAULT_IMAGE = "smtpsink:latest"
READY_LINE = re.compile(r"^smtpsink ready .*grpc=", re.MULTILINE)


class SmtpSinkReady(WaitStrategy):
    """Readiness line on stdout, then gRPC health SERVING from the host."""

    def __init__(self) -> None:
        super().__init__()
        self._poll_interval = 0.05
        self._startup_timeout = 60.0

    def wait_until_ready(self, container) -> None:  # container: SmtpSinkContainer
        deadline = time.monotonic() + self._startup_timeout
        wrapped = container.get_wrapped_container()
        while True:
            out, err = container.get_logs()
            if READY_LINE.search(out.decode(errors="replace")):
                break
            wrapped.reload()
            if wrapped.status not in ("created", "running", "restarting"):
                raise RuntimeError(
                    f"smtpsink exited ({wrapped.status}) before it was ready; "
                    f"stdout: {out.decode(errors='replace')[-2000:]} stderr: {err.decode(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"smtpsink printed no readiness line within {self._startup_timeout:.0f}s")
            time.sleep(self._poll_interval)
        host = container.get_container_host_ip()
        port = container.get_exposed_port(GRPC_PORT)
        with SinkClient(f"{host}:{port}") as c:
            while not c.health(timeout=2.0):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"smtpsink gRPC health at {host}:{port} not SERVING "
                                       f"within {self._startup_timeout:.0f}s")
                time.sleep(self._poll_interval)


class SmtpSinkContainer(DockerContainer):
    """smtpsink in a container: SMTP on `smtp_host:smtp_port`, control API via `client()`.

    Extra keyword arguments go to DockerContainer (e.g. labels=...); use
    with_env("SMTPSINK_MAX_MESSAGES", "100") etc. for server options.
    """

    def __init__(self, image: Optional[str] = None, **kwargs) -> None:
        labels = dict(kwargs.pop("labels", None) or {})
        labels.setdefault("dev.smtpsink.module", "python")
        super().__init__(image or os.environ.get("SMTPSINK_IMAGE", DEFAULT_IMAGE), labels=labels, **kwargs)
        self.with_exposed_ports(SMTP_PORT, GRPC_PORT)
        self.waiting_for(SmtpSinkReady())
        self._client: Optional[SinkClient] = None
        self._client_lock = threading.Lock()

    @property
    def smtp_host(self) -> str:
        return self.get_container_host_ip()

    @property
    def smtp_port(self) -> int:
        return int(self.get_exposed_port(SMTP_PORT))

    @property
    def grpc_target(self) -> str:
        """"host:port" of the gRPC control API as seen from the test."""
        return f"{self.get_container_host_ip()}:{self.get_exposed_port(GRPC_PORT)}"

    def client(self) -> SinkClient:
        """The connected control client (one per container, thread-safe, closed on stop())."""
        with self._client_lock:
            if self._client is None:
                c = SinkClient(self.grpc_target)
                c.wait_ready(timeout=10.0)
                self._client = c
            return self._client

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        super().stop(force=force, delete_volume=delete_volume)
