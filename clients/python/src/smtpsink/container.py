"""SmtpSinkContainer: a testcontainers-python module for smtpsink.

    from smtpsink import SmtpSinkContainer

    with SmtpSinkContainer("smtpsink:latest") as sink:
        smtplib.SMTP(sink.smtp_host, sink.smtp_port).sendmail(...)
        msgs = sink.client().wait_for_messages(rcpt_to="bob@example.test")
        print(sink.get_web_url())   # the web UI and HTTP API, http://host:port

Startup waits until the container prints its readiness line (both SMTP and
gRPC listen) and gRPC health answers SERVING through the mapped port.
The image defaults to $SMTPSINK_IMAGE or "smtpsink:latest".
"""
from __future__ import annotations

import ipaddress
import os
import re
import ssl
import threading
import time
from typing import Dict, List, Mapping, Optional

from testcontainers.core.config import ConnectionMode
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import WaitStrategy

from .client import SinkClient, web_url

SMTP_PORT = 1025
GRPC_PORT = 50051
SMTPS_PORT = 1465  # implicit TLS (RFC 8314), exposed by with_implicit_tls()
HTTP_PORT = 8025  # web UI and HTTP API (Mailpit's port)
DEFAULT_IMAGE = "smtpsink:latest"
READY_LINE = re.compile(r"^smtpsink ready .*grpc=", re.MULTILINE)


def http_allowed_host(host: Optional[str]) -> Optional[str]:
    """The name to put in SMTPSINK_HTTP_ALLOWED_HOSTS so that the HTTP API
    answers requests to `host`: the server accepts IP addresses and
    localhost by itself and answers other Host names 403 (its guard against
    DNS rebinding). None when nothing is needed."""
    if not host:
        return None
    h = host.lower().strip("[]")
    try:
        ipaddress.ip_address(h)
        return None
    except ValueError:
        pass
    return None if h == "localhost" or h.endswith(".localhost") else h


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
    """smtpsink in a container: SMTP on `smtp_host:smtp_port`, control API via
    `client()`, web UI and HTTP API at `get_web_url()`.

    Extra keyword arguments go to DockerContainer (e.g. labels=...); use
    with_env("SMTPSINK_MAX_MESSAGES", "100") etc. for server options.

    TLS and SMTP AUTH: with_starttls(), with_implicit_tls() (port
    `smtps_port`), with_require_tls(), with_auth(users=None),
    with_require_auth(); `ssl_context()` trusts exactly the served
    certificate.
    """

    def __init__(self, image: Optional[str] = None, **kwargs) -> None:
        labels = dict(kwargs.pop("labels", None) or {})
        labels.setdefault("dev.smtpsink.module", "python")
        super().__init__(image or os.environ.get("SMTPSINK_IMAGE", DEFAULT_IMAGE), labels=labels, **kwargs)
        self.with_exposed_ports(SMTP_PORT, GRPC_PORT, HTTP_PORT)
        self.waiting_for(SmtpSinkReady())
        self._client: Optional[SinkClient] = None
        self._client_lock = threading.Lock()
        self._starttls = self._implicit_tls = self._require_tls = False
        self._auth = self._require_auth = False
        self._auth_users: Dict[str, str] = {}
        self._base_command = None

    # -- TLS and AUTH ----------------------------------------------------------

    def with_starttls(self) -> "SmtpSinkContainer":
        """Advertise STARTTLS on the SMTP port (--starttls), with a self-signed
        certificate generated at start (names: localhost, 127.0.0.1, ::1 and
        the Docker host when it is another name: --tls-san)."""
        self._starttls = True
        return self

    def with_implicit_tls(self) -> "SmtpSinkContainer":
        """An implicit-TLS listener on SMTPS_PORT (--smtps-listen 0.0.0.0:1465),
        mapped: `smtps_port`."""
        self._implicit_tls = True
        self.with_exposed_ports(SMTPS_PORT)
        return self

    def with_require_tls(self) -> "SmtpSinkContainer":
        """Refuse mail outside TLS (--require-tls: commands other than EHLO,
        HELO, STARTTLS, NOOP, RSET, QUIT get 530 before STARTTLS); implies
        with_starttls()."""
        self._require_tls = True
        return self.with_starttls()

    def with_auth(self, users: Optional[Mapping[str, str]] = None) -> "SmtpSinkContainer":
        """Offer SMTP AUTH (--auth): any credentials, or with `users` (name ->
        password, SMTPSINK_AUTH_USERS) only these; others get 535 5.7.8.
        With TLS on, AUTH is offered only after STARTTLS (or on the
        implicit-TLS port); without TLS this also passes
        --auth-allow-insecure, since the server refuses plain-text AUTH
        otherwise."""
        for name, password in (users or {}).items():
            if not name or ":" in name or "," in name or "," in password:
                raise ValueError(f"auth user {name!r}: names must be non-empty without ':' or ',', "
                                 "passwords without ','")
        self._auth_users.update(users or {})
        self._auth = True
        return self

    def with_require_auth(self) -> "SmtpSinkContainer":
        """MAIL before a successful AUTH gets 530 5.7.0 (--require-auth);
        implies with_auth()."""
        self._require_auth = True
        return self.with_auth()

    def server_args(self, docker_host: Optional[str]) -> List[str]:
        """The smtpsink flags the TLS/AUTH settings stand for; `docker_host`
        becomes an extra SAN unless the certificate names it anyway."""
        tls = self._starttls or self._implicit_tls
        args: List[str] = []
        if self._starttls:
            args.append("--starttls")
        if self._implicit_tls:
            args += ["--smtps-listen", f"0.0.0.0:{SMTPS_PORT}"]
        if tls and docker_host and docker_host not in ("localhost", "127.0.0.1", "::1"):
            args += ["--tls-san", docker_host]
        if self._require_tls:
            args.append("--require-tls")
        if self._auth:
            args.append("--auth")
            if not tls:
                args.append("--auth-allow-insecure")
        if self._require_auth:
            args.append("--require-auth")
        return args

    def _host_before_start(self) -> Optional[str]:
        """The address tests will reach the container at (smtp_host), as far
        as it is known before the container exists: the Docker host, or from
        inside a container (DinD) the gateway of the network it will join.
        None in bridge mode (DooD: the container's own address)."""
        docker = self.get_docker_client()
        mode = docker.get_connection_mode()
        if mode == ConnectionMode.docker_host:
            return docker.host()
        if mode != ConnectionMode.gateway_ip:
            return None
        name = self._network.name if self._network else (self._kwargs.get("network_mode") or "bridge")
        try:
            configs = docker.client.networks.get(name).attrs["IPAM"]["Config"] or []
        except Exception:  # noqa: BLE001 - no SAN then; the caller can pass --tls-san
            return None
        return next((cfg["Gateway"] for cfg in configs if cfg.get("Gateway")), None)

    def start(self) -> "SmtpSinkContainer":
        self._apply_settings()
        return super().start()

    def _apply_settings(self) -> None:
        """Adds the TLS/AUTH flags to the command (once: the command given
        before the first start is kept), SMTPSINK_AUTH_USERS, and the host
        tests reach the container at to SMTPSINK_HTTP_ALLOWED_HOSTS when
        the HTTP API would refuse that name (see http_allowed_host)."""
        if self._base_command is None:
            cmd = self._command or []
            self._base_command = cmd.split() if isinstance(cmd, str) else list(cmd)
        host = self._host_before_start()
        allowed = http_allowed_host(host)
        if allowed and "SMTPSINK_HTTP_ALLOWED_HOSTS" not in self.env:
            self.with_env("SMTPSINK_HTTP_ALLOWED_HOSTS", allowed)
        args = self.server_args(host if self._starttls or self._implicit_tls else None)
        if args:
            self.with_command(self._base_command + args)
        if self._auth_users:
            self.with_env("SMTPSINK_AUTH_USERS", ",".join(f"{u}:{p}" for u, p in sorted(self._auth_users.items())))

    @property
    def smtp_host(self) -> str:
        return self.get_container_host_ip()

    @property
    def smtp_port(self) -> int:
        return int(self.get_exposed_port(SMTP_PORT))

    @property
    def smtps_port(self) -> int:
        """Host port mapped to the implicit-TLS port (with_implicit_tls())."""
        return int(self.get_exposed_port(SMTPS_PORT))

    def ssl_context(self) -> ssl.SSLContext:
        """An SSLContext trusting exactly the certificate the server presents
        (fetched over the control API), host name checking on: for
        smtplib.SMTP.starttls(context=...) and smtplib.SMTP_SSL(context=...)."""
        return self.client().ssl_context()

    @property
    def http_port(self) -> int:
        """Host port mapped to the web UI and HTTP API port (8025)."""
        return int(self.get_exposed_port(HTTP_PORT))

    def get_web_url(self) -> str:
        """Base URL of the web UI and HTTP API, "http://host:port" (no
        trailing slash: append "/api/v1/info", "/healthz", ...)."""
        return web_url(self.get_container_host_ip(), self.http_port)

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
