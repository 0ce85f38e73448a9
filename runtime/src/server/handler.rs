//! The HTTP side: routing, request validation, JSON and SSE bodies, faults.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body as HttpBody, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use serde_json::{Value, json};

use super::listener::Conn;
use super::reply::{Body, Fault, Rendered, Reply};
use super::{RecordedRequest, Shared, lock};

/// The longest a stalled reply waits before it ends by itself.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// How long a mid-stream reset waits for earlier events to be written.
const RESET_GRACE: Duration = Duration::from_millis(50);

/// The largest request body read: OpenAI takes requests of tens of MiB
/// (images inline), and a whole-reply check sends up to
/// [`MAX_GATHERED_BYTES`](crate::limits::MAX_GATHERED_BYTES) of reply.
const MAX_REQUEST_BYTES: usize = 64 << 20;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/responses", post(super::responses::handle))
        .route("/v1/moderations", post(super::moderation::handle))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(super::azure::deployment_chat),
        )
        .route("/openai/v1/chat/completions", post(super::azure::v1_chat))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(shared)
}

async fn not_found(uri: Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!(
            "Unknown path {uri}: this server speaks POST /v1/chat/completions, POST /v1/responses, POST /v1/moderations, and Azure's POST /openai/deployments/{{deployment}}/chat/completions and /openai/v1/chat/completions"
        ),
        None,
    )
}

pub(super) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    param: Option<&str>,
) -> Response {
    let kind = if status.as_u16() == 429 {
        "rate_limit_error"
    } else if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    };
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(super) fn record(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    raw: &Bytes,
) -> Value {
    let mut names = std::collections::BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        names
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let text = String::from_utf8_lossy(raw).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    if shared.log_requests.load(Ordering::Relaxed) {
        lock(&shared.requests).push(RecordedRequest {
            method: method.to_string(),
            path: uri.to_string(),
            headers: names,
            body: body.clone(),
            raw: text,
            received_at: Instant::now(),
        });
    }
    body
}

/// The text of the last user message in `messages` (string content or
/// text parts): Chat's `messages`, or the Responses API's `input` items.
pub(super) fn last_user_text(messages: &Value) -> String {
    let Some(messages) = messages.as_array() else {
        return String::new();
    };
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "user") else {
        return String::new();
    };
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// OpenAI's answer to a conversation where an assistant message with
/// `tool_calls` is not followed, right after it, by `tool` messages
/// answering each of its call ids: a 400 naming the ids left unanswered.
fn unanswered_tool_calls(body: &Value) -> Option<Response> {
    let messages = body["messages"].as_array()?;
    for (i, message) in messages.iter().enumerate() {
        if message["role"] != "assistant" {
            continue;
        }
        let Some(calls) = message["tool_calls"].as_array() else {
            continue;
        };
        let answers: Vec<&Value> = messages[i + 1..]
            .iter()
            .take_while(|m| m["role"] == "tool")
            .collect();
        let answered = |id: &str| answers.iter().any(|m| m["tool_call_id"] == id);
        let missing: Vec<&str> = calls
            .iter()
            .map(|c| c["id"].as_str().unwrap_or_default())
            .filter(|id| !answered(id))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let at = if i + 1 + answers.len() < messages.len() {
            i + 1 + answers.len()
        } else {
            i
        };
        let message = format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
            missing.join(", ")
        );
        let body = json!({"error": {
            "message": message,
            "type": "invalid_request_error",
            "param": format!("messages.[{at}].role"),
            "code": null,
        }});
        return Some(
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response(),
        );
    }
    None
}

pub(super) async fn chat(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body = record(&shared, &method, &uri, &headers, &raw);
    if let Some(refused) = refused_bearer(&shared, &headers) {
        return refused;
    }
    let reply = shared.next_reply();
    if let Some(response) = prelude(&reply, &conn, &body).await {
        return response;
    }
    for field in ["model", "messages"] {
        if body.get(field).is_none() {
            return error_response(
                StatusCode::BAD_REQUEST,
                "missing_required_parameter",
                &format!("Missing required parameter: '{field}'."),
                Some(field),
            );
        }
    }
    if let Some(response) = unanswered_tool_calls(&body) {
        return response;
    }
    let stream = body["stream"] == true;
    let include_usage = body["stream_options"]["include_usage"] == true;

    if let Some(response) = canned(&reply, conn.clone(), &shared).await {
        return response;
    }
    match &reply.body {
        Body::Text(_) | Body::ToolCalls(_) | Body::Refusal(_) => {
            let text = match &reply.body {
                Body::Text(Some(t)) => t.clone(),
                Body::Text(None) => last_user_text(&body["messages"]),
                _ => String::new(),
            };
            let rendered = Rendered {
                id: format!(
                    "chatcmpl-local{}",
                    shared.seq.fetch_add(1, Ordering::Relaxed)
                ),
                created: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                model: reply
                    .model
                    .clone()
                    .or_else(|| body["model"].as_str().map(str::to_owned))
                    .unwrap_or_default(),
            };
            let (prompt, completion) = reply
                .usage
                .unwrap_or(((raw.len() / 4) as u64, (text.len() / 4).max(1) as u64));
            let usage = json!({
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            });
            if stream {
                let events = rendered
                    .events(&reply, &text, include_usage.then_some(usage))
                    .into_iter()
                    .map(|e| Bytes::from(format!("data: {e}\n\n")))
                    .chain(std::iter::once(Bytes::from_static(b"data: [DONE]\n\n")))
                    .collect();
                sse(events, &reply, conn, &shared)
            } else {
                let completion = rendered.completion(&reply, &text, usage);
                raw_response(
                    200,
                    "application/json",
                    completion.to_string().into_bytes(),
                    &reply,
                )
            }
        }
        // Answered by `canned`.
        Body::Error { .. } | Body::Raw { .. } | Body::Fixture(_) => {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What every route does first: the reply's first-byte delay and reset
/// fault, then a 400 for a body that is not JSON. `Some` is the answer.
/// OpenAI's `401` for a request whose bearer token the server does not
/// accept ([`LocalServer::accept_bearer`](super::LocalServer::accept_bearer)).
pub(super) fn refused_bearer(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let check = lock(&shared.bearer).clone()?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if check(token) {
        return None;
    }
    Some(error_response(
        StatusCode::UNAUTHORIZED,
        "invalid_api_key",
        "Incorrect API key provided.",
        None,
    ))
}

pub(super) async fn prelude(reply: &Reply, conn: &Conn, body: &Value) -> Option<Response> {
    if !reply.first_byte_delay.is_zero() {
        tokio::time::sleep(reply.first_byte_delay).await;
    }
    if reply.fault == Some(Fault::ResetBeforeResponse) {
        conn.reset();
        return Some(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    if body.is_null() {
        return Some(error_response(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "We could not parse the JSON body of your request.",
            None,
        ));
    }
    None
}

/// The answer to the reply kinds every route renders alike: an error, a
/// raw body, a replayed fixture. `None` for the kinds a route renders.
pub(super) async fn canned(reply: &Reply, conn: Conn, shared: &Shared) -> Option<Response> {
    Some(match &reply.body {
        Body::Error {
            status,
            code,
            message,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = error_response(status, code, message, None);
            if let Some(wait) = &reply.retry_after
                && let Ok(v) = wait.parse()
            {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Body::Raw {
            status,
            content_type,
            body,
        } => raw_response(*status, content_type, body.clone().into_bytes(), reply),
        Body::Fixture(path) => match tokio::fs::read(path).await {
            Ok(bytes) if path.extension().is_some_and(|e| e == "json") => {
                raw_response(200, "application/json", bytes, reply)
            }
            Ok(mut bytes) => {
                if reply.with_done && !bytes.windows(12).any(|w| w == b"data: [DONE]") {
                    bytes.extend_from_slice(b"data: [DONE]\n\n");
                }
                let events = split_events(&bytes);
                sse(events, reply, conn, shared)
            }
            Err(e) => error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "fixture_unreadable",
                &format!("cannot read fixture {}: {e}", path.display()),
                None,
            ),
        },
        Body::Text(_) | Body::ToolCalls(_) | Body::Refusal(_) => return None,
    })
}

pub(super) fn raw_response(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
    reply: &Reply,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, body).into_response();
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if let Some(wait) = &reply.retry_after
        && let Ok(v) = wait.parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Splits a recorded SSE body into events, each with its blank-line
/// terminator, so replays keep the recording's bytes exactly.
fn split_events(bytes: &[u8]) -> Vec<Bytes> {
    let mut events = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\n' && bytes[i + 1] == b'\n' {
            events.push(Bytes::copy_from_slice(&bytes[start..i + 2]));
            start = i + 2;
            i += 2;
        } else {
            i += 1;
        }
    }
    if start < bytes.len() {
        events.push(Bytes::copy_from_slice(&bytes[start..]));
    }
    events
}

/// An SSE response sending `events` with the reply's pacing and fault.
pub(super) fn sse(events: Vec<Bytes>, reply: &Reply, conn: Conn, shared: &Shared) -> Response {
    let delay = reply.chunk_delay;
    let fault = reply.fault;
    let body = async_stream_body(events, delay, fault, conn, shared.shutdown.clone());
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        "text/event-stream".parse().expect("static header"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        "no-cache".parse().expect("static header"),
    );
    response
}

/// The body stream: events in order, each after `delay`, with `fault`
/// applied; a stall ends at shutdown or after [`STALL_LIMIT`].
fn async_stream_body(
    events: Vec<Bytes>,
    delay: Duration,
    fault: Option<Fault>,
    conn: Conn,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> HttpBody {
    enum Step {
        Send(Bytes),
        Reset,
        Stall,
    }
    let mut steps: Vec<Step> = Vec::with_capacity(events.len() + 1);
    match fault {
        Some(Fault::Stall) => steps.push(Step::Stall),
        Some(Fault::StallAfter { after }) => {
            steps.extend(events.into_iter().take(after).map(Step::Send));
            steps.push(Step::Stall);
        }
        Some(Fault::MalformedLine { after }) => {
            for (i, e) in events.into_iter().enumerate() {
                if i == after {
                    steps.push(Step::Send(Bytes::from_static(
                        b"data: {\"id\": \"broken\", not json\n\n",
                    )));
                }
                steps.push(Step::Send(e));
            }
        }
        Some(Fault::CutBeforeDone { after }) => {
            steps.extend(events.into_iter().take(after).map(Step::Send));
        }
        Some(Fault::ResetAfter { after }) => {
            steps.extend(events.into_iter().take(after).map(Step::Send));
            steps.push(Step::Reset);
        }
        _ => steps.extend(events.into_iter().map(Step::Send)),
    }
    let stream = futures::stream::iter(steps).then(move |step| {
        let conn = conn.clone();
        let mut shutdown = shutdown.clone();
        async move {
            if !delay.is_zero() && !matches!(step, Step::Stall) {
                tokio::time::sleep(delay).await;
            }
            match step {
                Step::Send(bytes) => Ok(bytes),
                Step::Reset => {
                    // Let hyper write what came before, so the client
                    // receives those chunks and then the reset.
                    tokio::time::sleep(RESET_GRACE).await;
                    conn.reset();
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "fault: connection reset mid-stream",
                    ))
                }
                Step::Stall => {
                    let stopped = shutdown.wait_for(|stopped| *stopped);
                    let _ = tokio::time::timeout(STALL_LIMIT, stopped).await;
                    Ok(Bytes::new())
                }
            }
        }
    });
    HttpBody::from_stream(stream)
}
