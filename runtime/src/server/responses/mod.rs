//! `POST /v1/responses`: the Responses API on the same scripted
//! [`Reply`](super::Reply) queue as Chat Completions, rendered as a
//! `Response` object (JSON) or its stream of typed events (SSE with
//! `event:` lines, every event with a `sequence_number`, no `[DONE]`).

mod render;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::Value;

use super::Shared;
use super::handler::{canned, error_response, last_user_text, prelude, raw_response, record, sse};
use super::listener::Conn;
use super::reply::{Body, Ending};
use render::Render;

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = record(&shared, &method, &uri, &headers, &raw);
    if let Some(refused) = super::handler::refused_bearer(&shared, &headers) {
        return refused;
    }
    let reply = shared.next_reply();
    if let Some(response) = prelude(&reply, &conn, &body).await {
        return response;
    }
    if let Some(response) = invalid(&body) {
        return response;
    }
    if let Some(response) = canned(&reply, conn.clone(), &shared).await {
        return response;
    }
    let text = match &reply.body {
        Body::Text(Some(t)) => t.clone(),
        Body::Text(None) => match &body["input"] {
            Value::String(s) => s.clone(),
            items => last_user_text(items),
        },
        _ => String::new(),
    };
    let render = Render {
        reply: &reply,
        request: &body,
        n: shared.seq.fetch_add(1, Ordering::Relaxed),
        created_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: reply
            .model
            .clone()
            .or_else(|| body["model"].as_str().map(str::to_owned))
            .unwrap_or_default(),
        text,
        request_bytes: raw.len(),
    };
    let (events, response) = render.render();
    if body["stream"] == true {
        let events = events
            .iter()
            .enumerate()
            .map(|(i, e)| Bytes::from(e.sse(i)))
            .collect();
        return sse(events, &reply, conn, &shared);
    }
    match &reply.ending {
        Ending::Error { code, message } => {
            let status = match code.as_str() {
                "rate_limit_exceeded" => StatusCode::TOO_MANY_REQUESTS,
                "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut response = error_response(status, code, message, None);
            if let Some(wait) = &reply.retry_after
                && let Ok(v) = wait.parse()
            {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Ending::Silent => {
            let mut bytes = response.to_string().into_bytes();
            bytes.truncate(bytes.len() / 2);
            raw_response(200, "application/json", bytes, &reply)
        }
        Ending::Completed | Ending::Incomplete(_) | Ending::Failed { .. } => raw_response(
            200,
            "application/json",
            response.to_string().into_bytes(),
            &reply,
        ),
    }
}

/// OpenAI's 400 for a body without a string `model`, or whose `input` is
/// neither a string nor an array of items (or missing, with no `prompt`,
/// `previous_response_id` or `conversation` to stand for it).
fn invalid(body: &Value) -> Option<Response> {
    let bad = |code: &str, message: String, param: &str| {
        Some(error_response(
            StatusCode::BAD_REQUEST,
            code,
            &message,
            Some(param),
        ))
    };
    match &body["model"] {
        Value::Null => {
            return bad(
                "missing_required_parameter",
                "Missing required parameter: 'model'.".to_owned(),
                "model",
            );
        }
        Value::String(_) => {}
        other => {
            return bad(
                "invalid_type",
                format!(
                    "Invalid type for 'model': expected a string, but got {} instead.",
                    kind(other)
                ),
                "model",
            );
        }
    }
    match &body["input"] {
        Value::String(_) | Value::Array(_) => None,
        Value::Null
            if ["prompt", "previous_response_id", "conversation"]
                .iter()
                .any(|f| !body[*f].is_null()) =>
        {
            None
        }
        Value::Null => bad(
            "missing_required_parameter",
            "Missing required parameter: 'input'.".to_owned(),
            "input",
        ),
        other => bad(
            "invalid_type",
            format!(
                "Invalid type for 'input': expected one of a string or array of input items, but got {} instead.",
                kind(other)
            ),
            "input",
        ),
    }
}

/// How OpenAI's messages name a JSON value's type.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::invalid;

    #[test]
    fn a_body_needs_a_string_model_and_a_string_or_array_input() {
        let status = |body: serde_json::Value| invalid(&body).map(|r| r.status().as_u16());
        assert_eq!(status(json!({"model": "m", "input": "hi"})), None);
        assert_eq!(status(json!({"model": "m", "input": []})), None);
        assert_eq!(
            status(json!({"model": "m", "previous_response_id": "resp_1"})),
            None
        );
        assert_eq!(status(json!({"input": "hi"})), Some(400));
        assert_eq!(status(json!({"model": 4, "input": "hi"})), Some(400));
        assert_eq!(
            status(json!({"model": "m", "input": {"text": "hi"}})),
            Some(400)
        );
        assert_eq!(status(json!({"model": "m", "input": 3})), Some(400));
        assert_eq!(status(json!({"model": "m"})), Some(400));
        assert_eq!(status(json!([1, 2])), Some(400));
    }
}
