#!/usr/bin/env bash
# Install the book tooling (mdBook and the KaTeX preprocessor) at pinned versions.
#
# Idempotent and fast when the tools are present: a crate is only built when
# `cargo install --list` does not already show that exact version.
# Cold builds take several minutes (mdbook ~5 min, mdbook-katex ~1.5 min on
# 2 cores; mdbook-katex compiles QuickJS and needs a C compiler).
set -euo pipefail

MDBOOK_VERSION="0.5.4"
MDBOOK_KATEX_VERSION="0.10.0"

installed="$(cargo install --list)"

ensure() {
    local crate="$1" version="$2"
    # `cargo install --list` prints lines such as `mdbook v0.5.4:`.
    if grep -qx "${crate} v${version}:" <<<"${installed}"; then
        echo "install-tools: ${crate} ${version} already installed"
    else
        echo "install-tools: installing ${crate} ${version}"
        cargo install --locked --version "${version}" "${crate}"
    fi
}

ensure mdbook "${MDBOOK_VERSION}"
ensure mdbook-katex "${MDBOOK_KATEX_VERSION}"
