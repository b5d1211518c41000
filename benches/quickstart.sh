#!/usr/bin/env bash
# Measures what a new user waits for: from `git clone` to the first promoted
# canary of the HAProxy quickstart (examples/haproxy/run.sh), cold: a fresh
# clone and an empty target directory every run.
#
#   bash benches/quickstart.sh
#
# Environment:
#   BENCH_RUNS=3        cold runs (each one builds from nothing: ~3 minutes here)
#   BENCH_DIR=/tmp/deploy-agent-quickstart   where the clones go (removed per run)
#   TARGET_S=300        the target: first promoted canary within 5 minutes of the clone
#
# Needs what the quickstart needs (haproxy, prometheus, cargo) and free ports
# 8080, 9999, 8404, 9090, 9101, 9102. The crates registry is whatever cargo
# already has (an empty CARGO_HOME adds the download: 4 s here).
# Prints one line per run and the mean with a t-interval; exits 1 when the
# interval's upper end misses the target, 2 when a run fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=${BENCH_DIR:-/tmp/deploy-agent-quickstart}
runs=${BENCH_RUNS:-3}
target=${TARGET_S:-300}

now() { date +%s.%N; }
firsts=()
printf '%-4s %8s %8s %14s %8s\n' run clone_s build_s first_canary_s total_s
for i in $(seq 1 "$runs"); do
  rm -rf "$bench_dir" && mkdir -p "$bench_dir"
  t0=$(now)
  git clone --quiet "$root" "$bench_dir/clone"
  t1=$(now)
  # The script's own build step, timed apart so the table shows where time goes.
  (cd "$bench_dir/clone" && env -u CARGO_TARGET_DIR cargo build --quiet --profile quickstart \
    --bin deploy-agent --example testsvc)
  t2=$(now)
  first=""
  while IFS= read -r line; do
    if [ -z "$first" ] && [[ "$line" == promoted,* ]]; then first=$(now); fi
  done < <(cd "$bench_dir/clone" && env -u CARGO_TARGET_DIR bash examples/haproxy/run.sh 2>&1)
  t3=$(now)
  [ -n "$first" ] || { echo "run $i: the quickstart promoted no canary (see $bench_dir/clone/examples/haproxy/.run)" >&2; exit 2; }
  row=$(python3 -c "print(f'{$t1-$t0:8.1f} {$t2-$t1:8.1f} {$first-$t0:14.1f} {$t3-$t0:8.1f}')")
  printf '%-4s %s\n' "$i" "$row"
  firsts+=("$(python3 -c "print($first-$t0)")")
done
python3 - "$target" "${firsts[@]}" <<'EOF'
import statistics, sys
target = float(sys.argv[1]); xs = [float(x) for x in sys.argv[2:]]
mean = statistics.mean(xs)
# Student t 95 % two-sided quantiles for n-1 degrees of freedom (n <= 10).
t = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
if len(xs) > 1:
    half = t.get(len(xs) - 1, 2.0) * statistics.stdev(xs) / len(xs) ** 0.5
    lo, hi = mean - half, mean + half
else:
    lo = hi = mean
print(f"first promoted canary after the clone: mean {mean:.0f} s, 95% interval [{lo:.0f}, {hi:.0f}] s over {len(xs)} run(s); target <= {target:.0f} s: {'met' if hi <= target else 'NOT met'}")
sys.exit(0 if hi <= target else 1)
EOF
