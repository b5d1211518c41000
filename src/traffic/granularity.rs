//! What shares of traffic a target can serve.
//!
//! The guard allows only weights the target serves exactly as stated; a
//! target that would round a weight up (one pod of four is 25 %, not 5 %)
//! gets a veto that names the largest share it can serve without exceeding
//! the request. Rounding is always down, never up.

use serde::Serialize;

/// The shares a target can serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Granularity {
    /// Any whole percent (HAProxy weights `w` and `100 − w`; an HTTPRoute's
    /// integer backendRef weights).
    Percent,
    /// `total` interchangeable pods behind one Service: `k` canary pods serve
    /// `k / total` of the traffic. Such a share is stated as
    /// `ceil(100·k / total)` percent, so a stated weight is never below what
    /// is served.
    Replicas { total: u32 },
    /// Only the next step of a fixed list can come next (an Argo Rollout's
    /// `setWeight` steps), each stated as the share it really serves; `next`
    /// is `None` past the last step.
    Steps { steps: Vec<u8>, next: Option<u8> },
}

impl Granularity {
    /// The share the target serves when asked for `wanted` while at
    /// `current`: the largest servable share at most `wanted` (never more);
    /// `current` when no servable share lies in `current..=wanted`.
    pub fn floor(&self, current: u8, wanted: u8) -> u8 {
        let wanted = wanted.min(100);
        match self {
            Granularity::Percent => wanted,
            Granularity::Replicas { total } => {
                let total = (*total).max(1);
                let pods = u32::from(wanted) * total / 100;
                replica_share(pods, total)
            }
            Granularity::Steps { next, .. } => match next {
                Some(n) if *n <= wanted && *n > current => *n,
                _ if wanted == 0 => 0,
                _ => current,
            },
        }
    }

    /// Whether `wanted` is served exactly from `current`.
    pub fn exact(&self, current: u8, wanted: u8) -> bool {
        self.floor(current, wanted) == wanted
    }

    /// The smallest servable share above `current`, if any.
    pub fn next_above(&self, current: u8) -> Option<u8> {
        match self {
            Granularity::Percent => (current < 100).then_some(current + 1),
            Granularity::Replicas { total } => {
                let total = (*total).max(1);
                (0..=total)
                    .map(|k| replica_share(k, total))
                    .find(|&s| s > current)
            }
            Granularity::Steps { next, .. } => next.filter(|&n| n > current),
        }
    }

    /// In words, for vetoes and messages.
    pub fn describe(&self) -> String {
        match self {
            Granularity::Percent => "any whole percent".into(),
            Granularity::Replicas { total } => {
                let shares: Vec<String> = (0..=(*total).max(1))
                    .map(|k| format!("{}%", replica_share(k, (*total).max(1))))
                    .collect();
                format!("only whole pods of {total} replicas: {}", shares.join(", "))
            }
            Granularity::Steps { steps, next } => {
                let all: Vec<String> = steps.iter().map(|s| format!("{s}%")).collect();
                match next {
                    Some(n) => format!("only its steps in order ({}), next {n}%", all.join(", ")),
                    None => format!("only its steps in order ({}), none left", all.join(", ")),
                }
            }
        }
    }
}

/// `k` pods of `total`, stated as a whole percent rounded up.
fn replica_share(k: u32, total: u32) -> u8 {
    (k * 100).div_ceil(total).min(100) as u8
}

#[cfg(test)]
mod tests {
    use super::Granularity::{self, *};

    #[test]
    fn floor_never_exceeds_the_request() {
        // (granularity, current, wanted) -> served
        let cases: [(Granularity, u8, u8, u8); 11] = [
            (Percent, 0, 5, 5),
            (Replicas { total: 4 }, 0, 5, 0),
            (Replicas { total: 4 }, 0, 30, 25),
            (Replicas { total: 4 }, 25, 50, 50),
            (Replicas { total: 3 }, 0, 33, 0),
            (Replicas { total: 3 }, 0, 34, 34),
            (Replicas { total: 20 }, 0, 5, 5),
            (
                Steps {
                    steps: vec![5, 25, 50],
                    next: Some(25),
                },
                5,
                30,
                25,
            ),
            (
                Steps {
                    steps: vec![5, 25, 50],
                    next: Some(25),
                },
                5,
                20,
                5,
            ),
            (
                Steps {
                    steps: vec![5, 25, 50],
                    next: None,
                },
                50,
                100,
                50,
            ),
            (
                Steps {
                    steps: vec![5, 25, 50],
                    next: Some(5),
                },
                0,
                0,
                0,
            ),
        ];
        for (g, current, wanted, served) in cases {
            assert_eq!(g.floor(current, wanted), served, "{g:?} {current}→{wanted}");
            assert!(g.floor(current, wanted) <= wanted.max(current));
        }
    }

    #[test]
    fn next_above_and_descriptions() {
        assert_eq!(Replicas { total: 4 }.next_above(0), Some(25));
        assert_eq!(Replicas { total: 4 }.next_above(100), None);
        assert_eq!(Percent.next_above(9), Some(10));
        let steps = Steps {
            steps: vec![5, 25],
            next: Some(25),
        };
        assert_eq!(steps.next_above(5), Some(25));
        assert!(Replicas { total: 4 }
            .describe()
            .contains("0%, 25%, 50%, 75%, 100%"));
        assert!(steps.describe().contains("next 25%"));
    }
}
