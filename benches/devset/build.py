#!/usr/bin/env python3
"""Build a development set of real commits labelled "later reverted".

Usage:  python3 benches/devset/build.py [--per-repo N] [--spot K] [NAME=GITDIR ...]
Writes index.csv (repo,sha,label,date,is_revert,bot), evidence.csv (one row
per positive: which later commit reverted it and by which rule) and summary.md
(stats + the RULES text below) next to this script.  Stdlib only; reads bare mirrors with `git` only.

Choices (the why is in summary.md too):
* History walked: ALL commits reachable from the mirror's HEAD (default
  branch), not first-parent.  Merge-workflow repos (moby, containerd, etcd,
  rails, rust-analyzer) keep the real work on second parents; first-parent
  would leave mostly merges, which we exclude from the rows anyway.
* Rows: non-merge commits only.  Merges are still read, because GitHub merges
  carry the PR title ("Revert ...") and can themselves be the revert target.
* Right-censoring: a row must be >= 90 days older (committer date) than the
  repo's newest commit, so each commit had >= 90 days to be reverted.  Reverts
  are searched in the whole history, including the last 90 days.
"""
import bisect, csv, gzip, os, re, subprocess, sys
from collections import defaultdict
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
MIRROR = "/work/.mirror"
DEFAULT = ["moby/moby", "hashicorp/terraform", "etcd-io/etcd", "containerd/containerd",
           "rust-lang/rust-analyzer", "rails/rails", "python/mypy", "numpy/numpy",
           "babel/babel", "apache/kafka"]
DAY = 86400
CENSOR_DAYS = 90        # minimum age of a row relative to the newest commit
SUBJECT_WINDOW = 180    # Revert "<subject>" only matches commits this recent
MERGE_FANOUT_CAP = 50   # a reverted merge labels its own commits, unless it is a big sync merge
SHA_RE = re.compile(r"This reverts commit ([0-9a-fA-F]{7,40})")
PR_SUFFIX = re.compile(r"(\s*\(#\d+\))+\s*$")   # squash merges append " (#123)"
# Bots: GitHub app accounts end in [bot]; the rest are common bot names seen in mirrors.
BOT_RE = re.compile(r"\[bot\]|dependabot|renovate|github-actions|greenkeeper|"
                    r"snyk-bot|mergify|pre-commit-ci|k8s-ci-robot", re.I)


RULES = """\
## How rows and labels are made

* **History**: every commit reachable from the mirror's HEAD (default branch), in
  `git log --date-order`; not first-parent, because merge-workflow repos (moby,
  containerd, etcd, rails, rust-analyzer) keep the real work on second parents.
  Release branches are not walked.
* **Rows**: non-merge commits only. Merges are read for revert detection (GitHub
  merge commits carry the PR title on their second line) and as revert targets.
* **Right-censoring**: a row's committer date is >= 90 days before the repo's
  newest commit, so each row had >= 90 days in which to be reverted; per repo
  the most recent `--per-repo` such commits are kept, positives and negatives
  alike (no time-matching of negatives). Reverters are searched in the whole
  history, including the last 90 days. A commit reverted more than 90 days later
  near the censoring edge can still be missed (label noise, not leakage).
* **label = 1** when a LATER commit (rule `sha`) says `This reverts commit <sha>`
  with a full or >= 7-char sha that resolves uniquely within the walked history;
  or, only when no such sha resolved, (rule `subject`) its subject or PR title
  is `Revert "<S>"` and S equals the subject (or PR title) of an earlier commit
  within 180 days: the most recent one wins. Trailing ` (#123)` PR suffixes are
  stripped on both sides (GitHub names revert PRs after the PR title, squash
  subjects add the number); `...`-truncated titles are not matched.
* **Reverted merges** (`+merge`): the commits the merge introduced (`M^1..M`,
  non-merge) are labelled too, unless there are more than 50 of them (a sync or
  subtree merge, counted as "skipped").
* **Reverts of reverts**: R1 reverts C, R2 reverts R1. C stays 1 (it was reverted
  once, even if it was relanded), R1 becomes 1, R2 is 0 unless reverted itself.
  The label means "was reverted at least once", not "is absent today".
* **is_revert** = subject starts with `Revert` or message has `This reverts
  commit`. **bot** = author name/email matches `[bot]`, dependabot, renovate,
  github-actions, greenkeeper, snyk-bot, mergify, pre-commit-ci, k8s-ci-robot.
* `evidence.csv` gives, per positive, the first reverting commit and the rule.

## Leakage rules

* Labels use only commits later than the labelled one; nothing else from the
  future enters index.csv (date, is_revert and bot are known at commit time).
* Features must use only the commit itself and its ancestors (the tree at the
  commit, history reachable from its parents). Never use descendants, later
  commits by date, evidence.csv, or whole-repo statistics computed over the
  full mirror (e.g. "author's revert rate" must be computed from earlier commits).
* Evaluate leave-one-repository-out; the per-repo base rates differ a lot, so
  report per-held-out-repo AUC, not only a pooled one.

## Known pitfalls

* **Squash vs merge workflow**: in squash repos (mypy, babel, kafka, terraform)
  one PR = one row; in merge repos a reverted PR labels each of its commits, so
  positives cluster (same PR, same day, same author). Review-fixup commits such
  as "Apply review comments" become positives via the merge fan-out.
* **Reverts inside squash commits**: a squashed PR body can contain `* Revert
  "X"` / `This reverts commit X.`, so a fix commit both is_revert=1 and reverts X.
  When X is a commit of the PR branch itself it is not in the walked history
  (counted as "unresolved") and labels nothing.
* **Cherry-picks / release branches**: reverts made on release branches, or
  pointing to cherry-picked shas not in HEAD's history, are unresolved and give
  no label; a mainline commit whose backport was reverted stays 0.
* **Subject fallback** can pick a same-titled commit that is not the one the
  revert meant (e.g. a rebased PR commit); it is limited to 180 days and to
  reverts with no resolvable sha.
* **False negatives**: manual reverts without the standard message, partial
  reverts ("partially reverts"), and fixes that undo a change are labelled 0.
* **Bots**: dependabot/renovate bumps are frequent and occasionally reverted;
  filter or stratify them; `bot` is only a name heuristic.
"""


def git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True,
                          capture_output=True).stdout.decode("utf-8", "replace")


def norm(subject):
    """Subject used for matching: PR-number suffixes stripped, since GitHub's
    revert button titles the PR after the PR title, not the squashed subject."""
    return PR_SUFFIX.sub("", subject.strip()).strip()


def revert_inner(title):
    """'Revert "X" (#12)' -> 'X' (normalised); None if not a GitHub-style revert.
    A missing closing quote (long titles) is tolerated; '…'-truncated ones never match."""
    if not title.startswith('Revert "'):
        return None
    rest = norm(title[len('Revert "'):])
    if rest.endswith('"'):
        rest = rest[:-1]
    return norm(rest) or None


def read_history(gitdir):
    """All commits reachable from HEAD, newest first in --date-order (which
    never shows a parent before its children, so index order = 'later')."""
    fmt = "%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%ct%x1f%B"
    out = git(gitdir, "log", "HEAD", "--date-order", "-z", "--format=" + fmt)
    commits = []
    for rec in out.split("\0"):
        if not rec.strip():
            continue
        sha, parents, an, ae, at, ct, msg = rec.lstrip("\n").split("\x1f", 6)
        lines = [l.strip() for l in msg.strip().splitlines() if l.strip()]
        subject = lines[0] if lines else ""
        # GitHub merge commits: subject "Merge pull request #N from ...", PR title next line.
        title = lines[1] if len(parents.split()) > 1 and len(lines) > 1 and \
            subject.startswith("Merge pull request") else subject
        commits.append(dict(sha=sha, parents=parents.split(), author=an + " " + ae,
                            at=int(at), ct=int(ct), subject=subject, title=title,
                            refs=SHA_RE.findall(msg),
                            is_revert=bool(SHA_RE.search(msg)) or
                            re.match(r"revert\b", subject, re.I) is not None))
    return commits


def label(gitdir, commits):
    """Returns {target_idx: (reverter_idx, rule)} using only commits LATER than the target."""
    shas = sorted((c["sha"], i) for i, c in enumerate(commits))
    keys = [s for s, _ in shas]
    by_subject = defaultdict(list)        # normalised subject -> [idx], ascending = newest first
    for i, c in enumerate(commits):
        for s in {norm(c["subject"]), norm(c["title"])}:
            by_subject[s].append(i)

    def resolve(prefix):                  # abbreviated sha must be unique in the walked set
        prefix = prefix.lower()
        j = bisect.bisect_left(keys, prefix)
        hits = [shas[k][1] for k in range(j, min(j + 2, len(keys))) if keys[k].startswith(prefix)]
        return hits[0] if len(hits) == 1 else None

    hits, unresolved = {}, 0
    # Oldest reverter first, so each target keeps its FIRST reverter as evidence.
    for r in range(len(commits) - 1, -1, -1):
        c = commits[r]
        targets = []
        for ref in c["refs"]:
            t = resolve(ref)
            if t is not None and t > r:   # t > r: target is older than the reverter
                targets.append((t, "sha"))
            elif t is None:
                unresolved += 1           # e.g. cherry-pick on a release branch we do not walk
        inner = revert_inner(c["title"])
        if not targets and inner:         # subject rule only when no sha resolved
            for t in by_subject.get(inner, []):
                if t > r and c["ct"] - commits[t]["ct"] <= SUBJECT_WINDOW * DAY:
                    targets.append((t, "subject"))   # first hit = most recent earlier commit
                    break
        for t, rule in targets:
            hits.setdefault(t, (r, rule))
    # A reverted merge reverts the commits it introduced (M^1..M), unless it is huge.
    skipped = 0
    idx = {c["sha"]: i for i, c in enumerate(commits)}
    for t, (r, rule) in list(hits.items()):
        if len(commits[t]["parents"]) > 1:
            m = commits[t]["sha"]
            inner = git(gitdir, "rev-list", "--no-merges", m, "^" + m + "^1").split()
            if len(inner) > MERGE_FANOUT_CAP:
                skipped += 1
                continue
            for s in inner:
                if s in idx and idx[s] > r:
                    hits.setdefault(idx[s], (r, rule + "+merge"))
    return hits, unresolved, skipped


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv):
    per_repo, spot, pairs = 12000, 5, []
    it = iter(argv)
    for a in it:
        if a == "--per-repo":
            per_repo = int(next(it))
        elif a == "--spot":
            spot = int(next(it))
        else:
            pairs.append(a.split("=", 1))
    if not pairs:
        pairs = [[r, f"{MIRROR}/{r.replace('/', '+')}/repo"] for r in DEFAULT]
    rows, evidence, stats = [], [], []
    for name, gitdir in pairs:
        commits = read_history(gitdir)
        hits, unresolved, skipped = label(gitdir, commits)
        newest = max(c["ct"] for c in commits)
        # Rows: non-merge, censored, most recent N by committer date.
        elig = [i for i, c in enumerate(commits)
                if len(c["parents"]) <= 1 and c["ct"] <= newest - CENSOR_DAYS * DAY]
        elig.sort(key=lambda i: -commits[i]["ct"])
        elig = elig[:per_repo]
        pos = bots = 0
        shown = 0
        for i in elig:
            c = commits[i]
            lab = int(i in hits)
            bot = int(bool(BOT_RE.search(c["author"])))
            pos += lab
            bots += bot
            rows.append([name, c["sha"], lab, iso(c["at"]), int(c["is_revert"]), bot])
            if lab:
                r, rule = hits[i]
                evidence.append([name, c["sha"], commits[r]["sha"], rule])
                if shown < spot:
                    shown += 1
                    print(f"[{name}] {c['sha'][:10]} {c['subject'][:70]!r}\n"
                          f"    <- {commits[r]['sha'][:10]} ({rule}) {commits[r]['title'][:90]!r}")
        dates = [commits[i]["at"] for i in elig]
        stats.append(dict(repo=name, head=git(gitdir, "rev-parse", "HEAD").strip(),
                          walked=len(commits), n=len(elig), pos=pos, bots=bots,
                          first=iso(min(dates))[:10], last=iso(max(dates))[:10],
                          unresolved=unresolved, skipped=skipped, path=gitdir))
        print(f"{name}: walked={len(commits)} rows={len(elig)} reverted={pos} "
              f"bots={bots} unresolved_refs={unresolved} big_merges_skipped={skipped}",
              file=sys.stderr)
    write_outputs(rows, evidence, stats, per_repo, argv)


def write_outputs(rows, evidence, stats, per_repo, argv):
    header = ["repo", "sha", "label", "date", "is_revert", "bot"]
    path = os.path.join(HERE, "index.csv")
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header] + rows)
    if os.path.getsize(path) > 15 * 2**20:   # too big for git: slim and gzip
        with gzip.open(path + ".gz", "wt", newline="") as f:
            csv.writer(f).writerows([header[:4]] + [r[:4] for r in rows])
        os.remove(path)
    with open(os.path.join(HERE, "evidence.csv"), "w", newline="") as f:
        csv.writer(f).writerows([["repo", "sha", "reverted_by", "rule"]] + evidence)
    cmd = "python3 benches/devset/build.py " + " ".join(argv)
    lines = ["# Dev set: commits later reverted", "",
             f"Rebuilt with: `{cmd.strip()}` (from the repository root, per-repo={per_repo}).", "",
             "| repo | commits | reverted | rate | bots share | author dates | mirror HEAD |",
             "|---|---:|---:|---:|---:|---|---|"]
    for s in stats:
        lines.append(f"| {s['repo']} | {s['n']} | {s['pos']} | {s['pos'] / max(s['n'], 1):.2%} | "
                     f"{s['bots'] / max(s['n'], 1):.2%} | {s['first']} .. {s['last']} | `{s['head']}` |")
    tn, tp = sum(s["n"] for s in stats), sum(s["pos"] for s in stats)
    lines += [f"| **total** | {tn} | {tp} | {tp / max(tn, 1):.2%} | | | |", "",
              "Diagnostics (walked = all commits reachable from HEAD incl. merges; "
              "unresolved = `This reverts commit` refs not found in the walked history; "
              "skipped = reverted merges with > %d own commits, not fanned out):" % MERGE_FANOUT_CAP, ""]
    for s in stats:
        lines.append(f"- {s['repo']}: walked {s['walked']}, unresolved {s['unresolved']}, "
                     f"skipped {s['skipped']}, mirror `{s['path']}`")
    lines += ["", RULES.strip()]
    with open(os.path.join(HERE, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
