//! `banter`: the one binary of the Banter chat system.
//!
//! * `banter serve` — run the server (embedded SQLite, no external service;
//!   or a cluster node with `--database-url` and `--nats-url`).
//! * `banter bench <scenario>` — the load tool (see `bench/mod.rs`).
//! * `banter chat` — a terminal client (see `chat/mod.rs`).
//!
//! The binary is thin: it parses configuration and calls into
//! `banter-server`; the logic lives in the library crates.

mod bench;
mod chat;
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
    /// Load a server and measure it: connections, direct, group, sync, history.
    Bench(bench::BenchArgs),
    /// Chat from the terminal: a line-oriented client (/help inside).
    Chat(chat::ChatArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The server logs to stdout (its "ready" line is read from there); the
    // load tool and the chat client keep
    // stdout for their output and log warnings to stderr.
    let logs_to_stderr = matches!(cli.command, Command::Bench(_) | Command::Chat(_));
    let default_filter = if logs_to_stderr { "warn" } else { "info,tower_http=warn" };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("BANTER_LOG").unwrap_or_else(|_| default_filter.into());
    if logs_to_stderr {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Chat(args) => chat::run(args).await,
        }
    })
}
