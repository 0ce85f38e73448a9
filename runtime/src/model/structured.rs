//! Structured output: a JSON schema from the Rust type (schemars), made
//! acceptable to OpenAI's strict mode, and the reply parsed back into the
//! type.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::error::{ModelError, StructuredFailure};
use crate::types::{ChatResponse, FinishReason};

/// The `response_format` that asks for `T` in strict mode.
pub fn response_format<T: JsonSchema>() -> Value {
    let mut schema = schemars::schema_for!(T).to_value();
    let name = schema_name(&schema);
    strict(&mut schema);
    json!({
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": true},
    })
}

/// The schema's title, cut to what OpenAI accepts as a name
/// (`^[a-zA-Z0-9_-]{1,64}$`).
fn schema_name(schema: &Value) -> String {
    let title = schema["title"].as_str().unwrap_or("output");
    let name: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "output".into()
    } else {
        name
    }
}

/// Rewrites a schemars schema for OpenAI's strict mode:
///
/// - every object: `additionalProperties: false`, and every property
///   listed in `required` (strict mode has no optional properties; an
///   `Option` field is required and nullable instead, which schemars already
///   writes as `"type": [.., "null"]` or an `anyOf` with `null`);
/// - `oneOf` (schemars' spelling for enums with data) becomes `anyOf`, the
///   one strict mode supports; the variants are disjoint, so it means the
///   same;
/// - `$schema` removed (not accepted), and `format` annotations that strict
///   mode rejects removed (`int32`, `uint`, ...: they only restate the Rust
///   type).
pub fn strict(schema: &mut Value) {
    if let Value::Object(map) = schema {
        map.remove("$schema");
        if let Some(variants) = map.remove("oneOf") {
            map.insert("anyOf".into(), variants);
        }
        if let Some(Value::String(format)) = map.get("format")
            && !SUPPORTED_FORMATS.contains(&format.as_str())
        {
            map.remove("format");
        }
        if map.get("type") == Some(&json!("object")) || map.contains_key("properties") {
            close_object(map);
        }
        for value in map.values_mut() {
            strict(value);
        }
    } else if let Value::Array(items) = schema {
        for item in items {
            strict(item);
        }
    }
}

/// String formats strict mode accepts.
const SUPPORTED_FORMATS: [&str; 9] = [
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

fn close_object(map: &mut Map<String, Value>) {
    map.insert("additionalProperties".into(), Value::Bool(false));
    let names: Vec<Value> = map
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().map(Value::String).collect())
        .unwrap_or_default();
    map.insert("required".into(), Value::Array(names));
    if !map.contains_key("properties") {
        map.insert("properties".into(), Value::Object(Map::new()));
    }
}

/// `T` from a complete reply, or why not (with the raw text).
pub fn parse<T: DeserializeOwned>(resp: &ChatResponse) -> Result<T, ModelError> {
    let fail = |kind, reason: String, raw: &str| ModelError::StructuredOutput {
        kind,
        reason,
        raw: raw.to_owned(),
    };
    if resp.choices.len() > 1 {
        let raw = resp.choices[0]
            .message
            .content
            .as_deref()
            .unwrap_or_default();
        return Err(fail(
            StructuredFailure::SeveralChoices,
            format!("the reply has {} choices; expected one", resp.choices.len()),
            raw,
        ));
    }
    let Some(choice) = resp.choices.first() else {
        return Err(fail(
            StructuredFailure::NoContent,
            "the reply has no choices".into(),
            "",
        ));
    };
    if let Some(refusal) = &choice.message.refusal {
        return Err(fail(
            StructuredFailure::Refusal,
            "the model refused".into(),
            refusal,
        ));
    }
    let Some(text) = choice.message.content.as_deref() else {
        return Err(fail(
            StructuredFailure::NoContent,
            "the reply has no text".into(),
            "",
        ));
    };
    if choice.finish_reason == Some(FinishReason::Length) {
        return Err(fail(
            StructuredFailure::Truncated,
            "the reply hit the token limit before the JSON ended".into(),
            text,
        ));
    }
    serde_json::from_str(text).map_err(|e| fail(StructuredFailure::Parse, e.to_string(), text))
}
