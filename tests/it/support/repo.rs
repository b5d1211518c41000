//! Real git repositories in temp dirs, built commit by commit with fixed dates.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A scratch repository. Dropped with its directory.
pub struct Repo {
    dir: TempDir,
    clock: std::cell::Cell<i64>,
}

/// A fixed start so dates, ages and reports are reproducible.
pub const EPOCH: i64 = 1_780_000_000;

impl Repo {
    pub fn new() -> Self {
        let repo = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            clock: std::cell::Cell::new(EPOCH),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Alice"]);
        repo.git(&["config", "user.email", "alice@example.com"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_buf(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Runs git in the repository and returns trimmed stdout; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let t = self.clock.get().to_string();
        let out = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("GIT_AUTHOR_DATE", format!("@{t} +0000"))
            .env("GIT_COMMITTER_DATE", format!("@{t} +0000"))
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes a file (creating directories).
    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) -> &Self {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
        self
    }

    /// Writes `n` numbered lines to a file.
    pub fn lines(&self, path: &str, n: usize, tag: &str) -> &Self {
        let text: String = (0..n).map(|i| format!("{tag} line {i}\n")).collect();
        self.write(path, text)
    }

    /// Commits everything as `author` (name, email) one hour after the last commit.
    pub fn commit_as(&self, message: &str, author: (&str, &str)) -> String {
        self.clock.set(self.clock.get() + 3_600);
        self.git(&["add", "-A"]);
        self.git(&[
            "-c",
            &format!("user.name={}", author.0),
            "-c",
            &format!("user.email={}", author.1),
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        ]);
        self.head()
    }

    pub fn commit(&self, message: &str) -> String {
        self.commit_as(message, ("Alice", "alice@example.com"))
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Reverts `sha` with git's own message (`This reverts commit <sha>.`).
    pub fn revert(&self, sha: &str) -> String {
        self.clock.set(self.clock.get() + 3_600);
        self.git(&["revert", "--no-edit", sha]);
        self.head()
    }

    /// Advances the clock by `days` without committing.
    pub fn wait_days(&self, days: i64) {
        self.clock.set(self.clock.get() + days * 86_400);
    }
}
