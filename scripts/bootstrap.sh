# Shared set-up for ./alamal and .ci/run: uv in a private tools venv, a Python 3.13 found on the
# machine (never downloaded), the workspace synced from uv.lock. Source it from the repo root.
# Overrides: CI_BOOTSTRAP_PYTHON (python that hosts uv, default python3),
#            CI_PYTHON (the Python 3.13 to use), UV_REQUIREMENT (default "uv>=0.13").
TOOLS=.ci/.tools
UV="$TOOLS/bin/uv"
export UV_PYTHON_DOWNLOADS=never  # use an interpreter found here; never fetch one silently
export UV_NATIVE_TLS=${UV_NATIVE_TLS:-1}  # trust the system certificate store, as pip does

bootstrap_uv() {
    if [[ ! -x "$UV" ]]; then
        local host="${CI_BOOTSTRAP_PYTHON:-python3}"
        command -v "$host" >/dev/null || { echo "no $host on PATH: install Python 3" >&2; return 1; }
        "$host" -m venv "$TOOLS" || { echo "$host -m venv failed (Debian: apt install python3-venv)" >&2; return 1; }
        "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "${UV_REQUIREMENT:-uv>=0.13}"
    fi
    "$UV" --version
}

# Prints the real path of a Python 3.13 (pyenv shims resolve to their interpreter).
is_python313() {
    "$1" -c 'import sys; assert sys.version_info[:2] == (3, 13); print(sys.executable)' 2>/dev/null
}

find_python313() {
    local candidate root
    if [[ -n "${CI_PYTHON:-}" ]]; then
        is_python313 "$CI_PYTHON" && return 0
        echo "CI_PYTHON=$CI_PYTHON is not a Python 3.13" >&2
        return 1
    fi
    for candidate in python3.13 python3; do
        command -v "$candidate" >/dev/null && is_python313 "$candidate" && return 0
    done
    if command -v pyenv >/dev/null; then
        root=$(pyenv root)
        for candidate in "$root"/versions/3.13*/bin/python3.13; do
            [[ -x "$candidate" ]] && is_python313 "$candidate" && return 0
        done
    fi
    candidate=$("$UV" python find 3.13 2>/dev/null) && is_python313 "$candidate" && return 0
    echo "no Python 3.13 found (tried python3.13, python3, pyenv, uv python find); set CI_PYTHON" >&2
    return 1
}

# Installs uv if needed and syncs the workspace; prints nothing on success but uv's summary.
ensure_workspace() {
    bootstrap_uv >/dev/null
    local py
    py=$(find_python313)
    "$UV" sync --frozen --quiet -p "$py"
}

# Debian's Chromium for the gateway's browser tests (Playwright drives it; no browser download).
# Installed only when missing; needs apt and root (CI runs as root), else says what to do.
ensure_chromium() {
    if command -v chromium >/dev/null; then
        chromium --version
        return 0
    fi
    if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            chromium fonts-noto-core >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -q --no-install-recommends chromium fonts-noto-core >/dev/null; }
        chromium --version
        return 0
    fi
    echo "Chromium is missing: install Debian's package 'chromium' (browser tests need it)" >&2
    return 1
}
