#!/usr/bin/env bash
# Run every test: formatting and lints, the library's tests (cargo test), the book
# (rebuilt from fresh experiments, build-log checks, mdbook test) and the notebooks
# (executed headlessly, then opened untrusted in JupyterLab in headless Chromium). Installs what
# it needs when absent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
cargo fmt --all -- --check
cargo clippy --release --all-targets -- -D warnings
cargo test --release
scripts/build-book.sh
scripts/check-book.sh
scripts/check-browser.sh
if [ -x scripts/run-notebooks.sh ]; then scripts/run-notebooks.sh; fi
scripts/check-notebooks-browser.sh
echo "test: all checks passed in $(( $(date +%s) - start )) s"
