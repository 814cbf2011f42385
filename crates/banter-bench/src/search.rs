//! `search`: full-text queries over a server holding many messages.
//!
//! U users talk in C direct conversations (each user in about 2C/U of
//! them); M messages are seeded straight into the store, each in a random
//! conversation: 90 % are 3–20 words drawn from a vocabulary of V made-up
//! words with Zipf-distributed frequencies (as words of a language are:
//! the commonest is in about one message in ten), 10 % are 10–30 Chinese
//! characters drawn the same way. Then Q queries, R at a time, each by a
//! random user over HTTP (`GET /search`), drawn like the texts so common
//! words are searched more: 70 % one word, 20 % two words, 10 % two
//! Chinese characters. Reported: the latency of each query (request →
//! parsed answer), queries/s, results per query, and the share of queries
//! whose matches overflowed the ranked window.
//!
//! Seeding needs the store: not available with --url.

use std::sync::Arc;
use std::time::Instant;

use banter_protocol::http::SearchParams;
use banter_sdk::ApiClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::report::{round2, Latency, Report};
use super::seed::{BenchUser, Setup};
use super::{progress, CommonArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Messages stored before the queries.
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Users.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Direct conversations among them (at most users × 10).
    #[arg(long, default_value_t = 1_000)]
    conversations: usize,
    /// Different words in the texts.
    #[arg(long, default_value_t = 30_000)]
    vocabulary: usize,
    /// Queries to run.
    #[arg(long, default_value_t = 5_000)]
    queries: u64,
    /// Queries in flight at once.
    #[arg(long, default_value_t = 2)]
    concurrency: u64,
}

/// Words drawn by Zipf's law: rank k (from 0) with weight 1/(k+1).
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|k| {
                total += 1.0 / (k as f64 + 1.0);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let at = rng.gen::<f64>() * total;
        self.cumulative.partition_point(|&c| c < at).min(self.cumulative.len().saturating_sub(1))
    }
}

/// The word of rank `k`: two or three syllables, pronounceable, distinct.
fn word(k: usize) -> String {
    const CONSONANTS: &[u8] = b"bdfgklmnprstvz";
    const VOWELS: &[u8] = b"aeiou";
    let syllables = CONSONANTS.len() * VOWELS.len();
    let mut n = k + syllables; // at least two syllables
    let mut out = String::new();
    while n > 0 {
        let s = n % syllables;
        out.push(CONSONANTS[s / VOWELS.len()] as char);
        out.push(VOWELS[s % VOWELS.len()] as char);
        n /= syllables;
    }
    out
}

/// The Chinese character of rank `k` (from the 3,000 after U+4E00).
fn han(k: usize) -> char {
    char::from_u32(0x4E00 + (k % 3_000) as u32).unwrap_or('中')
}

/// The text of message `i`: the same on every run.
fn text(i: u64, words: &Zipf, chars: &Zipf) -> String {
    let mut rng = StdRng::seed_from_u64(i);
    if rng.gen_ratio(1, 10) {
        (0..rng.gen_range(10..=30)).map(|_| han(chars.sample(&mut rng))).collect()
    } else {
        let n = rng.gen_range(3..=20);
        (0..n).map(|_| word(words.sample(&mut rng))).collect::<Vec<_>>().join(" ")
    }
}

/// A query like the texts: common words are searched more.
fn query(rng: &mut impl Rng, words: &Zipf, chars: &Zipf) -> String {
    match rng.gen_range(0..10) {
        0..=6 => word(words.sample(rng)),
        7..=8 => format!("{} {}", word(words.sample(rng)), word(words.sample(rng))),
        _ => [han(chars.sample(rng)), han(chars.sample(rng))].iter().collect(),
    }
}

/// What one client saw.
#[derive(Default)]
struct ClientResult {
    latency: Vec<u64>,
    results: u64,
    truncated: u64,
}

pub async fn run(common: &CommonArgs, args: Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.users >= 2, "--users must be at least 2");
    anyhow::ensure!(args.conversations <= args.users * 10, "--conversations is at most 10 × --users");
    anyhow::ensure!(args.conversations >= 1 && args.concurrency >= 1, "need a conversation and a client");
    let setup = Setup::new(common).await?;
    let users = setup.users(args.users).await?;
    // Conversation k is between user a and one of the 10 after it.
    let pairs: Vec<(BenchUser, BenchUser)> = (0..args.conversations)
        .map(|k| {
            let a = k % args.users;
            let b = (a + 1 + (k / args.users) % (args.users - 1)) % args.users;
            (users[a].clone(), users[b].clone())
        })
        .collect();
    let conversations = setup.directs(&pairs).await?;
    let words = Arc::new(Zipf::new(args.vocabulary));
    let chars = Arc::new(Zipf::new(3_000));
    let seed_started = Instant::now();
    let seeded = setup
        .messages_by(args.messages, |i| {
            let k = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20) as usize % conversations.len();
            let sender = if i % 2 == 0 { &pairs[k].0 } else { &pairs[k].1 };
            (conversations[k], sender, text(i, &words, &chars))
        })
        .await?;
    anyhow::ensure!(seeded, "the search scenario seeds into the store: it cannot run with --url");
    let seed_seconds = seed_started.elapsed().as_secs_f64();
    let cluster = setup.start(common).await?;

    let bar = progress::bar(args.queries, "queries", common.quiet);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|c| {
            let share = args.queries / args.concurrency + u64::from(c < args.queries % args.concurrency);
            let url = cluster.url_of_client(c as usize).to_owned();
            let (users, words, chars, bar) = (users.clone(), words.clone(), chars.clone(), bar.clone());
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(1_000_000 + c);
                let apis: Vec<ApiClient> = users
                    .iter()
                    .map(|u| ApiClient::new(&url).map(|a| a.with_token(u.token.clone())))
                    .collect::<Result<_, _>>()?;
                let mut result = ClientResult::default();
                for _ in 0..share {
                    let params = SearchParams { q: query(&mut rng, &words, &chars), ..SearchParams::default() };
                    let api = &apis[rng.gen_range(0..apis.len())];
                    let t0 = Instant::now();
                    let found = api.search(&params).await?;
                    result.latency.push(t0.elapsed().as_micros() as u64);
                    result.results += found.results.len() as u64;
                    result.truncated += u64::from(found.truncated);
                    bar.inc(1);
                }
                Ok::<_, anyhow::Error>(result)
            })
        })
        .collect();
    let mut latency = Latency::new();
    let (mut results, mut truncated) = (0, 0);
    for task in tasks {
        let r = task.await??;
        r.latency.iter().for_each(|&us| latency.record_us(us));
        results += r.results;
        truncated += r.truncated;
    }
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let mut report = Report::new("search", cluster.describe());
    cluster.add_params(&mut report);
    report
        .param("messages", args.messages)
        .param("users", args.users as u64)
        .param("conversations", args.conversations as u64)
        .param("vocabulary", args.vocabulary as u64)
        .param("queries", args.queries)
        .param("concurrency", args.concurrency);
    let queries = latency.count().max(1) as f64;
    report
        .result("seed_seconds", "time to seed the messages", round2(seed_seconds), "s")
        .result("seed_rate", "seeding rate (indexed appends)", round2(args.messages as f64 / seed_seconds.max(1e-9)), "msg/s")
        .result("queries_per_s", "queries/s", round2(latency.count() as f64 / elapsed.max(1e-9)), "/s")
        .result("results_per_query", "results per query (page of 20)", round2(results as f64 / queries), "")
        .result("truncated_pct", "queries with more than 1,000 matches", round2(100.0 * truncated as f64 / queries), "%");
    report.latency("query", "query (HTTP request → parsed)", &latency);
    cluster.stop();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_distinct_and_texts_repeat_across_runs() {
        let all: std::collections::HashSet<String> = (0..30_000).map(word).collect();
        assert_eq!(all.len(), 30_000);
        let (words, chars) = (Zipf::new(1_000), Zipf::new(3_000));
        assert_eq!(text(7, &words, &chars), text(7, &words, &chars));
    }

    #[test]
    fn zipf_favours_low_ranks() {
        let zipf = Zipf::new(1_000);
        let mut rng = StdRng::seed_from_u64(1);
        let firsts = (0..10_000).filter(|_| zipf.sample(&mut rng) == 0).count();
        assert!((1_000..1_700).contains(&firsts), "rank 0 drawn {firsts} times in 10,000");
    }
}
