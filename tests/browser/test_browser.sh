#!/usr/bin/env bash
# make test's entry to the browser test of the demo page (test.mjs): Debian's
# /usr/bin/chromium driven by playwright-core (pinned in package-lock.json,
# installed here with npm ci if absent; never a browser download).  Skipped,
# with the reason, when Chromium or Node.js is not installed (tools/install-deps
# installs both).  Prints "N passed, N failed, N skipped" for tests/run.sh.
set -u
cd "$(dirname "$0")"
chromium=${CHROMIUM:-/usr/bin/chromium}
skip() { echo "skip - browser: $1"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
[ -x "$chromium" ] || skip "$chromium not found (tools/install-deps installs Debian's chromium)"
command -v node >/dev/null 2>&1 || skip "node not found (tools/install-deps installs nodejs)"

pinned() {   # node_modules holds the version package-lock.json pins
  node -e 'const l = require("./package-lock.json").packages["node_modules/playwright-core"].version;
           process.exit(require("./node_modules/playwright-core/package.json").version === l ? 0 : 1)' 2>/dev/null
}
if ! pinned; then
  echo "# tests/browser: npm ci (playwright-core as pinned; no browser download)"
  if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error || ! pinned; then
    echo "FAIL - browser: npm ci in tests/browser failed, and the test needs playwright-core"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
  fi
fi
exec node test.mjs
