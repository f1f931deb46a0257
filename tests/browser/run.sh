#!/usr/bin/env bash
# Runs the dashboard's browser tests (ctest's browser.dashboard): installs the pinned npm
# packages of package-lock.json when they changed, then node's test runner, which drives
# Debian's Chromium headless. TTDM_BIN and TTDM_SIM_BIN name the built binaries;
# TTDM_TEST_OUTPUT is where screenshots go (<it>/screenshots/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
chromium=${TTDM_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "browser tests: no Chromium at $chromium; scripts/install-deps.sh installs Debian's chromium" >&2
  exit 1
fi

# npm ci only when the lock file changed since the last install (a stamp in node_modules).
stamp="$here/node_modules/.ttdm-lock.sha256"
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

cd "$here"
exec node --test --test-concurrency=1 dashboard.test.js
