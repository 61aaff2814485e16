#!/usr/bin/env bash
# Runs the project's checks: formatting, lints, and the full test suite.
#
# On a fresh Debian/Ubuntu machine, run as root: installs what the tests need
# (redis-server, redis-tools, openssl, chromium) if missing. Extra arguments go to `cargo test`,
# e.g. `scripts/test.sh --test it -- golden::` or `scripts/test.sh -- --nocapture`.
# Environment: RDBKIT_EXHAUSTIVE=1 runs the long robustness sweep,
# RDBKIT_FIXTURE=<substring> limits the golden test to matching fixtures,
# RDBKIT_REDIS_UNSTABLE=<redis-server built from skaslev/redis e58041978>
# runs the Redis 8.8 (RDB 14) load tests of tests/it/newest.rs (skipped without it).
# After `cargo test`, the Python package (python/) is built as a wheel with
# maturin into a venv under target/pyenv (maturin, pytest, pyarrow, duckdb
# from PyPI) and its pytest suite runs; RDBKIT_NO_PYTHON=1 skips that step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '==> %s\n' "$*" >&2; }

# --- system packages -------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)   # TLS test certificates
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel) # tests/it/fetch.rs
for z in zstd lz4 bzip2; do                                  # tests/it/compressed.rs
    command -v "$z" >/dev/null 2>&1 || missing+=("$z")
done
[[ -x /usr/bin/chromium ]] || missing+=(chromium)          # tests/it/html.rs (headless rendering)
if [[ -z ${RDBKIT_NO_PYTHON:-} ]]; then                    # python/ tests: a venv with pip
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv python3-pip)
fi

if ((${#missing[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    else
        log "note: ${missing[*]} not installed and cannot install them here" \
            "(not root or no apt-get); tests that need a server may be skipped"
    fi
fi

# valkey-server 8.0 for tests/it/rdb_write.rs (files written --to valkey-8.0):
# Debian 12 ships it in bookworm-backports only, so that suite is added on
# the mirror the machine already uses.
if ! command -v valkey-server >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] \
    && command -v apt-get >/dev/null 2>&1 && grep -qs bookworm /etc/os-release; then
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
        if [[ -n ${mirror:-} ]]; then
            printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                "$mirror" >/etc/apt/sources.list.d/bookworm-backports.sources
        fi
    fi
    log "installing valkey-server from bookworm-backports"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update && apt-get install -y --no-install-recommends -t bookworm-backports valkey-server; } \
        || log "note: valkey-server not installed; the Valkey test will be skipped"
fi

# --- Rust toolchain --------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    if [[ -x "${HOME:-/root}/.cargo/bin/cargo" ]]; then
        export PATH="${HOME:-/root}/.cargo/bin:$PATH"
    else
        log "error: cargo not found; install Rust (https://rustup.rs) and retry"
        exit 1
    fi
fi
log "$(cargo --version)"

# --- checks ----------------------------------------------------------------
log "cargo fmt --all -- --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

# The parser library alone (rdbkit = { default-features = false }) builds
# without the command line's and the network's dependencies.
log "cargo clippy --no-default-features --lib -- -D warnings"
cargo clippy --no-default-features --lib -- -D warnings

log "cargo test --release $*"
log_file=$(mktemp)
trap 'rm -f "$log_file"' EXIT
set +e
cargo test --release "$@" 2>&1 | tee "$log_file"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s }' "$log_file"

# --- Python package --------------------------------------------------------
# The wheel shares target/ and Cargo.lock with the crate (python/ is a
# workspace member), so only pyo3 and the extension itself compile here.
if [[ -z ${RDBKIT_NO_PYTHON:-} ]]; then
    venv=target/pyenv
    if [[ ! -x $venv/bin/python ]]; then
        log "creating $venv"
        python3 -m venv "$venv"
    fi
    log "pip install maturin pytest pyarrow duckdb"
    "$venv/bin/pip" install -q --disable-pip-version-check 'maturin>=1.5,<2' pytest pyarrow duckdb
    log "maturin build --release (python/)"
    rm -rf target/wheels
    "$venv/bin/maturin" build --release -q -m python/Cargo.toml -o target/wheels
    "$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/rdbkit-*.whl
    log "pytest python/tests"
    # From the repository root, so that `import rdbkit` is the installed
    # wheel, not the source folder python/rdbkit.
    set +e
    "$venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir=python python/tests
    py_status=$?
    set -e
    ((status == 0)) && status=$py_status
fi
exit "$status"
