//! Integration tests: one binary, so the crate is linked once.

mod support;

mod assess_cli;
mod assess_history;
mod assess_kinds;
mod assess_llm;
mod backtest_cli;
mod doctor;
mod e2e_loopback;
mod evals;
mod github;
mod github_wire;
mod injection;
mod journal_cli;
mod journal_identity;
mod journal_postgres;
mod kube_adapters;
mod leases;
mod llm_check;
mod llm_compat;
mod replicas;
mod resume;
mod rollout_cli;
mod rollout_faults;
mod rollout_handover;
mod rollout_handover_cli;
mod rollout_llm;
mod rollout_sim;
mod serve;
mod serve_webhooks;
mod signals;
mod slack;
mod slack_click;
mod slack_config;
mod slack_serve;
mod testsvc;
