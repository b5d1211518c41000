//! The `deploy-agent` binary: parse, set up tracing, call the library, map exit codes.
//!
//! The flags and what each command does with them live in [`cli`], one file per
//! command family; this file only wires a parsed command to its family and turns
//! an error into its exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use deploy_agent::commands::journal::JournalLocation;

mod cli;

use cli::{Cli, Command};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // async-openai warns of every 5xx body, including the refusals
                // `llm` expects while it learns what an endpoint accepts.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,async_openai=error")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal (and never with NO_COLOR): logs that go to
        // files or collectors stay plain.
        .with_ansi(deploy_agent::report::colour_on(
            std::io::stderr().is_terminal(),
        ))
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs the parsed command; `Ok` carries the command's own exit code.
async fn run(cli: Cli) -> Result<u8, deploy_agent::Error> {
    let location = JournalLocation {
        config: cli.config,
        journal: cli.journal,
    };
    match cli.command {
        Command::Assess(args) => args.run(&location).await,
        Command::Rollout(args) => args.run(&location).await,
        Command::Backtest(args) => args.run(&location),
        Command::Calibrate(args) => args.run(&location),
        Command::Bench { which } => which.run().await,
        Command::Eval(args) => args.run(&location).await,
        Command::History(args) => args.run(location),
        Command::Show(args) => args.run(location),
        Command::Approve(args) => args.run(location),
        Command::Resume(args) => args.run(location).await,
        Command::Serve(args) => args.run(location).await,
        Command::Doctor(args) => args.run(location).await,
        Command::Llm { which } => which.run(&location).await,
        Command::Schema(args) => args.run(),
    }
}
