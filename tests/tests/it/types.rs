//! Every recorded reply in tests/fixtures decodes into the crate's wire types
//! and serialises back without losing a field.

use std::path::{Path, PathBuf};

use openai_hooks::types::{ChatChunk, ChatResponse, WireError};
use serde_json::Value;

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sse" || e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

/// Drops `null` members: the wire types omit absent optional fields.
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim_start)
        .filter(|d| *d != "[DONE]")
}

#[test]
fn every_stream_chunk_decodes_and_round_trips() {
    let mut chunks = 0;
    for path in fixtures("stream") {
        let text = std::fs::read_to_string(&path).unwrap();
        for data in data_lines(&text) {
            let chunk: ChatChunk = serde_json::from_str(data)
                .unwrap_or_else(|e| panic!("{}: {e}: {data}", path.display()));
            let mut original: Value = serde_json::from_str(data).unwrap();
            // A numeric error code is kept as its decimal text.
            if let Some(code @ Value::Number(_)) = original.pointer_mut("/error/code") {
                *code = Value::String(code.to_string());
            }
            let mut again = serde_json::to_value(&chunk).unwrap();
            // `index` and `delta` are filled in when a server leaves them out.
            if let (Some(orig), Some(new)) = (
                original["choices"].as_array(),
                again["choices"].as_array_mut(),
            ) {
                for (o, n) in orig.iter().zip(new.iter_mut()) {
                    if o.get("delta").is_none() {
                        n.as_object_mut().unwrap().remove("delta");
                    }
                }
            }
            assert_eq!(
                without_nulls(again),
                without_nulls(original),
                "{} lost or changed a field",
                path.display()
            );
            chunks += 1;
        }
    }
    assert_eq!(
        chunks, 395,
        "every recorded chunk (410 data lines less 15 [DONE])"
    );
}

#[test]
fn every_response_decodes_and_round_trips() {
    for path in fixtures("response") {
        let text = std::fs::read_to_string(&path).unwrap();
        // OpenRouter pads the body with whitespace before the JSON.
        let reply: ChatResponse = serde_json::from_str(text.trim_start())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let original: Value = serde_json::from_str(text.trim_start()).unwrap();
        assert_eq!(
            without_nulls(serde_json::to_value(&reply).unwrap()),
            without_nulls(original),
            "{}",
            path.display()
        );
        assert!(!reply.choices.is_empty(), "{}", path.display());
    }
}

#[test]
fn provider_fields_are_reachable() {
    let read = |name: &str| {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures")
                .join(name),
        )
        .unwrap()
    };

    let deepseek = read("stream/deepseek-reasoning.sse");
    let reasoning: String = data_lines(&deepseek)
        .map(|d| serde_json::from_str::<ChatChunk>(d).unwrap())
        .filter_map(|c| {
            c.choices
                .first()
                .and_then(|ch| ch.delta.reasoning_text().map(str::to_owned))
        })
        .collect();
    assert!(
        reasoning.len() > 20,
        "reasoning_content kept: {reasoning:?}"
    );

    let openrouter = read("stream/openrouter-reasoning-comments.sse");
    assert!(
        data_lines(&openrouter)
            .map(|d| serde_json::from_str::<ChatChunk>(d).unwrap())
            .any(|c| c.choices.iter().any(|ch| ch.delta.reasoning.is_some())),
        "OpenRouter's `reasoning` kept"
    );

    let cut = read("stream/openrouter-midstream-error.sse");
    let last = data_lines(&cut).last().unwrap();
    let chunk: ChatChunk = serde_json::from_str(last).unwrap();
    let err = chunk.error.expect("mid-stream error kept");
    assert_eq!(err.code.as_deref(), Some("400"));
    assert_eq!(err.message, "Token limit reached");

    let deepseek_usage = read("stream/deepseek-reasoning-tool-call.sse");
    let usage = data_lines(&deepseek_usage)
        .filter_map(|d| serde_json::from_str::<ChatChunk>(d).unwrap().usage)
        .last()
        .unwrap();
    assert!(
        usage.cached_tokens().is_some(),
        "prompt_cache_hit_tokens read as cached tokens"
    );

    let groq: ChatResponse = serde_json::from_str(&read("response/groq-tool-call.json")).unwrap();
    assert_eq!(groq.service_tier.as_deref(), Some("on_demand"));
    assert!(groq.extra.contains_key("x_groq"));
}

#[test]
fn every_error_body_decodes() {
    for path in fixtures("error") {
        let text = std::fs::read_to_string(&path).unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        let err: WireError = serde_json::from_value(body["error"].clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!err.message.is_empty(), "{}", path.display());
        assert!(err.code.is_some(), "{} has a code", path.display());
    }
}
