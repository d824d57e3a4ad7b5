#!/usr/bin/env bash
# Runs `score-sde bench` and the JAX peer (jit + lax.scan, f64 and f32) on workloads A-D, and a
# large single-thread GEMM through NumPy's OpenBLAS, in interleaved rounds, and prints for each
# figure the median of the per-round ratios ours/JAX with their spread (min-max), our GFLOP/s
# and its fraction of OpenBLAS's large-GEMM rate in the same dtype, measured in the same round.
#
# Fair on a shared host: every process of a 1-thread comparison is pinned to the same core
# (CORE1, default 0), every process of a 2-thread one to the same two cores (CORES2, "0-1");
# each workload and dtype runs on both sides back to back, alternating which goes first, so
# that a slow phase of the host hits both. Both sides report cpu_over_wall (CPU seconds per wall
# second): at 1 thread, well below 1 means the core was shared with other work.
#
# Env: ROUNDS (3), CORE1 (0), CORES2 (0-1), THREADS ("1 2"), WORKLOADS (ABCD),
#      PEERS_SRC (the peers folder: ../shared/peers or /work/shared/peers), JAX_MODE (scan),
#      VENV (.venv-bench, apart from the notebooks' .venv: created with jax, optax, numpy when
#      missing), KEEP (a folder to keep the raw lines in).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS="${ROUNDS:-3}"
CORE1="${CORE1:-0}"
CORES2="${CORES2:-0-1}"
THREADS="${THREADS:-1 2}"
WORKLOADS="${WORKLOADS:-ABCD}"
JAX_MODE="${JAX_MODE:-scan}"
VENV="${VENV:-.venv-bench}"
if [ -z "${PEERS_SRC:-}" ]; then
  for d in ../shared/peers /work/shared/peers; do
    [ -f "$d/bench_jax.py" ] && { PEERS_SRC="$d"; break; }
  done
fi
[ -f "${PEERS_SRC:-}/bench_jax.py" ] || { echo "bench-vs-jax: no peers folder (set PEERS_SRC)" >&2; exit 1; }
PY="$(command -v python3.11 || command -v python3)"
if ! "$VENV/bin/python" -c "import jax, optax, numpy" 2>/dev/null; then
  echo "bench-vs-jax: creating $VENV with jax, optax, numpy" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --no-cache-dir -q jax optax numpy
fi
export PYTHONDONTWRITEBYTECODE=1
cargo build --release --bin score-sde >&2
out="${KEEP:-$(mktemp -d)}"
mkdir -p "$out"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT
: >"$out/lines"

# tag <round> <side>: prefixes every result line with round= and side=.
tag() { sed -u "s/^/round=$1 side=$2 /" >>"$out/lines"; }

openblas() {  # <threads> <cpus>
  OPENBLAS_NUM_THREADS="$1" taskset -c "$2" "$VENV/bin/python" - "$1" <<'EOF'
import sys, time, numpy as np
for dt in (np.float32, np.float64):
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(dt)
    a @ a
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); a @ a; ts.append(time.perf_counter() - t0)
    name = "f32" if dt == np.float32 else "f64"
    print(f"workload=GEMM threads={sys.argv[1]} dtype={name} gflops={2 * 2048**3 / sorted(ts)[2] / 1e9:.1f}")
EOF
}

ours() {  # <threads> <cpus> <workload> <dtype>
  taskset -c "$2" ./target/release/score-sde bench --threads "$1" --workloads "$3" --dtypes "$4"
}

jax() {  # <threads> <cpus> <workload> <dtype>; only the lines of <workload> (C also trains A)
  PEER_THREADS="$1" taskset -c "$2" "$VENV/bin/python" "$PEERS_SRC/bench_jax.py" \
    --mode "$JAX_MODE" --dtype "$([ "$4" = f64 ] && echo float64 || echo float32)" \
    --workloads "$3" 2>/dev/null | grep "workload=$3 " || true
}

{
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs) family=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model=$(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "vector_isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512dq|avx512vl)$' | paste -sd, -) ours_isa=${SCORE_SDE_ISA:-detected}"
  echo "jax=$("$VENV/bin/python" -c 'import jax, numpy; print(jax.__version__, "numpy", numpy.__version__)' 2>/dev/null)"
  echo "cores_1thread=$CORE1 cores_2threads=$CORES2 rounds=$ROUNDS jax_mode=$JAX_MODE"
} >"$out/header"

# One pair = our bench and JAX on one workload, dtype and thread count, back to back on the
# same cores; the side that goes first alternates from pair to pair and round to round.
pair=0
for r in $(seq 1 "$ROUNDS"); do
  for t in $THREADS; do
    cpus=$([ "$t" = 1 ] && echo "$CORE1" || echo "$CORES2")
    echo "bench-vs-jax: round $r/$ROUNDS threads $t on cpus $cpus (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    echo "round=$r threads=$t load_before=$(cut -d' ' -f1 /proc/loadavg)" >>"$out/load"
    openblas "$t" "$cpus" | tag "$r" blas
    for w in $(echo "$WORKLOADS" | grep -o .); do
      # C is a 1-thread sampler in f64 on our side: compared at 1 thread, f64 only.
      [ "$w" = C ] && [ "$t" != 1 ] && continue
      for dt in f64 f32; do
        [ "$w" = C ] && [ "$dt" = f32 ] && continue
        pair=$(( pair + 1 ))
        if [ $(( pair % 2 )) = 1 ]; then
          ours "$t" "$cpus" "$w" "$dt" | tag "$r" ours
          jax "$t" "$cpus" "$w" "$dt" | tag "$r" jax
        else
          jax "$t" "$cpus" "$w" "$dt" | tag "$r" jax
          ours "$t" "$cpus" "$w" "$dt" | tag "$r" ours
        fi
      done
    done
  done
done

"$VENV/bin/python" - "$out" <<'PYEOF'
import statistics, sys
out = sys.argv[1]
rows = []
for line in open(f"{out}/lines"):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    if "workload" in kv and "baseline" not in kv:
        rows.append(kv)

def key(kv):
    dt = kv.get("dtype") or ("f32" if kv["peer"].endswith("f32") else "f64")
    return (kv["workload"], int(kv["threads"]), dt, kv.get("width", "64"), kv.get("batch", ""))

def rate(kv):
    return float(kv.get("path_steps_per_s", kv.get("steps_per_s", "nan")))

by = {}   # (side, key) -> {round: kv}
for kv in rows:
    by.setdefault((kv["side"], key(kv)), {})[kv["round"]] = kv

def med(xs):
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else None

def fmt(x):
    if x is None:
        return "-"
    return f"{x / 1e6:.2f} M" if x > 1e5 else f"{x:.0f}"

print(open(f"{out}/header").read().rstrip())
print("load averages (1 min) before each comparison: " +
      ", ".join(l.split("load_before=")[1].strip() for l in open(f"{out}/load")))
print()
print("| workload | threads | dtype | ours steps/s | JAX steps/s | ratio (median of rounds) | spread (min-max) "
      "| ours GFLOP/s | OpenBLAS GFLOP/s | fraction | ours cpu/wall | JAX cpu/wall | ratio per CPU-s (spread) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
order = {"A": 0, "B": 1, "C": 2, "D": 3}
for (side, k) in sorted((s, k) for s, k in by if s == "ours" and k[0] in order):
    w, t, dt, width, batch = k
    o = by[("ours", k)]
    variant = (width, batch) != ("64", "")
    j = {} if variant else by.get(("jax", (w, t, dt, "64", "")), {})
    blas = by.get(("blas", ("GEMM", t, dt, "64", "")), {})
    ratios = [rate(o[r]) / rate(j[r]) for r in o if r in j]
    cpu = lambda kv: float(kv.get("cpu_over_wall", "nan"))
    per_cpu = [rate(o[r]) / cpu(o[r]) / (rate(j[r]) / cpu(j[r])) for r in o
               if r in j and t == 1 and cpu(o[r]) > 0 and cpu(j[r]) > 0]
    fr = [float(o[r]["gflops"]) / float(blas[r]["gflops"]) for r in o if r in blas and "gflops" in o[r]]
    name = w if not variant else f"{w} (width {width}, batch {batch})"
    rr = f"{med(ratios):.2f}x" if ratios else "-"
    sp = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
    gf = med([float(v["gflops"]) for v in o.values() if "gflops" in v])
    bl = med([float(v["gflops"]) for v in blas.values()])
    cw = lambda d: "-" if not d else f"{med([float(v.get('cpu_over_wall', 'nan')) for v in d.values()]):.2f}"
    print(f"| {name} | {t} | {dt} | {fmt(med([rate(v) for v in o.values()]))} | "
          f"{fmt(med([rate(v) for v in j.values()])) if j else '-'} | {rr} | {sp} | "
          f"{'-' if gf is None else f'{gf:.1f}'} | {'-' if bl is None else f'{bl:.1f}'} | "
          f"{f'{med(fr):.0%}' if fr else '-'} | {cw(o)} | {cw(j)} | "
          f"{f'{med(per_cpu):.2f}x ({min(per_cpu):.2f}-{max(per_cpu):.2f})' if per_cpu else '-'} |")
isa = {v.get("isa") for d in (by[k] for k in by if k[0] == "ours") for v in d.values()}
print(f"\nours isa={','.join(sorted(i for i in isa if i))}; ratio = ours/JAX per round (same cores, "
      "back to back), then the median over rounds; fraction = ours GFLOP/s / OpenBLAS 2048^3 "
      "GEMM GFLOP/s, same dtype, threads and cores, per round, median; ratio per CPU-s (1 thread) "
      "= the ratio of steps per CPU-second each side received, which time-sharing of the core "
      "with other work disturbs less (a sibling hyperthread still does).")
PYEOF
