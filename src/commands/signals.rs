//! Ctrl-C and SIGTERM during a CLI rollout. The first asks the loop to stop:
//! it rolls the canary back to 0 % and ends `aborted (operator)`. A second one
//! exits at once and leaves the rollout journaled as it is, saying how to
//! finish it (`deploy-agent resume`): the write-ahead journal makes that safe.
//!
//! The handlers are installed before `watch` returns, so a signal that comes
//! before the rollout's first real wait is already ours, not the default
//! (which would kill the process with the canary serving).

use crate::rollout::StopSignal;

/// Exit code after a second interrupt (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;

/// Takes over Ctrl-C and SIGTERM until the process ends.
pub fn watch(stop: StopSignal, rollout_id: String) {
    let Some(mut signals) = Signals::install() else {
        tracing::warn!("cannot install signal handlers: Ctrl-C will not roll the canary back");
        return;
    };
    tokio::spawn(async move {
        let first = signals.next().await;
        eprintln!(
            "{first}: stopping rollout {rollout_id}: rolling the canary back to 0 % (press Ctrl-C again to exit at once and leave it to `deploy-agent resume`)"
        );
        stop.stop(format!("{first} from the operator"));
        let second = signals.next().await;
        eprintln!(
            "{second} again: exiting now. Rollout {rollout_id} is left in the journal at its current weight; run `deploy-agent resume` to roll it back (or continue it, per the policy's on_resume)"
        );
        std::process::exit(INTERRUPTED);
    });
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Option<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(Self {
            interrupt: signal(SignalKind::interrupt()).ok()?,
            terminate: signal(SignalKind::terminate()).ok()?,
        })
    }

    /// The next Ctrl-C or SIGTERM, by name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "Ctrl-C",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Option<Self> {
        Some(Self)
    }

    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
