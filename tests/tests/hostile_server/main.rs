//! Hostile and imperfect servers: whatever bytes a server sends, a call ends
//! in a value or a typed error, in bounded time and bounded memory, and
//! never panics.
//!
//! A raw TCP server (HTTP/1.1, `Connection: close`) answers every request
//! of a case with the same response, generated from a seeded RNG in one of
//! the families below. Each case drives one client path:
//!
//! - (a) async-openai's client on [`Transport`] (fast retries, `Retry-After`
//!   capped at 50 ms) inside [`Timeout`] (response and idle limits), `create`
//!   and `create_stream`;
//! - (b) the same behind `#[openai_client]` with the scanning guardrails
//!   (`Keywords`, `Pii`, `SecretKeys`, `UrlFilter`) as chunk and
//!   post-response hooks;
//! - (c) [`OpenAIModel`] with the client of (a) injected, streaming (its
//!   event converter) and not.
//!
//! Every call runs in `tokio::spawn` (a panic is a `JoinError`, reported
//! with the case) under an outer limit of
//! [`CASE_LIMIT`](clients::CASE_LIMIT) (a hang is a failure). Cases run one
//! after another on a current-thread runtime, and a counting allocator
//! records the peak of live heap bytes during each one, measured from the
//! bytes live when the case starts (the response itself is built before).
//! The peak must stay under `report::bound`, written in terms of the limits
//! in [`openai_hooks::limits`].
//!
//! `HOSTILE_CASES=N` runs more cases (the default covers every family with
//! every path once), `HOSTILE_SEED=S` changes the seed, `HOSTILE_CASE=K`
//! runs case `K` alone; every failure names its case and seed.
//!
//! The tests in this binary take a lock so that they run one at a time: the
//! allocator's counters are global.
//!
//! Modules: `alloc` (the counting allocator), `wire` (a response's bytes,
//! how one is built, the raw server), `families` (the seeded generators:
//! `http` framing, whole `bodies`, event `streams`, and the table of
//! families), `clients` (the three paths, one call under the outer limit,
//! its outcome), `report` (the heap bound, a case's verdict, the summary
//! table). This file has the tests and the loop over the cases.

mod alloc;
mod clients;
mod families;
mod report;
mod wire;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::middleware::Timeout;
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::transport::{RetryPolicy, Transport};
use openai_hooks::{ChatClient, ClientError};

use alloc::{PEAK, reset_peak};
use clients::{Clients, Outcome, PANICS, Path, record_panics, request, run, with_hidden_panics};
use families::{RETRY_AFTERS, Rng, error_json, pairs};
use report::{FamilyStats, mib, summary, verdict};
use wire::{RawServer, resp};

/// A current-thread runtime: cases run one after another on one thread.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The tests of this file, one at a time (the counters are global).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A case still running after this long is blocking the runtime's thread
/// (the outer timer cannot fire): the watchdog ends the process.
const WATCHDOG_LIMIT: Duration = Duration::from_secs(90);

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The default seed; any failure prints the seed and case to rerun it.
const SEED: u64 = 0x005E_ED0F_F00D;

/// When the current case started (ms since `BASE`), 0 between cases: the
/// watchdog's view.
static CASE_STARTED: AtomicU64 = AtomicU64::new(0);
static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);
static CASE_NAME: Mutex<String> = Mutex::new(String::new());

fn since_base() -> u64 {
    BASE.elapsed().as_millis() as u64 + 1
}

/// Ends the process when one case blocks the runtime's thread for longer
/// than [`WATCHDOG_LIMIT`]: the outer timer cannot fire then, and a stuck
/// CI job says less than this.
fn watchdog() {
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let started = CASE_STARTED.load(Ordering::Relaxed);
            if started != 0
                && since_base().saturating_sub(started) > WATCHDOG_LIMIT.as_millis() as u64
            {
                let name = CASE_NAME
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                eprintln!("hostile_server: {name} blocked its thread for {WATCHDOG_LIMIT:?}");
                std::process::exit(101);
            }
        }
    });
}

#[test]
fn hostile_servers_end_every_call_typed_in_bounded_memory() {
    let _serial = serial();
    current_thread().block_on(hostile_servers_end_every_call_typed_in_bounded_memory_body());
}

async fn hostile_servers_end_every_call_typed_in_bounded_memory_body() {
    record_panics();
    LazyLock::force(&BASE);
    watchdog();

    let seed = env("HOSTILE_SEED").unwrap_or(SEED);
    let pairs = pairs();
    let count: usize = env("HOSTILE_CASES").unwrap_or(pairs.len());
    let only: Option<usize> = env("HOSTILE_CASE");
    println!(
        "hostile_server: seed {seed:#x}, {count} cases (HOSTILE_CASES=N for more, \
         HOSTILE_SEED=S, HOSTILE_CASE=K for one)"
    );

    let server = RawServer::start().await;
    let clients = Arc::new(Clients::new(&server.base_url));
    let mut stats: BTreeMap<&str, FamilyStats> = BTreeMap::new();
    let mut failures = Vec::new();
    let started = Instant::now();

    for case in (0..count).filter(|c| only.is_none_or(|k| k == *c)) {
        let (family, generate, path) = pairs[case % pairs.len()];
        let mut rng = Rng::new(
            seed ^ (case as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            path.streams(),
        );
        let wire = Arc::new(generate(&mut rng));
        let name = format!(
            "case {case} (seed {seed:#x}) {family} / {}: {}",
            path.name(),
            wire.note
        );
        *CASE_NAME.lock().unwrap() = name.clone();
        server.set(wire.clone());

        let t0 = Instant::now();
        let baseline = reset_peak();
        CASE_STARTED.store(since_base(), Ordering::Relaxed);
        let outcome = with_hidden_panics(run(clients.clone(), path).await);
        CASE_STARTED.store(0, Ordering::Relaxed);
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
        let took = t0.elapsed();

        let verdict = verdict(&wire, path, &outcome, peak);
        println!(
            "{name} -> {outcome}, peak {}, {took:.2?}{}",
            mib(peak),
            if verdict.is_some() { "  FAILED" } else { "" }
        );
        stats
            .entry(family)
            .or_default()
            .record(&wire, path, &outcome, peak);
        if let Some(v) = verdict {
            failures.push(format!(
                "{name}\n    {v}\n    response: \"{}\"",
                wire.head(300)
            ));
        }
        // Let the server's tasks for this case finish or notice the close.
        drop(wire);
        tokio::task::yield_now().await;
    }

    let cases = summary(&stats, started.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases,
        failures.join("\n")
    );
}

// ------------------------------------------------------------- fixed cases

/// `Duration::MAX` means "no limit" for both of `Timeout`'s limits: a stream
/// through it delivers its chunks and ends, with no panic when the idle
/// timer is reset after a chunk.
#[test]
fn timeout_limits_of_duration_max_mean_no_limit() {
    let _serial = serial();
    current_thread().block_on(timeout_limits_of_duration_max_mean_no_limit_body());
}

async fn timeout_limits_of_duration_max_mean_no_limit_body() {
    record_panics();
    let server = LocalServer::start().await.unwrap();
    let config = OpenAIConfig::new().with_api_base(server.base_url());
    for (what, client) in [
        (
            "idle",
            Timeout::new(Client::with_config(config.clone())).idle(Duration::MAX),
        ),
        (
            "response",
            Timeout::new(Client::with_config(config.clone())).response(Duration::MAX),
        ),
    ] {
        server.push(Reply::text("one two three").chunks(3));
        PANICS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let task = tokio::spawn(async move {
            let mut stream = client.create_stream(request()).await?;
            let mut text = String::new();
            while let Some(chunk) = stream.next().await {
                text.push_str(chunk?.content().unwrap_or_default());
            }
            Ok::<_, ClientError>(text)
        });
        let joined = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap_or_else(|_| panic!("{what}(Duration::MAX): no result within 10 s"));
        let text = match joined {
            Ok(r) => r.unwrap_or_else(|e| panic!("{what}(Duration::MAX): {e}")),
            Err(_) => {
                // Read first: the guard must be gone before `panic!` runs
                // the hook, which takes the same lock.
                let seen = PANICS
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .join(" | ");
                panic!("{what}(Duration::MAX) panicked: {seen}")
            }
        };
        assert_eq!(text, "one two three", "{what}(Duration::MAX)");
    }
    server.shutdown().await;
}

/// An error body that trickles in is read for at most
/// `DEFAULT_ERROR_BODY_TIME` by the transport alone (no `Timeout` layer):
/// the call ends with the status and what arrived, not when the server
/// stops.
#[test]
fn a_trickling_error_body_is_read_for_at_most_the_error_body_time() {
    let _serial = serial();
    current_thread()
        .block_on(a_trickling_error_body_is_read_for_at_most_the_error_body_time_body());
}

async fn a_trickling_error_body_is_read_for_at_most_the_error_body_time_body() {
    use openai_hooks::limits::DEFAULT_ERROR_BODY_TIME;

    let server = RawServer::start().await;
    // 40 s of body, one byte each 100 ms.
    let wire = resp(500)
        .json(format!(
            r#"{{"error":{{"message":"{}"}}}}"#,
            "s".repeat(400)
        ))
        .wire("a trickling 500")
        .trickle(1, Duration::from_millis(100));
    server.set(Arc::new(wire));
    let client = Transport::builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .client(OpenAIConfig::new().with_api_base(&server.base_url));
    let limit = DEFAULT_ERROR_BODY_TIME + Duration::from_secs(5);
    let t0 = Instant::now();
    let task = tokio::spawn(async move { client.create(request()).await.map(|_| ()) });
    let result = tokio::time::timeout(limit, task).await.unwrap_or_else(|_| {
        panic!("a trickling error body held the call past {limit:?} (DEFAULT_ERROR_BODY_TIME {DEFAULT_ERROR_BODY_TIME:?})")
    });
    let err = result.expect("no panic").expect_err("a 500 is an error");
    assert_eq!(err.status(), Some(500), "{err}");
    assert!(t0.elapsed() < limit);
}

/// Every `Retry-After` of the list, on a `429` and a `503`: the call ends
/// with the API error (the value is honoured, ignored or ends the retries),
/// never a panic. The fuzz test above samples these; here each one runs.
#[test]
fn every_odd_retry_after_ends_in_the_api_error() {
    let _serial = serial();
    current_thread().block_on(every_odd_retry_after_ends_in_the_api_error_body());
}

async fn every_odd_retry_after_ends_in_the_api_error_body() {
    record_panics();
    let server = RawServer::start().await;
    let clients = Arc::new(Clients::new(&server.base_url));
    let mut failures = Vec::new();
    for value in RETRY_AFTERS {
        for code in [429, 503] {
            let wire = resp(code)
                .header("Retry-After", value)
                .json(error_json("busy"))
                .wire(format!("status {code}, Retry-After {value:?}"));
            let head = wire.head(120);
            server.set(Arc::new(wire));
            let outcome = with_hidden_panics(run(clients.clone(), Path::ACreate).await);
            if !matches!(&outcome, Outcome::Error(kind) if kind == &format!("Api({code})")) {
                failures.push(format!("{head}\n    -> {outcome}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
