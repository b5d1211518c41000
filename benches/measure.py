#!/usr/bin/env python3
"""Times `deploy-agent assess` against `git show --numstat` and prints Markdown tables.

    measure.py --bin BIN --wide REPO --deep REPO [--runs N] [--warmup W]

Called by benches/assess.sh, which builds the binary and the repositories.

Commands of one scenario are run interleaved (A B C ..., A B C ..., ...) rather
than one after the other, so that background load (another build, a noisy
neighbour) lands on all of them alike and the ratio stays meaningful.
"""

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

# Mirrors policies/default.toml [history]; assess bounds its history walk by these.
MAX_COMMITS = 2000
MAX_AGE_DAYS = 730

# Format strings assess passes to git (src/git/local.rs), so the breakdown below
# makes git do the same work and print the same amount.
INFO_FORMAT = "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%B"
WALK_FORMAT = "--format=%x1e%H%x1f%ae%x1f%at%x1f%B%x1f"


def clean_env():
    """The caller's environment minus what could change what assess does or logs."""
    drop = ("DEPLOY_AGENT_", "OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("RUST_LOG", None)
    return env


def git_out(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True,
                          capture_output=True, text=True).stdout


def time_interleaved(commands, runs, warmup, cwd, env, piped=()):
    """Wall-clock ms per command over `runs` rounds, after `warmup` unrecorded rounds.

    Output goes to /dev/null, except for commands in `piped`, whose output is read
    through a pipe the way assess reads git's: for the history walk (~0.4 MB in
    many small writes) that costs git ~10 ms more than writing to /dev/null.
    """
    samples = {name: [] for name in commands}
    for round_no in range(warmup + runs):
        for name, argv in commands.items():
            out = subprocess.PIPE if name in piped else subprocess.DEVNULL
            start = time.perf_counter()
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.PIPE, cwd=cwd, env=env)
            elapsed = (time.perf_counter() - start) * 1000
            if proc.returncode != 0:
                sys.exit(f"error: `{' '.join(argv)}` exited {proc.returncode}:\n"
                         f"{proc.stderr.decode(errors='replace')}")
            if round_no >= warmup:
                samples[name].append(elapsed)
    return samples


def median(xs):
    return statistics.median(xs)


def p90(xs):
    """Nearest-rank 90th percentile: with 15 runs, the 14th fastest."""
    ordered = sorted(xs)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def fmt(xs):
    return f"{median(xs):.1f} / {p90(xs):.1f}"


def scenario_commands(binary, repo):
    """The two headline commands, then each git call assess makes, in its order."""
    head_time = int(git_out(repo, "log", "-1", "--format=%at", "HEAD").strip())
    since = f"--since={head_time - MAX_AGE_DAYS * 86_400}"
    git = ["git", "-C", repo, "-c", "core.quotePath=false", "--no-pager"]
    return {
        "git show": ["git", "-C", repo, "show", "--numstat", "--format=", "HEAD"],
        "assess": [binary, "assess", "HEAD", "--repo", repo, "--llm", "off",
                   "--format", "json"],
    }, {
        "rev-parse --show-toplevel": ["git", "-C", repo, "rev-parse", "--show-toplevel"],
        "log -1 (commit info)": git + ["log", "-1", "--no-walk", INFO_FORMAT,
                                       "HEAD^{commit}", "--"],
        "diff-tree -M --raw --numstat": git + ["diff-tree", "-r", "-M", "--no-ext-diff",
                                               "-z", "--raw", "--numstat",
                                               "HEAD~1", "HEAD"],
        f"log -n {MAX_COMMITS} --name-only (history walk)":
            git + ["log", "-n", str(MAX_COMMITS), since, "--no-renames", WALK_FORMAT,
                   "--name-only", "HEAD~1", "--"],
    }


def describe(repo):
    """The scenario as measured from the repository, not as the generator intended."""
    added = deleted = files = 0
    for line in git_out(repo, "show", "--numstat", "--format=", "HEAD").splitlines():
        a, d, _ = line.split("\t", 2)
        files += 1
        added += int(a) if a != "-" else 0
        deleted += int(d) if d != "-" else 0
    commits = int(git_out(repo, "rev-list", "--count", "HEAD").strip())
    return f"{files:,} files, +{added:,}/-{deleted:,} lines; {commits:,} commits"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--wide", required=True, help="repository of scenario (a)")
    ap.add_argument("--deep", required=True, help="repository of scenario (b)")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--cwd", default=None,
                    help="where to run (a directory without deploy-agent.toml)")
    args = ap.parse_args()
    if args.runs < 1 or args.warmup < 0:
        sys.exit("error: need --runs >= 1 and --warmup >= 0")
    env = clean_env()

    rows, breakdown = [], []
    for label, repo in (("(a)", args.wide), ("(b)", args.deep)):
        headline, steps = scenario_commands(args.bin, repo)
        print(f"measuring {label} {repo}: {args.warmup} warm-up + {args.runs} runs ...",
              file=sys.stderr)
        s = time_interleaved({**headline, **steps}, args.runs, args.warmup,
                             args.cwd, env, piped=steps)
        git_ms, assess_ms = median(s["git show"]), median(s["assess"])
        ratio = assess_ms / git_ms
        if label == "(a)":
            target, met = "assess ≤ 2× git show", ratio <= 2.0
        else:
            target, met = "assess ≤ 300 ms", assess_ms <= 300.0
        rows.append(f"| {label} {describe(repo)} | {fmt(s['git show'])} | "
                    f"{fmt(s['assess'])} | {ratio:.2f}× | {target} | "
                    f"{'yes' if met else 'NO'} |")
        for step in steps:
            breakdown.append(f"| {label} | `git {step}` | {fmt(s[step])} |")
        spent = sum(median(s[step]) for step in steps)
        breakdown.append(f"| {label} | sum of the git calls (medians) | {spent:.1f} |")
        breakdown.append(f"| {label} | assess total (median) | {assess_ms:.1f} |")
        breakdown.append(f"| {label} | remainder: process start, parsing, scoring, "
                         f"calibration | {assess_ms - spent:.1f} |")

    print(f"\n### Figures ({args.runs} runs after {args.warmup} warm-up; "
          "met? judged on the median)\n")
    print("| scenario | git show --numstat (median / p90 ms) | "
          "deploy-agent assess (median / p90 ms) | ratio | target | met? |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n### Where assess spends its time (each git call it makes, run alone, "
          "output read through a pipe as assess does)\n")
    print("| scenario | step | median / p90 ms |")
    print("|---|---|---|")
    print("\n".join(breakdown))


if __name__ == "__main__":
    main()
