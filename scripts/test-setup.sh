#!/usr/bin/env bash
# Installs what the tests need besides the project's own npm packages, when it is missing:
# the official conformance suite with the Node 22 it runs on (in its own folder, so the project
# keeps running on the machine's Node), and Debian packages the tests use as real peers.
set -euo pipefail
cd "$(dirname "$0")/.."

# tools: 0.1.16 (2025 revisions); tools-next: the 0.2.0 alpha with the 2026-07-28 requirement sets.
for tools in test/conformance/tools test/conformance/tools-next; do
  if [ ! -x "$tools/node_modules/.bin/node" ] || [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
    echo "test-setup: installing the conformance suite in $tools" >&2
    npm ci --prefix "$tools" --no-audit --no-fund >&2
  fi
done

need_debs=()
command -v redis-server >/dev/null 2>&1 || need_debs+=(redis-server)
command -v chromium >/dev/null 2>&1 || need_debs+=(chromium)
if [ ${#need_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-setup: installing ${need_debs[*]} from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need_debs[@]}" >&2
  else
    echo "test-setup: missing ${need_debs[*]} and cannot install them (needs root and apt-get); those tests will fail" >&2
  fi
fi
