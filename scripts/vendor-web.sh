#!/usr/bin/env bash
# Copies the dashboard's third-party files from a pinned npm package into web/vendor/.
# The copies are committed, so building ttdm needs no network; run this only to change the
# pinned version (then review the diff and commit web/vendor/). Needs node and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

# uPlot: canvas time-series charts for the Analytics page (MIT, no dependencies).
UPLOT_VERSION=1.6.32

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
  --prefix "$tmp" "uplot@$UPLOT_VERSION" >/dev/null
src="$tmp/node_modules/uplot"
got=$(node -p "require('$src/package.json').version")
if [ "$got" != "$UPLOT_VERSION" ]; then
  echo "vendor-web: expected uplot $UPLOT_VERSION, npm installed $got" >&2
  exit 1
fi

dst=web/vendor/uplot
rm -rf "$dst"
mkdir -p "$dst"
cp "$src/dist/uPlot.esm.js" "$src/dist/uPlot.min.css" "$dst/"
cp "$src/LICENSE" "$dst/LICENSE.txt"
printf 'uplot %s, copied from npm by scripts/vendor-web.sh; do not edit.\n' "$UPLOT_VERSION" \
  >"$dst/VERSION.txt"
(cd "$dst" && sha256sum uPlot.esm.js uPlot.min.css)
