//! The repository's own model for `assess`: the cache `calibrate` wrote,
//! brought up to the change's base, or the reason the policy scores instead.

use serde::Serialize;

use crate::backtest::cache::RiskCache;
use crate::git::{ChangeSource, GitError};
use crate::policy::Policy;
use crate::risk::fitted::{FittedModel, HowWell};
use crate::risk::history::HistoryIndex;

/// Which model scored the change and how far to trust it here.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ModelSection {
    /// `repository`: this repository's model from `deploy-agent calibrate`,
    /// over its whole history; `policy`: the policy's weights over the
    /// bounded history window.
    pub source: String,
    /// How well the repository's model ranked this repository's own history
    /// (out of sample); null when it was never measured here.
    pub how_well: Option<HowWell>,
    /// The commit the repository's model was fitted at.
    pub fitted_at: Option<String>,
    /// What to do to get (or refresh) the figures.
    pub hint: Option<String>,
}

/// This repository's fitted model and the index for `base`: everything the
/// cache knew plus the commits of `base` it did not (a branch forked before
/// the fitted tip brings its own commits; what main gained since is known now,
/// so it is not the future). A change the cache already holds is history, not
/// a new change: scoring it with an index that knows its reverts would leak,
/// so the policy scores it (`backtest` scores history as of its own time).
/// No cache, another policy, a damaged file: the policy scores, and says why;
/// it never fails the assessment.
pub(super) fn repository_model(
    source: &dyn ChangeSource,
    policy: &Policy,
    sha: &str,
    base: &str,
    warnings: &mut Vec<String>,
) -> Result<(Option<(FittedModel, HistoryIndex)>, ModelSection), GitError> {
    let Some(dir) = source.git_dir() else {
        return Ok((None, policy_section(None)));
    };
    if !policy.calibration.enabled {
        let why = "the policy turns calibration off ([calibration] enabled = false): scored with its weights only";
        return Ok((None, policy_section(Some(why.into()))));
    }
    let cache = RiskCache::in_git_dir(&dir);
    let cached = match cache.load(&policy.hash) {
        Ok(Some(c)) => c,
        Ok(None) => return Ok((None, policy_section(None))),
        Err(e) => {
            warnings.push(e.to_string());
            return Ok((None, policy_section(None)));
        }
    };
    let tip = &cached.model.tip[..cached.model.tip.len().min(12)];
    let fallback = |why: String, warnings: &mut Vec<String>| {
        warnings.push(why.clone());
        Ok((None, policy_section(Some(why))))
    };
    if cached.index.contains(sha) {
        return fallback(
            format!("this commit is part of the history the repository's model was fitted on (at {tip}); scored with the policy's weights — `deploy-agent backtest` scores past commits as of their own time"),
            warnings,
        );
    }
    let Some(newer) = source.commits_since(&cached.model.tip, base)? else {
        return fallback(
            format!("cannot list the commits between the model's tip {tip} and {base}; scored with the policy's weights"),
            warnings,
        );
    };
    let mut index = cached.index;
    for commit in newer.iter().rev() {
        index.add(commit);
    }
    let section = ModelSection {
        source: "repository".into(),
        how_well: Some(cached.model.how_well.clone()),
        fitted_at: Some(cached.model.tip.clone()),
        hint: (newer.len() > 1000).then(|| {
            format!(
                "{} commits since the model was fitted; run `deploy-agent calibrate` to refresh it",
                newer.len()
            )
        }),
    };
    Ok((Some((cached.model, index)), section))
}

pub(super) fn policy_section(hint: Option<String>) -> ModelSection {
    ModelSection {
        source: "policy".into(),
        how_well: None,
        fitted_at: None,
        hint: Some(hint.unwrap_or_else(|| {
            "not measured in this repository: `deploy-agent calibrate` fits a model on its own history and reports how well it ranks it".into()
        })),
    }
}
