#!/usr/bin/env node
// npm's `prepare` hook: builds dist/ (and proto/) wherever npm needs the
// built package: `npm install` in this folder, `npm install <this folder>`
// or a git URL from another project, and `npm pack` / `npm publish` (pack
// runs prepare before it collects the files). In a fresh checkout the build
// tools (typescript, proto-loader-gen-types, grpc-health-check's proto) are
// not there yet: then they are installed from package-lock.json first
// (`npm ci --ignore-scripts`, so this hook does not run again), which needs
// the npm registry. When installed from the registry's tarball nothing runs:
// the tarball carries dist/ and proto/.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const here = path.resolve(__dirname, '..');
const npm = process.env.npm_execpath
  ? [process.execPath, process.env.npm_execpath]   // the npm that runs this hook
  : ['npm'];
function run(args) {
  // npm_config_* of an outer `npm install --global` etc. must not leak in
  const env = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !/^npm_config_(global|prefix|location|save|only|omit|production|include)/i.test(k)));
  execFileSync(npm[0], [...npm.slice(1), ...args], { stdio: 'inherit', cwd: here, env });
}

const tools = ['tsc', 'proto-loader-gen-types'].map((b) => path.join(here, 'node_modules', '.bin', b));
if (!tools.every((t) => fs.existsSync(t)) ||
    !fs.existsSync(path.join(here, 'node_modules', 'grpc-health-check', 'package.json'))) {
  console.log('prepare: build tools missing; npm ci --ignore-scripts (from package-lock.json)');
  run(['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error']);
}
run(['run', 'build', '--silent']);
