//! The local backend: the `git` binary on PATH, run against one repository.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::parse::{parse_diff_tree, parse_log};
use super::{ChangeSource, GitError, HistoryBounds};
use crate::change::{Change, CommitInfo, History};

/// The `git log` format `parse_log` reads.
const LOG_FORMAT: &str = "--format=%x1e%H%x1f%ae%x1f%at%x1f%B%x1f";

/// A repository on local disk.
#[derive(Debug, Clone)]
pub struct LocalGit {
    root: PathBuf,
}

impl LocalGit {
    /// Opens the repository that contains `path`.
    pub fn open(path: &Path) -> Result<Self, GitError> {
        let probe = Command::new("git")
            .arg("-C")
            .arg(path)
            .args(["rev-parse", "--show-toplevel"])
            .stderr(Stdio::null())
            .output()
            .map_err(GitError::Spawn)?;
        if probe.status.success() {
            let top = String::from_utf8_lossy(&probe.stdout).trim().to_string();
            return Ok(Self { root: top.into() });
        }
        // A bare repository (a mirror) has no work tree, and needs none: every
        // read here is of commits.
        let bare = Command::new("git")
            .arg("-C")
            .arg(path)
            .args(["rev-parse", "--is-bare-repository", "--absolute-git-dir"])
            .stderr(Stdio::null())
            .output()
            .map_err(GitError::Spawn)?;
        let text = String::from_utf8_lossy(&bare.stdout);
        let mut lines = text.lines();
        match (bare.status.success(), lines.next(), lines.next()) {
            (true, Some("true"), Some(dir)) => Ok(Self {
                root: dir.trim().into(),
            }),
            _ => Err(GitError::NotARepository {
                path: path.display().to_string(),
            }),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The git directory (shared by worktrees): where caches live.
    pub fn git_dir(&self) -> Result<PathBuf, GitError> {
        let out = self.run(
            &["rev-parse", "--path-format=absolute", "--git-common-dir"],
            "HEAD",
        )?;
        let dir = PathBuf::from(out.trim());
        Ok(if dir.is_absolute() {
            dir
        } else {
            self.root.join(dir)
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&self.root)
            .args(["-c", "core.quotePath=false", "--no-pager"])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs git and returns stdout; a failure naming a revision becomes `UnknownRevision`.
    fn run(&self, args: &[&str], rev_for_errors: &str) -> Result<String, GitError> {
        let out = self.command(args).output().map_err(GitError::Spawn)?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if is_unknown_revision(&stderr) {
            return Err(GitError::UnknownRevision {
                rev: rev_for_errors.to_string(),
            });
        }
        Err(GitError::Command {
            command: args.first().copied().unwrap_or_default().to_string(),
            stderr,
        })
    }

    fn commit_info(&self, rev: &str) -> Result<CommitInfo, GitError> {
        let spec = format!("{rev}^{{commit}}");
        let out = self.run(
            &[
                "log",
                "-1",
                "--no-walk",
                "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%B",
                &spec,
                "--",
            ],
            rev,
        )?;
        let parse_err = |detail: &str| GitError::Parse {
            command: "log".into(),
            detail: detail.into(),
        };
        let mut parts = out.splitn(6, '\u{1f}');
        let mut next = || parts.next().ok_or_else(|| parse_err("missing field"));
        let sha = next()?.trim().to_string();
        let parents = next()?.split_whitespace().map(str::to_string).collect();
        let author_name = next()?.to_string();
        let author_email = next()?.to_string();
        let time = next()?.trim().parse().map_err(|_| parse_err("bad time"))?;
        let message = next()?.trim_end().to_string();
        Ok(CommitInfo {
            sha,
            parents,
            author_name,
            author_email,
            time,
            message,
        })
    }

    fn merge_base(&self, base: &str, sha: &str) -> Result<String, GitError> {
        let spec = format!("{base}^{{commit}}");
        let resolved = self.run(&["rev-parse", "--verify", "--quiet", &spec], base);
        let resolved = match resolved {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => return Err(GitError::UnknownRevision { rev: base.into() }),
        };
        let mb = self.run(&["merge-base", &resolved, sha], base)?;
        Ok(mb.trim().to_string())
    }

    /// The diff-tree arguments that compare `change` with its base.
    fn diff_args<'a>(change: &'a Change, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["diff-tree", "-r", "-M", "--no-ext-diff"];
        args.extend_from_slice(extra);
        match &change.base {
            Some(base) => args.extend([base.as_str(), change.commit.sha.as_str()]),
            None => args.extend(["--root", change.commit.sha.as_str()]),
        }
        args
    }
}

impl ChangeSource for LocalGit {
    fn change(&self, rev: &str, base: Option<&str>) -> Result<Change, GitError> {
        let commit = self.commit_info(rev)?;
        let base = match base {
            Some(b) => Some(self.merge_base(b, &commit.sha)?),
            None => commit.parents.first().cloned(),
        };
        let mut change = Change {
            commit,
            base,
            files: Vec::new(),
        };
        let args = Self::diff_args(&change, &["-z", "--raw", "--numstat"]);
        let out = self.run(&args, rev)?;
        change.files = parse_diff_tree(&out).map_err(|e| GitError::Parse {
            command: "diff-tree".into(),
            detail: e.to_string(),
        })?;
        Ok(change)
    }

    fn history(&self, tip: &str, before: i64, bounds: HistoryBounds) -> Result<History, GitError> {
        let max = bounds.max_commits.to_string();
        let since = format!(
            "--since={}",
            before - i64::from(bounds.max_age_days) * 86_400
        );
        let out = self.run(
            &[
                "log",
                "-n",
                &max,
                &since,
                "--no-renames",
                LOG_FORMAT,
                "--name-only",
                tip,
                "--",
            ],
            tip,
        )?;
        let commits = parse_log(&out).map_err(|e| GitError::Parse {
            command: "log".into(),
            detail: e.to_string(),
        })?;
        let truncated = commits.len() >= bounds.max_commits;
        Ok(History { commits, truncated })
    }

    /// The commits reachable from `to` but not from `from` (newest first, file
    /// names only): on a branch forked before `from`, the branch's own commits.
    fn commits_since(
        &self,
        from: &str,
        to: &str,
    ) -> Result<Option<Vec<crate::change::HistoryCommit>>, GitError> {
        let range = format!("{from}..{to}");
        let out = self.run(
            &[
                "log",
                "--no-renames",
                LOG_FORMAT,
                "--name-only",
                &range,
                "--",
            ],
            to,
        )?;
        parse_log(&out).map(Some).map_err(|e| GitError::Parse {
            command: "log".into(),
            detail: e.to_string(),
        })
    }

    fn merged_commits(&self, merge: &str, max: usize) -> Vec<String> {
        let range = format!("{merge}^1..{merge}");
        let limit = (max + 1).to_string();
        let Ok(out) = self.run(&["rev-list", "--no-merges", "-n", &limit, &range], merge) else {
            return Vec::new();
        };
        let shas: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        if shas.len() > max {
            return Vec::new();
        }
        shas
    }

    fn git_dir(&self) -> Option<PathBuf> {
        LocalGit::git_dir(self).ok()
    }

    fn diff_excerpt(&self, change: &Change, max_bytes: usize) -> Result<String, GitError> {
        let args = Self::diff_args(change, &["-p", "--no-color"]);
        let mut child = self
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(GitError::Spawn)?;
        let mut buf = Vec::with_capacity(max_bytes.min(1 << 20));
        if let Some(stdout) = child.stdout.take() {
            // Read one byte past the bound to know whether we cut it.
            stdout
                .take(max_bytes as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(GitError::Spawn)?;
        }
        let cut = buf.len() > max_bytes;
        // The rest of a huge diff is not needed; stop git instead of draining it.
        let _ = child.kill();
        let _ = child.wait();
        buf.truncate(max_bytes);
        let mut text = String::from_utf8_lossy(&buf).into_owned();
        if cut {
            text.push_str("\n[... diff cut at the excerpt limit ...]\n");
        }
        Ok(text)
    }
}

fn is_unknown_revision(stderr: &str) -> bool {
    [
        "unknown revision",
        "bad revision",
        "ambiguous argument",
        "Not a valid",
        "bad object",
    ]
    .iter()
    .any(|needle| stderr.contains(needle))
}
