//! Approval at the terminal: show the risk, ask y/N, wait at most the timeout.

use std::io::{BufRead, Write};
use std::time::Duration;

use async_trait::async_trait;

use super::{ApprovalAnswer, ApprovalRequest, Approver};

/// Asks on stderr, reads stdin. Anything but `y`/`yes` is a rejection.
#[derive(Debug, Clone)]
pub struct TerminalApprover {
    /// Recorded as the approver: the verified OS identity (`[people]` name or
    /// `os:LOGIN`), never `$USER`, which anyone can set.
    pub user: String,
}

#[async_trait]
impl Approver for TerminalApprover {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        if request.required_approvals > 1 {
            return super::one_voice_is_not_enough(request, "a terminal asks one person");
        }
        let prompt = format!(
            "\n── approval needed ─────────────────────────────\n\
             service {}  rev {}\nrisk {:.2} ({})\n{}\n{}\nApprove this rollout? [y/N] (timeout {} s) ",
            request.service,
            &request.rev[..request.rev.len().min(10)],
            request.risk_score,
            request.level.as_str(),
            request.reasons.join("\n"),
            request.summary,
            request.timeout_seconds
        );
        let read = tokio::task::spawn_blocking(move || {
            let mut err = std::io::stderr();
            let _ = err.write_all(prompt.as_bytes());
            let _ = err.flush();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).map(|_| line)
        });
        let timeout = Duration::from_secs(request.timeout_seconds);
        let reject = |reason: String| ApprovalAnswer {
            approved: false,
            by: Some(self.user.clone()),
            reason,
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(Ok(Ok(line))) if matches!(line.trim().to_lowercase().as_str(), "y" | "yes") => {
                ApprovalAnswer {
                    approved: true,
                    by: Some(self.user.clone()),
                    reason: "approved at the terminal".into(),
                }
            }
            Ok(Ok(Ok(_))) => reject("rejected at the terminal".into()),
            Ok(_) => reject("could not read the terminal".into()),
            Err(_) => reject(format!(
                "no answer within {} s (timeout is a rejection)",
                request.timeout_seconds
            )),
        }
    }
}
