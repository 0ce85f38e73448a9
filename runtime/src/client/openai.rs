//! [`ChatClient`] and [`ResponsesClient`] for `async_openai::Client`, and
//! the mapping of its errors to [`ClientError`].

use async_openai::config::Config;
use async_openai::error::{OpenAIError, StreamError};
use futures::StreamExt;
use futures::stream::BoxStream;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::ChatClient;
use super::error::{ApiError, ClientError, snippet};
use super::responses::{ResponseStream, ResponsesClient, checked_events, failed};
use super::stream::{ChatStream, checked};
use crate::redact::scrub;
use crate::transport::{self, BodyLimit, Handoff, HttpFailure, NotApi, TimedOut, limit_of_event};
use crate::types::responses::{Response, ResponseEvent, ResponsesRequest};
use crate::types::{ChatChunk, ChatRequest, ChatResponse, WireError};

/// async-openai's client, through its "bring your own type" calls so that
/// replies decode into this crate's lenient [types](crate::types).
impl<C: Config> ChatClient for async_openai::Client<C> {
    fn create(
        &self,
        mut req: ChatRequest,
    ) -> impl Future<Output = Result<ChatResponse, ClientError>> + Send {
        req.stream = None;
        req.stream_options = None;
        async move {
            let reply: Result<ChatResponse, OpenAIError> = self.chat().create_byot(req).await;
            reply.map_err(|e| convert(e, "response body", self.config()))
        }
    }

    fn create_stream(
        &self,
        mut req: ChatRequest,
    ) -> impl Future<Output = Result<ChatStream<'_>, ClientError>> + Send {
        req.stream = Some(true);
        async move {
            // Through a `Transport`, the response comes back by the handoff
            // and its events are read here, as the caller polls; otherwise
            // async-openai reads them on a task of its own.
            let handoff = Handoff::default();
            let upstream = handoff
                .scope(self.chat().create_stream_byot::<_, ChatChunk>(req))
                .await
                .map_err(|e| convert(e, "response body", self.config()))?;
            let upstream = read_here(upstream, &handoff);
            // The key is copied once per stream so errors met later can be
            // scrubbed without borrowing the config.
            let key = self.config().api_key().expose_secret().to_owned();
            let chunks: ChatStream<'static> = Box::pin(upstream.map(move |item| match item {
                // An error object inside the stream may echo the key back.
                Ok(mut chunk) => {
                    if let Some(error) = chunk.error.as_mut() {
                        // The transport's own event for a limit it enforced.
                        if let Some(limit) = limit_of_event(
                            error.kind.as_deref(),
                            error.code.as_deref(),
                            error.param.as_deref(),
                        ) {
                            return Err(exceeded(limit));
                        }
                        error.message = snippet(&scrub(&error.message, Some(&key)));
                    }
                    Ok(chunk)
                }
                Err(e) => Err(convert_with(e, "stream chunk", &key)),
            }));
            Ok(checked(chunks))
        }
    }
}

/// async-openai's client, through its "bring your own type" calls so that
/// replies and events decode into this crate's lenient
/// [types](crate::types::responses): an event type async-openai does not
/// know passes through instead of ending the stream.
impl<C: Config> ResponsesClient for async_openai::Client<C> {
    fn create(
        &self,
        mut req: ResponsesRequest,
    ) -> impl Future<Output = Result<Response, ClientError>> + Send {
        req.stream = None;
        req.stream_options = None;
        async move {
            let reply: Result<Response, OpenAIError> = self.responses().create_byot(req).await;
            let reply = reply.map_err(|e| convert(e, "response body", self.config()))?;
            match failed(&reply) {
                Some(e) => Err(e),
                None => Ok(reply),
            }
        }
    }

    fn create_stream(
        &self,
        mut req: ResponsesRequest,
    ) -> impl Future<Output = Result<ResponseStream<'_>, ClientError>> + Send {
        // async-openai's `byot` call sends the request as given.
        req.stream = Some(true);
        async move {
            let handoff = Handoff::default();
            let upstream = handoff
                .scope(self.responses().create_stream_byot::<_, ResponseEvent>(req))
                .await
                .map_err(|e| convert(e, "response body", self.config()))?;
            let upstream = read_here(upstream, &handoff);
            let key = self.config().api_key().expose_secret().to_owned();
            let events: ResponseStream<'static> = Box::pin(upstream.map(move |item| match item {
                Ok(mut event) => {
                    if let Some(limit) = transport_limit(&event) {
                        return Err(exceeded(limit));
                    }
                    // An error event may echo the key back.
                    scrub_event(&mut event, &key);
                    Ok(event)
                }
                Err(e) => Err(convert_with(e, "stream event", &key)),
            }));
            Ok(checked_events(events))
        }
    }
}

/// The items of a stream async-openai opened inside `handoff`: when a
/// `Transport` handed the response over, read here as the caller polls
/// (async-openai's own stream is empty then); otherwise async-openai's,
/// read on a task of its own.
fn read_here<T: DeserializeOwned + Send + 'static>(
    upstream: BoxStream<'static, Result<T, OpenAIError>>,
    handoff: &Handoff,
) -> BoxStream<'static, Result<T, OpenAIError>> {
    match handoff.take() {
        Some(response) => {
            drop(upstream);
            Box::pin(transport::events(response))
        }
        None => upstream,
    }
}

/// The transport's own event for a limit it enforced (an `error` object
/// with no event type).
fn transport_limit(event: &ResponseEvent) -> Option<BodyLimit> {
    if !event.kind.is_empty() {
        return None;
    }
    let wire = WireError::deserialize(event.extra.get("error")?).ok()?;
    limit_of_event(
        wire.kind.as_deref(),
        wire.code.as_deref(),
        wire.param.as_deref(),
    )
}

/// Scrubs `key` and anything key-shaped from the error texts an event
/// carries.
fn scrub_event(event: &mut ResponseEvent, key: &str) {
    let clean = |m: &str| scrub(m, Some(key));
    if let Some(message) = event.message.as_mut() {
        *message = clean(message);
    }
    if let Some(serde_json::Value::Object(nested)) = event.extra.get_mut("error")
        && let Some(serde_json::Value::String(message)) = nested.get_mut("message")
    {
        *message = clean(message);
    }
    if let Some(error) = event.response.as_mut().and_then(|r| r.error.as_mut()) {
        error.message = clean(&error.message);
    }
}

fn convert<C: Config>(err: OpenAIError, what: &'static str, config: &C) -> ClientError {
    convert_with(err, what, config.api_key().expose_secret())
}

/// Maps async-openai's error to a [`ClientError`], scrubbing `key` and
/// anything key-shaped from every text kept.
pub(crate) fn convert_with(err: OpenAIError, what: &'static str, key: &str) -> ClientError {
    let clean = |s: &str| scrub(s, Some(key));
    match err {
        OpenAIError::ApiError(resp) => {
            let status = Some(resp.status_code.as_u16());
            let e = resp.api_error;
            if e.code.is_none() && e.r#type.is_none() && e.param.is_none() {
                // async-openai hands a 5xx body over whole, as the message
                // (it does not parse server errors): read it as any other
                // error body, so a 503 reads like a 429.
                return ClientError::Api(ApiError::from_body_or_snippet(
                    status, &e.message, &clean,
                ));
            }
            ClientError::Api(ApiError {
                status,
                code: e.code,
                kind: e.r#type,
                param: e.param,
                message: snippet(&clean(&e.message)),
                retry_after: None,
            })
        }
        OpenAIError::JSONDeserialize(source, content) => {
            // async-openai reports an error body it could not read (a numeric
            // `code`, say) the same way as a bad success body: try the
            // lenient error shape first.
            match ApiError::from_body(None, &content, &clean) {
                Some(mut api) => {
                    api.status = api.code.as_deref().and_then(status_like);
                    ClientError::Api(api)
                }
                None => ClientError::decode(what, source, &clean(&content)),
            }
        }
        OpenAIError::Reqwest(e) => transport(&e.without_url(), &clean),
        // async-openai hands stream failures over as text only.
        OpenAIError::StreamError(se) => match *se {
            StreamError::EventStream(msg) if msg.contains("Transport") => ClientError::Transport {
                // The event-source error reads "Transport error: ..."; the
                // variant already says so.
                message: clean(msg.strip_prefix("Transport error: ").unwrap_or(&msg)),
            },
            other => ClientError::Stream(clean(&other.to_string())),
        },
        OpenAIError::InvalidArgument(msg) => ClientError::InvalidRequest(clean(&msg)),
        OpenAIError::Boxed(b) => boxed(b, &clean),
        other => ClientError::Transport {
            message: clean(&other.to_string()),
        },
    }
}

/// A numeric error code that is an HTTP status (OpenRouter sends `429`).
fn status_like(code: &str) -> Option<u16> {
    code.parse::<u16>().ok().filter(|s| (400..600).contains(s))
}

/// Errors from a transport installed with `with_http_service`.
fn boxed(
    b: Box<dyn std::error::Error + Send + Sync>,
    clean: &dyn Fn(&str) -> String,
) -> ClientError {
    let b = match b.downcast::<HttpFailure>() {
        Ok(failure) => {
            let status = Some(failure.status.as_u16());
            let mut api = ApiError::from_body_or_snippet(status, &failure.body, clean);
            api.retry_after = failure.retry_after;
            return ClientError::Api(api);
        }
        Err(b) => b,
    };
    let b = match b.downcast::<NotApi>() {
        Ok(not_api) => {
            return ClientError::decode("response body", &*not_api, &clean(&not_api.body));
        }
        Err(b) => b,
    };
    let b = match b.downcast::<TimedOut>() {
        Ok(t) => {
            return ClientError::Timeout {
                what: t.what,
                after: Some(t.after),
            };
        }
        Err(b) => b,
    };
    match b.downcast::<reqwest::Error>() {
        Ok(e) => transport(&e.without_url(), clean),
        Err(other) => ClientError::Transport {
            message: clean(&other.to_string()),
        },
    }
}

fn exceeded(limit: BodyLimit) -> ClientError {
    ClientError::LimitExceeded {
        what: limit.what,
        limit: limit.limit,
    }
}

fn transport(e: &reqwest::Error, clean: &dyn Fn(&str) -> String) -> ClientError {
    // A body over the transport's limit fails with the limit as a source.
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(limit) = s.downcast_ref::<BodyLimit>() {
            return exceeded(*limit);
        }
        source = s.source();
    }
    if e.is_timeout() {
        return ClientError::Timeout {
            what: if e.is_body() || e.is_decode() {
                "next chunk"
            } else {
                "response"
            },
            after: None,
        };
    }
    // reqwest's Display stops at the outermost error; the cause chain says
    // what actually happened (connection refused, reset, ...).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ClientError::Transport {
        message: clean(&message),
    }
}
