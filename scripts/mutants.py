#!/usr/bin/env python3
"""Mutation testing of the mathematics with cargo-mutants, and the report in scripts/mutants/.

    scripts/mutants.py files            every mutant of the files named in FILES
    scripts/mutants.py sample [N SEED]  a seeded random sample of N mutants (default 300, seed 16)
                                        across the mathematical modules (MODULES)
    scripts/mutants.py report           scripts/mutants/report.md from the runs' outcomes
    scripts/mutants.py retest NAME_RE   rerun the missed mutants whose name matches NAME_RE
                                        (after a new test), updating their outcome

Each run mutates a scratch git worktree checked out at HEAD (MUTANTS_TREE, default
target/mutants-tree; your own tree is never touched), in place, with the `mutants` profile of
Cargo.toml (the test profile without debug info) and only the test targets that exercise the
module (TESTS below), so that one mutant costs one incremental build and a few seconds of tests.
Raw results land in target/mutants-out/<group>/mutants.out; the committed report is written from
them. Needs `cargo install --locked cargo-mutants` (v27). A run killed in the middle of a build
can leave the tree's incremental state broken (every mutant then "unviable" with a link error):
run `cargo clean -p score-sde --profile mutants` in MUTANTS_TREE before the next run. It is not part of the test command:
the whole run takes about two hours on two cores.
"""
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "mutants-out"
REPORT_DIR = ROOT / "scripts" / "mutants"
EQUIVALENT = REPORT_DIR / "equivalent.md"
# Every outcome so far, `name<TAB>outcome`, committed: runs skip the names it holds, so a run
# cut short resumes where it stopped, on this machine or another (MUTANTS_RERUN=1: test all).
OUTCOMES = REPORT_DIR / "outcomes.tsv"
# The commit the report describes: `files`, `sample` and `report` check it out, so mutant
# names (which carry line numbers) mean the same code in every run. Move it forward, and rerun,
# when the mutated files change; `retest` alone runs at HEAD, where the new tests are.
COMMIT = REPORT_DIR / "commit.txt"

# Every mutant of these files is tested (issue 16), each with the tests that exercise it.
FILES = {
    "src/sampling/corrector.rs": ["samplers", "sampling"],
    "src/loss.rs": ["loss", "training", "fused", "errata"],
    "src/ode/dopri5.rs": ["ode", "likelihood", "samplers", "errata"],
}

# The mathematical modules the random sample is drawn from, and the test targets of each
# (the library's unit tests, `--lib`, always run too).
MODULES = {
    "sde": ["sde", "sde_properties", "mixture", "loss", "errata"],
    "mixture": ["mixture", "sde", "sde_properties", "likelihood", "ode", "sampling"],
    "score": ["sampling", "ode", "likelihood", "samplers"],
    "loss": FILES["src/loss.rs"],
    "sampling": ["samplers", "sampling", "ode", "errata"],
    "ode": FILES["src/ode/dopri5.rs"],
    "likelihood": ["likelihood", "errata"],
    "divergence": ["likelihood", "errata"],
    "ddpm": ["ddpm", "ddpm_fused", "samplers", "errata"],
    "nn": ["nn", "tape", "training", "ddpm"],
    "tape": ["tape", "nn", "training"],
}


def module_of(path):
    """`src/sampling/pc.rs` -> `sampling`, `src/loss.rs` -> `loss`."""
    part = path.split("/")[1]
    return part[:-3] if part.endswith(".rs") else part


_TREE = {}


def tree(commit=None):
    """The scratch worktree, checked out once per command at `commit` (default: HEAD), so
    that every run of one command mutates the same code and the names match it."""
    if "path" in _TREE:
        return _TREE["path"]
    t = Path(os.environ.get("MUTANTS_TREE", ROOT / "target" / "mutants-tree"))
    if commit is None and COMMIT.exists():
        commit = COMMIT.read_text().split()[0]
    if commit is None or commit == "HEAD":
        commit = subprocess.check_output(["git", "-C", ROOT, "rev-parse", "HEAD"],
                                         text=True).strip()
    if not (t / ".git").exists():
        subprocess.check_call(["git", "-C", ROOT, "worktree", "add", "--detach", t, commit])
    else:
        subprocess.check_call(["git", "-C", t, "checkout", "-q", "--detach", commit])
    _TREE["path"], _TREE["commit"] = t, commit
    return t


def run(group, files, names, tests):
    """One cargo-mutants run over `files`, restricted to `names` (None: all of them)."""
    out = OUT / group
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["cargo", "mutants", "--in-place", "--baseline", "skip", "--profile", "mutants",
           "--timeout", "120", "--build-timeout", "900", "-o", str(out)]
    for f in sorted(set(files)):
        cmd += ["-f", f]
    for n in names or []:
        cmd += ["-F", "^" + re.escape(n) + "$"]
    # As cargo arguments (-C), not test arguments: the build then compiles only these targets.
    for a in ["--lib"] + [a for t in tests for a in ("--test", t)]:
        cmd.append("--cargo-arg=" + a)
    print("+", " ".join(cmd[:12]), f"... ({len(names or [])} names)", flush=True)
    subprocess.call(cmd, cwd=tree())


def list_all():
    """Every mutant of the tree at HEAD (names carry line numbers: list where the runs mutate)."""
    js = subprocess.check_output(["cargo", "mutants", "--list", "--json"], cwd=tree(), text=True)
    return json.loads(js)


def recorded():
    """The committed outcomes (empty with MUTANTS_RERUN=1)."""
    if os.environ.get("MUTANTS_RERUN") == "1" or not OUTCOMES.exists():
        return {}
    rows = (line.split("\t") for line in OUTCOMES.read_text().splitlines() if "\t" in line)
    return {name: outcome for name, outcome in rows}


def cmd_files():
    done = recorded()
    all_names = [m["name"] for m in list_all()]
    for f, tests in FILES.items():
        todo = [n for n in all_names if n.split(":")[0] == f and n not in done]
        if todo:
            run("file-" + Path(f).stem, [f], todo, tests)


def draw_sample(n, seed):
    """The seeded sample: sorted names of the mathematical modules' mutants, `random.sample`."""
    names = sorted(m["name"] for m in list_all() if module_of(m["file"]) in MODULES)
    return random.Random(seed).sample(names, n), len(names)


def cmd_sample(n, seed):
    """Draws the sample at HEAD, or resumes the one in sample.txt at the commit it was drawn
    at (its first line), so that its names still name the same mutants."""
    path = REPORT_DIR / "sample.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    if lines and lines[0].startswith("# commit ") and len(lines) - 1 == n:
        tree(lines[0].split()[2])
        sample = lines[1:]
    else:
        tree()
        sample, _ = draw_sample(n, seed)
        path.write_text(f"# commit {_TREE['commit']}\n" + "\n".join(sample) + "\n")
    done = recorded()
    groups = {}
    for name in (n for n in sample if n not in done):
        groups.setdefault(module_of(name.split(":")[0]), []).append(name)
    for module, names in sorted(groups.items()):
        run("sample-" + module, [nm.split(":")[0] for nm in names], names, MODULES[module])


def outcomes():
    """{name: outcome}: the committed ones, then every run folder (a later run of a name
    overrides an earlier one)."""
    res = recorded()
    for f in sorted(OUT.glob("*/mutants.out/outcomes.json"), key=lambda p: p.stat().st_mtime):
        names = f.parent.parent / "names.json"
        rename = json.loads(names.read_text()) if names.exists() else {}
        for o in json.loads(f.read_text())["outcomes"]:
            sc = o["scenario"]
            if not isinstance(sc, dict) or "Mutant" not in sc:
                continue
            name = sc["Mutant"]["name"]
            res[rename.get(name, name)] = o["summary"]
    return res


def equivalents():
    """`- `name`: reason` lines of scripts/mutants/equivalent.md."""
    eq = {}
    if EQUIVALENT.exists():
        for line in EQUIVALENT.read_text().splitlines():
            m = re.match(r"^- `(.+?)`: (.+)$", line)
            if m:
                eq[m.group(1)] = m.group(2)
    return eq


def line_map(commit, path):
    """Old line -> new line of `path` from `commit` to HEAD (`git diff -U0` hunks); lines
    inside a changed hunk map to None."""
    diff = subprocess.check_output(["git", "-C", ROOT, "diff", "-U0", commit, "HEAD", "--", path],
                                   text=True)
    hunks = [tuple(int(x) if x is not None else 1 for x in m.groups()) for m in
             re.finditer(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", diff, re.M)]

    def new_line(old):
        shift = 0
        for (o, oc, n, nc) in hunks:
            # `-o,0`: lines inserted after old line o; otherwise old lines o..o+oc-1 changed.
            end = o + 1 if oc == 0 else o + oc
            if old < end:
                if oc and old >= o:
                    return None
                break
            shift += nc - oc
        return old + shift
    return new_line


def head_name(name, commit, head_names, maps):
    """The name at HEAD of the mutant `name` of `commit` (same file, column and description,
    its line moved by the diff), or None if its line changed."""
    f, line, rest = name.split(":", 2)
    if f not in maps:
        maps[f] = line_map(commit, f)
    new = maps[f](int(line))
    cand = f"{f}:{new}:{rest}" if new is not None else None
    return cand if cand in head_names else None


def cmd_retest(pattern):
    """Reruns the missed mutants matching `pattern` at HEAD. Names carry line numbers of
    commit.txt's commit; each is moved to its line at HEAD, and its outcome is recorded under
    the old name (retest-*/names.json), so the report keeps describing the same mutants."""
    commit = COMMIT.read_text().split()[0]
    tree("HEAD")
    res, rx = outcomes(), re.compile(pattern)
    names = [n for n, s in res.items() if s == "MissedMutant" and rx.search(n)]
    head_names = {m["name"] for m in list_all()}
    maps, by_file, lost = {}, {}, []
    for n in names:
        h = head_name(n, commit, head_names, maps)
        if h is None:
            lost.append(n)
        else:
            by_file.setdefault(n.split(":")[0], {})[h] = n
    for n in lost:
        print("not at HEAD (its line changed):", n)
    for f, ns in by_file.items():
        tests = FILES.get(f) or MODULES[module_of(f)]
        group = "retest-" + f.removeprefix("src/").removesuffix(".rs").replace("/", "-")
        (OUT / group).mkdir(parents=True, exist_ok=True)
        (OUT / group / "names.json").write_text(json.dumps(ns, indent=1))
        run(group, [f], list(ns), tests)


def table(names, res, eq):
    rows, counts = [], {}
    for n in names:
        s = res.get(n, "NotRun")
        key = {"CaughtMutant": "caught", "MissedMutant": "missed", "Unviable": "unviable",
               "Timeout": "timeout"}.get(s, s)
        if key == "missed" and n in eq:
            key = "equivalent"
        m = module_of(n.split(":")[0])
        counts.setdefault(m, {}).setdefault(key, 0)
        counts[m][key] += 1
        if key in ("missed", "equivalent"):
            rows.append((n, key, eq.get(n, "")))
    return counts, rows


def render(title, names, res, eq):
    counts, rows = table(names, res, eq)
    kinds = ["caught", "timeout", "missed", "equivalent", "unviable", "NotRun"]
    out = [f"## {title}", "", "| module | " + " | ".join(kinds) + " | caught of viable |",
           "|---" * (len(kinds) + 2) + "|"]
    tot = {k: 0 for k in kinds}
    for m in sorted(counts):
        c = counts[m]
        for k in kinds:
            tot[k] += c.get(k, 0)
        out.append(f"| {m} | " + " | ".join(str(c.get(k, 0)) for k in kinds) + " | "
                   + pct(c) + " |")
    out.append("| **all** | " + " | ".join(str(tot[k]) for k in kinds) + " | " + pct(tot) + " |")
    out.append("")
    if rows:
        out += ["Survivors (missed, or equivalent with the reason):", ""]
        out += [f"- `{n}`: {k}{(': ' + r) if r else ''}" for n, k, r in rows]
        out.append("")
    return out


def pct(c):
    viable = sum(c.get(k, 0) for k in ("caught", "timeout", "missed", "equivalent"))
    caught = c.get("caught", 0) + c.get("timeout", 0)
    return f"{100 * caught / viable:.1f}%" if viable else "-"


def cmd_report():
    res, eq = outcomes(), equivalents()
    mutants = list_all()
    file_names = [m["name"] for m in mutants if m["file"] in FILES]
    sample_file = REPORT_DIR / "sample.txt"
    sample = sample_file.read_text().split("\n") if sample_file.exists() else []
    sample = [s for s in sample if s and not s.startswith("#")]
    out = ["# Mutation testing report", "",
           "Written by `scripts/mutants.py report` from the cargo-mutants runs of",
           "`scripts/mutants.py files` and `scripts/mutants.py sample 300 16` at commit",
           f"`{_TREE.get('commit', '?')}` (`commit.txt`). A *timeout* counts as",
           "caught (the mutant made a test hang); *equivalent* mutants are those that change no",
           "observable result, each with its reason in `equivalent.md`; *unviable* ones do not",
           "compile. Caught of viable = (caught + timeout) / (caught + timeout + missed + equivalent).",
           "A mutant first missed and then caught by a new test was rerun by `retest` at a later",
           "commit, moved to its line there through the diff; its outcome is kept under the name",
           "it has at `commit.txt`.",
           ""]
    out += render("Every mutant of " + ", ".join(f"`{f}`" for f in FILES), file_names, res, eq)
    out += render(f"A seeded sample of {len(sample)} mutants of the mathematical modules",
                  sample, res, eq)
    (REPORT_DIR / "report.md").write_text("\n".join(out))
    OUTCOMES.write_text("".join(f"{n}\t{o}\n" for n, o in sorted(res.items())))
    print("\n".join(out))


def main():
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    if args[0] == "files":
        cmd_files()
    elif args[0] == "sample":
        n = int(args[1]) if len(args) > 1 else 300
        seed = int(args[2]) if len(args) > 2 else 16
        cmd_sample(n, seed)
    elif args[0] == "report":
        cmd_report()
    elif args[0] == "retest" and len(args) == 2:
        cmd_retest(args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
