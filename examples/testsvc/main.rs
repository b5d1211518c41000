//! The test service and its tools, for the quickstart (`examples/haproxy/`)
//! and the loopback end-to-end tests — not part of the product binary.
//!
//! - `testsvc serve --listen ADDR --version NAME [--error-rate R] [--latency-ms MS]`:
//!   an HTTP service with a set error rate and latency and Prometheus metrics
//!   (see `service.rs`); prints `listening on ADDR`.
//! - `testsvc load --url URL --rps N --seconds S`: bounded steady load.
//! - `testsvc get URL`: exit 0 when URL answers 2xx (readiness checks in scripts).
//! - `testsvc haproxy --socket HOST:PORT|PATH 'COMMAND'`: one HAProxy runtime-API command.

mod service;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "testsvc",
    about = "A test service and its load, for demos and end-to-end tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GET / (200, or 500 at the error rate) and GET /metrics.
    Serve {
        /// Address to listen on (port 0: any; the chosen one is printed).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// The `version` label of its metrics.
        #[arg(long = "version", value_name = "NAME")]
        version_name: String,
        /// Share of requests answered 500.
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        /// Mean latency of GET / in milliseconds.
        #[arg(long, default_value_t = 20.0)]
        latency_ms: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// GET `url` `rps` times a second for `seconds`, then print the counts.
    Load {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 100)]
        rps: u32,
        /// Stops by itself, so a forgotten demo does not load the machine forever.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
    },
    /// Exit 0 when `url` answers 2xx within 2 s, else 1.
    Get { url: String },
    /// Send one command to HAProxy's runtime API and print the answer.
    Haproxy {
        /// `HOST:PORT` (`stats socket ipv4@…`) or a unix socket path.
        #[arg(long)]
        socket: String,
        command: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let code = match Cli::parse().command {
        Command::Serve {
            listen,
            version_name,
            error_rate,
            latency_ms,
            seed,
        } => {
            let config = service::TestServiceConfig {
                listen,
                version: version_name,
                error_rate,
                latency_ms,
                seed,
            };
            match service::serve(config).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("testsvc: {e}");
                    2
                }
            }
        }
        Command::Load { url, rps, seconds } => load(url, rps.max(1), seconds).await,
        Command::Get { url } => get(&url).await,
        Command::Haproxy { socket, command } => match haproxy(&socket, &command).await {
            Ok(answer) => {
                print!("{answer}");
                0
            }
            Err(e) => {
                eprintln!("testsvc haproxy {socket}: {e}");
                1
            }
        },
    };
    std::process::ExitCode::from(code)
}

async fn load(url: String, rps: u32, seconds: u64) -> u8 {
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return 1;
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rps)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let until = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while tokio::time::Instant::now() < until {
        tick.tick().await;
        let (http, url, o, f) = (http.clone(), url.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => o.fetch_add(1, Ordering::Relaxed),
                _ => f.fetch_add(1, Ordering::Relaxed),
            };
        });
    }
    println!(
        "load: {} ok, {} failed in {seconds} s",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    0
}

async fn get(url: &str) -> u8 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build();
    match client.map(|c| c.get(url).send()) {
        Ok(sent) => match sent.await {
            Ok(r) if r.status().is_success() => 0,
            _ => 1,
        },
        Err(_) => 1,
    }
}

/// One runtime-API command: write it, read the answer to EOF (HAProxy closes).
async fn haproxy(socket: &str, command: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let line = format!("{command}\n");
    let mut answer = String::new();
    let io = async {
        if socket.contains('/') {
            let mut s = tokio::net::UnixStream::connect(socket).await?;
            s.write_all(line.as_bytes()).await?;
            s.read_to_string(&mut answer).await?;
        } else {
            let mut s = tokio::net::TcpStream::connect(socket).await?;
            s.write_all(line.as_bytes()).await?;
            s.read_to_string(&mut answer).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(3), io)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 3 s"))??;
    Ok(answer)
}
