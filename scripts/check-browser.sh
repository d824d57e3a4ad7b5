#!/usr/bin/env bash
# Open every page of the built book (target/book) in headless Chromium, offline,
# and fail if a page cannot load one of its resources (CSS, KaTeX fonts, scripts,
# figures), logs a console error, or renders its math without KaTeX's fonts.
# Screenshots of two chapters go to target/book-logs/browser/ for a look by eye.
#
#   scripts/check-browser.sh            (after scripts/build-book.sh)
#
# Installs, when absent: Debian's chromium (needs root or sudo, as on CI machines)
# and playwright-core from npm (into target/browser-check, no browser download).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
out="${root}/target/book"
logs="${root}/target/book-logs/browser"
tools="${root}/target/browser-check"
PLAYWRIGHT_VERSION="1.64.1"
mkdir -p "${logs}" "${tools}"

fail() { echo "check-browser: FAIL: $*" >&2; exit 1; }
[ -f "${out}/index.html" ] || fail "no ${out}/index.html; run scripts/build-book.sh first"

if ! command -v chromium >/dev/null; then
    echo "check-browser: installing Debian's chromium"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    ${sudo} apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null || fail "node not found (Node.js is needed for playwright-core)"
if [ "$(node -p "try { require('${tools}/node_modules/playwright-core/package.json').version } catch (e) { '' }")" != "${PLAYWRIGHT_VERSION}" ]; then
    echo "check-browser: installing playwright-core ${PLAYWRIGHT_VERSION}"
    npm install --silent --no-audit --no-fund --prefix "${tools}" "playwright-core@${PLAYWRIGHT_VERSION}" >/dev/null
fi
cp scripts/check_browser.mjs "${tools}/check_browser.mjs"
node "${tools}/check_browser.mjs" "${out}" "${logs}"
