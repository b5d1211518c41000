#!/usr/bin/env python3
"""Synthetic git repositories for benches/assess.sh, written with `git fast-import`.

    gen_repo.py wide DIR   scenario (a): a small repo whose HEAD adds 100,000 lines
                           (50 lines to each of 2,000 files in 100 directories)
    gen_repo.py deep DIR   scenario (b): 10,000 commits over ~2 years touching a few
                           thousand files, with fixes and reverts, then a small HEAD

fast-import writes objects straight into a pack without touching a work tree or an
index, which is what keeps a 10,000-commit build in the seconds range. Everything
is drawn from a seeded RNG, so two builds differ only in the clock (commit times
end "now"), and therefore in their shas.

The repository is built in DIR.partial and renamed to DIR at the end, so an
interrupted build is never mistaken for a finished one by the reuse logic.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import time

DAY = 86_400

# Fixed identities: the history features count authors, so keep them stable.
AUTHORS = [
    (name, f"{name.split()[0].lower()}@example.com")
    for name in [
        "Ada Lovelace", "Alan Turing", "Barbara Liskov", "Brian Kernighan",
        "Dennis Ritchie", "Donald Knuth", "Edsger Dijkstra", "Frances Allen",
        "Grace Hopper", "Guido Rossum", "Hedy Lamarr", "John Backus",
        "Ken Thompson", "Leslie Lamport", "Linus Torvalds", "Margaret Hamilton",
        "Niklaus Wirth", "Radia Perlman", "Shafi Goldwasser", "Tony Hoare",
    ]
]


class FastImport:
    """A `git fast-import` process fed one command at a time.

    `--cat-blob-fd` gives a back channel so `sha_of` can ask for the sha of a commit
    that was just written (`get-mark`). That is what lets a revert message name its
    target's full sha inside a single pass.
    """

    def __init__(self, repo):
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            ["git", "-C", repo, "fast-import", "--quiet", "--done",
             f"--cat-blob-fd={write_fd}"],
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
        )
        os.close(write_fd)
        self.replies = os.fdopen(read_fd, "rb")
        self.out = self.proc.stdin
        self.next_mark = 1

    @staticmethod
    def _data(text):
        raw = text.encode()
        return b"data %d\n%s\n" % (len(raw), raw)

    def commit(self, author, when, message, files, parent_mark=None):
        """Writes a commit on refs/heads/main; `files` maps path -> full content."""
        mark = self.next_mark
        self.next_mark += 1
        name, email = author
        ident = f"{name} <{email}> {when} +0000"
        chunks = [
            b"commit refs/heads/main\n",
            b"mark :%d\n" % mark,
            f"author {ident}\ncommitter {ident}\n".encode(),
            self._data(message),
        ]
        if parent_mark is not None:
            chunks.append(b"from :%d\n" % parent_mark)
        for path, content in files.items():
            chunks.append(f"M 100644 inline {path}\n".encode())
            chunks.append(self._data(content))
        chunks.append(b"\n")
        self.out.write(b"".join(chunks))
        return mark

    def sha_of(self, mark):
        self.out.write(b"get-mark :%d\n" % mark)
        self.out.flush()
        return self.replies.readline().decode().strip()

    def finish(self):
        self.out.write(b"done\n")
        self.out.close()
        self.replies.close()
        if self.proc.wait() != 0:
            sys.exit("git fast-import failed")


def init_repo(path):
    subprocess.run(["git", "init", "-q", path], check=True)
    # Independent of the user's init.defaultBranch.
    subprocess.run(["git", "-C", path, "symbolic-ref", "HEAD", "refs/heads/main"],
                   check=True)


def code_line(rng, tag):
    """A plausible line of code; unique enough that diffs are not degenerate."""
    verb = rng.choice(["load", "parse", "store", "retry", "render", "check", "emit"])
    noun = rng.choice(["config", "user", "order", "token", "batch", "event", "query"])
    return f"    let {noun}_{tag} = {verb}_{noun}(ctx, {rng.randrange(10_000)})?;"


# --- scenario (a) -------------------------------------------------------------

def build_wide(repo, rng, files, dirs, added, now):
    """A handful of ordinary commits, then HEAD appending `added` lines to every file.

    The files exist before HEAD, so HEAD is a pure modification: rename detection
    (which assess asks for with -M) has nothing to pair, and both tools do the same
    diff work per file.
    """
    paths = [f"src/mod{f % dirs:03d}/file{f:04d}.rs" for f in range(files)]
    content = {p: [code_line(rng, f"{i}_{j}") for j in range(20)]
               for i, p in enumerate(paths)}
    fi = FastImport(repo)
    t = now - 10 * DAY
    parent = fi.commit(AUTHORS[0], t, "feat: initial import\n",
                       {p: "\n".join(c) + "\n" for p, c in content.items()})
    for n, msg in enumerate(["fix: handle empty batches\n",
                             "chore: tidy logging\n",
                             "refactor: split the order parser\n"]):
        t += 2 * DAY
        touched = rng.sample(paths, 5)
        for p in touched:
            content[p][rng.randrange(20)] = code_line(rng, f"edit{n}")
        parent = fi.commit(AUTHORS[n + 1], t, msg,
                           {p: "\n".join(content[p]) + "\n" for p in touched},
                           parent)
    big = {}
    for i, p in enumerate(paths):
        content[p].extend(code_line(rng, f"new{i}_{j}") for j in range(added))
        big[p] = "\n".join(content[p]) + "\n"
    fi.commit(AUTHORS[5], now, "feat: instrument every module with tracing spans\n",
              big, parent)
    fi.finish()


# --- scenario (b) -------------------------------------------------------------

def deep_paths(rng, count, dirs):
    """`count` paths over `dirs` directories with a realistic mix of kinds.

    The mix matters because assess scores paths (migrations, infra, config, ...).
    """
    kinds = [  # (top-level dir, file extension, relative weight)
        ("services", "go", 30), ("libs", "rs", 25), ("web/src", "ts", 20),
        ("tools", "py", 8), ("docs", "md", 7), ("deploy", "yaml", 5),
        ("db/migrations", "sql", 3), ("config", "toml", 2),
    ]
    names = ["billing", "auth", "search", "orders", "users", "gateway", "ledger",
             "notify", "catalog", "cart", "reports", "sync", "media", "audit"]
    dir_list = []
    for d in range(dirs):
        top, ext, _ = rng.choices(kinds, weights=[k[2] for k in kinds])[0]
        dir_list.append((f"{top}/{names[d % len(names)]}{d // len(names)}", ext))
    return [f"{dir_list[i % dirs][0]}/f{i:04d}.{dir_list[i % dirs][1]}"
            for i in range(count)]


SUBJECTS = {
    "feat": ["add {x} endpoint", "support {x} pagination", "cache {x} lookups"],
    "fix": ["handle empty {x}", "off-by-one in {x} paging", "race in {x} refresh",
            "null {x} on retry"],
    "chore": ["bump {x} deps", "tidy {x} logging"],
    "refactor": ["split {x} module", "simplify {x} errors"],
    "docs": ["document {x} flow"],
    "test": ["cover {x} edge cases"],
}
KIND_WEIGHTS = {"feat": 30, "fix": 20, "chore": 15, "refactor": 15, "docs": 8,
                "test": 12}


def build_deep(repo, rng, commits, files, dirs, reverts, days, now):
    paths = deep_paths(rng, files, dirs)
    # Zipf-like popularity: a few hot files take most edits, as in real repos.
    rng.shuffle(paths)
    cum, total = [], 0.0
    for rank in range(len(paths)):
        total += 1 / (rank + 1) ** 0.8
        cum.append(total)
    content = {}
    # Reverts are spread evenly, so every stretch of history (in particular the
    # last 2,000 commits that assess reads) holds some for calibration to see.
    revert_at = {int((k + 0.5) * commits / reverts) for k in range(reverts)}
    done = []  # (mark, subject, files) of commits a later revert may pick
    fi = FastImport(repo)
    start = now - days * DAY
    parent = None
    t = start
    for i in range(commits):
        # Monotonic but irregular spacing, ending just before HEAD.
        t = max(t + 1, start + int((i + rng.random()) * (days * DAY - 3600) / commits))
        author = rng.choice(AUTHORS)
        if i in revert_at and done:
            # Reverts follow their target within a few dozen commits (days).
            mark, subject, touched = done[-rng.randint(1, min(60, len(done)))]
            message = (f'Revert "{subject}"\n\n'
                       f"This reverts commit {fi.sha_of(mark)}.\n")
            revert = True
        else:
            kind = rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]
            n = rng.choices([1, 2, 3, 4, 5], [40, 25, 15, 10, 10])[0]
            if rng.random() < 0.02:  # the occasional sweeping change
                n = rng.randint(20, 60)
            touched = sorted(set(rng.choices(paths, cum_weights=cum, k=n)))
            area = rng.choice(touched).split("/")[-2]
            subject = f"{kind}: " + rng.choice(SUBJECTS[kind]).format(x=area)
            body = "" if rng.random() < 0.6 else f"\n\nSee ticket #{rng.randint(1000, 9999)}."
            message = subject + body + "\n"
            revert = False
        for p in touched:
            lines = content.setdefault(p, [])
            if not lines or (len(lines) < 80 and rng.random() < 0.6):
                lines.extend(code_line(rng, f"c{i}_{j}") for j in range(rng.randint(1, 8)))
            else:
                for _ in range(rng.randint(1, 3)):
                    lines[rng.randrange(len(lines))] = code_line(rng, f"c{i}")
        parent = fi.commit(author, t, message,
                           {p: "\n".join(content[p]) + "\n" for p in touched},
                           parent)
        if not revert:
            done.append((parent, subject, touched))
    # HEAD: a small change to a few warm (not the hottest) existing files.
    warm = [p for p in paths[5:60] if p in content][:4]
    head_files = {}
    for k, p in enumerate(warm):
        content[p].extend(code_line(rng, f"head{k}_{j}") for j in range(9))
        head_files[p] = "\n".join(content[p]) + "\n"
    fi.commit(AUTHORS[3], now, "feat: add a retry budget to outbound calls\n\n"
              "Caps retries per request so a slow dependency cannot amplify load.\n",
              head_files, parent)
    fi.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", choices=["wide", "deep"])
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=20240601)
    # wide
    ap.add_argument("--wide-files", type=int, default=2000)
    ap.add_argument("--wide-dirs", type=int, default=100)
    ap.add_argument("--wide-lines", type=int, default=50, help="added lines per file")
    # deep
    ap.add_argument("--deep-commits", type=int, default=10_000)
    ap.add_argument("--deep-files", type=int, default=3000)
    ap.add_argument("--deep-dirs", type=int, default=150)
    ap.add_argument("--deep-reverts", type=int, default=40)
    # Under the 730-day window of the default policy, so age never cuts the walk.
    ap.add_argument("--deep-days", type=int, default=700)
    args = ap.parse_args()

    partial = args.dir.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    init_repo(partial)
    rng = random.Random(args.seed)
    now = int(time.time())
    if args.scenario == "wide":
        build_wide(partial, rng, args.wide_files, args.wide_dirs, args.wide_lines, now)
    else:
        build_deep(partial, rng, args.deep_commits, args.deep_files, args.deep_dirs,
                   args.deep_reverts, args.deep_days, now)
    shutil.rmtree(args.dir, ignore_errors=True)
    os.rename(partial, args.dir)


if __name__ == "__main__":
    main()
