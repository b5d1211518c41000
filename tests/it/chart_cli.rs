//! `show --format html|svg` on a journaled rollout: a chaos planner (vetoes)
//! rolls out a migration (approval) into an error spike (auto-rollback), and
//! the pictures must say what the journal says: checked structurally, not
//! byte for byte.

use std::sync::Arc;

use async_trait::async_trait;
use deploy_agent::journal::{Journal, SqliteJournal, StoredEvent};
use deploy_agent::planner::{Feedback, Plan, Planner, PlannerError, PlaybookPlanner};
use deploy_agent::rollout::state::RolloutState;
use deploy_agent::sim::Scenario;
use deploy_agent::tools::ProposedCall;

use crate::support::rollout::{approve, assessed, migration_repo, run_setup, Setup};
use crate::support::{run_cli, stderr, stdout};

/// Model-written text that must never become markup.
const HOSTILE: &str = "<script>alert(1)</script>";

/// A planner that first says what a hostile model might (two calls the guard
/// vetoes, one naming a tool `<script>…`), then plans as the playbook does.
struct VetoedFirst {
    first: bool,
    playbook: PlaybookPlanner,
}

#[async_trait]
impl Planner for VetoedFirst {
    fn name(&self) -> String {
        "playbook".into()
    }
    async fn next(
        &mut self,
        state: &RolloutState,
        feedback: &[Feedback],
    ) -> Result<Plan, PlannerError> {
        if std::mem::take(&mut self.first) {
            let call = |id: &str, name: &str, arguments: String| ProposedCall {
                id: id.into(),
                name: name.into(),
                arguments,
            };
            return Ok(Plan {
                calls: vec![
                    call(
                        "h1",
                        "set_canary_weight",
                        format!(r#"{{"weight":100,"reason":"{HOSTILE}"}}"#),
                    ),
                    call("h2", HOSTILE, "{}".into()),
                ],
                message: Some(HOSTILE.into()),
                ..Plan::default()
            });
        }
        self.playbook.next(state, feedback).await
    }
    fn notify(&mut self, note: &str) {
        self.playbook.notify(note);
    }
    fn writes_rust_text(&self) -> bool {
        true
    }
}

/// A finished journaled rollout: the journal's directory, its id, and its events.
async fn journaled() -> (tempfile::TempDir, String, Vec<StoredEvent>) {
    let repo = migration_repo();
    let (context, policy) = assessed(&repo).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let journal: Arc<dyn Journal> =
        Arc::new(SqliteJournal::open(&dir.path().join("j.db")).expect("journal"));
    let mut planner = VetoedFirst {
        first: true,
        playbook: PlaybookPlanner::new(policy.rollout.max_inconclusive_bakes),
    };
    let setup = Setup {
        scenario: Scenario::ErrorSpike,
        seed: 5,
        journal: Some(journal.clone()),
        record: true,
        ..Setup::default()
    };
    let ran = run_setup(&context, &policy, &mut planner, approve(), setup).await;
    let id = ran.summary.id.clone();
    let events = journal.events(&id).expect("events");
    (dir, id, events)
}

fn count(events: &[StoredEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

/// Tags balance and nest (void HTML elements aside), attributes are quoted,
/// and no text holds a raw `<`: enough of XML to catch unescaped text.
fn well_formed(doc: &str, void: &[&str]) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = doc;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>').ok_or("a tag is never closed")?;
        let tag = &after[..close];
        rest = &after[close + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if !tag.matches('"').count().is_multiple_of(2) {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
            .collect();
        if name.is_empty() {
            return Err(format!("not a tag: <{tag}"));
        }
        if tag.starts_with('/') {
            match stack.pop() {
                Some(top) if top == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !tag.ends_with('/') && !void.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("never closed: {stack:?}"))
    }
}

#[tokio::test]
async fn show_draws_the_journaled_rollout_as_svg_and_html() {
    let (dir, id, events) = journaled().await;
    let vetoes = count(&events, "vetoed") + count(&events, "budget_exhausted");
    assert!(
        count(&events, "vetoed") >= 2,
        "the hostile calls were vetoed"
    );
    assert!(count(&events, "approval_decided") > 0, "an approval");
    assert!(count(&events, "auto_rollback") > 0, "an auto-rollback");
    let max_weight = events
        .iter()
        .filter(|e| e.kind == "weight_changed")
        .filter_map(|e| e.payload["to"].as_u64())
        .max()
        .expect("traffic moved");
    let db = dir.path().join("j.db");
    let db = db.to_str().unwrap();

    let out = run_cli(
        dir.path(),
        &["show", &id, "--journal", db, "--format", "svg"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let svg = stdout(&out);
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    well_formed(&svg, &[]).unwrap();
    assert_eq!(svg.matches("class=\"marker veto\"").count(), vetoes);
    for rule in events
        .iter()
        .filter(|e| e.kind == "vetoed")
        .filter_map(|e| e.payload["rule"].as_str())
    {
        assert!(
            svg.contains(&format!("data-rule=\"{rule}\"")),
            "no marker for {rule}"
        );
    }
    assert_eq!(
        svg.matches("class=\"marker verdict\"").count(),
        count(&events, "judged")
    );
    assert!(svg.contains("class=\"marker rollback\""));
    assert!(
        svg.contains("fails at "),
        "the evidence's threshold is labelled"
    );
    assert!(
        !svg.contains("<script"),
        "model text became markup in the SVG"
    );
    assert!(
        svg.contains("&lt;script&gt;"),
        "the hostile text is shown, escaped"
    );

    let out = run_cli(
        dir.path(),
        &["show", &id, "--journal", db, "--format", "mermaid"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mermaid = stdout(&out);
    assert!(mermaid.starts_with("```mermaid\nxychart-beta"), "{mermaid}");
    assert!(mermaid.trim_end().ends_with("```"), "{mermaid}");
    assert!(
        mermaid.contains(&max_weight.to_string()),
        "the weight line reaches {max_weight}%: {mermaid}"
    );

    let page = dir.path().join("rollout.html");
    let out = run_cli(
        dir.path(),
        &[
            "show",
            &id,
            "--journal",
            db,
            "--format",
            "html",
            "--output",
            page.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "", "--output writes the file, not stdout");
    let html = std::fs::read_to_string(&page).expect("the page");
    well_formed(&html, &["meta", "link"]).unwrap();
    assert!(
        !html.contains("<script"),
        "model text became markup in the page"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("<span id=\"outcome\" class=\"outcome-rolled_back\">rolled_back</span>"));
    assert!(html.contains("<span id=\"weight\">0</span>"));
    assert!(html.contains(&format!("<span id=\"max-weight\">{max_weight}</span>")));
    assert!(
        html.contains("<span id=\"level\">high</span>"),
        "the assessed level"
    );
    assert!(
        html.contains("id=\"explanation\""),
        "the rollback's explanation"
    );
    assert_eq!(html.matches("<tr data-seq=").count(), events.len());
    assert_eq!(html.matches("class=\"marker veto\"").count(), vetoes);

    // The text formats are unchanged.
    let text = run_cli(dir.path(), &["show", &id, "--journal", db], &[]);
    assert!(stdout(&text).contains("auto_rollback"), "{}", stdout(&text));
    let json = run_cli(
        dir.path(),
        &["show", &id, "--journal", db, "--format", "json"],
        &[],
    );
    assert_eq!(crate::support::json(&json)["rollout"]["id"], id.as_str());
}

#[test]
fn the_checker_catches_unescaped_text() {
    assert!(well_formed("<svg><text>a < b</text></svg>", &[]).is_err());
    assert!(well_formed("<svg><g><title>x</title></g></svg>", &[]).is_ok());
    assert!(well_formed("<svg><g></svg>", &[]).is_err());
}
