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
 */
import {
  AbstractStartedContainer,
  GenericContainer,
  StartedTestContainer,
  Wait,
} from 'testcontainers';

import { SinkClient } from './client';

export const SMTP_PORT = 1025;
export const GRPC_PORT = 50051;
export const DEFAULT_IMAGE = 'smtpsink:latest';

export class SmtpSinkContainer extends GenericContainer {
  constructor(image: string = process.env.SMTPSINK_IMAGE || DEFAULT_IMAGE) {
    super(image);
    this.withExposedPorts(SMTP_PORT, GRPC_PORT)
      .withLabels({ 'dev.smtpsink.module': 'node' })
      .withWaitStrategy(Wait.forLogMessage(/smtpsink ready .*grpc=/))
      .withStartupTimeout(60_000);
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
