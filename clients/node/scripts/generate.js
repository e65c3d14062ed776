#!/usr/bin/env node
// Build step: copy the .proto contract into ./proto (shipped in the package,
// loaded at run time by @grpc/proto-loader) and generate TypeScript types for
// it with proto-loader-gen-types into src/generated. Nothing here is committed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const here = path.resolve(__dirname, '..');
const out = path.join(here, 'proto');

function copy(src, rel) {
  const dst = path.join(out, rel);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.copyFileSync(src, dst);
}

const repoProto = path.resolve(here, '..', '..', 'proto', 'smtpsink', 'v1', 'smtpsink.proto');
if (fs.existsSync(repoProto)) {
  copy(repoProto, 'smtpsink/v1/smtpsink.proto');
} else if (!fs.existsSync(path.join(out, 'smtpsink/v1/smtpsink.proto'))) {
  throw new Error(`smtpsink.proto not found at ${repoProto}`);
}
// the standard health service, as published by grpc-node
const healthDir = path.dirname(require.resolve('grpc-health-check/package.json'));
copy(path.join(healthDir, 'proto', 'health', 'v1', 'health.proto'), 'grpc/health/v1/health.proto');

const gen = path.join(here, 'src', 'generated');
fs.rmSync(gen, { recursive: true, force: true });
const bin = path.join(here, 'node_modules', '.bin', 'proto-loader-gen-types');
execFileSync(bin, [
  '--keepCase', '--longs=String', '--enums=String', '--defaults', '--oneofs',
  '--grpcLib=@grpc/grpc-js', '--includeComments',
  `--outDir=${gen}`,
  'smtpsink/v1/smtpsink.proto', 'grpc/health/v1/health.proto',
  '--includeDirs', out, // an array option: keep it last
], { stdio: 'inherit', cwd: out });
console.log('generate: proto/ and src/generated/ written');
