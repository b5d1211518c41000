//! `assess`: read a change, score it, ask the model if configured, decide.
//!
//! The one place that strings the parts together; each part stays pure or behind
//! its trait. The result, [`Assessment`], is the wire type of `--format json`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::change::Change;
use crate::git::{ChangeSource, GitError, HistoryBounds};
use crate::llm::opinion::{self, ASSESS_PROMPT};
use crate::llm::{prompt_hash, LlmClient};
use crate::policy::{Category, Level, Policy, Strategy};
use crate::risk::calibrate::CalibrationReport;
use crate::risk::features::ChangeStats;
use crate::risk::model::{round, Factor, Floor};
use crate::risk::{self, RiskEvaluation};
use crate::settings::LlmSettings;

mod repository;

pub use repository::ModelSection;
use repository::{policy_section, repository_model};

/// Whether to ask the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LlmMode {
    /// Ask when an endpoint is configured (OPENAI_API_KEY or OPENAI_BASE_URL).
    Auto,
    /// Never call out.
    Off,
}

/// What to assess.
#[derive(Debug, Clone)]
pub struct AssessRequest {
    pub rev: String,
    pub base: Option<String>,
    pub llm: LlmMode,
}

/// The full answer of `assess`, as `--format json` prints it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Assessment {
    /// Final risk score in [0, 1].
    pub risk_score: f64,
    pub level: Level,
    pub requires_approval: bool,
    /// Why approval is required (the policy rules that fired); empty when it is not.
    pub approval_reasons: Vec<String>,
    pub strategy: Strategy,
    /// Score of the transparent model after the policy floor, before the model's opinion.
    pub deterministic_score: f64,
    /// The logistic model's score before the floor.
    pub logistic_score: f64,
    pub floor: Option<Floor>,
    /// Terms of the score by decreasing weight; contributions are in log-odds.
    pub factors: Vec<Factor>,
    pub intercept: f64,
    pub llm: LlmSection,
    /// The assessed commit (full id).
    pub rev: String,
    /// The commit it was compared with; null for a root commit.
    pub base: Option<String>,
    pub commit: CommitSummary,
    pub stats: ChangeStats,
    pub categories: Vec<CategorySummary>,
    pub history: HistorySummary,
    pub calibration: CalibrationReport,
    /// Which model scored the change, and how well it ranks this repository.
    pub model: ModelSection,
    pub policy: PolicyRef,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LlmSection {
    /// `off`, `not_configured`, `used`, or why it failed (`timeout`, `malformed`, `http_error`, `unreachable`).
    pub status: String,
    pub model: Option<String>,
    pub score: Option<f64>,
    pub rationale: Option<String>,
    pub concerns: Vec<String>,
    /// Set when the model's score was limited by the floor or the margin.
    pub clamped: Option<String>,
    pub prompt_hash: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CommitSummary {
    pub author: String,
    pub email: String,
    /// Author time, seconds since the Unix epoch.
    pub time: i64,
    pub subject: String,
    pub parents: usize,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CategorySummary {
    pub category: Category,
    pub files: usize,
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HistorySummary {
    /// Ancestor commits read (bounded by policy).
    pub commits_read: usize,
    /// True when the walk stopped at the bound.
    pub truncated: bool,
    /// Earlier reverted commits that touched these files.
    pub reverted_touching: Vec<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PolicyRef {
    pub name: String,
    pub version: u32,
    pub hash: String,
    /// The scores at which levels start, so a report can say where this one sits.
    pub levels: crate::policy::LevelThresholds,
}

/// Assesses one change. Git errors are the only errors: the model never fails it.
pub async fn assess(
    source: &dyn ChangeSource,
    policy: &Policy,
    llm: &LlmSettings,
    request: &AssessRequest,
) -> Result<Assessment, GitError> {
    assess_change(source, policy, llm, request)
        .await
        .map(|(_, assessment)| assessment)
}

/// Like [`assess`], also returning the change that was read (rollouts need its diff).
pub async fn assess_change(
    source: &dyn ChangeSource,
    policy: &Policy,
    llm: &LlmSettings,
    request: &AssessRequest,
) -> Result<(Change, Assessment), GitError> {
    let change = source.change(&request.rev, request.base.as_deref())?;
    let mut warnings = Vec::new();
    let (fitted, model_section) = match &change.base {
        Some(base) => repository_model(source, policy, &change.commit.sha, base, &mut warnings)?,
        None => (None, policy_section(None)),
    };
    let eval = match fitted {
        Some((model, index)) => risk::evaluate_fitted(&change, &index, &model, policy),
        None => {
            let history = match &change.base {
                Some(base) => source.history(
                    base,
                    change.commit.time,
                    HistoryBounds {
                        max_commits: policy.history.max_commits,
                        max_age_days: policy.history.max_age_days,
                    },
                )?,
                None => Default::default(),
            };
            risk::evaluate(&change, &history, policy)
        }
    };
    finish(
        source,
        change,
        eval,
        model_section,
        warnings,
        policy,
        llm,
        request,
    )
    .await
}

/// The model's opinion, the decision and the report, whichever model scored.
#[allow(clippy::too_many_arguments)]
async fn finish(
    source: &dyn ChangeSource,
    change: Change,
    eval: RiskEvaluation,
    model_section: ModelSection,
    mut warnings: Vec<String>,
    policy: &Policy,
    llm: &LlmSettings,
    request: &AssessRequest,
) -> Result<(Change, Assessment), GitError> {
    let deterministic = eval.score.score;
    let llm_section = match (request.llm, llm.is_configured()) {
        (LlmMode::Off, _) => section("off"),
        (LlmMode::Auto, false) => section("not_configured"),
        (LlmMode::Auto, true) => consult(source, &change, &eval, policy, llm, &mut warnings).await,
    };
    let final_score = llm_section.score.map_or(deterministic, |s| {
        let floor = eval.score.floor.as_ref().map_or(0.0, |f| f.value);
        opinion::merge(deterministic, floor, s, policy.llm.max_below_deterministic).score
    });
    // Level, strategy and approval are policy's: decided on the deterministic
    // score (floors included), which the model's opinion may raise, never lower.
    // The model reads a diff the change's author wrote; it may lower only the
    // displayed score, within its margin.
    let decided_on = final_score.max(deterministic);
    let decision = risk::decide(decided_on, &eval.features, policy);
    if final_score < deterministic {
        let kept = policy.level_for(deterministic);
        warnings.push(format!(
            "the model lowered the score to {final_score:.2}; level ({}), strategy and approval stay those of the deterministic {deterministic:.2} (the model may raise them, never lower them)",
            kept.as_str()
        ));
    }
    if eval.history_truncated {
        warnings.push(format!(
            "history read only up to {} commits (policy [history] max_commits)",
            policy.history.max_commits
        ));
    }
    let assessment = Assessment {
        risk_score: round(final_score, 4),
        level: decision.level,
        requires_approval: decision.requires_approval,
        approval_reasons: decision.approval_reasons,
        strategy: decision.strategy,
        deterministic_score: round(deterministic, 4),
        logistic_score: round(eval.score.model_score, 4),
        floor: eval.score.floor.clone(),
        factors: eval.score.factors.clone(),
        intercept: eval.score.intercept,
        llm: llm_section,
        rev: change.commit.sha.clone(),
        base: change.base.clone(),
        commit: CommitSummary {
            author: change.commit.author_name.clone(),
            email: change.commit.author_email.clone(),
            time: change.commit.time,
            subject: change.commit.subject().to_string(),
            parents: change.commit.parents.len(),
        },
        stats: eval.features.stats.clone(),
        categories: categories(&eval.features.categories),
        history: HistorySummary {
            commits_read: eval.history_commits,
            truncated: eval.history_truncated,
            reverted_touching: eval.features.history.reverted.clone(),
        },
        calibration: eval.calibration.clone(),
        model: model_section,
        policy: PolicyRef {
            name: policy.name.clone(),
            version: policy.version,
            hash: policy.hash.clone(),
            levels: policy.levels,
        },
        warnings,
    };
    Ok((change, assessment))
}

async fn consult(
    source: &dyn ChangeSource,
    change: &Change,
    eval: &RiskEvaluation,
    policy: &Policy,
    settings: &LlmSettings,
    warnings: &mut Vec<String>,
) -> LlmSection {
    let mut out = section("used");
    out.model = Some(settings.model.clone());
    out.prompt_hash = Some(prompt_hash(ASSESS_PROMPT));
    let excerpt = source
        .diff_excerpt(change, settings.excerpt_bytes)
        .unwrap_or_else(|e| format!("[diff unavailable: {e}]"));
    let message = user_message(change, eval, &excerpt);
    let result = match LlmClient::new(settings) {
        Ok(client) => opinion::ask(&client, &message).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(reply) => {
            let det = eval.score.score;
            let floor = eval.score.floor.as_ref().map_or(0.0, |f| f.value);
            let merged = opinion::merge(
                det,
                floor,
                reply.value.score,
                policy.llm.max_below_deterministic,
            );
            if let Some(why) = &merged.clamped {
                warnings.push(why.clone());
            }
            out.score = Some(round(reply.value.score, 4));
            out.rationale = Some(reply.value.rationale);
            out.concerns = reply.value.concerns;
            out.clamped = merged.clamped;
            out.prompt_tokens = Some(reply.prompt_tokens);
            out.completion_tokens = Some(reply.completion_tokens);
        }
        Err(e) => {
            tracing::warn!(error = %e, "model opinion unavailable");
            warnings.push(format!(
                "model opinion unavailable, deterministic result used: {e}"
            ));
            out.status = e.label().to_string();
        }
    }
    out
}

/// The user message: features and score as JSON, then the diff excerpt.
fn user_message(change: &Change, eval: &RiskEvaluation, excerpt: &str) -> String {
    let summary = serde_json::json!({
        "subject": change.commit.subject(),
        "deterministic_score": round(eval.score.score, 4),
        "floor": eval.score.floor,
        "stats": eval.features.stats,
        "categories": eval.features.categories,
        "factors": eval.score.factors,
    });
    format!(
        "Change features (JSON):\n{}\n\nDiff excerpt:\n```diff\n{}\n```",
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
        excerpt
    )
}

impl LlmSection {
    /// The section of an assessment made with `--llm off`.
    pub fn off() -> Self {
        section("off")
    }
}

fn section(status: &str) -> LlmSection {
    LlmSection {
        status: status.to_string(),
        model: None,
        score: None,
        rationale: None,
        concerns: Vec::new(),
        clamped: None,
        prompt_hash: None,
        prompt_tokens: None,
        completion_tokens: None,
    }
}

fn categories(map: &BTreeMap<Category, Vec<String>>) -> Vec<CategorySummary> {
    map.iter()
        .map(|(c, paths)| CategorySummary {
            category: *c,
            files: paths.len(),
            examples: paths.iter().take(3).cloned().collect(),
        })
        .collect()
}
