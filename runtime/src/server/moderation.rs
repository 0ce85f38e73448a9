//! `POST /v1/moderations`: scripted moderation verdicts.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::handler::{error_response, record};
use super::{Shared, lock};
use crate::guardrails::MODERATION_CATEGORIES as CATEGORIES;

#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    Flagged(Vec<String>),
    Error {
        status: u16,
        code: String,
        message: String,
    },
}

/// What the server answers to one `POST /v1/moderations` request; queue it
/// with [`LocalServer::push_moderation`](super::LocalServer::push_moderation).
/// With none queued, every input is clean.
///
/// The reply has OpenAI's full shape: one result per input, every category
/// with a boolean, a score (0.99 when flagged, 0.01 otherwise) and the input
/// types it applies to.
///
/// ```
/// use openai_hooks::server::ModerationReply;
///
/// let hateful = ModerationReply::flagged(["hate", "harassment"]);
/// let down = ModerationReply::error(503, "unavailable", "try later");
/// # drop((hateful, down));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModerationReply {
    verdict: Verdict,
    delay: Duration,
}

impl ModerationReply {
    /// Nothing flagged.
    pub fn clean() -> Self {
        Self::flagged(std::iter::empty::<String>())
    }

    /// Flags these categories (any names; OpenAI's are in every reply).
    pub fn flagged<I, S>(categories: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            verdict: Verdict::Flagged(categories.into_iter().map(Into::into).collect()),
            delay: Duration::ZERO,
        }
    }

    /// Fails with `status` and an OpenAI-shaped error body.
    pub fn error(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Error {
                status,
                code: code.into(),
                message: message.into(),
            },
            delay: Duration::ZERO,
        }
    }

    /// Waits this long before answering.
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

/// One result object for `flagged` categories.
fn result(flagged: &[String]) -> Value {
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut applied = Map::new();
    let names = CATEGORIES.iter().map(|c| (*c).to_owned()).chain(
        flagged
            .iter()
            .filter(|f| !CATEGORIES.contains(&f.as_str()))
            .cloned(),
    );
    for name in names {
        let hit = flagged.contains(&name);
        categories.insert(name.clone(), hit.into());
        scores.insert(name.clone(), json!(if hit { 0.99 } else { 0.01 }));
        applied.insert(name, json!(["text"]));
    }
    json!({
        "flagged": !flagged.is_empty(),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    })
}

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = record(&shared, &method, &uri, &headers, &raw);
    let reply = lock(&shared.moderations)
        .pop_front()
        .unwrap_or_else(ModerationReply::clean);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let inputs = match &body["input"] {
        Value::String(_) => 1,
        Value::Array(items) => items.len(),
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "missing_required_parameter",
                "Missing required parameter: 'input'.",
                Some("input"),
            );
        }
    };
    match reply.verdict {
        Verdict::Error {
            status,
            code,
            message,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(status, &code, &message, None)
        }
        Verdict::Flagged(flagged) => {
            let one = result(&flagged);
            let reply = json!({
                "id": format!("modr-local{}", shared.seq.fetch_add(1, Ordering::Relaxed)),
                "model": body["model"].as_str().unwrap_or("omni-moderation-latest"),
                "results": vec![one; inputs],
            });
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                reply.to_string(),
            )
                .into_response()
        }
    }
}
