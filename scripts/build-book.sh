#!/usr/bin/env bash
# Build the whole book: run every experiment, write every figure and quoted number into
# book/src/generated/, then render the HTML to target/book/ (open target/book/index.html).
# Installs mdbook + mdbook-katex when absent (idempotent, fast when present).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
scripts/install-tools.sh
cargo build --release --bin score-sde
rm -rf book/src/generated
./target/release/score-sde book-assets --out book/src/generated
scripts/check-book.sh --no-test
echo "build-book: done in $(( $(date +%s) - start )) s; open target/book/index.html"
