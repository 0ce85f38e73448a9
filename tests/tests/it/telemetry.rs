//! The telemetry hook, read back from a `tracing` layer: the span's
//! OpenTelemetry GenAI attributes, time to first token, duration and the
//! metrics event, for one-shot replies and streams through the local server
//! on 127.0.0.1.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use openai_hooks::async_openai::{Client, config::OpenAIConfig};
use openai_hooks::server::{LocalServer, Reply};
use openai_hooks::telemetry::Telemetry;
use openai_hooks::{ChatClient, ChatRequest, openai_client};
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

#[openai_client]
struct Traced {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    start: Telemetry,
    #[on_chunk]
    chunks: Telemetry,
    #[post_response]
    finish: Telemetry,
}

fn traced(server: &LocalServer, system: &'static str) -> Traced {
    let config = OpenAIConfig::new()
        .with_api_base(server.base_url())
        .with_api_key("test-key");
    let telemetry = Telemetry::new().system(system);
    Traced {
        client: Client::with_config(config),
        start: telemetry.clone(),
        chunks: telemetry.clone(),
        finish: telemetry,
    }
}

type Fields = BTreeMap<String, Value>;
/// A metrics event: the index of its span in [`Seen::spans`], and its fields.
type EventSeen = (Option<usize>, Fields);

/// What the layer saw from the telemetry target: each span's name and
/// fields (as created, then as recorded), and each event's fields.
#[derive(Clone, Default)]
struct Seen {
    spans: Arc<Mutex<Vec<(String, Fields)>>>,
    events: Arc<Mutex<Vec<EventSeen>>>,
}

/// Index of a span in [`Seen::spans`], kept in the span's extensions.
struct Slot(usize);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), json!(value));
    }
}

const TARGET: &str = "openai_hooks::telemetry";

/// One test at a time: `tracing` caches per call site, for the whole
/// process, whether any subscriber wants it, and the tests here set
/// different subscribers on their threads.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sets `layer` as this thread's subscriber for the guard's life, with the
/// call sites' cached interest rebuilt for it.
fn listen(layer: Seen) -> tracing::subscriber::DefaultGuard {
    let guard = tracing::subscriber::set_default(Registry::default().with(layer));
    tracing::callsite::rebuild_interest_cache();
    guard
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Seen {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != TARGET {
            return;
        }
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push((attrs.metadata().name().to_owned(), fields));
        let slot = Slot(spans.len() - 1);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(slot);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        let Some(Slot(i)) = ext.get::<Slot>() else {
            return;
        };
        values.record(&mut Collect(&mut self.spans.lock().unwrap()[*i].1));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let parent = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<Slot>().map(|Slot(i)| *i));
        let mut fields = Fields::new();
        event.record(&mut Collect(&mut fields));
        self.events.lock().unwrap().push((parent, fields));
    }
}

fn request(stream: bool) -> ChatRequest {
    let mut req = json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello"}],
        "max_completion_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
    });
    if stream {
        req["stream_options"] = json!({"include_usage": true});
    }
    serde_json::from_value(req).unwrap()
}

fn num(fields: &Fields, name: &str) -> f64 {
    fields
        .get(name)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{name} missing or not a number in {fields:?}"))
}

/// The attributes every call's span carries, whatever its mode.
fn check_common(fields: &Fields, streaming: bool) {
    assert_eq!(fields["otel.name"], json!("chat gpt-4o-mini"));
    assert_eq!(fields["otel.kind"], json!("client"));
    assert_eq!(fields["gen_ai.operation.name"], json!("chat"));
    assert_eq!(fields["gen_ai.system"], json!("azure.ai.openai"));
    assert_eq!(fields["gen_ai.request.model"], json!("gpt-4o-mini"));
    assert_eq!(fields["gen_ai.request.max_tokens"], json!(50));
    assert_eq!(fields["gen_ai.request.temperature"], json!(0.2));
    assert_eq!(fields["gen_ai.request.top_p"], json!(0.9));
    assert_eq!(
        fields["gen_ai.response.model"],
        json!("gpt-4o-mini-2024-07-18")
    );
    assert_eq!(
        fields["gen_ai.response.finish_reasons"],
        json!("[\"stop\"]")
    );
    assert_eq!(fields["gen_ai.usage.input_tokens"], json!(11));
    assert_eq!(fields["gen_ai.usage.output_tokens"], json!(7));
    assert_eq!(fields["openai_hooks.stream"], json!(streaming));
    let id = fields["gen_ai.response.id"].as_str().unwrap();
    assert!(!id.is_empty(), "response id recorded");
    let request_id = fields["openai_hooks.request_id"].as_str().unwrap();
    assert!(!request_id.is_empty(), "request id recorded");
    assert!(num(fields, "openai_hooks.duration_ms") > 0.0);
}

/// The metrics event: one per call, inside the call's span, with the same
/// figures in the units the GenAI metrics use (seconds, tokens).
fn check_event(seen: &Seen, span: usize, span_fields: &Fields) -> Fields {
    let events = seen.events.lock().unwrap();
    assert_eq!(events.len(), 1, "one metrics event per call: {events:?}");
    let (parent, fields) = events[0].clone();
    assert_eq!(parent, Some(span), "the event is inside the call's span");
    assert_eq!(fields["message"], json!("gen_ai.client.operation"));
    assert_eq!(
        fields["gen_ai.response.model"],
        json!("gpt-4o-mini-2024-07-18")
    );
    assert_eq!(
        fields["histogram.gen_ai.client.token.usage.input"],
        json!(11)
    );
    assert_eq!(
        fields["histogram.gen_ai.client.token.usage.output"],
        json!(7)
    );
    let seconds = num(&fields, "histogram.gen_ai.client.operation.duration");
    let ms = num(span_fields, "openai_hooks.duration_ms");
    assert!((seconds * 1e3 - ms).abs() < 1e-6, "{seconds} s vs {ms} ms");
    fields
}

#[tokio::test]
async fn a_one_shot_call_is_traced_with_the_genai_attributes() {
    let _serial = SERIAL.lock().await;
    let server = LocalServer::start().await.unwrap();
    server.push(
        Reply::text("traced reply")
            .model("gpt-4o-mini-2024-07-18")
            .usage(11, 7),
    );
    let client = traced(&server, "azure.ai.openai");
    let seen = Seen::default();
    let _guard = listen(seen.clone());

    let reply = client.create(request(false)).await.unwrap();
    assert_eq!(
        reply.choices[0].message.content.as_deref(),
        Some("traced reply")
    );

    let spans = seen.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "one span per call: {spans:?}");
    let (name, fields) = &spans[0];
    assert_eq!(name, "chat");
    check_common(fields, false);
    assert!(
        !fields.contains_key("openai_hooks.time_to_first_token_ms"),
        "a one-shot reply has no first token to time: {fields:?}"
    );
    let event = check_event(&seen, 0, fields);
    assert!(
        !event.contains_key("histogram.gen_ai.server.time_to_first_token"),
        "{event:?}"
    );
}

#[tokio::test]
async fn a_stream_is_traced_with_time_to_first_token() {
    let _serial = SERIAL.lock().await;
    let server = LocalServer::start().await.unwrap();
    server.push(
        Reply::text("one two three four")
            .chunks(4)
            .model("gpt-4o-mini-2024-07-18")
            .usage(11, 7)
            .first_byte_delay(std::time::Duration::from_millis(30)),
    );
    let client = traced(&server, "azure.ai.openai");
    let seen = Seen::default();
    let _guard = listen(seen.clone());

    let mut stream = client.create_stream(request(true)).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        for choice in chunk.unwrap().choices {
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    drop(stream);
    assert_eq!(text, "one two three four");

    let spans = seen.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 1, "one span per stream: {spans:?}");
    let (name, fields) = &spans[0];
    assert_eq!(name, "chat");
    check_common(fields, true);
    let ttft = num(fields, "openai_hooks.time_to_first_token_ms");
    let duration = num(fields, "openai_hooks.duration_ms");
    assert!(
        ttft >= 30.0,
        "the first token came after the 30 ms delay: {ttft}"
    );
    assert!(
        ttft <= duration,
        "{ttft} ms to first token, {duration} ms in all"
    );
    let event = check_event(&seen, 0, fields);
    let ttft_s = num(&event, "histogram.gen_ai.server.time_to_first_token");
    assert!((ttft_s * 1e3 - ttft).abs() < 1e-6);
}

#[tokio::test]
async fn calls_get_spans_of_their_own() {
    let _serial = SERIAL.lock().await;
    let server = LocalServer::start().await.unwrap();
    server.set_default(Reply::text("again").usage(11, 7));
    let client = traced(&server, "openai");
    let seen = Seen::default();
    let _guard = listen(seen.clone());

    for _ in 0..3 {
        client.create(request(false)).await.unwrap();
    }
    let spans = seen.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 3);
    let ids: std::collections::BTreeSet<_> = spans
        .iter()
        .map(|(_, f)| f["openai_hooks.request_id"].to_string())
        .collect();
    assert_eq!(ids.len(), 3, "each call has its own request id: {ids:?}");
    assert!(
        spans
            .iter()
            .all(|(_, f)| f["gen_ai.system"] == json!("openai"))
    );
    assert_eq!(seen.events.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn with_no_subscriber_the_hooks_pass_everything_through() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::text("a b c").chunks(3).usage(11, 7));
    server.push(Reply::text("plain").usage(11, 7));
    let client = traced(&server, "openai");
    // No subscriber is set on this thread: the span is disabled.
    let _serial = SERIAL.lock().await;
    tracing::callsite::rebuild_interest_cache();

    let mut stream = client.create_stream(request(true)).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        for choice in chunk.unwrap().choices {
            text.push_str(choice.delta.content.as_deref().unwrap_or_default());
        }
    }
    assert_eq!(text, "a b c");
    let reply = client.create(request(false)).await.unwrap();
    assert_eq!(reply.choices[0].message.content.as_deref(), Some("plain"));
}
