//! Where an Argo Rollout stands, read from its spec and status, and the
//! share each of its steps really serves.
//!
//! **Served shares** (checked against Argo's `utils/replicaset/canary.go`,
//! `DesiredReplicaCountsForCanary`): with `trafficRouting` the router sends
//! exactly the step's `setWeight`. Without it the split is by pods: the canary
//! ReplicaSet gets `ceil(replicas·w/100)` pods and the stable one
//! `ceil(replicas·(100−w)/100)` (both rounded up, the controller surges by one
//! when they do not divide), so the share is `c / (c + s)`, stated rounded up:
//! 4 replicas at `setWeight: 5` are 1 canary + 4 stable pods, 20 %, not 5 %.

use serde_json::Value;

use super::super::kubernetes::share;
use super::super::Granularity;

/// One canary step, as far as the agent is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    SetWeight(u8),
    /// `pause: {}` waits for a promotion; with a duration it continues by itself.
    Pause {
        indefinite: bool,
    },
    Analysis,
    /// Any other kind of step (its key).
    Other(String),
}

impl Step {
    fn read(step: &Value) -> Self {
        if let Some(w) = step.get("setWeight").and_then(Value::as_u64) {
            return Step::SetWeight(w.min(100) as u8);
        }
        if let Some(pause) = step.get("pause") {
            return Step::Pause {
                indefinite: pause.get("duration").is_none_or(Value::is_null),
            };
        }
        if step.get("analysis").is_some() {
            return Step::Analysis;
        }
        let key = step
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        Step::Other(key)
    }
}

/// A Rollout's spec and status, as the agent needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgoRolloutState {
    /// `None`: not a canary Rollout (or no steps).
    pub steps: Option<Vec<Step>>,
    /// `spec.replicas` (Argo's default is 1).
    pub replicas: u32,
    pub traffic_routing: bool,
    pub current_step: usize,
    pub paused: bool,
    pub aborted: bool,
    pub promote_full: bool,
    pub stable_rs: Option<String>,
    pub current_pod_hash: Option<String>,
    /// `status.canary.weights.canary.weight` (set by the controller when it routes traffic).
    pub reported_weight: Option<u8>,
    /// Pods of all ReplicaSets, and of the new (canary) one.
    pub status_replicas: u32,
    pub updated_replicas: u32,
}

impl ArgoRolloutState {
    pub fn read(rollout: &Value) -> Self {
        let at = |p: &str| rollout.pointer(p);
        let count = |p: &str| {
            at(p)
                .and_then(Value::as_u64)
                .map(|n| n.min(u64::from(u32::MAX)) as u32)
        };
        let text = |p: &str| at(p).and_then(Value::as_str).map(str::to_string);
        let flag = |p: &str| at(p).and_then(Value::as_bool) == Some(true);
        let steps = at("/spec/strategy/canary/steps")
            .and_then(Value::as_array)
            .filter(|s| !s.is_empty())
            .map(|s| s.iter().map(Step::read).collect());
        let pause_conditions = at("/status/pauseConditions")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
        Self {
            steps,
            replicas: count("/spec/replicas").unwrap_or(1),
            traffic_routing: at("/spec/strategy/canary/trafficRouting")
                .is_some_and(|t| !t.is_null()),
            current_step: count("/status/currentStepIndex").unwrap_or(0) as usize,
            paused: pause_conditions || flag("/spec/paused"),
            aborted: flag("/status/abort"),
            promote_full: flag("/status/promoteFull"),
            stable_rs: text("/status/stableRS"),
            current_pod_hash: text("/status/currentPodHash"),
            reported_weight: count("/status/canary/weights/canary/weight")
                .map(|w| w.min(100) as u8),
            status_replicas: count("/status/replicas").unwrap_or(0),
            updated_replicas: count("/status/updatedReplicas").unwrap_or(0),
        }
    }

    fn steps(&self) -> &[Step] {
        self.steps.as_deref().unwrap_or_default()
    }

    /// The share a `setWeight: w` step serves on this Rollout (see the module doc).
    pub fn served(&self, w: u8) -> u8 {
        if self.traffic_routing || w == 0 || w >= 100 {
            return w.min(100);
        }
        let r = u64::from(self.replicas);
        let canary = (r * u64::from(w)).div_ceil(100);
        let stable = (r * u64::from(100 - w)).div_ceil(100);
        share(canary, stable)
    }

    /// A new pod template is being rolled out (`stableRS` ≠ `currentPodHash`).
    pub fn update_in_progress(&self) -> bool {
        matches!((&self.stable_rs, &self.current_pod_hash), (Some(s), Some(c)) if s != c)
    }

    /// The canary's share now, as the controller reports it.
    pub fn weight(&self) -> u8 {
        if !self.update_in_progress() {
            return 0; // every pod is the stable version
        }
        if self.traffic_routing {
            return self
                .reported_weight
                .unwrap_or_else(|| self.served(self.set_weight()));
        }
        share(
            u64::from(self.updated_replicas),
            u64::from(self.status_replicas.saturating_sub(self.updated_replicas)),
        )
    }

    /// Argo's current `setWeight` (the last at or before the current step; 0 when aborted).
    fn set_weight(&self) -> u8 {
        if self.aborted {
            return 0;
        }
        let steps = self.steps();
        if self.current_step >= steps.len() {
            return 100;
        }
        steps[..=self.current_step]
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::SetWeight(w) => Some(*w),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// The `setWeight` step the Rollout is on its way to, or goes to when
    /// promoted one step: the current one while the controller applies it,
    /// else the next after the current step.
    pub fn target_index(&self) -> Option<usize> {
        let steps = self.steps();
        let from = match steps.get(self.current_step) {
            Some(Step::SetWeight(_)) if !self.paused => self.current_step,
            _ => self.current_step + 1,
        };
        (from..steps.len()).find(|&i| matches!(steps[i], Step::SetWeight(_)))
    }

    /// The share served once step `index` (a `setWeight`) has run.
    pub fn served_at(&self, index: usize) -> u8 {
        match self.steps().get(index) {
            Some(Step::SetWeight(w)) => self.served(*w),
            _ => 0,
        }
    }

    /// The served shares of the `setWeight` steps, in order.
    pub fn step_shares(&self) -> Vec<u8> {
        self.steps()
            .iter()
            .filter_map(|s| match s {
                Step::SetWeight(w) => Some(self.served(*w)),
                _ => None,
            })
            .collect()
    }

    pub fn granularity(&self) -> Granularity {
        Granularity::Steps {
            steps: self.step_shares(),
            next: self.target_index().map(|i| self.served_at(i)),
        }
    }

    /// The update is complete: nothing in progress, past the last step, not aborted.
    pub fn promoted(&self) -> bool {
        !self.update_in_progress()
            && self.stable_rs.is_some()
            && !self.aborted
            && self.current_step >= self.steps().len()
    }

    /// Why the agent cannot drive these steps, if it cannot.
    pub fn steps_problem(&self) -> Option<String> {
        let Some(steps) = &self.steps else {
            return Some("it has no spec.strategy.canary.steps: the agent moves a canary Rollout one step at a time; give it steps, `- pause: {}` first, then each `- setWeight: N` followed by `- pause: {}`".into());
        };
        if steps.first() != Some(&Step::Pause { indefinite: true }) {
            return Some("its first step is not `pause: {}`: with a `setWeight` (or a timed pause) first, Argo shifts traffic as soon as the image changes, before the agent and its approval run; add `- pause: {}` as step 0".into());
        }
        if let Some((i, Step::Other(kind))) = steps
            .iter()
            .enumerate()
            .find(|(_, s)| matches!(s, Step::Other(_)))
        {
            return Some(format!("step {i} is `{kind}`, whose share the agent cannot state; use only setWeight, pause and analysis steps"));
        }
        let mut open: Option<(usize, u8)> = None; // a setWeight not yet followed by `pause: {}`
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::SetWeight(w) => {
                    if let Some((j, v)) = open {
                        return Some(format!("step {j} (setWeight {v}) is followed by step {i} (setWeight {w}) with no `pause: {{}}` between: Argo would move on to {w}% without the agent; add `- pause: {{}}` after every setWeight"));
                    }
                    open = Some((i, *w));
                }
                Step::Pause { indefinite: true } => open = None,
                _ => {}
            }
        }
        open.map(|(j, v)| format!("its last setWeight (step {j}, {v}%) is not followed by `pause: {{}}`: Argo would promote to 100% by itself; add `- pause: {{}}` at the end"))
    }
}

#[cfg(test)]
mod tests;
