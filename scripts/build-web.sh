#!/usr/bin/env bash
# Builds the web console (web/ -> web/dist) when node and npm are here:
# `npm ci` when the lock file changed, `npm run build` when a source did.
# corrald serves web/dist (see --web-dir).  Without node it says so and
# leaves corrald serving a page that explains how to get the console.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "web: node/npm not found; the web console is not built (scripts/deps.sh installs them)" >&2
  exit 0
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -f dist/index.html ] || [ -n "$(find src public index.html build.mjs tsconfig.json package-lock.json -newer dist/index.html 2>/dev/null | head -1)" ]; then
  npm run --silent build
fi
