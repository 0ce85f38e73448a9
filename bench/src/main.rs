//! The load benchmark: ways of calling an OpenAI-compatible server, side by
//! side, against the local server on loopback, over HTTP and HTTPS.
//!
//! ```sh
//! cargo run --release -p openai-hooks-bench -- --seconds 3 --rounds 3
//! ```
//!
//! For every transport, reply kind (one JSON reply, or a stream of
//! `--chunks` chunks) and concurrency, each subject runs for `--seconds` in
//! total, split into `--rounds` slices that take turns with the other
//! subjects' slices, so drift in the machine's speed hits them all alike.
//! Prints a Markdown table: requests per second, the ratio to the first
//! subject (the baseline), p50/p99 latency, TCP connections the server
//! accepted, errors.
#![forbid(unsafe_code)]

mod load;
mod report;
mod subjects;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use clap::{Arg, ArgAction, Command, value_parser};
use indicatif::{ProgressBar, ProgressStyle};
use openai_hooks::ChatRequest;
use openai_hooks::model::{ModelError, OpenAIModel};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks_bench::hooks::Hooked;

use report::Cell;
use subjects::{Endpoint, Subject};

fn command() -> Command {
    Command::new("openai-hooks-bench")
        .about("Load benchmark for openai-hooks against the local server")
        .arg(
            Arg::new("seconds")
                .long("seconds")
                .value_parser(value_parser!(f64))
                .default_value("2")
                .help("Time per subject per cell, over all rounds"),
        )
        .arg(
            Arg::new("rounds")
                .long("rounds")
                .value_parser(value_parser!(u32).range(1..))
                .default_value("3")
                .help("Interleaved slices per subject per cell"),
        )
        .arg(
            Arg::new("concurrency")
                .long("concurrency")
                .value_parser(value_parser!(usize))
                .value_delimiter(',')
                .default_value("1,64")
                .help("Concurrent callers, comma-separated"),
        )
        .arg(
            Arg::new("chunks")
                .long("chunks")
                .value_parser(value_parser!(usize))
                .default_value("200")
                .help("Chunks per streamed reply"),
        )
        .arg(
            Arg::new("transport")
                .long("transport")
                .value_parser(["http", "https"])
                .value_delimiter(',')
                .default_value("http,https"),
        )
        .arg(
            Arg::new("mode")
                .long("mode")
                .value_parser(["json", "stream"])
                .value_delimiter(',')
                .default_value("json,stream"),
        )
        .arg(
            Arg::new("subjects")
                .long("subjects")
                .value_parser(subjects::KEYS)
                .value_delimiter(',')
                .default_value("raw,transport,hooked,fixed,per-runtime,factory,ephemeral,per-request")
                .help("Subjects to measure, comma-separated (the shared raw client, the baseline, always runs)"),
        )
        .arg(
            Arg::new("client-threads")
                .long("client-threads")
                .value_parser(value_parser!(usize))
                .help("Worker threads of the callers' runtime (default: one per core)"),
        )
        .arg(
            Arg::new("quiet")
                .long("quiet")
                .action(ArgAction::SetTrue)
                .help("No progress display"),
        )
}

/// What the run measures, from the command line.
struct Plan {
    slice: Duration,
    rounds: u32,
    concurrency: Vec<usize>,
    chunks: usize,
    transports: Vec<&'static str>,
    modes: Vec<&'static str>,
    subjects: Vec<&'static str>,
    quiet: bool,
}

fn plan(m: &clap::ArgMatches) -> Result<Plan, Box<dyn Error>> {
    let seconds = *m.get_one::<f64>("seconds").unwrap_or(&2.0);
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err("--seconds must be a positive number".into());
    }
    let rounds = *m.get_one::<u32>("rounds").unwrap_or(&3);
    let pick = |name: &str, known: &[&'static str]| -> Vec<&'static str> {
        let given: Vec<&String> = m.get_many::<String>(name).into_iter().flatten().collect();
        known
            .iter()
            .copied()
            .filter(|k| given.iter().any(|g| g.as_str() == *k))
            .collect()
    };
    let concurrency: Vec<usize> = m
        .get_many::<usize>("concurrency")
        .into_iter()
        .flatten()
        .copied()
        .collect();
    if concurrency.contains(&0) {
        return Err("--concurrency values must be at least 1".into());
    }
    Ok(Plan {
        slice: Duration::from_secs_f64(seconds / f64::from(rounds)),
        rounds,
        concurrency,
        chunks: *m.get_one::<usize>("chunks").unwrap_or(&200),
        transports: pick("transport", &["http", "https"]),
        modes: pick("mode", &["json", "stream"]),
        subjects: pick("subjects", &subjects::KEYS),
        quiet: m.get_flag("quiet"),
    })
}

/// The raw subjects' request: exactly what the model subjects build from
/// the same conversation, so raw and model calls put the same bytes on the
/// wire and the comparison measures the model's own work.
fn request(stream: bool) -> Result<ChatRequest, ModelError> {
    let (messages, system) = subjects::conversation();
    OpenAIModel::builder("gpt-4o-mini")
        .stream(stream)
        .build()?
        .format_request(&messages, &[], Some(&system), None)
}

fn reply(stream: bool, chunks: usize) -> Reply {
    if stream {
        let words: Vec<String> = (0..chunks).map(|i| format!("word{i} ")).collect();
        Reply::text(words.concat()).chunks(chunks)
    } else {
        Reply::text("A short reply of about the size a classifier or a tool call returns.")
    }
}

/// The subjects of one cell that `keep` names, the baseline first and
/// always.
fn subjects(
    endpoint: &Endpoint,
    pem: Option<&str>,
    stream: bool,
    keep: &[&str],
) -> Result<Vec<Arc<Subject>>, Box<dyn Error>> {
    let mut all = vec![
        Subject::RawShared(endpoint.client()?),
        Subject::TransportShared(endpoint.transport_client()?),
        Subject::Hooked(Box::new(Hooked::new(endpoint.client()?))),
    ];
    all.extend(subjects::models(endpoint, pem, stream)?);
    all.push(Subject::RawPerRequest(endpoint.clone()));
    Ok(all
        .into_iter()
        .filter(|s| matches!(s, Subject::RawShared(_)) || keep.contains(&s.key()))
        .map(Arc::new)
        .collect())
}

fn main() -> Result<(), Box<dyn Error>> {
    let matches = command().get_matches();
    let plan = plan(&matches)?;
    // The server gets a runtime (and a thread) of its own, so the callers'
    // runtime measures the callers.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("local-server")
        .enable_all()
        .build()?;
    let mut client_rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = matches.get_one::<usize>("client-threads") {
        client_rt.worker_threads(*n);
    }
    let client_rt = client_rt.enable_all().build()?;

    let per_cell = plan.subjects.len().max(1) as u64;
    let slices_per_cell = u64::from(plan.rounds) * per_cell;
    let cells_total = (plan.transports.len() * plan.modes.len() * plan.concurrency.len()) as u64;
    let progress = if plan.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(cells_total * slices_per_cell)
    };
    progress.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} slices  {msg}")?
            .progress_chars("=> "),
    );

    let mut cells = Vec::new();
    for &transport in &plan.transports {
        let server = server_rt.block_on(async {
            if transport == "https" {
                LocalServer::start_tls().await
            } else {
                LocalServer::start().await
            }
        })?;
        server.set_request_log(false);
        let pem = server.certificate_pem().map(str::to_owned);
        let certificate = match server.certificate_pem() {
            Some(pem) => Some(reqwest::Certificate::from_pem(pem.as_bytes())?),
            None => None,
        };
        let endpoint = Endpoint {
            base_url: server.base_url(),
            certificate,
        };
        for &mode in &plan.modes {
            let stream = mode == "stream";
            let request = request(stream)?;
            server.set_default(reply(stream, plan.chunks));
            for &concurrency in &plan.concurrency {
                // Fresh subjects per cell: no cell inherits another's
                // warm pool.
                let subjects = client_rt.block_on(async {
                    subjects(&endpoint, pem.as_deref(), stream, &plan.subjects)
                })?;
                let mut results: Vec<(&'static str, load::Sample)> = subjects
                    .iter()
                    .map(|s| (s.name(), load::Sample::default()))
                    .collect();
                for round in 0..plan.rounds {
                    for (i, subject) in subjects.iter().enumerate() {
                        progress.set_message(format!(
                            "{transport} {mode} x{concurrency}: {} (round {})",
                            subject.name(),
                            round + 1
                        ));
                        let sample = client_rt.block_on(load::run(
                            &server,
                            subject.clone(),
                            &request,
                            stream,
                            concurrency,
                            plan.slice,
                        ));
                        results[i].1.absorb(sample);
                        progress.inc(1);
                    }
                }
                cells.push(Cell {
                    transport,
                    mode: if stream { "stream" } else { "json" },
                    concurrency,
                    results,
                });
            }
        }
        server_rt.block_on(server.shutdown());
    }
    progress.finish_and_clear();

    println!("{}", report::markdown(&mut cells));
    let errors = report::errors(&cells);
    if !errors.is_empty() {
        println!("Errors:\n{errors}");
    }
    Ok(())
}
