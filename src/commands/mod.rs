//! The commands the binary offers, each a parsed struct and a `run_*` function.
//! They wire settings, policy and backends together; the logic lives elsewhere.

pub mod approvers;
pub mod args;
pub mod assess;
pub mod backends;
pub mod backtest;
pub mod bench;
pub mod calibrate;
pub mod journal;
pub mod resume;
pub mod rollout;
pub mod signals;

pub use args::ArgError;
