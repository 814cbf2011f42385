//! `banter bench <scenario>`: the load tool, built on the Rust SDK. The
//! `banter` binary parses [`BenchArgs`] and calls [`run`]; nothing else is
//! public.
//!
//! Every scenario runs against servers that `bench` starts itself — by
//! default one `banter serve` in a child process with a temporary data dir,
//! so the server's memory can be read from `/proc` and it does not share a
//! runtime with the load generator; with `--nodes N --database-url …
//! --nats-url …` a cluster of N child processes on a fresh PostgreSQL
//! database and NATS — or against running servers (`--url`, repeatable).
//! Clients are spread round-robin over the nodes.
//!
//! Shape of a run: **seed** (users, devices, conversations, history:
//! straight into the store through the `Store` trait before the servers
//! start, or through the HTTP API for `--url`), **start** the servers,
//! **load** them, **report** a table (or JSON with `--json`). A run that
//! finds lost, duplicated or out-of-order messages reports them and exits
//! with status 1.
//!
//! Modules: [`cluster`] (the servers under test, one or more [`target`]s),
//! [`backend`] (their storage: SQLite, or PostgreSQL + NATS) and
//! [`database`] (the run's own PostgreSQL database), [`seed`] (fast setup),
//! [`net`] (source addresses), [`sys`] (the few system calls: file limit,
//! signals — the crate's only `unsafe`), [`clock`] (timestamps carried in
//! messages), [`pace`] (the open-loop rate-paced sender), [`live`] (the
//! set-up and report shared by `direct` and `group`), [`traffic`] (their
//! engine) and [`accounting`] (its figures), [`report`] (table and JSON),
//! and one module per scenario.

#![deny(unsafe_code)]
#![warn(missing_docs)]
// The crate's docs are for whoever changes `banter` itself and link its
// private modules (read them with `cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

mod accounting;
mod backend;
mod clock;
mod cluster;
mod connections;
mod database;
mod direct;
mod group;
mod history;
mod live;
mod net;
mod pace;
mod pipeline;
mod progress;
mod report;
mod search;
mod seed;
mod sync;
mod sys;
mod target;
mod traffic;

use std::path::PathBuf;

use anyhow::Context;

use report::Report;

/// `banter bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    common: CommonArgs,
}

/// Options every scenario takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Load a running server at this base URL (e.g. http://127.0.0.1:8080)
    /// instead of starting one; repeat it for the nodes of a running
    /// cluster (clients are spread round-robin). Users are then created
    /// through the API of the first (slow: every signup hashes a password).
    #[arg(long, global = true, conflicts_with_all = ["nodes", "database_url"])]
    url: Vec<String>,
    /// With --url: the servers' process ids, in the same order, to report
    /// their memory and CPU.
    #[arg(long, global = true)]
    server_pid: Vec<u32>,
    /// Start this many `banter serve` nodes (more than 1 needs
    /// --database-url and --nats-url).
    #[arg(long, global = true, default_value_t = 1)]
    nodes: usize,
    /// Cluster mode: a PostgreSQL database to administer from (e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres). The run creates a
    /// fresh database `banter_bench_<run>` beside it, seeds it, runs the
    /// nodes on it and drops it at the end.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Cluster mode: the NATS server the nodes route through
    /// (e.g. nats://127.0.0.1:4222); subjects are private to the run.
    #[arg(long, global = true, requires = "database_url")]
    nats_url: Option<String>,
    /// Cluster mode: PostgreSQL connections per node (and for seeding).
    #[arg(long, global = true, default_value_t = 8)]
    database_pool_size: u32,
    /// TOML file passed to each started `banter serve --config`.
    #[arg(long, global = true)]
    server_config: Option<PathBuf>,
    /// Run the embedded server under this command, e.g. "valgrind
    /// --tool=callgrind" to profile it (split on whitespace).
    #[arg(long, global = true)]
    server_wrapper: Option<String>,
    /// Directory for the embedded server's data [default: a new temp dir,
    /// removed afterwards].
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Print the results as JSON on stdout instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Loopback source addresses (127.0.0.2, 127.0.0.3, …) to spread client
    /// connections over; one address pair only has ~28k ephemeral ports.
    #[arg(long, global = true, default_value_t = 16)]
    source_addresses: u8,
    /// How clients connect: `websocket`, or `events` for the fallback
    /// transport (an event stream down, POSTs up), to measure its cost.
    #[arg(long, global = true, default_value = "websocket", value_parser = parse_transport)]
    transport: banter_sdk::TransportKind,
}

fn parse_transport(value: &str) -> Result<banter_sdk::TransportKind, String> {
    match value {
        "websocket" => Ok(banter_sdk::TransportKind::WebSocket),
        "events" => Ok(banter_sdk::TransportKind::EventStream),
        other => Err(format!("unknown transport {other:?}: websocket or events")),
    }
}

#[derive(Debug, clap::Subcommand)]
enum Scenario {
    /// N idle authenticated WebSockets: connect rate and server memory per connection.
    Connections(connections::Args),
    /// 1:1 pairs at a target total rate: achieved rate, latency, zero loss.
    Direct(direct::Args),
    /// Groups of 100 at a target send rate: deliveries/s, latency to each and to the last recipient.
    Group(group::Args),
    /// K devices miss M messages while offline, then all reconnect: time to catch up.
    Sync(sync::Args),
    /// Page through a conversation of many messages: pages/s and latency.
    History(history::Args),
    /// Full-text queries over many messages (1M by default): latency per query.
    Search(search::Args),
}

/// Runs one scenario and prints its report. A report with problems (lost or
/// duplicated messages, errors) is an error, after printing.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    clock::start();
    sys::raise_file_limit();
    let load_before = load_average();
    let common = args.common;
    anyhow::ensure!(common.nodes >= 1, "--nodes must be at least 1");
    anyhow::ensure!(
        common.nodes == 1 || (common.database_url.is_some() && common.nats_url.is_some()),
        "--nodes above 1 needs --database-url and --nats-url"
    );
    let report = match args.scenario {
        Scenario::Connections(a) => connections::run(&common, a).await,
        Scenario::Direct(a) => direct::run(&common, a).await,
        Scenario::Group(a) => group::run(&common, a).await,
        Scenario::Sync(a) => sync::run(&common, a).await,
        Scenario::History(a) => history::run(&common, a).await,
        Scenario::Search(a) => search::run(&common, a).await,
    }
    .context("benchmark failed")?;
    let mut report = report;
    if let Some(load) = load_before {
        report.result("machine_load_before_1m", "machine load average before the run (1 min)", load, "");
        if load > BUSY_LOAD {
            report.warnings.push(format!(
                "the machine was busy before the run (load average {load:.2} > {BUSY_LOAD}): \
                 these figures are not a quiet-machine measurement; wait until it is idle and run again"
            ));
        }
    }
    machine_load(&mut report);
    if common.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.to_table());
    }
    if !report.problems.is_empty() {
        anyhow::bail!("the run found problems: {}", report.problems.join("; "));
    }
    Ok(())
}

/// Above this 1-minute load average before a run, its report carries a
/// warning: other work was competing for the CPUs (docs/BENCHMARKS.md keeps
/// only runs started below it).
const BUSY_LOAD: f64 = 1.5;

/// The 1-minute load average, where the machine reports one.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// How busy the machine was at the end of the run: the load average and
/// the share of the last minute in which some task waited for a CPU
/// (`/proc/pressure/cpu`). On a shared machine these say how much the
/// figures were held back by other work.
fn machine_load(report: &mut Report) {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    if let Some(load) = load_average() {
        report.result("machine_load_1m", "machine load average at the end (1 min)", load, "");
    }
    let pressure = read("/proc/pressure/cpu");
    let some_avg60 = pressure
        .lines()
        .find(|l| l.starts_with("some"))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("avg60=")))
        .and_then(|v| v.parse::<f64>().ok());
    if let Some(p) = some_avg60 {
        report.result("machine_cpu_pressure_pct", "time some task waited for a CPU (1 min)", p, "%");
    }
}
