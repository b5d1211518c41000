//! Benchmarks whose code is independent of the CLI (the binary only parses
//! arguments and prints what these return).

pub mod canary;
pub mod risk;
pub mod rollouts;
