#!/usr/bin/env bash
# `npm run bench`: prepares what the benchmark needs, then runs it (bench/run.ts; flags pass through).
set -euo pipefail
cd "$(dirname "$0")/.."

# The sessions scenario holds ~19,000 sockets on each side: take every descriptor the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 20000 2>/dev/null || true

command -v taskset >/dev/null 2>&1 || { echo "bench: taskset (util-linux) is required to pin server and load generator" >&2; exit 1; }

tools=bench/tools
if [ ! -f "$tools/node_modules/supergateway/package.json" ] || [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  echo "bench: installing the peers in $tools" >&2
  npm ci --prefix "$tools" --no-audit --no-fund >&2
fi

# Every server under test runs as plain node on compiled JavaScript (types are checked by
# `npm run typecheck`; here tsc only emits, incrementally).
mkdir -p bench/.build
if ! node_modules/.bin/tsc -p bench/tsconfig.json --noCheck >bench/.build/tsc.log 2>&1; then
  echo "bench: tsc could not emit everything (bench/.build/tsc.log); running what it emitted" >&2
fi
node -e 'const p=require("./package.json");require("fs").writeFileSync("bench/.build/package.json",JSON.stringify({type:"module",version:p.version}))'

exec node --import tsx bench/run.ts "$@"
