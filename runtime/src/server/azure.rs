//! Azure OpenAI's routes, answered like OpenAI's: the deployment form
//! (`/openai/deployments/{deployment}/chat/completions?api-version=...`,
//! what async-openai's `AzureConfig` calls) and the v1 form
//! (`/openai/v1/chat/completions`).
//!
//! As Azure does, the deployment form needs an `api-version` query (a
//! request without one gets `404 Resource not found`), both forms need a
//! credential (an `api-key` header or a bearer token; none is `401`), and
//! the deployment stands for the model: a body without `model` is answered
//! as the deployment's.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::listener::Conn;

/// Azure's error body: its codes are the status as text.
fn azure_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16().to_string(), "message": message}});
    (status, axum::Json(body)).into_response()
}

/// Whether the request carries a credential Azure would read.
fn has_credential(headers: &HeaderMap) -> bool {
    let api_key = headers.get("api-key").is_some_and(|v| !v.is_empty());
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > "Bearer ".len());
    api_key || bearer
}

/// `POST /openai/deployments/{deployment}/chat/completions`.
pub(super) async fn deployment_chat(
    state: State<Arc<Shared>>,
    conn: ConnectInfo<Conn>,
    Path(deployment): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let has_version = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p.starts_with("api-version=") && p.len() > 12)
    });
    if !has_version {
        return azure_error(StatusCode::NOT_FOUND, "Resource not found");
    }
    if !has_credential(&headers) {
        return azure_error(
            StatusCode::UNAUTHORIZED,
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
        );
    }
    let raw = with_model(raw, &deployment);
    super::handler::chat(state, conn, method, uri, headers, raw).await
}

/// `POST /openai/v1/chat/completions`: OpenAI's shape, Azure's credential.
pub(super) async fn v1_chat(
    state: State<Arc<Shared>>,
    conn: ConnectInfo<Conn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    if !has_credential(&headers) {
        return azure_error(
            StatusCode::UNAUTHORIZED,
            "Access denied due to invalid subscription key or wrong API endpoint.",
        );
    }
    super::handler::chat(state, conn, method, uri, headers, raw).await
}

/// The body with `model` set to the deployment when it names none.
fn with_model(raw: Bytes, deployment: &str) -> Bytes {
    match serde_json::from_slice::<Value>(&raw) {
        Ok(Value::Object(mut body)) if !body.contains_key("model") => {
            body.insert("model".to_owned(), Value::String(deployment.to_owned()));
            Bytes::from(Value::Object(body).to_string())
        }
        _ => raw,
    }
}
