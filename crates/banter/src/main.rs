//! `banter`: the one binary of the Banter chat system.
//!
//! * `banter serve` — run the server (embedded SQLite, no external service;
//!   or a cluster node with `--database-url` and `--nats-url`).
//!
//! The binary is thin: it parses configuration and calls into
//! `banter-server`; the logic lives in the library crates.

mod serve;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "banter", version, about = "Self-hostable chat: server, load tool and terminal client")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chat server.
    Serve(serve::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BANTER_LOG").unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
        }
    })
}
