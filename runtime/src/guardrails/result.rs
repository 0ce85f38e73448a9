//! The recorded outcome of every guardrail check.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;

use crate::hooks::{HookContext, Stage};

/// The outcome of one guardrail check: which guardrail, where, whether it
/// tripped, and what it found.
///
/// `info` holds counts, entity types (`EMAIL_ADDRESS`, `KEYWORD`,
/// `COMPETITOR`, `host_not_allowed`, ...), scores, limits and schema
/// keywords: never a matched value, nor a configured term (a keyword, a
/// competitor, an allow-list entry), a host, a PII value or a secret. It is
/// safe to log; the same holds for a built-in guardrail's
/// [`Tripwire`](crate::Tripwire) `reason` and `info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardrailResult {
    /// The guardrail's name (see [`Guardrail::name`](super::Guardrail::name)).
    pub guardrail: Cow<'static, str>,
    /// Where it ran: [`Stage::PreRequest`], [`Stage::PostResponse`], or
    /// [`Stage::Chunk`] for a whole stream (one result per stream).
    #[serde(serialize_with = "stage_name")]
    pub stage: Stage,
    /// Whether it stopped the call.
    pub tripped: bool,
    /// What it found, for programs.
    pub info: Value,
}

fn stage_name<S: serde::Serializer>(stage: &Stage, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(stage.as_str())
}

/// The results of every guardrail check of one call, shared through the
/// call's [`HookContext`], as its [shared](HookContext::shared) value.
///
/// A cheap handle: clones share one list. Every guardrail, pre-request,
/// post-response or chunk (which sees the context only by `&`), pushes
/// into the same list. Chunk guardrails push one result per
/// stream, when it ends or when they trip. A hook that runs later in the
/// call (audit, telemetry) reads them with [`GuardrailResults::of`].
///
/// ```
/// use openai_hooks::HookContext;
/// use openai_hooks::guardrails::GuardrailResults;
///
/// let cx = HookContext::new("gpt-4o-mini");
/// let results = GuardrailResults::install(&cx);
/// assert!(results.snapshot().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct GuardrailResults(Arc<Mutex<Vec<GuardrailResult>>>);

impl GuardrailResults {
    /// The handle of `cx`'s call ([`HookContext::shared`]), made when
    /// there is none.
    pub fn install(cx: &HookContext) -> Self {
        cx.shared::<GuardrailResults>()
    }

    /// The handle of `cx`'s call, if one was made.
    pub fn of(cx: &HookContext) -> Option<Self> {
        cx.shared_if_set::<GuardrailResults>()
    }

    /// Adds a result.
    pub fn push(&self, result: GuardrailResult) {
        // A panic while holding the lock cannot leave a half-pushed vector:
        // keep recording after one.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(result);
    }

    /// A copy of the results so far, in the order they were recorded.
    pub fn snapshot(&self) -> Vec<GuardrailResult> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether any recorded check tripped.
    pub fn any_tripped(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|r| r.tripped)
    }
}

/// Records `result` in the context of a pre-request or post-response hook.
pub(crate) fn record(cx: &mut HookContext, result: GuardrailResult) {
    GuardrailResults::install(cx).push(result);
}

/// Records `result` from a chunk hook (which sees the context by `&`).
pub(crate) fn record_shared(cx: &HookContext, result: GuardrailResult) {
    GuardrailResults::install(cx).push(result);
}
