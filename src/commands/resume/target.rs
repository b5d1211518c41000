//! The target a journaled rollout ran on, rebuilt for `resume`: the simulated
//! world from the journal's weight changes, a real target from the service's
//! settings (which must still name the target the rollout ran on).

use std::sync::Arc;

use super::ResumeError;
use crate::approval::Approver;
use crate::clock::VirtualClock;
use crate::commands::backends;
use crate::journal::{RolloutRecord, StoredEvent};
use crate::rollout::Backends;
use crate::settings::Settings;
use crate::sim::{Scenario, SimConfig};

/// The backends of a rollout's target, and whether it is simulated. The
/// simulated world is rebuilt from the journal's weight changes (its scenario
/// from the target label); a real target is reached through the service's
/// settings, which must still name the target the rollout ran on.
pub(super) fn target_backends(
    settings: &Settings,
    record: &RolloutRecord,
    events: &[StoredEvent],
    approver: Arc<dyn Approver>,
) -> Result<(Backends, bool), ResumeError> {
    if let Some(scenario) = record.target.strip_prefix("sim:") {
        let scenario = <Scenario as clap::ValueEnum>::from_str(scenario, false).map_err(|_| {
            ResumeError::UnknownScenario {
                target: record.target.clone(),
            }
        })?;
        let start = events.first().map_or(0.0, |e| e.at);
        let clock = Arc::new(VirtualClock::new(start));
        let (backends, world) =
            Backends::simulated(SimConfig::new(scenario, 0), clock.clone(), approver);
        for e in events.iter().filter(|e| e.kind == "weight_changed") {
            if let Some(to) = e.payload["to"].as_u64() {
                clock.advance((e.at - world.now()).max(0.0));
                world.set_weight(u8::try_from(to).unwrap_or(0));
            }
        }
        // Virtual time goes on from the last thing the dead process recorded.
        let last = events.last().map_or(start, |e| e.at);
        clock.advance((last - world.now()).max(0.0));
        return Ok((backends, true));
    }
    let kind = record.target.split(':').next().unwrap_or_default();
    let built = match kind {
        "haproxy" => backends::haproxy_prometheus(&record.service, settings, false, approver),
        "kubernetes" => backends::kubernetes_prometheus(&record.service, settings, false, approver),
        "argo" => backends::argo_prometheus(&record.service, settings, false, approver),
        _ => {
            return Err(ResumeError::NoRouter {
                target: record.target.clone(),
            })
        }
    };
    let (backends, label) = built.map_err(|e| ResumeError::Backends(Box::new(e)))?;
    if label != record.target {
        return Err(ResumeError::TargetMoved {
            service: record.service.clone(),
            now: label,
            ran_on: record.target.clone(),
        });
    }
    Ok((backends, false))
}
