#!/usr/bin/env bash
# Validates contracts/asyncapi.json with the official AsyncAPI parser (@asyncapi/parser from the
# npm registry, pinned in contracts/asyncapi-check/package-lock.json) and fails when the committed
# document is stale (not what `python -m alamal_contracts.asyncapi export` generates now).
# Needs node and npm (installed with apt when missing and run as root); installs the parser into
# contracts/asyncapi-check/node_modules (gitignored).
# Usage: scripts/check-asyncapi.sh [PYTHON]   (PYTHON: the workspace's python, default .venv)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${1:-.venv/bin/python}
CHECK=contracts/asyncapi-check

# Debian's nodejs (18, enough for the parser) and npm, installed only when missing; needs apt and
# root, as the chromium and promtool steps of .ci/run.
if ! { command -v node && command -v npm; } >/dev/null && command -v apt-get >/dev/null \
    && [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends nodejs npm >/dev/null; }
fi
command -v node >/dev/null || { echo "node is required to validate the AsyncAPI document" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required to install @asyncapi/parser" >&2; exit 1; }
"$PYTHON" -m alamal_contracts.asyncapi check
if [[ ! -d $CHECK/node_modules/@asyncapi/parser ]]; then
    npm ci --prefix "$CHECK" --no-audit --no-fund --loglevel=error
fi
node "$CHECK/validate.mjs" contracts/asyncapi.json
