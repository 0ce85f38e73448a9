//! Drives one subject at a fixed concurrency for a slice of time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openai_hooks::ChatRequest;
use openai_hooks::server::LocalServer;

use crate::subjects::Subject;

/// No single call may take longer than this; one that does counts as an
/// error, so a stalled connection cannot stall the run.
const CALL_LIMIT: Duration = Duration::from_secs(30);

/// What one or more slices measured.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sample {
    /// Latency of every successful call.
    pub(crate) latencies: Vec<Duration>,
    /// Calls that failed or timed out.
    pub(crate) errors: u64,
    /// The first error seen, for the report.
    pub(crate) first_error: Option<String>,
    /// Chunks received over all calls.
    pub(crate) chunks: u64,
    /// Wall time spent.
    pub(crate) elapsed: Duration,
    /// TCP connections the server accepted meanwhile.
    pub(crate) connections: u64,
}

impl Sample {
    /// Adds another slice's figures to these.
    pub(crate) fn absorb(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.chunks += other.chunks;
        self.elapsed += other.elapsed;
        self.connections += other.connections;
    }

    /// Successful calls per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The `q` quantile (0..=1) of the latencies; sorts them.
    pub(crate) fn quantile(&mut self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let rank = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[rank]
    }
}

/// Runs `concurrency` workers calling `subject` until `slice` has passed;
/// each finishes the call it is in.
pub(crate) async fn run(
    server: &LocalServer,
    subject: Arc<Subject>,
    request: &ChatRequest,
    stream: bool,
    concurrency: usize,
    slice: Duration,
) -> Sample {
    let accepted = server.connections_accepted();
    let start = Instant::now();
    let deadline = start + slice;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let subject = subject.clone();
        let request = request.clone();
        workers.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            while Instant::now() < deadline {
                let began = Instant::now();
                let call = subject.call(&request, stream);
                match tokio::time::timeout(CALL_LIMIT, call).await {
                    Ok(Ok(chunks)) => {
                        sample.latencies.push(began.elapsed());
                        sample.chunks += chunks;
                    }
                    Ok(Err(e)) => {
                        sample.errors += 1;
                        sample.first_error.get_or_insert_with(|| e.to_string());
                    }
                    Err(_) => {
                        sample.errors += 1;
                        sample
                            .first_error
                            .get_or_insert_with(|| format!("call took over {CALL_LIMIT:?}"));
                    }
                }
            }
            sample
        }));
    }
    let mut total = Sample::default();
    for worker in workers {
        match worker.await {
            Ok(sample) => total.absorb(sample),
            Err(e) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert_with(|| format!("worker failed: {e}"));
            }
        }
    }
    total.elapsed = start.elapsed();
    total.connections = server.connections_accepted() - accepted;
    total
}
