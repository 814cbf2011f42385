//! `banter`: the one binary of the Banter chat system.
//!
//! * `banter serve` — run the server (embedded SQLite, no external service;
//!   or a cluster node with `--database-url` and `--nats-url`).
//! * `banter bench <scenario>` — the load tool (crate `banter-bench`).
//! * `banter chat` — a terminal client (crate `banter-chat`).
//! * `banter backup <file>` / `banter restore <file>` — copy the embedded
//!   database while the server runs; put a copy back while it is stopped.
//! * `banter config check|reference` — the configuration the layers give,
//!   or the reference of every setting (docs/CONFIGURATION.md).
//!
//! The binary is thin: it parses the command line, sets up logging and a
//! runtime, and calls into `banter-server`, `banter-bench` or
//! `banter-chat`; the logic lives in the library crates.

#![forbid(unsafe_code)]

mod backup;
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
    Bench(banter_bench::BenchArgs),
    /// Chat from the terminal: a line-oriented client (/help inside).
    Chat(banter_chat::ChatArgs),
    /// Check the configuration, or print the reference of every setting.
    #[command(subcommand)]
    Config(serve::ConfigCommand),
    /// Copy the embedded database to a file, safely while the server runs.
    Backup(backup::BackupArgs),
    /// Replace the embedded database with a backup (the server must be stopped).
    Restore(backup::RestoreArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The server logs to stdout (its "ready" line is read from there); the
    // load tool and the chat client keep
    // stdout for their output and log warnings to stderr.
    let logs_to_stderr = matches!(
        cli.command,
        Command::Bench(_) | Command::Chat(_) | Command::Config(_) | Command::Backup(_) | Command::Restore(_)
    );
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
    let result = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(anyhow::Error::from).and_then(
        |runtime| {
            runtime.block_on(async {
                match cli.command {
                    Command::Serve(args) => serve::run(args).await,
                    Command::Bench(args) => banter_bench::run(args).await,
                    Command::Chat(args) => banter_chat::run(args).await,
                    Command::Config(command) => serve::config_command(command),
                    Command::Backup(args) => backup::backup(args),
                    Command::Restore(args) => backup::restore(args),
                }
            })
        },
    );
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with the whole cause chain ("starting the server:
            // cannot listen on 127.0.0.1:8080: Address already in use"), not
            // a debug dump with a backtrace: this is what an operator reads.
            eprintln!("banter: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
