//! `history`: page backwards through one long conversation over HTTP.
//!
//! One 1:1 conversation is seeded with M messages (straight into the store
//! for the embedded server; pipelined sends through `--url`). Then R readers
//! — each its own HTTP client, like separate devices scrolling back — split
//! the conversation into R stretches and page each backwards with
//! `before=<oldest seq seen>&limit=<page>` to its start. Every page is
//! checked: ascending, contiguous, ending just below the cursor, full.

use std::time::Instant;

use banter_protocol::http::HistoryQuery;
use banter_sdk::ApiClient;

use super::report::{round2, Latency, Report};
use super::seed::{seed_messages_over_api, Setup};
use super::{progress, CommonArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Messages in the conversation.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Messages per page (1–200).
    #[arg(long, default_value_t = 50)]
    page: u32,
    /// Concurrent readers.
    #[arg(long, default_value_t = 4)]
    readers: u64,
    /// Pages to read in all [default: the whole conversation once].
    #[arg(long)]
    pages: Option<u64>,
    /// Bytes of text per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
}

/// What one reader saw.
#[derive(Default)]
struct ReaderResult {
    latency: Vec<u64>,
    messages: u64,
    bad_pages: u64,
    first_problem: Option<String>,
}

pub async fn run(common: &CommonArgs, args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.readers >= 1 && args.messages >= args.readers, "need at least one message per reader");
    anyhow::ensure!((1..=200).contains(&args.page), "--page must be 1..=200");
    let setup = Setup::new(common).await?;
    let users = setup.users(2).await?;
    let (writer, reader) = (users[0].clone(), users[1].clone());
    let conversation = setup.directs(&[(writer.clone(), reader.clone())]).await?[0];
    let seed_started = Instant::now();
    let seeded_in_store = setup.messages(conversation, &writer, args.messages, args.size).await?;
    let cluster = setup.start(common).await?;
    if !seeded_in_store {
        let members = [writer.clone(), reader.clone()];
        seed_messages_over_api(cluster.first_url(), conversation, &members, args.messages, args.size, common.quiet)
            .await?;
    }
    let seed_seconds = seed_started.elapsed().as_secs_f64();

    // Reader r owns seqs (low, high] and pages from high down to low.
    let stretch = |r: u64| (args.messages * r / args.readers, args.messages * (r + 1) / args.readers);
    let pages_of: Vec<u64> = (0..args.readers)
        .map(|r| match args.pages {
            Some(total) => total / args.readers + u64::from(r < total % args.readers),
            None => {
                let (low, high) = stretch(r);
                (high - low).div_ceil(u64::from(args.page))
            }
        })
        .collect();
    let pages_total: u64 = pages_of.iter().sum();
    let bar = progress::bar(pages_total, "pages", common.quiet);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.readers)
        .map(|r| {
            let (low, high) = stretch(r);
            let pages = pages_of[r as usize];
            let api = ApiClient::new(cluster.url_of_client(r as usize)).map(|a| a.with_token(reader.token.clone()));
            let (bar, page) = (bar.clone(), args.page);
            tokio::spawn(async move {
                let api = api?;
                let mut result = ReaderResult::default();
                let mut before = high + 1;
                for _ in 0..pages {
                    if before <= low + 1 {
                        before = high + 1; // this stretch is done: read it again
                    }
                    let want = u64::from(page).min(before - 1 - low);
                    let t0 = Instant::now();
                    let got = api
                        .history(
                            conversation,
                            HistoryQuery { before: Some(before as i64), after: None, limit: Some(want as u32) },
                        )
                        .await?;
                    result.latency.push(t0.elapsed().as_micros() as u64);
                    let seqs: Vec<u64> = got.messages.iter().map(|m| m.seq as u64).collect();
                    let expected: Vec<u64> = (before - want..before).collect();
                    if seqs != expected {
                        result.bad_pages += 1;
                        result.first_problem.get_or_insert_with(|| {
                            format!(
                                "page before {before}: wanted seqs {:?}.., got {:?}..",
                                expected.first(),
                                seqs.first()
                            )
                        });
                    }
                    result.messages += seqs.len() as u64;
                    before = before.saturating_sub(want.max(1));
                    bar.inc(1);
                }
                Ok::<_, anyhow::Error>(result)
            })
        })
        .collect();
    let mut latency = Latency::new();
    let (mut messages, mut bad_pages, mut problem) = (0, 0, None);
    for task in tasks {
        let r = task.await??;
        r.latency.iter().for_each(|&us| latency.record_us(us));
        messages += r.messages;
        bad_pages += r.bad_pages;
        problem = problem.or(r.first_problem);
    }
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let mut report = Report::new("history", cluster.describe());
    cluster.add_params(&mut report);
    report
        .param("messages", args.messages)
        .param("page", args.page)
        .param("readers", args.readers)
        .param("pages", pages_total)
        .param("size", args.size);
    report
        .result("seed_seconds", "time to seed the conversation", round2(seed_seconds), "s")
        .result("seed_rate", "seeding rate", round2(args.messages as f64 / seed_seconds.max(1e-9)), "msg/s")
        .result("pages_read", "pages read", latency.count(), "")
        .result("pages_per_s", "pages/s", round2(latency.count() as f64 / elapsed.max(1e-9)), "/s")
        .result("messages_per_s", "messages read/s", round2(messages as f64 / elapsed.max(1e-9)), "/s")
        .must_be_zero("bad_pages", "pages with wrong content", bad_pages);
    if let Some(p) = problem {
        report.result("first_problem", "first problem", p, "");
    }
    report.latency("page", "page (HTTP request → parsed)", &latency);
    cluster.stop();
    Ok(report)
}
