#!/usr/bin/env bash
# Benchmarks `deploy-agent assess` against `git show --numstat` on the same commit.
#
#   benches/assess.sh
#
# Environment:
#   BENCH_RUNS=15      measured runs per command (after 2 warm-up runs)
#   BENCH_DIR=/tmp/deploy-agent-bench   where repositories and the binary go
#   BENCH_REBUILD=1    rebuild the synthetic repositories even if present
#
# Needs only bash, git (>= 2.32), python3 (>= 3.8) and cargo.
# Exits non-zero on errors only; a missed target shows as "NO" in the table.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=${BENCH_DIR:-/tmp/deploy-agent-bench}
runs=${BENCH_RUNS:-15}
warmup=2

# Measure the tool, not the caller's git configuration (pager, diff.renames, hooks,
# init.defaultBranch...): both sides run with git's built-in defaults.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

mkdir -p "$bench_dir"

# --- binary ------------------------------------------------------------------
# src/ may be mid-edit by someone else, so a failed build is retried, not fatal
# at once.
echo "building deploy-agent (cargo build --release) ..." >&2
attempt=1
until (cd "$root" && cargo build --release --quiet); do
    if (( attempt >= 10 )); then
        echo "error: cargo build --release failed 10 times" >&2
        exit 1
    fi
    echo "cargo build --release failed (attempt $attempt/10); retrying in 60 s" >&2
    sleep 60
    attempt=$((attempt + 1))
done
# A private copy, so a concurrent rebuild of target/ cannot swap the binary
# between runs.
bin=$bench_dir/deploy-agent
cp "$root/target/release/deploy-agent" "$bin"

# --- repositories --------------------------------------------------------------
build_rows=()
for scenario in wide deep; do
    repo=$bench_dir/$scenario
    if [[ -d $repo && ${BENCH_REBUILD:-0} != 1 ]]; then
        took=$(cat "$repo.build-seconds" 2>/dev/null || echo "?")
        build_rows+=("| $scenario | reused (took $took s when built; BENCH_REBUILD=1 to redo) |")
        continue
    fi
    echo "building the $scenario repository in $repo ..." >&2
    start=$(date +%s%N)
    python3 "$root/benches/gen_repo.py" "$scenario" "$repo"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf -v seconds '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
    echo "$seconds" > "$repo.build-seconds"
    build_rows+=("| $scenario | built in $seconds s |")
done

# --- report --------------------------------------------------------------------
dirty=$(git -C "$root" status --porcelain -- src Cargo.toml Cargo.lock)
echo
echo "## deploy-agent assess benchmark"
echo
echo "binary: $(git -C "$root" rev-parse --short HEAD)${dirty:+ + uncommitted src changes}" \
     "($("$bin" --version)); $(git --version); $(nproc) CPUs; $(uname -sr)"
echo
echo "| repository | build |"
echo "|---|---|"
printf '%s\n' "${build_rows[@]}"

# Run from the bench directory: assess reads ./deploy-agent.toml when present,
# and the project's own config must not leak into the figures.
cd "$bench_dir"
python3 "$root/benches/measure.py" --bin "$bin" --wide "$bench_dir/wide" \
    --deep "$bench_dir/deep" --runs "$runs" --warmup "$warmup" --cwd "$bench_dir"
