#!/bin/bash
# assess latency with a cached repository model (issue 16 target: p95 <= 1 s).
# usage: benches/devset/assess_latency.sh MIRROR [BACK=150]
#   Calibrates at the first-parent commit BACK merges before HEAD, then times
#   `assess` of every non-merge commit after it (release build, --llm off).
set -euo pipefail
repo=$1; back=${2:-150}
bin=${BIN:-target/release/deploy-agent}
tip=$(git -C "$repo" rev-parse "HEAD~$back")
"$bin" calibrate "$tip" --repo "$repo" --format json > /tmp/assess-latency-calibrate.json
times=()
for sha in $(git -C "$repo" rev-list --no-merges "$tip..HEAD"); do
  start=$(date +%s.%N)
  out=$("$bin" assess "$sha" --repo "$repo" --llm off --format json)
  end=$(date +%s.%N)
  source=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"]["source"])')
  times+=("$(echo "$end - $start" | bc) $source")
done
printf '%s\n' "${times[@]}" | python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
t = sorted(float(r[0]) for r in rows)
used = sum(r[1] == "repository" for r in rows)
q = lambda p: t[min(len(t) - 1, int(p * len(t)))]
print(f"assess: {len(t)} commits, repository model used for {used}; p50 {q(0.5):.3f} s, p95 {q(0.95):.3f} s, max {t[-1]:.3f} s")
'
