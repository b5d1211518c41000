//! The per-repository risk cache, in the repository's git directory
//! (`.git/deploy-agent/risk/`), written by `calibrate` and read by `assess`:
//!
//! - `model.json`: the fitted model and how well it ranked this history;
//! - `index.json`: the history index at the model's tip, so `assess` reads
//!   only the commits since instead of walking 100,000;
//! - `rows.csv`: every scored commit's features, so the next `calibrate`
//!   computes features only for new commits (a commit's features depend on its
//!   ancestors only, which never change).
//!
//! Everything is keyed by the policy's hash (features and categories depend on
//! it) and by [`FORMAT`]: a cache from another policy or build is ignored and
//! rebuilt, never half-used. Files are written to a temporary name and renamed,
//! so a reader never sees half a file.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::{read_features, write_features, Scored};
use crate::risk::fitted::{FittedModel, FORMAT};
use crate::risk::history::HistoryIndex;

/// Why the cache could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot write the risk cache at {path}: {source}; check that the repository's git directory is writable")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("the risk cache at {path} is damaged ({detail}); delete that directory and run `deploy-agent calibrate` again")]
    Damaged { path: String, detail: String },
}

/// The cache directory of one repository.
#[derive(Debug, Clone)]
pub struct RiskCache {
    dir: PathBuf,
}

/// What `assess` needs: the model and the index at its tip.
#[derive(Debug, Clone)]
pub struct Cached {
    pub model: FittedModel,
    pub index: HistoryIndex,
}

impl RiskCache {
    /// The cache of the repository whose git directory is `git_dir`.
    pub fn in_git_dir(git_dir: &Path) -> Self {
        Self {
            dir: git_dir.join("deploy-agent").join("risk"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The model and index, when a cache for this policy exists. `Ok(None)`
    /// when there is none, or it is for another policy or format.
    pub fn load(&self, policy_hash: &str) -> Result<Option<Cached>, CacheError> {
        let model_path = self.dir.join("model.json");
        let Ok(text) = std::fs::read_to_string(&model_path) else {
            return Ok(None);
        };
        let model: FittedModel = serde_json::from_str(&text).map_err(|e| self.damaged(e))?;
        if model.format != FORMAT || model.policy_hash != policy_hash {
            return Ok(None);
        }
        let file = std::fs::File::open(self.dir.join("index.json")).map_err(|e| self.damaged(e))?;
        let index: HistoryIndex =
            serde_json::from_reader(BufReader::new(file)).map_err(|e| self.damaged(e))?;
        Ok(Some(Cached { model, index }))
    }

    /// Rows of an earlier `calibrate` under this policy (empty when none).
    pub fn rows(&self, policy_hash: &str) -> Vec<Scored> {
        let stamp = std::fs::read_to_string(self.dir.join("rows.policy")).unwrap_or_default();
        if stamp.trim() != format!("{FORMAT} {policy_hash}") {
            return Vec::new();
        }
        std::fs::File::open(self.dir.join("rows.csv"))
            .ok()
            .and_then(|f| read_features(BufReader::new(f)).ok())
            .unwrap_or_default()
    }

    /// Writes rows, index and model (the model last: it is what readers look for).
    pub fn save(
        &self,
        model: &FittedModel,
        index: &HistoryIndex,
        rows: &[Scored],
    ) -> Result<(), CacheError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.write_error(&self.dir, e))?;
        let mut csv = Vec::new();
        write_features(rows, &mut csv).map_err(|e| self.write_error(&self.dir, e))?;
        self.replace("rows.csv", &csv)?;
        self.replace(
            "rows.policy",
            format!("{FORMAT} {}\n", model.policy_hash).as_bytes(),
        )?;
        let index = serde_json::to_vec(index).unwrap_or_default();
        self.replace("index.json", &index)?;
        let model = serde_json::to_vec_pretty(model).unwrap_or_default();
        self.replace("model.json", &model)
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), CacheError> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| self.write_error(&path, e))
    }

    fn write_error(&self, path: &Path, source: std::io::Error) -> CacheError {
        CacheError::Write {
            path: path.display().to_string(),
            source,
        }
    }

    fn damaged(&self, e: impl std::fmt::Display) -> CacheError {
        CacheError::Damaged {
            path: self.dir.display().to_string(),
            detail: e.to_string(),
        }
    }
}
