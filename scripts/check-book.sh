#!/usr/bin/env bash
# Build the book, fail on any math or configuration error, then run the Rust
# snippets of the book against the `score_sde` crate.
#
#   scripts/check-book.sh            build + checks + `mdbook test`
#   scripts/check-book.sh --no-test  build + checks only
#
# Why the extra checks: `mdbook build` exits 0 when KaTeX fails on a formula
# ("Rendering failed, keeping the original content") or when a config section
# is rejected ("ERROR Failed to deserialize ..."), so we grep the log, and we
# look for display-math delimiters that survived into the HTML.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
out="${root}/target/book"
logs="${root}/target/book-logs"
mkdir -p "${logs}"

run_tests=1
for arg in "$@"; do
    case "${arg}" in
        --no-test) run_tests=0 ;;
        *) echo "check-book: unknown argument ${arg}" >&2; exit 2 ;;
    esac
done

fail() { echo "check-book: FAIL: $*" >&2; exit 1; }

command -v mdbook >/dev/null || fail "mdbook not found; run scripts/install-tools.sh"
command -v mdbook-katex >/dev/null || fail "mdbook-katex not found; run scripts/install-tools.sh"

# 1. Build, keeping the log.
build_log="${logs}/build.log"
echo "check-book: mdbook build (log: ${build_log})"
if ! mdbook build 2>&1 | tee "${build_log}"; then
    fail "mdbook build exited non-zero"
fi
if grep -nE 'ERROR|Rendering failed' "${build_log}"; then
    fail "the build log reports errors (see above)"
fi
[ -f "${out}/index.html" ] || fail "no ${out}/index.html after the build"

# 2. No unrendered display math in any page. Code blocks and inline code are
#    removed first: `$$` may legitimately appear there.
echo "check-book: looking for unrendered math in ${out}"
bad=0
while IFS= read -r -d '' page; do
    if perl -0777 -ne '
        s{<pre\b.*?</pre>}{}gs;
        s{<code\b.*?</code>}{}gs;
        s{<script\b.*?</script>}{}gs;
        exit((/\$\$/ || /class="katex-error"/) ? 0 : 1);
    ' "${page}"; then
        echo "check-book: unrendered math (\$\$ or katex-error) in ${page#"${root}"/}" >&2
        bad=1
    fi
done < <(find "${out}" -name '*.html' -print0)
[ "${bad}" -eq 0 ] || fail "some pages contain unrendered math"

[ "${run_tests}" -eq 1 ] || { echo "check-book: OK (build only)"; exit 0; }

# 3. `mdbook test` against our crate. mdbook passes only -L and --edition to
#    rustdoc, and `-L target/debug/deps` breaks as soon as that folder holds
#    two builds of one crate (E0464). So: build the library, collect exactly
#    the .rlib files (and proc-macro .so files) cargo reports for this build,
#    and hand mdbook a folder that contains nothing else.
deps="${root}/target/mdbook-test-deps"
cargo_json="${logs}/cargo-build.json"
echo "check-book: cargo build --lib"
cargo build --lib --message-format=json >"${cargo_json}" \
    || fail "cargo build --lib failed (messages in ${cargo_json})"
rm -rf "${deps}"
mkdir -p "${deps}"
n=0
while IFS= read -r artifact; do
    cp "${artifact}" "${deps}/"
    n=$((n + 1))
done < <(grep '"reason":"compiler-artifact"' "${cargo_json}" \
            | grep -oE '"[^"]+\.(rlib|so)"' | tr -d '"' | sort -u)
[ "${n}" -gt 0 ] || fail "no .rlib found in the cargo build output"
compgen -G "${deps}/libscore_sde*.rlib" >/dev/null || fail "libscore_sde rlib missing from ${deps}"
echo "check-book: ${n} artifacts in ${deps#"${root}"/}"

test_log="${logs}/test.log"
echo "check-book: mdbook test (log: ${test_log})"
if ! mdbook test -L "${deps}" 2>&1 | tee "${test_log}"; then
    fail "mdbook test failed"
fi
if grep -nE 'ERROR' "${test_log}"; then
    fail "mdbook test log reports errors"
fi
echo "check-book: OK"
