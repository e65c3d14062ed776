/**
 * SmtpSinkContainer: a testcontainers-node module for smtpsink.
 *
 *   const sink = await new SmtpSinkContainer().start();
 *   // send mail to sink.getSmtpHost():sink.getSmtpPort()
 *   const [msg] = await sink.client().waitForMessages({ rcpt_to: 'bob@example.test' });
 *   await sink.stop();
 *
 * start() resolves once the container printed its readiness line (SMTP and
 * gRPC both listen) and gRPC health answers SERVING through the mapped port.
 * The image defaults to $SMTPSINK_IMAGE or "smtpsink:latest".
 *
 * TLS and SMTP AUTH: withStartTls(), withImplicitTls() (getSmtpsPort()),
 * withRequireTls(), withAuth(users?), withRequireAuth(); tlsOptions() /
 * tlsCa() of the started container trust exactly the served certificate.
 *
 * The web UI and HTTP API (port 8025 in the image) are mapped too:
 * getWebUrl(). The server answers only Host headers that are IP addresses
 * or localhost; when the Docker host is reached by another name, that name
 * is allowed (SMTPSINK_HTTP_ALLOWED_HOSTS, unless the caller set it).
 */
import { isIP } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import {
  AbstractStartedContainer,
  GenericContainer,
  StartedTestContainer,
  Wait,
  getContainerRuntimeClient,
} from 'testcontainers';

import { SinkClient, webUrl } from './client';

export const SMTP_PORT = 1025;
export const GRPC_PORT = 50051;
/** implicit TLS (SMTPS, RFC 8314) port inside the container; exposed by withImplicitTls() */
export const SMTPS_PORT = 1465;
/** HTTP API and web UI port inside the container (the image listens on 0.0.0.0:8025) */
export const WEB_PORT = 8025;
export const DEFAULT_IMAGE = 'smtpsink:latest';

/** The TLS/AUTH settings of a SmtpSinkContainer. */
export interface TlsAuthSettings {
  startTls?: boolean;
  implicitTls?: boolean;
  requireTls?: boolean;
  auth?: boolean;
  /** name -> password; empty = any credentials */
  authUsers?: Record<string, string>;
  requireAuth?: boolean;
}

/**
 * The smtpsink flags the settings stand for; `dockerHost` becomes an extra
 * SAN (--tls-san) unless the generated certificate names it anyway.
 */
export function serverArgs(s: TlsAuthSettings, dockerHost: string): string[] {
  const tls = !!(s.startTls || s.implicitTls);
  const args: string[] = [];
  if (s.startTls) args.push('--starttls');
  if (s.implicitTls) args.push('--smtps-listen', `0.0.0.0:${SMTPS_PORT}`);
  if (tls && dockerHost && !['localhost', '127.0.0.1', '::1'].includes(dockerHost)) {
    args.push('--tls-san', dockerHost);
  }
  if (s.requireTls) args.push('--require-tls');
  if (s.auth) {
    args.push('--auth');
    if (!tls) args.push('--auth-allow-insecure');
  }
  if (s.requireAuth) args.push('--require-auth');
  return args;
}

/**
 * The Host header name the server must be told to accept so that
 * getWebUrl() works from the test: `dockerHost` when it is a name other than
 * localhost (IP addresses and localhost are always accepted), else undefined.
 */
export function httpAllowedHost(dockerHost: string): string | undefined {
  const h = dockerHost.toLowerCase();
  if (!h || isIP(h.replace(/^\[(.*)\]$/, '$1')) || h === 'localhost' || h.endsWith('.localhost')) return undefined;
  return dockerHost;
}

export class SmtpSinkContainer extends GenericContainer {
  constructor(image: string = process.env.SMTPSINK_IMAGE || DEFAULT_IMAGE) {
    super(image);
    this.withExposedPorts(SMTP_PORT, GRPC_PORT, WEB_PORT)
      .withLabels({ 'dev.smtpsink.module': 'node' })
      .withWaitStrategy(Wait.forLogMessage(/smtpsink ready .*grpc=/))
      .withStartupTimeout(60_000);
  }

  private readonly tlsAuth: TlsAuthSettings = {};
  /** the command before the TLS/AUTH flags were added (they are added once) */
  private baseCommand?: string[];

  /**
   * Advertise STARTTLS on the SMTP port (--starttls), with a self-signed
   * certificate generated at start (names: localhost, 127.0.0.1, ::1, and the
   * Docker host when it is another name).
   */
  withStartTls(): this {
    this.tlsAuth.startTls = true;
    return this;
  }

  /** An implicit-TLS listener on SMTPS_PORT (--smtps-listen), mapped: getSmtpsPort(). */
  withImplicitTls(): this {
    this.tlsAuth.implicitTls = true;
    return this.withExposedPorts(SMTPS_PORT);
  }

  /**
   * Refuse mail outside TLS (--require-tls: commands other than EHLO, HELO,
   * STARTTLS, NOOP, RSET, QUIT get 530 before STARTTLS); implies withStartTls().
   */
  withRequireTls(): this {
    this.tlsAuth.requireTls = true;
    return this.withStartTls();
  }

  /**
   * Offer SMTP AUTH (--auth): any credentials, or with `users` (name ->
   * password, SMTPSINK_AUTH_USERS) only these; others get 535 5.7.8. With TLS
   * on, AUTH is offered only after STARTTLS (or on the implicit-TLS port);
   * without TLS this also passes --auth-allow-insecure, since the server
   * refuses plain-text AUTH otherwise.
   */
  withAuth(users: Record<string, string> = {}): this {
    for (const [name, password] of Object.entries(users)) {
      if (!name || /[:,]/.test(name) || password.includes(',')) {
        throw new Error(`auth user ${JSON.stringify(name)}: names must be non-empty without ':' or ',', passwords without ','`);
      }
    }
    this.tlsAuth.auth = true;
    this.tlsAuth.authUsers = { ...this.tlsAuth.authUsers, ...users };
    return this;
  }

  /** MAIL before a successful AUTH gets 530 5.7.0 (--require-auth); implies withAuth(). */
  withRequireAuth(): this {
    this.tlsAuth.requireAuth = true;
    return this.withAuth();
  }

  protected override async beforeContainerCreated(): Promise<void> {
    this.baseCommand ??= [...(this.createOpts.Cmd ?? [])];
    const { host } = (await getContainerRuntimeClient()).info.containerRuntime;
    const args = serverArgs(this.tlsAuth, host);
    if (args.length > 0) this.withCommand([...this.baseCommand, ...args]);
    const allowed = httpAllowedHost(host);
    // a value of the caller's (withEnvironment) wins
    if (allowed && this.environment.SMTPSINK_HTTP_ALLOWED_HOSTS === undefined) {
      this.withEnvironment({ SMTPSINK_HTTP_ALLOWED_HOSTS: allowed });
    }
    const users = Object.entries(this.tlsAuth.authUsers ?? {});
    if (users.length > 0) {
      this.withEnvironment({ SMTPSINK_AUTH_USERS: users.sort().map(([u, p]) => `${u}:${p}`).join(',') });
    }
  }

  override async start(): Promise<StartedSmtpSinkContainer> {
    const started = new StartedSmtpSinkContainer(await super.start());
    try {
      await started.waitHealthy(30_000);
    } catch (e) {
      await started.stop().catch(() => undefined);
      throw e;
    }
    return started;
  }
}

export class StartedSmtpSinkContainer extends AbstractStartedContainer {
  private sinkClient?: SinkClient;

  constructor(started: StartedTestContainer) {
    super(started);
  }

  getSmtpHost(): string {
    return this.getHost();
  }

  getSmtpPort(): number {
    return this.getMappedPort(SMTP_PORT);
  }

  /** Host port mapped to the implicit-TLS port (withImplicitTls()). */
  getSmtpsPort(): number {
    return this.getMappedPort(SMTPS_PORT);
  }

  /** The certificate the server presents, PEM: trust exactly this. */
  tlsCa(): Promise<string> {
    return this.client().tlsCertificatePem();
  }

  /**
   * TLS options trusting exactly the served certificate, with host name
   * checking on: `{ ca }` for nodemailer's `tls`, tls.connect() or
   * tls.createSecureContext().
   */
  async tlsOptions(): Promise<SecureContextOptions & { ca: string }> {
    return { ca: await this.tlsCa() };
  }

  /** Host port mapped to the HTTP API / web UI port (8025). */
  getWebPort(): number {
    return this.getMappedPort(WEB_PORT);
  }

  /**
   * "http://host:port/" of the web UI and HTTP API as seen from the test
   * (the Mailpit-compatible /api/v1/, POST /smtpsink.v1.Sink/<Method> JSON,
   * /healthz).
   */
  getWebUrl(): string {
    return webUrl(this.getHost(), this.getWebPort());
  }

  /** "host:port" of the gRPC control API as seen from the test. */
  getGrpcAddress(): string {
    return `${this.getHost()}:${this.getMappedPort(GRPC_PORT)}`;
  }

  /** The control client (one per container, closed by stop()). */
  client(): SinkClient {
    if (!this.sinkClient) this.sinkClient = new SinkClient(this.getGrpcAddress());
    return this.sinkClient;
  }

  /** Resolves once gRPC health reports SERVING from the host. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    const c = this.client();
    for (;;) {
      if (await c.health(2_000)) return;
      if (Date.now() > until) throw new Error(`smtpsink gRPC health at ${this.getGrpcAddress()} not SERVING`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  protected override async containerStopping(): Promise<void> {
    this.sinkClient?.close();
    this.sinkClient = undefined;
  }
}
