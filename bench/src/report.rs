//! The Markdown table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::load::Sample;

/// One row group: a transport, a mode and a concurrency.
pub(crate) struct Cell {
    pub(crate) transport: &'static str,
    pub(crate) mode: &'static str,
    pub(crate) concurrency: usize,
    /// Each subject's name and figures; the first is the baseline.
    pub(crate) results: Vec<(&'static str, Sample)>,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Renders the cells as one Markdown table; throughput ratios are to the
/// first subject of the same cell, measured in the same interleaved rounds.
pub(crate) fn markdown(cells: &mut [Cell]) -> String {
    let mut out = String::new();
    out.push_str(
        "| transport | reply | concurrency | subject | req/s | vs baseline | p50 ms | p99 ms | connections | errors |\n",
    );
    out.push_str("|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
    for cell in cells.iter_mut() {
        let baseline = cell
            .results
            .first()
            .map_or(0.0, |(_, sample)| sample.throughput());
        for (name, sample) in &mut cell.results {
            let rps = sample.throughput();
            let ratio = if baseline > 0.0 { rps / baseline } else { 0.0 };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {:.3} | {} | {} | {} | {} |",
                cell.transport,
                cell.mode,
                cell.concurrency,
                name,
                rps,
                ratio,
                ms(sample.quantile(0.50)),
                ms(sample.quantile(0.99)),
                sample.connections,
                sample.errors,
            );
        }
    }
    out
}

/// The first error of each subject that had any, for the report's end.
pub(crate) fn errors(cells: &[Cell]) -> String {
    let mut out = String::new();
    for cell in cells {
        for (name, sample) in &cell.results {
            if let Some(e) = &sample.first_error {
                let _ = writeln!(
                    out,
                    "- {} / {} / {} / {name}: {} errors, first: {e}",
                    cell.transport, cell.mode, cell.concurrency, sample.errors
                );
            }
        }
    }
    out
}
