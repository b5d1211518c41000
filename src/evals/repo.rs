//! Builds a scenario's git history in a scratch directory with the `git` binary,
//! with fixed dates and author so the assessment (ages, history) is reproducible.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::suite::{CommitSpec, FileContent};
use super::EvalError;

/// A fixed start for commit dates: same suite, same assessment.
const EPOCH: i64 = 1_780_000_000;

/// A scratch repository, removed when dropped.
#[derive(Debug)]
pub struct ScratchRepo {
    dir: PathBuf,
}

impl Drop for ScratchRepo {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is not worth failing an eval over.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ScratchRepo {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Creates the repository and commits `commits` in order, one hour apart.
    pub fn build(label: &str, commits: &[CommitSpec]) -> Result<Self, EvalError> {
        let unique = crate::sim::hash_key(
            std::process::id().into(),
            &[
                crate::sim::hash_key(0, &label.bytes().map(u64::from).collect::<Vec<_>>()),
                now_nanos(),
            ],
        );
        let dir = std::env::temp_dir().join(format!("deploy-agent-eval-{unique:016x}"));
        std::fs::create_dir_all(&dir).map_err(|e| EvalError::Scratch {
            what: format!("cannot create {}: {e}", dir.display()),
        })?;
        let repo = Self { dir };
        repo.git(&["init", "-q", "-b", "main"], EPOCH)?;
        repo.git(&["config", "user.name", "Eval"], EPOCH)?;
        repo.git(&["config", "user.email", "eval@example.com"], EPOCH)?;
        repo.git(&["config", "commit.gpgsign", "false"], EPOCH)?;
        for (i, commit) in commits.iter().enumerate() {
            for (path, content) in &commit.files {
                repo.write(path, content)?;
            }
            let at = EPOCH + 3_600 * (i as i64 + 1);
            repo.git(&["add", "-A"], at)?;
            let message = commit
                .message
                .clone()
                .unwrap_or_else(|| format!("commit {}", i + 1));
            repo.git(&["commit", "-q", "--allow-empty", "-m", &message], at)?;
        }
        Ok(repo)
    }

    fn write(&self, path: &str, content: &FileContent) -> Result<(), EvalError> {
        let full = self.dir.join(path);
        let io = |e: std::io::Error| EvalError::Scratch {
            what: format!("cannot write {path}: {e}"),
        };
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let text = match content {
            FileContent::Text(t) => t.clone(),
            FileContent::Lines { lines, tag } => {
                let tag = tag.as_deref().unwrap_or("line");
                (0..*lines).map(|i| format!("{tag} {i}\n")).collect()
            }
        };
        std::fs::write(full, text).map_err(io)
    }

    fn git(&self, args: &[&str], at: i64) -> Result<(), EvalError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_AUTHOR_DATE", format!("@{at} +0000"))
            .env("GIT_COMMITTER_DATE", format!("@{at} +0000"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .map_err(|e| EvalError::Scratch {
                what: format!("cannot run git: {e}"),
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(EvalError::Scratch {
                what: format!(
                    "git {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
