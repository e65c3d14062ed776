/**
 * SinkClient: a small promise-based wrapper around the smtpsink.v1.Sink gRPC
 * API (@grpc/grpc-js + @grpc/proto-loader, keepCase, longs as strings).
 *
 * Every method that selects messages takes the same Filter (mail_from,
 * rcpt_to, subject, header_name + header_value, body, after_id, auth_user): case-
 * insensitive globs matched against the whole value (`*`, `?`, `[set]`;
 * `*text*` = contains). Parallel tests against one server each use their own
 * recipients and filter on them, so they never see each other's mail.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import type { ProtoGrpcType as SinkProto } from './generated/smtpsink';
import type { ProtoGrpcType as HealthProto } from './generated/health';
import type { SinkClient as SinkStub } from './generated/smtpsink/v1/Sink';
import type { HealthClient as HealthStub } from './generated/grpc/health/v1/Health';
import type { Filter } from './generated/smtpsink/v1/Filter';
import type { Message__Output } from './generated/smtpsink/v1/Message';
import type { RejectRule, RejectRule__Output } from './generated/smtpsink/v1/RejectRule';
import type { ServerInfo__Output } from './generated/smtpsink/v1/ServerInfo';
import type { ReleaseMessageRequest } from './generated/smtpsink/v1/ReleaseMessageRequest';
import type { RelayStatus__Output } from './generated/smtpsink/v1/RelayStatus';
import type { Stage } from './generated/smtpsink/v1/Stage';

export type { Filter } from './generated/smtpsink/v1/Filter';
export type { Message__Output as Message } from './generated/smtpsink/v1/Message';
export type { Attachment__Output as Attachment } from './generated/smtpsink/v1/Attachment';
export type { RejectRule__Output as RejectRuleInfo } from './generated/smtpsink/v1/RejectRule';
export type { ServerInfo__Output as ServerInfo } from './generated/smtpsink/v1/ServerInfo';
export type { Stage } from './generated/smtpsink/v1/Stage';
export type { RelayStatus__Output as RelayStatus } from './generated/smtpsink/v1/RelayStatus';
export type { ReleaseMessageRequest } from './generated/smtpsink/v1/ReleaseMessageRequest';

/** Directory holding the .proto files shipped with this package. */
export const PROTO_DIR = path.join(__dirname, '..', 'proto');

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

type Loaded = SinkProto & HealthProto;
let loaded: Loaded | undefined;

/** The loaded smtpsink.v1 and grpc.health.v1 packages (cached). */
export function loadProtos(): Loaded {
  if (!loaded) {
    const def = protoLoader.loadSync(
      ['smtpsink/v1/smtpsink.proto', 'grpc/health/v1/health.proto'], LOADER_OPTIONS);
    loaded = grpc.loadPackageDefinition(def) as unknown as Loaded;
  }
  return loaded;
}

/** An RPC failed: `code` is the grpc status, `details` the server's message. */
export class SmtpSinkError extends Error {
  constructor(readonly code: grpc.status, readonly details: string) {
    super(`${grpc.status[code] ?? code}: ${details}`);
    this.name = 'SmtpSinkError';
  }
}

/** waitForMessages ran out of time; `details` says how many matched. */
export class SmtpSinkTimeoutError extends SmtpSinkError {
  constructor(code: grpc.status, details: string) {
    super(code, details);
    this.name = 'SmtpSinkTimeoutError';
  }
}

export interface WaitOptions {
  /** how many matching messages to wait for (default 1) */
  count?: number;
  /** give up after this long (default 10 s) */
  timeoutMs?: number;
  includeRaw?: boolean;
}

export interface RejectRuleOptions {
  /** 'CONNECT' | 'HELO' | 'MAIL_FROM' | 'RCPT_TO' | 'DATA' | 'AUTH' */
  stage: Stage;
  /** glob on the peer IP / HELO name / sender / recipient / AUTH user name; '' = always */
  match?: string;
  /** 4xx or 5xx (default 550) */
  code?: number;
  enhanced_code?: string;
  message?: string;
  /** fire at most this often; 0 = until deleted */
  times?: number;
  delay_ms?: number;
  disconnect?: boolean;
}

const CALL_TIMEOUT_MS = 30_000;

export interface ReleaseOptions {
  /** e.g. 'smtp://mailpit:1025'; default: the server's --relay-url */
  relayUrl?: string;
  /** forward to these instead of the message's own envelope recipients */
  rcptTo?: string[];
  /** this envelope sender instead of the message's own; '' = the null sender <> */
  mailFrom?: string;
  /** RPC deadline, within which the server forwards (default 60 s) */
  timeoutMs?: number;
}

/** The ReleaseMessage request SinkClient.release sends. */
export function releaseRequest(id: string | number, opts: ReleaseOptions = {}): ReleaseMessageRequest {
  const req: ReleaseMessageRequest = { id, relay_url: opts.relayUrl ?? '', rcpt_to: opts.rcptTo ?? [] };
  if (opts.mailFrom !== undefined) {
    req.mail_from = opts.mailFrom;
    req.override_mail_from = true;
  }
  return req;
}

/** "host:port" (an IPv6 address in brackets). */
export function hostPort(host: string, port: number): string {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`;
}

/** "http://host:port/" of a sink's web UI and HTTP API. */
export function webUrl(host: string, port: number): string {
  return `http://${hostPort(host, port)}/`;
}

function deadline(ms: number): grpc.Deadline {
  return new Date(Date.now() + ms);
}

export class SinkClient {
  /** The generated stub, for anything this wrapper does not cover. */
  readonly stub: SinkStub;
  private readonly healthStub: HealthStub;

  /** @param address "host:port" of the gRPC listener */
  constructor(readonly address: string, options: grpc.ChannelOptions = {}) {
    const p = loadProtos();
    const opts: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      ...options,
    };
    this.stub = new p.smtpsink.v1.Sink(address, grpc.credentials.createInsecure(), opts);
    this.healthStub = new p.grpc.health.v1.Health(address, grpc.credentials.createInsecure(), opts);
  }

  private unary<T>(fn: (cb: grpc.requestCallback<T>) => unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      fn((err, res) => {
        if (err) {
          const E = err.code === grpc.status.DEADLINE_EXCEEDED ? SmtpSinkTimeoutError : SmtpSinkError;
          reject(new E(err.code, err.details));
        } else {
          resolve(res as T);
        }
      });
    });
  }

  /** Resolves once the channel is connected. */
  waitReady(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.stub.waitForReady(deadline(timeoutMs), (err) => (err ? reject(err) : resolve())));
  }

  /** Stored messages matching the filter, oldest first. */
  async listMessages(filter: Filter = {}, opts: { limit?: number; includeRaw?: boolean } = {}):
      Promise<Message__Output[]> {
    const res = await this.unary<{ messages: Message__Output[] }>((cb) => this.stub.ListMessages(
      { filter, limit: opts.limit ?? 0, include_raw: opts.includeRaw ?? false },
      { deadline: deadline(CALL_TIMEOUT_MS) }, cb));
    return res.messages;
  }

  /**
   * All messages matching the filter, as soon as at least `count` do. The
   * server wakes the call when a matching message is stored (no polling).
   * Rejects with SmtpSinkTimeoutError after `timeoutMs`.
   */
  async waitForMessages(filter: Filter, opts: WaitOptions = {}): Promise<Message__Output[]> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const timeout = {
      seconds: String(Math.floor(timeoutMs / 1000)),
      nanos: (timeoutMs % 1000) * 1_000_000,
    };
    const res = await this.unary<{ messages: Message__Output[] }>((cb) => this.stub.WaitForMessages(
      { filter, count: opts.count ?? 1, timeout, include_raw: opts.includeRaw ?? false },
      // the server ends the wait at `timeout`; the deadline is a backstop
      { deadline: deadline(timeoutMs + 5_000) }, cb));
    return res.messages;
  }

  getMessage(id: string | number, opts: { includeRaw?: boolean; includeAttachments?: boolean } = {}):
      Promise<Message__Output> {
    return this.unary<Message__Output>((cb) => this.stub.GetMessage(
      { id, include_raw: opts.includeRaw ?? false, include_attachments: opts.includeAttachments ?? false },
      { deadline: deadline(CALL_TIMEOUT_MS) }, cb));
  }

  /**
   * Replays matching messages with id > afterId, then streams new ones as
   * they arrive (no gap, no duplicate). Listen for 'data'; call `.cancel()`
   * on the returned stream to stop. `timeoutMs` ends it with DEADLINE_EXCEEDED.
   */
  watchMessages(filter: Filter = {}, opts: { afterId?: string | number; includeRaw?: boolean; timeoutMs?: number } = {}):
      grpc.ClientReadableStream<Message__Output> {
    const options: grpc.CallOptions = opts.timeoutMs ? { deadline: deadline(opts.timeoutMs) } : {};
    return this.stub.WatchMessages(
      { filter, after_id: opts.afterId ?? 0, include_raw: opts.includeRaw ?? false }, options);
  }

  /** Deletes the matching messages (all with an empty filter); resolves to how many. */
  async clear(filter: Filter = {}): Promise<number> {
    const res = await this.unary<{ deleted: string }>((cb) => this.stub.Clear(
      { filter }, { deadline: deadline(CALL_TIMEOUT_MS) }, cb));
    return Number(res.deleted);
  }

  /** Adds a reject / fault-injection rule; resolves to it with its server-assigned id. */
  rejectRule(rule: RejectRuleOptions): Promise<RejectRule__Output> {
    const req: RejectRule = { code: 550, ...rule };
    return this.unary<RejectRule__Output>((cb) => this.stub.SetRejectRule(
      req, { deadline: deadline(CALL_TIMEOUT_MS) }, cb));
  }

  async listRejectRules(): Promise<RejectRule__Output[]> {
    const res = await this.unary<{ rules: RejectRule__Output[] }>((cb) => this.stub.ListRejectRules(
      {}, { deadline: deadline(CALL_TIMEOUT_MS) }, cb));
    return res.rules;
  }

  /** Deletes one rule by id, or every rule when no id is given; resolves to how many. */
  async deleteRejectRule(id = ''): Promise<number> {
    const res = await this.unary<{ deleted: string }>((cb) => this.stub.DeleteRejectRule(
      { id }, { deadline: deadline(CALL_TIMEOUT_MS) }, cb));
    return Number(res.deleted);
  }

  /**
   * Forwards stored message `id` to an upstream SMTP server now
   * (ReleaseMessage) and resolves to the final RelayStatus (state, attempts,
   * last_reply, the upstream's replies).
   */
  release(id: string | number, opts: ReleaseOptions = {}): Promise<RelayStatus__Output> {
    return this.unary<RelayStatus__Output>((cb) => this.stub.ReleaseMessage(
      releaseRequest(id, opts), { deadline: deadline(opts.timeoutMs ?? 60_000) }, cb));
  }

  serverInfo(): Promise<ServerInfo__Output> {
    return this.unary<ServerInfo__Output>((cb) => this.stub.GetServerInfo(
      {}, { deadline: deadline(CALL_TIMEOUT_MS) }, cb));
  }

  /**
   * The certificate (chain) the server presents on STARTTLS and its
   * implicit-TLS port, PEM (ServerInfo.tls_certificate_pem). Rejects when the
   * server serves no TLS.
   */
  async tlsCertificatePem(): Promise<string> {
    const pem = (await this.serverInfo()).tls_certificate_pem;
    if (!pem) throw new Error('smtpsink: the server serves no TLS (no certificate in ServerInfo)');
    return pem;
  }

  /** True when grpc.health.v1 reports SERVING. */
  health(timeoutMs = 5_000): Promise<boolean> {
    return new Promise((resolve) => {
      this.healthStub.Check({ service: '' }, { deadline: deadline(timeoutMs) },
        (err, res) => resolve(!err && res?.status === 'SERVING'));
    });
  }

  close(): void {
    this.stub.close();
    this.healthStub.close();
  }
}
