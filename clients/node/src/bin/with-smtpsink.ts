#!/usr/bin/env node
/**
 * with-smtpsink: runs a command, typically a test runner, with one smtpsink
 * for all of it.
 *
 *   with-smtpsink [--image IMAGE] [--label KEY=VALUE]... [--] COMMAND [ARG...]
 *   e.g. "test": "with-smtpsink node --test"   (package.json)
 *
 * The global setup of any runner: startSharedSink() (a container, or the
 * running sink SMTPSINK_SMTP_ADDR + SMTPSINK_GRPC_ADDR name), then COMMAND
 * with SMTPSINK_SMTP_ADDR, SMTPSINK_GRPC_ADDR and SMTPSINK_HTTP_ADDR in its
 * environment, then stopSharedSink(). Exits with COMMAND's status (128 + n
 * when signal n ended it); SIGINT, SIGTERM and SIGHUP go on to COMMAND.
 * Exit 2: usage; 1: the sink did not start; 127: COMMAND not found.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

import { startSharedSink, stopSharedSink } from '../testing';
import type { SharedSinkOptions } from '../testing';

const USAGE = 'usage: with-smtpsink [--image IMAGE] [--label KEY=VALUE]... [--] COMMAND [ARG...]';

/** The options and the command line; throws a usage message. */
export function parseArgs(argv: string[]): { options: SharedSinkOptions; command: string[] } {
  const options: SharedSinkOptions = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--') {
      i++;
      break;
    } else if (flag === '--image') {
      options.image = value();
    } else if (flag === '--label') {
      const kv = value();
      const k = kv.indexOf('=');
      if (k < 1) throw new Error(`--label ${kv}: expected KEY=VALUE\n${USAGE}`);
      options.labels = { ...options.labels, [kv.slice(0, k)]: kv.slice(k + 1) };
    } else if (a === '-h' || a === '--help') {
      throw new Error(USAGE);
    } else if (a.startsWith('-')) {
      throw new Error(`unknown option ${a}\n${USAGE}`);
    } else {
      break;
    }
  }
  const command = argv.slice(i);
  if (command.length === 0) throw new Error(`no command\n${USAGE}`);
  return { options, command };
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`with-smtpsink: ${(e as Error).message}`);
    process.exit(2);
  }
  try {
    await startSharedSink(parsed.options);
  } catch (e) {
    console.error(`with-smtpsink: the sink did not start: ${(e as Error).message}`);
    process.exit(1);
  }
  const [cmd, ...args] = parsed.command;
  const child = spawn(cmd, args, { stdio: 'inherit', shell: process.platform === 'win32' });
  const forward = (sig: NodeJS.Signals) => { child.kill(sig); };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
  const status = await new Promise<number>((resolve) => {
    child.on('error', (e: NodeJS.ErrnoException) => {
      console.error(`with-smtpsink: ${cmd}: ${e.message}`);
      resolve(e.code === 'ENOENT' ? 127 : 1);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  try {
    await stopSharedSink();
  } catch (e) {
    console.error(`with-smtpsink: stopping the sink: ${(e as Error).message}`);
  }
  process.exit(status);
}

if (require.main === module) void main();
