#!/usr/bin/env bash
# Build the book, fail on any math, configuration or link error, then run the
# Rust snippets of the book against the `score_sde` crate.
#
# Checks, in order:
#   1. `mdbook build`, with the log scanned for errors that mdbook only warns about;
#   2. every page: no raw `$$`, no KaTeX error box, no strikethrough (a sign
#      that rendered math was parsed as Markdown);
#   3. every internal link and #anchor resolves;
#   4. `mdbook test` against exactly the rlibs of a fresh `cargo build --lib`.
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
# The HTML-balance warnings mean that rendered math was torn apart by the
# Markdown parser (e.g. a "~" in KaTeX output read as strikethrough).
if grep -nE 'ERROR|Rendering failed|unclosed HTML tag|unexpected HTML end tag' "${build_log}"; then
    fail "the build log reports errors (see above)"
fi
[ -f "${out}/index.html" ] || fail "no ${out}/index.html after the build"

# 2. No unrendered display math in any page, no KaTeX error boxes, and no
#    strikethrough (the book never uses it; it appears when the Markdown
#    parser reads characters of rendered math as markup). Code blocks and
#    inline code are removed first: `$$` may legitimately appear there.
echo "check-book: looking for unrendered math in ${out}"
bad=0
while IFS= read -r -d '' page; do
    if perl -0777 -ne '
        s{<pre\b.*?</pre>}{}gs;
        s{<code\b.*?</code>}{}gs;
        s{<script\b.*?</script>}{}gs;
        exit((/\$\$/ || /class="katex-error"/ || /<del>/) ? 0 : 1);
    ' "${page}"; then
        echo "check-book: unrendered or broken math (\$\$, katex-error or <del>) in ${page#"${root}"/}" >&2
        bad=1
    fi
done < <(find "${out}" -name '*.html' -print0)
[ "${bad}" -eq 0 ] || fail "some pages contain unrendered math"

# 3. Every internal link points to an existing page and, if it has a
#    fragment, to an existing id on that page.
echo "check-book: checking internal links"
if ! perl -e '
    use strict; use warnings;
    use File::Basename qw(dirname);
    my ($out) = @ARGV;
    my (%ids, @pages);
    for my $page (glob("$out/*.html $out/*/*.html")) {
        open(my $fh, "<", $page) or die "$page: $!";
        local $/; my $html = <$fh>; close $fh;
        $ids{$page}{$1} = 1 while $html =~ /\bid="([^"]+)"/g;
        push @pages, [$page, $html];
    }
    my $bad = 0;
    for my $p (@pages) {
        my ($page, $html) = @$p;
        next if $page =~ m{/(print|toc|404)\.html$};
        while ($html =~ /\bhref="([^"]*)"/g) {
            my $href = $1;
            next if $href =~ m{^(?:[a-z]+:|//)}i;
            my ($file, $frag) = $href =~ /^([^#]*)(?:#(.*))?$/;
            next unless $file =~ /\.html$/ || ($file eq "" && defined $frag);
            my $target = $file eq "" ? $page : dirname($page) . "/" . $file;
            1 while $target =~ s{/[^/]+/\.\./}{/};
            if (!exists $ids{$target}) {
                print STDERR "check-book: broken link $href in $page\n"; $bad = 1; next;
            }
            if (defined $frag && $frag ne "" && !$ids{$target}{$frag}) {
                print STDERR "check-book: missing anchor $href in $page\n"; $bad = 1;
            }
        }
    }
    exit $bad;
' "${out}"; then
    fail "broken internal links"
fi

[ "${run_tests}" -eq 1 ] || { echo "check-book: OK (build only)"; exit 0; }

# 4. `mdbook test` against our crate. mdbook passes only -L and --edition to
#    rustdoc, and `-L target/debug/deps` breaks as soon as that folder holds
#    two builds of one crate (E0464). So: build the library, collect exactly
#    the .rlib files (and proc-macro .so files) cargo reports for this build,
#    and hand mdbook a folder that contains nothing else.
deps="${root}/target/mdbook-test-deps"
cargo_json="${logs}/cargo-build.json"
echo "check-book: cargo build --release --lib (reuses the release build of the tests)"
cargo build --release --lib --message-format=json >"${cargo_json}" \
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
