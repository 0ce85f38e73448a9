//! Micro-benchmarks of the hot paths: what the hooks add per request and
//! per chunk, measured against the same in-memory inner client without
//! hooks, in one run.
//!
//! ```sh
//! cargo bench -p openai-hooks-bench --bench hot_paths
//! ```

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use futures::StreamExt;
use openai_hooks::ChatClient;
use openai_hooks_bench::hooks::Hooked;
use openai_hooks_bench::memory::InMemory;

const CHUNKS: usize = 200;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

async fn drain(client: &impl ChatClient) -> usize {
    let mut stream = client
        .create_stream(InMemory::request())
        .await
        .expect("a stream");
    let mut n = 0;
    while let Some(chunk) = stream.next().await {
        black_box(chunk.expect("a chunk"));
        n += 1;
    }
    n
}

/// Benchmarks one `create` call of `client` (the request is built outside
/// the timing) as `name` in `group`.
fn bench_create(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    client: &impl ChatClient,
) {
    group.bench_function(name, |b| {
        b.iter_batched(
            InMemory::request,
            |req| rt.block_on(client.create(req)).expect("a reply"),
            BatchSize::SmallInput,
        )
    });
}

/// Per request: `create` with and without nine pass-through hooks.
fn per_request(c: &mut Criterion) {
    let rt = runtime();
    let raw = InMemory::new(CHUNKS);
    let hooked = Hooked::new(InMemory::new(CHUNKS));
    let mut group = c.benchmark_group("request");
    bench_create(&mut group, "raw", &rt, &raw);
    bench_create(&mut group, "3 hooks of each kind", &rt, &hooked);
    group.finish();
}

/// Per chunk: a 200-chunk stream with and without three chunk hooks (and
/// the pre-request hooks that every call runs).
fn per_chunk(c: &mut Criterion) {
    let rt = runtime();
    let raw = InMemory::new(CHUNKS);
    let hooked = Hooked::new(InMemory::new(CHUNKS));
    let mut group = c.benchmark_group("stream of 200 chunks");
    group.throughput(Throughput::Elements(CHUNKS as u64));
    group.bench_function("raw", |b| b.iter(|| rt.block_on(drain(&raw))));
    group.bench_function("3 hooks of each kind", |b| {
        b.iter(|| rt.block_on(drain(&hooked)))
    });
    group.finish();
    black_box(hooked.seen());
}

/// Per request: building a Chat Completions request from a conversation of
/// the usual shape (system prompt, a few turns, one tool call and result,
/// two tool specs).
fn request_formatting(c: &mut Criterion) {
    use openai_hooks::model::{
        ContentBlock, Message, OpenAIModel, Role, SystemPrompt, ToolResult, ToolResultContent,
        ToolSpec, ToolStatus, ToolUse,
    };
    let model = OpenAIModel::builder("gpt-4o-mini")
        .params(serde_json::json!({"temperature": 0.2, "max_completion_tokens": 512}))
        .build()
        .expect("a model");
    let messages = vec![
        Message::user("What's the weather in Paris, and should I take an umbrella?"),
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse(ToolUse {
                id: "call_1".into(),
                name: "get_weather".into(),
                input: serde_json::json!({"city": "Paris", "unit": "celsius"}),
            })],
        },
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult(ToolResult {
                tool_use_id: "call_1".into(),
                status: ToolStatus::Success,
                content: vec![ToolResultContent::Json(
                    serde_json::json!({"temp": 14, "rain_probability": 0.7}),
                )],
            })],
        },
        Message::assistant("It's 14°C with a 70% chance of rain: take the umbrella."),
        Message::user("And tomorrow?"),
    ];
    let tool = |name: &str| ToolSpec {
        name: name.into(),
        description: "Looks something up".into(),
        input_schema: serde_json::json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        }),
    };
    let tools = vec![tool("get_weather"), tool("get_forecast")];
    let system = SystemPrompt::from("You are a helpful assistant.");
    c.bench_function("format request (5 messages, 2 tools)", |b| {
        b.iter(|| {
            model
                .format_request(black_box(&messages), &tools, Some(&system), None)
                .expect("a request")
        })
    });
}

/// Per chunk: turning chunks into stream events.
fn event_conversion(c: &mut Criterion) {
    use openai_hooks::model::parts::EventConverter;
    let chunks = InMemory::new(CHUNKS).chunks().to_vec();
    let mut group = c.benchmark_group("event conversion");
    group.throughput(Throughput::Elements(CHUNKS as u64));
    group.bench_function("200 text chunks", |b| {
        let mut out = Vec::with_capacity(8);
        b.iter(|| {
            let mut converter = EventConverter::new(std::time::Instant::now());
            for chunk in &chunks {
                converter.push(chunk, &mut out).expect("converts");
                out.clear();
            }
            converter.finish(&mut out).expect("finished");
            out.clear();
        })
    });
    group.finish();
}

/// Per request: a whole `OpenAIModel` call with a one-shot reply (format,
/// call, turn the reply into events) against the same request sent to the
/// same in-memory client directly, so the difference is what the model adds.
fn model_call(c: &mut Criterion) {
    use openai_hooks::model::{Message, OpenAIModel, SystemPrompt};
    let rt = runtime();
    let raw = InMemory::new(CHUNKS);
    let model = OpenAIModel::builder("gpt-4o-mini")
        .stream(false)
        .client(InMemory::new(CHUNKS))
        .build()
        .expect("a model");
    let messages = [Message::user("Say hello.")];
    let system = SystemPrompt::from("You are terse.");
    let mut group = c.benchmark_group("model call (one-shot reply)");
    bench_create(&mut group, "raw client", &rt, &raw);
    group.bench_function("OpenAIModel, fixed", |b| {
        b.iter(|| {
            rt.block_on(async {
                let events = model.stream(black_box(&messages), &[], Some(&system), None);
                let mut events = std::pin::pin!(events);
                let mut n = 0;
                while let Some(event) = events.next().await {
                    black_box(event.expect("an event"));
                    n += 1;
                }
                n
            })
        })
    });
    group.finish();
}

/// The telemetry hook (as pre-request, chunk and post-response hook) with
/// no `tracing` subscriber listening, against the same in-memory client
/// without it: what tracing costs a service that does not collect it.
fn telemetry_unobserved(c: &mut Criterion) {
    use openai_hooks::openai_client;
    use openai_hooks::telemetry::Telemetry;

    #[openai_client]
    struct Traced {
        #[inner]
        client: InMemory,
        #[pre_request]
        start: Telemetry,
        #[on_chunk]
        chunks: Telemetry,
        #[post_response]
        finish: Telemetry,
    }

    let rt = runtime();
    let raw = InMemory::new(CHUNKS);
    let traced = Traced {
        client: InMemory::new(CHUNKS),
        start: Telemetry::new(),
        chunks: Telemetry::new(),
        finish: Telemetry::new(),
    };
    let mut group = c.benchmark_group("telemetry, no subscriber");
    bench_create(&mut group, "request/raw", &rt, &raw);
    bench_create(&mut group, "request/telemetry", &rt, &traced);
    group.bench_function("stream of 200 chunks/raw", |b| {
        b.iter(|| rt.block_on(drain(&raw)))
    });
    group.bench_function("stream of 200 chunks/telemetry", |b| {
        b.iter(|| rt.block_on(drain(&traced)))
    });
    group.finish();
}

/// Building a client for one call, as a client per call does: async-openai
/// on a default reqwest client (which builds its TLS configuration, reading
/// the system's root store), the same on a `Transport` (what
/// `ClientArgs::build` did before it shared its TLS configuration), and
/// `ClientArgs::build` now, without and with an extra root. No request is
/// sent: this is the construction alone.
fn client_per_call(c: &mut Criterion) {
    use openai_hooks::async_openai::Client;
    use openai_hooks::async_openai::config::OpenAIConfig;
    use openai_hooks::model::ClientArgs;
    use openai_hooks::transport::Transport;

    const BASE: &str = "http://127.0.0.1:9/v1";
    let config = || {
        OpenAIConfig::new()
            .with_api_base(BASE)
            .with_api_key("bench-key")
    };
    // A real certificate for the extra-root case: the local server's.
    let pem = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let server = openai_hooks::server::LocalServer::start_tls()
                .await
                .expect("a TLS server");
            let pem = server.certificate_pem().expect("a certificate").to_owned();
            server.shutdown().await;
            pem
        });
    let args = ClientArgs::new().base_url(BASE).api_key("bench-key");
    let with_root = args.clone().root_certificate_pem(pem);
    let mut group = c.benchmark_group("client per call");
    group.sample_size(30);
    group.bench_function("async-openai, default reqwest client", |b| {
        b.iter(|| black_box(Client::with_config(config())))
    });
    group.bench_function("async-openai on a Transport, default reqwest client", |b| {
        b.iter(|| {
            let http = reqwest::Client::builder().build().expect("a client");
            let transport = Transport::builder()
                .http_client(http)
                .build()
                .expect("a transport");
            black_box(transport.client(config()))
        })
    });
    group.bench_function("ClientArgs::build, shared TLS", |b| {
        b.iter(|| black_box(args.build().expect("a client")))
    });
    group.bench_function("ClientArgs::build, shared TLS, extra root", |b| {
        b.iter(|| black_box(with_root.build().expect("a client")))
    });
    group.finish();
}

criterion_group!(
    benches,
    client_per_call,
    per_request,
    per_chunk,
    telemetry_unobserved,
    request_formatting,
    event_conversion,
    model_call
);
criterion_main!(benches);
