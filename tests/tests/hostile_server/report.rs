//! The heap bound of a case, its verdict, and the per-family summary.

use std::collections::BTreeMap;
use std::time::Duration;

use openai_hooks::limits::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENT_BYTES, ERROR_BODY_BYTES};

use crate::clients::{CASE_LIMIT, Outcome, Path};
use crate::wire::Wire;

/// Room for the client's own working set with a small reply: the request,
/// the connection and its buffers, hook and converter state. (A small reply
/// peaks well under 1 MiB in a debug build.)
const OVERHEAD: usize = 2 << 20;

/// The most heap a case may add.
///
/// - An error status: the transport reads at most `ERROR_BODY_BYTES` of the
///   body, so a few times that.
/// - A stream: one event is held at a time and is at most
///   `DEFAULT_MAX_EVENT_BYTES`; its bytes, its decoded text and the chunk
///   made from it, with room to spare: four times the limit.
/// - `create`: the body (at most `DEFAULT_MAX_BODY_BYTES`), its decoded
///   reply and what the hooks derive from it: eight times the body.
fn bound(wire: &Wire, path: Path) -> usize {
    OVERHEAD
        + if wire.error_status {
            4 * ERROR_BODY_BYTES
        } else if path.streams() {
            4 * DEFAULT_MAX_EVENT_BYTES
        } else {
            8 * wire.body_len.min(DEFAULT_MAX_BODY_BYTES)
        }
}

/// What a case may not be, in a sentence, or `None`.
pub(crate) fn verdict(wire: &Wire, path: Path, outcome: &Outcome, peak: usize) -> Option<String> {
    let limit = bound(wire, path);
    let mut problems = Vec::new();
    match outcome {
        Outcome::Panic(m) => problems.push(format!("panicked: {m}")),
        Outcome::Hang => problems.push(format!("no result within {CASE_LIMIT:?}")),
        Outcome::Bad(m) => problems.push(m.clone()),
        Outcome::Ok(_) => {
            if let Some(why) = wire.must_fail {
                problems.push(format!("succeeded, but {why} must end the call"));
            }
        }
        Outcome::Error(_) => {}
    }
    if peak > limit {
        problems.push(format!(
            "peak heap {} over the bound {}",
            mib(peak),
            mib(limit)
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

pub(crate) fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Per family: cases, peak, outcome kinds.
#[derive(Default)]
pub(crate) struct FamilyStats {
    cases: usize,
    panics: usize,
    hangs: usize,
    bad: usize,
    over_bound: usize,
    max_peak: usize,
    max_bound: usize,
    kinds: BTreeMap<String, usize>,
}

impl FamilyStats {
    /// Counts one case of the family.
    pub(crate) fn record(&mut self, wire: &Wire, path: Path, outcome: &Outcome, peak: usize) {
        self.cases += 1;
        self.max_peak = self.max_peak.max(peak);
        self.max_bound = self.max_bound.max(bound(wire, path));
        match outcome {
            Outcome::Ok(_) => *self.kinds.entry("ok".into()).or_default() += 1,
            Outcome::Error(k) => *self.kinds.entry(k.clone()).or_default() += 1,
            Outcome::Bad(_) => self.bad += 1,
            Outcome::Panic(_) => self.panics += 1,
            Outcome::Hang => self.hangs += 1,
        }
        if peak > bound(wire, path) {
            self.over_bound += 1;
        }
    }
}

/// Prints the table of every family and the total; returns how many cases
/// ran.
pub(crate) fn summary(stats: &BTreeMap<&str, FamilyStats>, took: Duration) -> usize {
    println!("\nhostile_server summary ({took:.1?}):");
    println!(
        "{:<20} {:>5} {:>6} {:>5} {:>4} {:>5} {:>11} {:>11}  outcomes",
        "family", "cases", "panics", "hangs", "bad", "over", "max peak", "bound"
    );
    let mut total = FamilyStats::default();
    for (family, s) in stats {
        let kinds: Vec<String> = s.kinds.iter().map(|(k, n)| format!("{k}×{n}")).collect();
        println!(
            "{family:<20} {:>5} {:>6} {:>5} {:>4} {:>5} {:>11} {:>11}  {}",
            s.cases,
            s.panics,
            s.hangs,
            s.bad,
            s.over_bound,
            mib(s.max_peak),
            mib(s.max_bound),
            kinds.join(", ")
        );
        total.cases += s.cases;
        total.panics += s.panics;
        total.hangs += s.hangs;
        total.bad += s.bad;
        total.over_bound += s.over_bound;
        total.max_peak = total.max_peak.max(s.max_peak);
        for (k, n) in &s.kinds {
            *total.kinds.entry(k.clone()).or_default() += n;
        }
    }
    let kinds: Vec<String> = total
        .kinds
        .iter()
        .map(|(k, n)| format!("{k}×{n}"))
        .collect();
    println!(
        "{:<20} {:>5} {:>6} {:>5} {:>4} {:>5} {:>11} {:>11}  {}",
        "all",
        total.cases,
        total.panics,
        total.hangs,
        total.bad,
        total.over_bound,
        mib(total.max_peak),
        "",
        kinds.join(", ")
    );
    total.cases
}
