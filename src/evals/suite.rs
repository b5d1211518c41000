//! Eval suites as TOML: scenarios (a change, a world, an approver, what should
//! happen) and the thresholds the whole suite must meet. Loading validates every
//! field up front so a typo fails with the file and field named, not mid-run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::EvalError;
use crate::rollout::state::Outcome;
use crate::sim::Scenario;

/// A suite file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    #[serde(default)]
    pub name: Option<String>,
    /// Episodes per seed (overridden by `--repeat`).
    #[serde(default)]
    pub repeat: Option<u32>,
    /// Policy for every scenario without its own (relative to the suite file).
    #[serde(default)]
    pub policy: Option<PathBuf>,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub scenario: Vec<ScenarioSpec>,
}

/// What the whole suite must achieve. Every field is optional; unsafe actions
/// default to a maximum of 0 because a safety eval that tolerates them is useless.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub min_outcome_accuracy: Option<f64>,
    pub min_approval_precision: Option<f64>,
    pub min_approval_recall: Option<f64>,
    #[serde(default)]
    pub max_unsafe_actions: u64,
    pub max_false_rollbacks: Option<u64>,
    /// Episodes whose canary served more bad requests than the scenario allows.
    pub max_bad_request_breaches: Option<u64>,
    /// Maxima per prompt-injection vector (`[thresholds.injection]`); every
    /// figure defaults to 0 once the table is there.
    #[serde(default)]
    pub injection: Option<super::injection::InjectionThresholds>,
}

/// How the simulated human answers an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApproverKind {
    Approve,
    Reject,
    /// Never answers: a rejection once the policy's approval timeout has passed.
    Silent,
}

/// An expected outcome, or `any` (chaos suites judge safety, not outcomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Promoted,
    RolledBack,
    Aborted,
    Any,
}

impl Expect {
    pub fn matches(self, outcome: Outcome) -> Option<bool> {
        match self {
            Expect::Any => None,
            Expect::Promoted => Some(outcome == Outcome::Promoted),
            Expect::RolledBack => Some(outcome == Outcome::RolledBack),
            Expect::Aborted => Some(outcome == Outcome::Aborted),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Promoted => "promoted",
            Expect::RolledBack => "rolled_back",
            Expect::Aborted => "aborted",
            Expect::Any => "any",
        }
    }
}

/// A file's content in a commit: literal text, or `{ lines = N }` generated lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileContent {
    Text(String),
    Lines {
        lines: usize,
        #[serde(default)]
        tag: Option<String>,
    },
}

/// One commit of the scenario's history; the last one is the change rolled out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSpec {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub files: BTreeMap<String, FileContent>,
}

/// One scenario: a change, a world, an approver and the expectations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub name: String,
    pub commits: Vec<CommitSpec>,
    pub sim: Scenario,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub repeat: Option<u32>,
    #[serde(default = "default_approver")]
    pub approver: ApproverKind,
    #[serde(default = "default_expect")]
    pub expect: Expect,
    #[serde(default)]
    pub expect_approval_asked: Option<bool>,
    #[serde(default)]
    pub max_bad_requests: Option<u64>,
    /// A policy file relative to the suite (e.g. the freeze policy).
    #[serde(default)]
    pub policy: Option<PathBuf>,
    /// A router that misbehaves (`[scenario.target]`); unset: one that obeys.
    #[serde(default)]
    pub target: Option<crate::sim::faults::Faults>,
    /// Text aimed at the model (`[scenario.injection]`), scored against a
    /// control change without it.
    #[serde(default)]
    pub injection: Option<super::injection::InjectionSpec>,
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}
fn default_approver() -> ApproverKind {
    ApproverKind::Approve
}
fn default_expect() -> Expect {
    Expect::Any
}

/// A loaded, validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub path: PathBuf,
    pub name: String,
    pub file: SuiteFile,
}

impl Suite {
    /// Reads and validates `path`. Errors name the file and the field.
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::ReadSuite {
            path: path.to_path_buf(),
            source,
        })?;
        let file: SuiteFile = toml::from_str(&text).map_err(|source| EvalError::ParseSuite {
            path: path.to_path_buf(),
            source,
        })?;
        let name = file.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "suite".into(), |s| s.to_string_lossy().into_owned())
        });
        let suite = Self {
            path: path.to_path_buf(),
            name,
            file,
        };
        suite.validate()?;
        Ok(suite)
    }

    /// The directory relative paths in the suite are resolved against.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    fn validate(&self) -> Result<(), EvalError> {
        let bad = |field: String, why: &str| EvalError::InvalidSuite {
            path: self.path.clone(),
            field,
            problem: why.into(),
        };
        let t = &self.file.thresholds;
        for (field, v) in [
            ("min_outcome_accuracy", t.min_outcome_accuracy),
            ("min_approval_precision", t.min_approval_precision),
            ("min_approval_recall", t.min_approval_recall),
        ] {
            if let Some(v) = v {
                if !(0.0..=1.0).contains(&v) {
                    return Err(bad(format!("thresholds.{field}"), "must be in [0, 1]"));
                }
            }
        }
        if self.file.scenario.is_empty() {
            return Err(bad("scenario".into(), "the suite has no [[scenario]]"));
        }
        if self.file.repeat == Some(0) {
            return Err(bad("repeat".into(), "must be at least 1"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.file.scenario.iter().enumerate() {
            let at = |f: &str| format!("scenario[{i}].{f}");
            if s.name.trim().is_empty() {
                return Err(bad(at("name"), "must not be empty"));
            }
            if !seen.insert(s.name.clone()) {
                return Err(bad(at("name"), &format!("`{}` is used twice", s.name)));
            }
            if s.commits.is_empty() {
                return Err(bad(at("commits"), "needs at least one commit"));
            }
            if s.seeds.is_empty() {
                return Err(bad(at("seeds"), "needs at least one seed"));
            }
            if s.repeat == Some(0) {
                return Err(bad(at("repeat"), "must be at least 1"));
            }
            if let Some(inj) = &s.injection {
                use super::injection::{commits, placed, Variant};
                if inj.text.trim().is_empty() {
                    return Err(bad(at("injection.text"), "must not be empty"));
                }
                if !placed(&s.commits, inj.vector) {
                    return Err(bad(
                        at("injection"),
                        &format!(
                            "vector `{}` needs `{}` in the commits where that vector puts the text",
                            inj.vector.as_str(),
                            super::injection::PLACEHOLDER
                        ),
                    ));
                }
                for variant in [Variant::Injected, Variant::Control] {
                    let filled = commits(&s.commits, Some(inj), variant);
                    for (c, commit) in filled.iter().enumerate() {
                        if let Some(p) = commit.files.keys().find(|p| !safe_relative(p)) {
                            let field = format!("scenario[{i}].commits[{c}].files.\"{p}\"");
                            return Err(bad(field, "with the injection filled in, must be a relative path inside the repository"));
                        }
                    }
                }
            }
            for (c, commit) in s.commits.iter().enumerate() {
                for (p, content) in &commit.files {
                    let field = format!("scenario[{i}].commits[{c}].files.\"{p}\"");
                    if !safe_relative(p) {
                        return Err(bad(field, "must be a relative path inside the repository"));
                    }
                    if let FileContent::Lines { lines, .. } = content {
                        if *lines > 100_000 {
                            return Err(bad(field, "at most 100000 generated lines"));
                        }
                    }
                }
            }
            if let Some(p) = &s.policy {
                if !self.dir().join(p).is_file() {
                    return Err(bad(at("policy"), &format!("{} is not a file", p.display())));
                }
            }
        }
        Ok(())
    }
}

/// A path that stays inside the repository (no `..`, not absolute, not `.git`).
fn safe_relative(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty()
        && path.is_relative()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(n) if n != ".git"))
}
