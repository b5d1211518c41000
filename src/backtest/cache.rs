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
use crate::risk::features::ALL_FEATURES;
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
        if model.format != FORMAT
            || model.policy_hash != policy_hash
            || model
                .scale
                .names
                .iter()
                .map(String::as_str)
                .ne(ALL_FEATURES.iter().copied())
        {
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
        if stamp.trim() != rows_stamp(policy_hash) {
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
            format!("{}\n", rows_stamp(&model.policy_hash)).as_bytes(),
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

/// What cached rows depend on: the cache format, the policy, and the feature
/// set of this build (a row from a build with fewer features would read the
/// missing ones as zeros). A change to a feature's definition bumps [`FORMAT`].
fn rows_stamp(policy_hash: &str) -> String {
    format!("{FORMAT} {policy_hash} {}", ALL_FEATURES.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::fitted::HowWell;
    use crate::risk::scale::Scale;

    fn model(policy_hash: &str) -> FittedModel {
        FittedModel {
            format: FORMAT,
            kind: "prior".into(),
            policy_hash: policy_hash.into(),
            tip: "abc".into(),
            tip_time: 1,
            scale: Scale::fit(ALL_FEATURES, &[&vec![1.0; ALL_FEATURES.len()]]),
            intercept: -2.0,
            weights: vec![0.1; 4 * ALL_FEATURES.len()],
            centre: vec![0.0; ALL_FEATURES.len()],
            how_well: HowWell {
                auc: 0.6,
                auc_low: 0.5,
                auc_high: 0.7,
                lines_auc: 0.5,
                top10_recall: 0.2,
                commits: 100,
                reverted: 5,
                method: "test".into(),
            },
        }
    }

    #[test]
    fn keyed_by_policy_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RiskCache::in_git_dir(dir.path());
        assert!(cache.load("p1").unwrap().is_none(), "no cache yet");
        cache
            .save(&model("p1"), &HistoryIndex::default(), &[])
            .unwrap();
        let back = cache.load("p1").unwrap().unwrap();
        assert_eq!(back.model, model("p1"));
        assert!(cache.load("p2").unwrap().is_none(), "another policy");
        // Damaged: an error that says what to do, never a half-read model.
        std::fs::write(cache.dir().join("index.json"), "{").unwrap();
        let e = cache.load("p1").unwrap_err().to_string();
        assert!(e.contains("delete that directory"), "{e}");
    }
}
