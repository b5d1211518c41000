//! Ctrl-C and SIGTERM during a CLI rollout. The first asks the loop to stop:
//! it rolls the canary back to 0 % and ends `aborted (operator)`. A second one
//! exits at once and leaves the rollout journaled as it is, saying how to
//! finish it (`deploy-agent resume`): the write-ahead journal makes that safe.

use crate::rollout::StopSignal;

/// Exit code after a second interrupt (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;

/// Watches for the signals on a background task until the process ends.
pub fn watch(stop: StopSignal, rollout_id: String) {
    tokio::spawn(async move {
        let first = interrupted().await;
        eprintln!(
            "{first}: stopping rollout {rollout_id}: rolling the canary back to 0 % (press Ctrl-C again to exit at once and leave it to `deploy-agent resume`)"
        );
        stop.stop(format!("{first} from the operator"));
        let second = interrupted().await;
        eprintln!(
            "{second} again: exiting now. Rollout {rollout_id} is left in the journal at its current weight; run `deploy-agent resume` to roll it back (or continue it, per the policy's on_resume)"
        );
        std::process::exit(INTERRUPTED);
    });
}

/// The next Ctrl-C or SIGTERM, by name.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}
