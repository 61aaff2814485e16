#!/bin/sh
# Writes the seed corpora of every fuzz target from the fixtures in
# testdata/ (see fuzz/seed/src/main.rs for what goes where), plus the
# committed crash regressions of testdata/fuzz/. Idempotent; the corpus
# directories are git-ignored.
#
#   fuzz/seed.sh            # into fuzz/corpus/<target>/
#   fuzz/seed.sh DIR        # into DIR/<target>/
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
corpus=${1:-$here/corpus}
cargo run --quiet --release --manifest-path "$here/seed/Cargo.toml" -- "$root/testdata" "$corpus"
# Past crashes stay in the corpora, so the fuzzer keeps exploring near them.
if [ -d "$root/testdata/fuzz" ]; then
    for d in "$root"/testdata/fuzz/*/; do
        [ -d "$d" ] || continue
        t=$(basename "$d")
        mkdir -p "$corpus/$t"
        cp "$d"* "$corpus/$t/" 2>/dev/null || true
    done
fi
