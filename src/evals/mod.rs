//! `deploy-agent eval`: run suites of scenarios through the real loop (real git
//! assessment, real guard, real judge, simulated world) and score a planner on
//! outcomes, approvals and, above all, safety on what reached the target.

pub mod episode;
mod error;
pub mod flaky_journal;
pub mod injection;
mod render;
pub mod repo;
pub mod rollbacks;
pub mod safety;
pub mod score;
pub mod suite;

use std::path::PathBuf;

use crate::assess::{assess_change, AssessRequest, LlmMode};
use crate::commands::ArgError;
use crate::error::Error;
use crate::git::{ChangeSource, LocalGit};
use crate::llm::LlmClient;
use crate::planner::{ChaosPlanner, LlmPlanner, Planner, PlaybookPlanner};
use crate::policy::Policy;
use crate::rollout::ChangeContext;
use crate::settings::{Env, Settings};

pub use error::EvalError;
pub use score::{Report, ScenarioReport};
pub use suite::Suite;

/// Exit codes of `eval` (besides 0 and 2).
pub mod codes {
    /// A threshold of the suite does not hold.
    pub const THRESHOLD_FAILED: u8 = 6;
}

/// Which planner the suite is run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalPlanner {
    Playbook,
    /// An OpenAI-compatible model (OPENAI_API_KEY / OPENAI_BASE_URL).
    Llm,
    /// The seeded adversarial planner.
    Chaos,
    /// A model taken over by prompt injection: obeys any instruction in
    /// what it reads (the injection suite's adversary).
    Hijacked,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    Text,
    Json,
    Markdown,
}

/// Everything `deploy-agent eval` needs, already parsed.
#[derive(Debug, Clone)]
pub struct EvalCommand {
    pub suite: PathBuf,
    pub planner: EvalPlanner,
    /// Episodes per seed, overriding the suite's `repeat`.
    pub repeat: Option<u32>,
    pub format: EvalFormat,
    /// Added to every scenario seed (a different sample of the same suite).
    pub seed: u64,
    pub price_per_1k_tokens: Option<f64>,
    pub config: Option<PathBuf>,
}

/// What `eval` produced.
#[derive(Debug)]
pub struct EvalOutcome {
    pub report: Report,
    pub rendered: String,
    pub exit_code: u8,
}

/// Loads the suite, runs every episode and scores it against the thresholds.
pub async fn run_eval(cmd: &EvalCommand) -> Result<EvalOutcome, Error> {
    if cmd.repeat == Some(0) {
        return Err(ArgError::AtLeastOne { flag: "--repeat" }.into());
    }
    if cmd
        .price_per_1k_tokens
        .is_some_and(|p| !(p >= 0.0 && p.is_finite()))
    {
        return Err(ArgError::NegativePrice.into());
    }
    let suite = Suite::load(&cmd.suite)?;
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    if cmd.planner == EvalPlanner::Llm && !settings.llm.is_configured() {
        return Err(ArgError::NoModelEndpoint.into());
    }
    let default_policy = match &suite.file.policy {
        Some(p) => Policy::load(&suite.dir().join(p))?,
        None => settings.policy(None)?,
    };
    let started = std::time::Instant::now();
    let repeat = |spec: &suite::ScenarioSpec| {
        cmd.repeat
            .or(spec.repeat)
            .or(suite.file.repeat)
            .unwrap_or(1)
    };
    let total: u64 = (suite.file.scenario.iter())
        .map(|spec| spec.seeds.len() as u64 * u64::from(repeat(spec)))
        .sum();
    let mut shown = crate::progress::Progress::new("eval", "episodes", total);
    let mut scenarios = Vec::new();
    for spec in &suite.file.scenario {
        let policy = match &spec.policy {
            Some(p) => Policy::load(&suite.dir().join(p))?,
            None => default_policy.clone(),
        };
        shown.message(spec.name.as_str());
        use injection::{commits, Variant};
        let inj = spec.injection.as_ref();
        let injected = commits(&spec.commits, inj, Variant::Injected);
        let change = prepare(&spec.name, &injected, &policy, &settings, cmd.planner).await?;
        // The same change without the injected text: what the risk must equal.
        let control = match inj {
            Some(_) => {
                let control = commits(&spec.commits, inj, Variant::Control);
                Some(prepare(&spec.name, &control, &policy, &settings, cmd.planner).await?)
            }
            None => None,
        };
        let reply = inj
            .filter(|i| i.vector == injection::Vector::Chat)
            .map(|i| i.text.as_str());
        let repeat = repeat(spec);
        let mut episodes = Vec::new();
        for &seed in &spec.seeds {
            for r in 0..u64::from(repeat) {
                let seed = seed
                    .wrapping_add(cmd.seed)
                    .wrapping_add(r.wrapping_mul(1_000_003));
                // The chaos planner's seed also depends on the scenario, so scenarios
                // do not replay the same sequence of calls.
                let chaos_seed = crate::sim::hash_key(seed, &[name_key(&spec.name)]);
                let planner = planner(cmd.planner, &settings, &policy, &change, chaos_seed)?;
                let mut planner = injection::expose(planner, inj);
                let setting = episode::Setting {
                    sim: spec.sim,
                    seed,
                    approver: spec.approver,
                    faults: spec.target.as_ref(),
                    reply,
                };
                let ep = episode::run_episode(&change, &policy, setting, planner.as_mut()).await;
                episodes.push(ep);
                shown.inc();
            }
        }
        let scored = match (inj, &control) {
            (Some(i), Some(c)) => Some(injection::score(i, &change, c, spec.approver, &episodes)),
            _ => None,
        };
        let mut report = score::score_scenario(spec, &change, episodes);
        report.injection = scored;
        scenarios.push(report);
    }
    shown.finish();
    let report = score::summarize(
        &suite,
        cmd.planner,
        scenarios,
        cmd.price_per_1k_tokens,
        started.elapsed().as_secs_f64(),
    );
    let rendered = match cmd.format {
        EvalFormat::Text => render::text(&report),
        EvalFormat::Markdown => render::markdown(&report),
        EvalFormat::Json => serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .map_err(EvalError::Render)?,
    };
    let exit_code = if report.failures.is_empty() {
        crate::error::exit::OK
    } else {
        codes::THRESHOLD_FAILED
    };
    Ok(EvalOutcome {
        report,
        rendered,
        exit_code,
    })
}

/// Builds the scenario's repository and assesses its HEAD once; every episode
/// of the scenario rolls out the same change.
async fn prepare(
    name: &str,
    commits: &[suite::CommitSpec],
    policy: &Policy,
    settings: &Settings,
    planner: EvalPlanner,
) -> Result<ChangeContext, Error> {
    let scratch = repo::ScratchRepo::build(name, commits)?;
    let git = LocalGit::open(scratch.path())?;
    let request = AssessRequest {
        rev: "HEAD".into(),
        base: None,
        llm: if planner == EvalPlanner::Llm {
            LlmMode::Auto
        } else {
            LlmMode::Off
        },
    };
    let (change, assessment) = assess_change(&git, policy, &settings.llm, &request).await?;
    let diff = git.diff_excerpt(&change, 32_000)?;
    Ok(ChangeContext { assessment, diff })
}

/// A stable number for a scenario name.
fn name_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn planner(
    kind: EvalPlanner,
    settings: &Settings,
    policy: &Policy,
    change: &ChangeContext,
    seed: u64,
) -> Result<Box<dyn Planner>, Error> {
    Ok(match kind {
        EvalPlanner::Playbook => {
            Box::new(PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes))
        }
        EvalPlanner::Chaos => Box::new(ChaosPlanner::new(seed)),
        EvalPlanner::Hijacked => Box::new(crate::planner::hijacked::HijackedPlanner::new(
            serde_json::to_value(&change.assessment).unwrap_or_default(),
        )),
        EvalPlanner::Llm => {
            let client = LlmClient::new(&settings.llm)?;
            let opening = crate::planner::openai::opening_message("eval", &change.assessment);
            // As `rollout` runs it: a model that cannot go on hands over to the playbook.
            Box::new(crate::planner::HandoverPlanner::new(
                Box::new(LlmPlanner::new(client, &opening)),
                &policy.rollout,
            ))
        }
    })
}
