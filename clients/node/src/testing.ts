/**
 * Test-runner support, runner-independent: one sink per test run, one
 * mailbox per test. The runner modules (./node-test, ./vitest, ./jest) wire
 * this to their hooks; any other runner can use it directly.
 *
 * Two halves, two processes:
 *  - the global setup (the runner's main process) calls startSharedSink():
 *    with SMTPSINK_SMTP_ADDR and SMTPSINK_GRPC_ADDR (host:port each) set it
 *    uses the sink already running there and starts nothing; otherwise it
 *    starts ONE SmtpSinkContainer and sets those two variables (and
 *    SMTPSINK_HTTP_ADDR, its web UI and HTTP API) in process.env, which the
 *    workers the runner starts afterwards inherit. stopSharedSink() (global teardown) stops what
 *    startSharedSink() started and unsets what it set.
 *  - a test (any worker) calls openMailbox(name): a Mailbox on the sink the
 *    environment names, reached through one SinkClient per process.
 *
 * A Mailbox owns every address of a domain unique to its test
 * (t-<12 hex>.<test name>.smtpsink.test). Its calls filter on that domain,
 * its reject rules match only that domain, and close() deletes its rules
 * and clears its mail and nothing else: tests running at the same time
 * against one sink never see, wait on, bounce or clear each other's mail.
 * Same surface and semantics as the Python pytest plugin's `mailbox` and
 * Go's smtpsinktest.New(t).
 *
 * Needs testcontainers only when startSharedSink() starts a container.
 */
import * as crypto from 'node:crypto';

import { SinkClient, hostPort, webUrl } from './client';
import type { Filter, Message, RejectRuleInfo } from './client';
import type { SmtpSinkContainer, StartedSmtpSinkContainer } from './container';

export const SMTP_ADDR_ENV = 'SMTPSINK_SMTP_ADDR';
export const GRPC_ADDR_ENV = 'SMTPSINK_GRPC_ADDR';
/** host:port of the web UI and HTTP API; optional, only with the other two */
export const HTTP_ADDR_ENV = 'SMTPSINK_HTTP_ADDR';

/** Where the sink of this test run listens, as seen from the tests. */
export interface SinkAddresses {
  smtpHost: string;
  smtpPort: number;
  /** "host:port" of the gRPC control API */
  grpcAddress: string;
  /** "http://host:port/" of the web UI and HTTP API, when known (SMTPSINK_HTTP_ADDR) */
  webUrl?: string;
}

/** "host:port" (the host may be a [bracketed] IPv6 literal) split; throws naming `name` otherwise. */
export function splitHostPort(value: string, name: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) throw new Error(`${name}=${JSON.stringify(value)}: expected HOST:PORT`);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * The sink the environment names (SMTPSINK_SMTP_ADDR + SMTPSINK_GRPC_ADDR,
 * and optionally SMTPSINK_HTTP_ADDR for its web UI), or undefined when none
 * is set. Throws when only one of the first two is set, when
 * SMTPSINK_HTTP_ADDR comes without them, or when one is not host:port.
 */
export function sinkFromEnv(env: NodeJS.ProcessEnv = process.env): SinkAddresses | undefined {
  const smtp = env[SMTP_ADDR_ENV];
  const grpc = env[GRPC_ADDR_ENV];
  const http = env[HTTP_ADDR_ENV];
  if (!smtp && !grpc) {
    if (http) {
      throw new Error(`${HTTP_ADDR_ENV} names the HTTP API of a running smtpsink: ` +
        `set ${SMTP_ADDR_ENV} and ${GRPC_ADDR_ENV} (host:port) too`);
    }
    return undefined;
  }
  if (!smtp || !grpc) {
    throw new Error(`set both ${SMTP_ADDR_ENV} and ${GRPC_ADDR_ENV} (host:port) to use a running smtpsink`);
  }
  const { host, port } = splitHostPort(smtp, SMTP_ADDR_ENV);
  splitHostPort(grpc, GRPC_ADDR_ENV);
  const web = http ? splitHostPort(http, HTTP_ADDR_ENV) : undefined;
  return { smtpHost: host, smtpPort: port, grpcAddress: grpc, webUrl: web && webUrl(web.host, web.port) };
}

// ---- global setup (the runner's main process) ------------------------------

/** Settings for the container startSharedSink() starts (ignored for a running sink). */
export interface SharedSinkOptions {
  /** default $SMTPSINK_IMAGE, else smtpsink:latest */
  image?: string;
  /** container labels (e.g. for your CI's cleanup) */
  labels?: Record<string, string>;
  /** further settings: `(c) => c.withStartTls()` etc.; may return the container or nothing */
  configure?: (container: SmtpSinkContainer) => SmtpSinkContainer | void;
}

/** The sink of this run, as startSharedSink() set it up. */
export interface SharedSink extends SinkAddresses {
  /** the container it started; undefined when the environment named a running sink */
  container?: StartedSmtpSinkContainer;
  /** the variables that name it to the workers (already in process.env) */
  env: Record<string, string>;
}

// On globalThis: a runner may load the setup and the teardown module apart
// (Jest's globalSetup and globalTeardown are two modules).
const STATE = Symbol.for('smtpsink-testcontainers.sharedSink');
interface SetupState {
  sink: SharedSink;
  /** the variables it set, to unset at stop */
  setEnv: string[];
}
type WithState = { [STATE]?: SetupState };

/**
 * Global setup: the sink of this test run (see the file header). Resolves
 * once the container answers (SMTP + gRPC ready). Call it once per run; a
 * second call returns the first sink.
 */
export async function startSharedSink(options: SharedSinkOptions = {}): Promise<SharedSink> {
  const g = globalThis as WithState;
  if (g[STATE]) return g[STATE].sink;
  const running = sinkFromEnv();
  if (running) {
    const env: Record<string, string> = {};
    for (const k of [SMTP_ADDR_ENV, GRPC_ADDR_ENV, HTTP_ADDR_ENV]) if (process.env[k]) env[k] = process.env[k]!;
    g[STATE] = { sink: { ...running, env }, setEnv: [] };
    return g[STATE].sink;
  }
  // testcontainers is an optional peer: loaded only here
  const { SmtpSinkContainer: Container } = require('./container') as typeof import('./container');
  let c = new Container(options.image || undefined);
  if (options.labels) c.withLabels(options.labels);
  if (options.configure) c = options.configure(c) ?? c;
  const container = await c.start();
  const sink: SharedSink = {
    smtpHost: container.getSmtpHost(),
    smtpPort: container.getSmtpPort(),
    grpcAddress: container.getGrpcAddress(),
    webUrl: container.getWebUrl(),
    container,
    env: {},
  };
  sink.env = {
    [SMTP_ADDR_ENV]: hostPort(sink.smtpHost, sink.smtpPort),
    [GRPC_ADDR_ENV]: sink.grpcAddress,
    [HTTP_ADDR_ENV]: hostPort(container.getHost(), container.getWebPort()),
  };
  Object.assign(process.env, sink.env);
  g[STATE] = { sink, setEnv: Object.keys(sink.env) };
  return sink;
}

/** Global teardown: stops the container startSharedSink() started, if any, and unsets its variables. */
export async function stopSharedSink(): Promise<void> {
  const g = globalThis as WithState;
  const state = g[STATE];
  if (!state) return;
  g[STATE] = undefined;
  for (const k of state.setEnv) delete process.env[k];
  await state.sink.container?.stop();
}

// ---- tests (any worker) -----------------------------------------------------

let shared: { key: string; sink: SinkAddresses; client: SinkClient; ready: Promise<void> } | undefined;

/**
 * The sink the environment names and this process's client for it (one per
 * process, connected on first use). Throws when no sink is named: a global
 * setup (startSharedSink) must run first, or the variables be set.
 */
export async function sharedSink(): Promise<{ sink: SinkAddresses; client: SinkClient }> {
  const sink = sinkFromEnv();
  if (!sink) {
    throw new Error(`smtpsink: no sink for this test run: add the global setup of your test runner ` +
      `(see the smtpsink-testcontainers README) or set ${SMTP_ADDR_ENV} and ${GRPC_ADDR_ENV} (host:port)`);
  }
  const key = `${sink.grpcAddress} ${sink.smtpHost} ${sink.smtpPort}`;
  if (!shared || shared.key !== key) {
    shared?.client.close();
    const client = new SinkClient(sink.grpcAddress);
    const ready = client.waitReady(10_000).catch((e: Error) => {
      throw new Error(`smtpsink: control API at ${sink.grpcAddress} not reachable: ${e.message}`);
    });
    ready.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
    shared = { key, sink, client, ready };
  }
  const s = shared;
  await s.ready;
  return { sink: s.sink, client: s.client };
}

/** Closes this process's client (a runner's "after all"); the next sharedSink() opens another. */
export function closeSharedClient(): void {
  shared?.client.close();
  shared = undefined;
}

/** A DNS-safe domain unique to one test: a random label, then the test's name for reading logs. */
export function mailboxDomain(testName: string): string {
  const name = testName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '')
    .slice(0, 40).replace(/^-+|-+$/g, '') || 'test';
  return `t-${crypto.randomBytes(6).toString('hex')}.${name}.smtpsink.test`;
}

/** wait(): how many, how long, and further filter fields (subject, body, mail_from, ...). */
export interface MailboxWaitOptions extends Filter {
  /** at least this many matching messages (default 1) */
  count?: number;
  /** give up after this long (default 10 s): SmtpSinkTimeoutError */
  timeoutMs?: number;
  includeRaw?: boolean;
}

/** messages(): further filter fields, and whether to include the raw bytes. */
export interface MailboxListOptions extends Filter {
  includeRaw?: boolean;
}

/** The stages whose match glob is on an address, so a rule can be bound to the mailbox's domain. */
export type MailboxRejectStage = 'RCPT_TO' | 'MAIL_FROM' | 'DATA';
const SCOPED_STAGES: readonly string[] = ['MAIL_FROM', 'RCPT_TO', 'DATA'];

export interface MailboxRejectOptions {
  /** RCPT_TO (default): that recipient; MAIL_FROM: the sender; DATA: any recipient */
  stage?: MailboxRejectStage;
  /** glob on the local part: the rule matches `local@domain` ("*", the default: every address) */
  local?: string;
  /** 4xx or 5xx (default 550) */
  code?: number;
  message?: string;
  enhanced_code?: string;
  /** fire at most this often; 0 = until deleted */
  times?: number;
  delay_ms?: number;
  disconnect?: boolean;
}

const GLOB_META = /[*?[\]\\]/;

/**
 * One test's share of the sink: every address in `domain`. wait(),
 * messages() and clear() take further filter fields; `rcpt_to` may only
 * narrow to addresses of this mailbox (a bare local part means
 * local@domain).
 */
export class Mailbox {
  readonly smtpHost: string;
  readonly smtpPort: number;
  readonly grpcAddress: string;
  /** "http://host:port/" of the sink's web UI and HTTP API, when known */
  readonly webUrl?: string;
  private rules: string[] = [];

  /**
   * @param client the shared, unfiltered client (for what the helpers do not
   *   cover; it sees every test's mail)
   */
  constructor(readonly domain: string, sink: SinkAddresses, readonly client: SinkClient) {
    this.smtpHost = sink.smtpHost;
    this.smtpPort = sink.smtpPort;
    this.grpcAddress = sink.grpcAddress;
    this.webUrl = sink.webUrl;
  }

  /** `local@domain`, e.g. "alice@t-1f2e3d4c5b6a.signup.smtpsink.test". */
  address(local = 'user'): string {
    if (!local || local.includes('@') || GLOB_META.test(local)) {
      throw new Error(`local part ${JSON.stringify(local)}: non-empty, without '@' or glob characters`);
    }
    return `${local}@${this.domain}`;
  }

  /** The filter every call of this mailbox starts from. */
  get filter(): Filter {
    return { rcpt_to: `*@${this.domain}` };
  }

  /** `f` with rcpt_to bound to this mailbox; throws when it points elsewhere. */
  scoped(f: Filter = {}): Filter {
    const out: Filter = { ...f, rcpt_to: this.filter.rcpt_to };
    let rcpt = f.rcpt_to;
    if (rcpt) {
      if (!rcpt.includes('@')) rcpt = `${rcpt}@${this.domain}`;
      if (!rcpt.toLowerCase().endsWith(`@${this.domain}`)) {
        throw new Error(`rcpt_to ${JSON.stringify(rcpt)} is outside this mailbox (@${this.domain})`);
      }
      out.rcpt_to = rcpt;
    }
    return out;
  }

  /**
   * All of this mailbox's matching messages as soon as at least `count`
   * match (the server wakes the call: no polling); rejects with
   * SmtpSinkTimeoutError after `timeoutMs`.
   */
  async wait(options: MailboxWaitOptions = {}): Promise<Message[]> {
    const { count = 1, timeoutMs = 10_000, includeRaw = false, ...filter } = options;
    return this.client.waitForMessages(this.scoped(filter), { count, timeoutMs, includeRaw });
  }

  /** This mailbox's stored (matching) messages, oldest first. */
  async messages(options: MailboxListOptions = {}): Promise<Message[]> {
    const { includeRaw = false, ...filter } = options;
    return this.client.listMessages(this.scoped(filter), { includeRaw });
  }

  /** Deletes this mailbox's (matching) messages; resolves to how many. */
  async clear(filter: Filter = {}): Promise<number> {
    return this.client.clear(this.scoped(filter));
  }

  /**
   * A reject rule bound to this mailbox: at `stage`, for the addresses
   * `local@domain`. Deleted by close(). Server-wide rules (CONNECT, HELO,
   * AUTH, other domains) go through `client.rejectRule`.
   */
  async reject(options: MailboxRejectOptions = {}): Promise<RejectRuleInfo> {
    const { stage = 'RCPT_TO', local = '*', code = 550, message = '', ...rest } = options;
    const st = String(stage).toUpperCase();
    if (!SCOPED_STAGES.includes(st)) {
      throw new Error(`stage ${JSON.stringify(stage)}: a mailbox scopes only ${SCOPED_STAGES.join(', ')} rules ` +
        '(use mailbox.client.rejectRule for server-wide ones)');
    }
    if (!local || local.includes('@') || local.endsWith('\\')) {
      throw new Error(`local part glob ${JSON.stringify(local)}: non-empty, without '@', no trailing '\\'`);
    }
    const rule = await this.client.rejectRule({
      ...rest, stage: st as MailboxRejectStage, match: `${local}@${this.domain}`, code, message,
    });
    this.rules.push(rule.id);
    return rule;
  }

  /** Teardown: its rules and its mail go; nothing else is touched. */
  async close(): Promise<void> {
    const rules = this.rules;
    this.rules = [];
    for (const id of rules) if (id) await this.client.deleteRejectRule(id); // '' would delete every rule
    await this.client.clear(this.filter);
  }
}

/**
 * A mailbox for the test named `testName` on the sink of this run
 * (sharedSink()). The caller closes it at the end of the test; the runner
 * modules do that through their hooks.
 */
export async function openMailbox(testName = 'test'): Promise<Mailbox> {
  const { sink, client } = await sharedSink();
  return new Mailbox(mailboxDomain(testName), sink, client);
}
