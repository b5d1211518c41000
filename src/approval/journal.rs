//! Approval through the journal: the request is a row, and `deploy-agent approve`
//! (any shell, any process on the machine) decides it. A pending request survives a
//! restart of the agent because it is a row, not a prompt.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::identity::{is_slack_group_id, Directory, Identity};
use super::{ApprovalAnswer, ApprovalRequest, Approver};
use crate::clock::{Clock, SystemClock};
use crate::journal::{ApprovalDecision, ApprovalStatus, Journal, JournalError};

/// How often the journal is read while waiting (a local read; WAL readers never block).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Writes the request to the journal and waits for a decision or the deadline.
pub struct JournalApprover {
    journal: Arc<dyn Journal>,
    /// Wall time for deadlines (injected so tests can run on paused time).
    clock: Arc<dyn Clock>,
    poll: Duration,
    /// The service's allow-list as this rollout's config has it, to re-check
    /// the voters of an approval (see [`JournalApprover::checking_voters`]).
    voters: Option<(Directory, String)>,
}

impl JournalApprover {
    pub fn new(journal: Arc<dyn Journal>) -> Self {
        Self::with_clock(journal, Arc::new(SystemClock))
    }

    pub fn with_clock(journal: Arc<dyn Journal>, clock: Arc<dyn Clock>) -> Self {
        Self {
            journal,
            clock,
            poll: POLL_INTERVAL,
            voters: None,
        }
    }

    /// Re-checks, in the process that asked, who approved: `deploy-agent
    /// approve` checks its shell against the allow-list of the config *it*
    /// loads, so a shell with another config (or none) could otherwise approve
    /// as someone no list names. An approving vote provably outside `service`'s
    /// list turns the approval into a rejection that says who and why. Slack
    /// votes were checked by `serve` (groups resolved there) and stand.
    pub fn checking_voters(mut self, directory: Directory, service: &str) -> Self {
        self.voters = Some((directory, service.to_string()));
        self
    }

    /// The approving voter the allow-list does not admit, if any.
    fn outsider(&self, request: &ApprovalRequest) -> Option<String> {
        let (directory, service) = self.voters.as_ref()?;
        if !directory.has_allow_list(service) {
            return None;
        }
        // Groups are resolved only by Slack: a person may be on the list
        // through one, so a person's vote is refused only when no group is listed.
        let groups = directory
            .approvers(service)
            .iter()
            .any(|e| is_slack_group_id(e));
        let votes = self
            .journal
            .approval_votes(&request.rollout_id, &request.key())
            .ok()?;
        votes.into_iter().filter(|v| v.approved).find_map(|v| {
            let admitted = match Identity::from_key(&v.by) {
                Identity::Slack(_) => true,
                Identity::OsUser(_) => false,
                person @ Identity::Person(_) => groups || directory.lists(service, &person),
            };
            (!admitted).then(|| format!("{}, who is not on {}", v.by, directory.field(service)))
        })
    }

    /// The journal it records in (the Slack approver issues its nonces there).
    pub(crate) fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// Polls until decided or past the deadline.
    pub(crate) async fn wait(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        loop {
            match self
                .journal
                .approval_status(&request.rollout_id, &request.key())
            {
                Ok(Some(ApprovalStatus::Decided(d))) => {
                    return match self.outsider(request).filter(|_| d.approved) {
                        Some(who) => reject(&format!(
                            "approved by {who}: an approval from outside the allow-list counts as a rejection"
                        )),
                        None => answer(d),
                    }
                }
                Ok(Some(ApprovalStatus::Pending(p))) if self.clock.now() >= p.deadline => {
                    return self.time_out(request, p.deadline)
                }
                Ok(Some(ApprovalStatus::Pending(_))) => {}
                Ok(None) => return reject("the approval request vanished from the journal"),
                // A locked or busy journal is retried until the deadline passes.
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the approval from the journal")
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Records the timeout as the decision (at the deadline, so it is accepted), so a
    /// late `approve` is refused rather than silently ignored.
    fn time_out(&self, request: &ApprovalRequest, deadline: f64) -> ApprovalAnswer {
        let timeout = ApprovalDecision {
            approved: false,
            by: None,
            reason: format!("approval timed out after {}s", request.timeout_seconds),
            decided_at: deadline,
        };
        match self
            .journal
            .decide_approval(&request.rollout_id, &request.key(), &timeout)
        {
            Ok(_) => answer(timeout),
            // Someone answered just before the deadline: theirs stands.
            Err(JournalError::AlreadyDecided { .. }) => {
                self.recorded(request).unwrap_or(answer(timeout))
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the approval timeout in the journal");
                answer(timeout)
            }
        }
    }

    /// Writes the pending request (deadline = now + timeout); a failure is the
    /// rejection to return. Other approvers (Slack) record through this too.
    pub(crate) fn record(&self, request: &ApprovalRequest) -> Result<(), ApprovalAnswer> {
        let deadline = self.clock.now() + request.timeout_seconds as f64;
        self.journal
            .request_approval(
                &request.rollout_id,
                &request.key(),
                &request.summary,
                deadline,
                request.required_approvals,
            )
            .map_err(|e| {
                tracing::error!(error = %e, "could not record the approval request in the journal");
                reject(&format!(
                    "could not record the approval request in the journal: {e}"
                ))
            })
    }

    /// The decision the journal holds, if it can be read.
    fn recorded(&self, request: &ApprovalRequest) -> Option<ApprovalAnswer> {
        match self
            .journal
            .approval_status(&request.rollout_id, &request.key())
        {
            Ok(Some(ApprovalStatus::Decided(d))) => Some(answer(d)),
            _ => None,
        }
    }
}

#[async_trait]
impl Approver for JournalApprover {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        if let Err(refused) = self.record(request) {
            return refused;
        }
        tracing::info!(
            rollout = %request.rollout_id,
            "waiting for approval: run `deploy-agent approve {}` as an approver (or --reject)",
            request.rollout_id
        );
        self.wait(request).await
    }
}

fn answer(d: ApprovalDecision) -> ApprovalAnswer {
    ApprovalAnswer {
        approved: d.approved,
        by: d.by,
        reason: d.reason,
    }
}

fn reject(reason: &str) -> ApprovalAnswer {
    ApprovalAnswer {
        approved: false,
        by: None,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::approval::identity::Person;
    use crate::journal::{wall_now, RolloutRecord, SqliteJournal};
    use crate::policy::Level;

    fn request() -> ApprovalRequest {
        ApprovalRequest {
            rollout_id: "r1".into(),
            service: "checkout".into(),
            rev: "abc123".into(),
            risk_score: 0.8,
            level: Level::High,
            reasons: vec![],
            summary: "migration".into(),
            timeout_seconds: 30,
            required_approvals: 1,
            go_on_at: None,
        }
    }

    /// Waits on a request while `by` approves it from "another shell", and
    /// returns what the rollout's own approver concludes.
    async fn approved_by(by: &str) -> ApprovalAnswer {
        let dir = tempfile::tempdir().unwrap();
        let journal: Arc<dyn Journal> =
            Arc::new(SqliteJournal::open(&dir.path().join("j.db")).unwrap());
        journal
            .begin(&RolloutRecord {
                id: "r1".into(),
                service: "checkout".into(),
                rev: "abc123".into(),
                target: "sim:healthy".into(),
                planner: "playbook".into(),
                started_at: wall_now(),
                finished_at: None,
                outcome: None,
                weight: 0,
                reason: None,
            })
            .unwrap();
        let people = BTreeMap::from([(
            "alice".to_string(),
            Person {
                os_user: Some("alice".into()),
                slack: None,
            },
        )]);
        let lists = BTreeMap::from([("checkout".to_string(), vec!["alice".to_string()])]);
        let mut approver = JournalApprover::new(journal.clone())
            .checking_voters(Directory::new(people, lists, vec![]), "checkout");
        approver.poll = Duration::from_millis(10);
        let waiting = tokio::spawn(async move { approver.request(&request()).await });
        while journal.pending_approvals().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let vote = ApprovalDecision {
            approved: true,
            by: Some(by.into()),
            reason: "lgtm".into(),
            decided_at: wall_now(),
        };
        journal.decide_approval("r1", "abc123", &vote).unwrap();
        waiting.await.unwrap()
    }

    #[tokio::test]
    async fn an_approval_from_outside_the_allow_list_is_a_rejection() {
        // `approve` run with another config (or none) records the shell's
        // unmapped OS user, or a person no list names: neither may approve.
        for outsider in ["os:mallory", "bob"] {
            let answer = approved_by(outsider).await;
            assert!(!answer.approved, "{outsider}: {answer:?}");
            assert!(
                answer.reason.contains(outsider)
                    && answer
                        .reason
                        .contains("[services.checkout.slack] approvers"),
                "{}",
                answer.reason
            );
        }
        let answer = approved_by("alice").await;
        assert!(answer.approved, "{answer:?}");
        // Slack clicks were checked by `serve` (groups resolved there).
        assert!(approved_by("slack:U0123ABC").await.approved);
    }
}
