#!/usr/bin/env bash
# Runs `score-sde bench` and the JAX peer (jit + lax.scan, f64 and f32, 1 and 2 threads) back
# to back, ROUNDS times (default 3), and prints the median of each figure and the ratio ours/JAX.
#
# The machine may be shared: both sides also report cpu_over_wall (CPU seconds the process got
# per wall second). For one thread, `per CPU-s` = steps_per_s / cpu_over_wall is the rate per
# second of CPU actually received, which other work on the machine disturbs much less.
#
# Env: ROUNDS (3), PEERS_SRC (the peers folder: ../shared/peers or /work/shared/peers),
#      JAX_MODE (scan), VENV (.venv-bench, kept apart from the notebooks' .venv: created with jax, optax, numpy when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS="${ROUNDS:-3}"
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
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  echo "bench-vs-jax: round $r/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  taskset -c 0-1 ./target/release/score-sde bench >>"$out/ours"
  for t in 1 2; do
    cpus=$([ "$t" = 1 ] && echo 0 || echo 0-1)
    for dt in float64 float32; do
      PEER_THREADS=$t taskset -c "$cpus" "$VENV/bin/python" "$PEERS_SRC/bench_jax.py" \
        --mode "$JAX_MODE" --dtype "$dt" >>"$out/jax" 2>/dev/null
    done
  done
done
"$VENV/bin/python" - "$out/ours" "$out/jax" "$ROUNDS" <<'PYEOF'
import statistics, sys
ours_f, jax_f, rounds = sys.argv[1], sys.argv[2], sys.argv[3]

def parse(path):
    rows = []
    for line in open(path):
        kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
        if "workload" in kv:
            rows.append(kv)
    return rows

def key(kv):
    dt = kv.get("dtype") or kv["peer"].rsplit("-", 1)[1]
    return (kv["workload"], int(kv["threads"]), dt, kv.get("width", "64"), kv.get("batch", "1024"))

def collect(rows, field):
    d = {}
    for kv in rows:
        if "baseline" in kv:
            continue
        v = float(kv.get("path_steps_per_s", kv["steps_per_s"])) if field == "rate" else float(kv.get("cpu_over_wall", "nan"))
        d.setdefault(key(kv), []).append(v)
    return {k: statistics.median(v) for k, v in d.items()}

ours, jax = parse(ours_f), parse(jax_f)
o_rate, o_cpu = collect(ours, "rate"), collect(ours, "cpu")
j_rate, j_cpu = collect(jax, "rate"), collect(jax, "cpu")
print(f"medians of {rounds} rounds; C in path-steps/s; per CPU-s = rate / cpu_over_wall (1 thread)")
print("| workload | threads | dtype | ours steps/s | JAX steps/s | ratio | ours per CPU-s | JAX per CPU-s | ratio per CPU-s |")
print("|---|---|---|---|---|---|---|---|---|")
for k in sorted(o_rate):
    w, t, dt, width, batch = k
    name = w if (width, batch) == ("64", "1024") else f"{w} (width {width}, batch {batch})"
    o = o_rate[k]
    jk = (w, t, dt, "64", "1024")
    j = j_rate.get(jk) if (width, batch) == ("64", "1024") else None
    oc = o / o_cpu[k] if t == 1 and o_cpu[k] > 0 else None
    jc = j / j_cpu[jk] if j and t == 1 and j_cpu.get(jk, 0) > 0 else None
    f = lambda x: "-" if x is None else (f"{x/1e6:.2f} M" if x > 1e5 else f"{x:.0f}")
    r = lambda a, b: "-" if a is None or b is None else f"{a/b:.2f}x"
    print(f"| {name} | {t} | {dt} | {f(o)} | {f(j)} | {r(o, j)} | {f(oc)} | {f(jc)} | {r(oc, jc)} |")
base = [float(kv["steps_per_s"]) for kv in ours if "baseline" in kv]
if base:
    print(f"tape baseline, A, 1 thread, f64: {statistics.median(base):.0f} steps/s")
PYEOF
