// Builds dist/sse-cli.mjs beside the installed conformance CLI: the same CLI, except that the client
// it connects with speaks legacy HTTP+SSE (the SDK's SSEClientTransport) when the --url ends in /sse.
// The suite itself only speaks Streamable HTTP; this lets its scenarios judge the legacy endpoints.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('./tools/', import.meta.url));
const cli = require.resolve('@modelcontextprotocol/conformance/dist/index.js');
const source = readFileSync(cli, 'utf8');
// The one place the shared connect helper builds its transport (checked for 0.1.16).
const connect = 'n=new se(new URL(e));return await t.connect(n)';
if (source.split(connect).length !== 2) {
  throw new Error('sse-cli: the conformance CLI changed; its connect helper was not found exactly once');
}
const patched = source
  .replace(connect, 'n=/\\/sse$/.test(new URL(e).pathname)?new __LegacySse(new URL(e)):new se(new URL(e));return await t.connect(n)')
  .replace('#!/usr/bin/env node\n', '#!/usr/bin/env node\nimport{SSEClientTransport as __LegacySse}from"@modelcontextprotocol/sdk/client/sse.js";');
const out = cli.replace(/index\.js$/, 'sse-cli.mjs');
writeFileSync(out, patched);
console.log(out);
