//! Structured output: the strict schema sent, the typed value back, and a
//! typed error carrying the raw text for each way it can fail.

use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::model::parts::response_format;
use openai_hooks::model::{Message, ModelError, OpenAIModel, StructuredFailure};
use openai_hooks::server::{LocalServer, Reply};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
struct Person {
    name: String,
    age: u8,
    nickname: Option<String>,
    address: Address,
    pets: Vec<Pet>,
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
struct Address {
    city: String,
    zip: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
enum Pet {
    Cat { name: String },
    Dog { name: String, good: bool },
}

/// Every object in the schema, wherever it sits.
fn objects<'a>(v: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
    match v {
        Value::Object(map) => {
            if map.contains_key("properties") {
                out.push(map);
            }
            map.values().for_each(|v| objects(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| objects(v, out)),
        _ => {}
    }
}

#[test]
fn the_schema_is_fixed_for_strict_mode() {
    let format = response_format::<Person>();
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "Person");
    assert_eq!(format["json_schema"]["strict"], true);
    let schema = &format["json_schema"]["schema"];
    assert!(schema.get("$schema").is_none());
    let text = schema.to_string();
    assert!(!text.contains("oneOf"), "strict mode takes anyOf: {text}");
    assert!(!text.contains("\"format\":\"uint8\""), "{text}");
    let mut all = Vec::new();
    objects(schema, &mut all);
    assert!(
        all.len() >= 4,
        "Person, Address and both Pet variants: {text}"
    );
    for object in all {
        assert_eq!(object["additionalProperties"], false, "{object:?}");
        let mut required: Vec<&str> = object["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut props: Vec<&str> = object["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        required.sort();
        props.sort();
        assert_eq!(required, props, "every property required");
    }
    // An Option is required but nullable.
    let nickname = &schema["properties"]["nickname"];
    assert!(nickname.to_string().contains("null"), "{nickname}");
}

async fn setup() -> (
    LocalServer,
    OpenAIModel<openai_hooks::model::Fixed<Client<OpenAIConfig>>>,
) {
    let server = LocalServer::start().await.unwrap();
    let client = Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));
    let model = OpenAIModel::builder("gpt-4o-mini")
        .client(client)
        .params(json!({"temperature": 0}))
        .build()
        .unwrap();
    (server, model)
}

#[tokio::test]
async fn a_typed_reply_comes_back_typed() {
    let (server, model) = setup().await;
    let reply = json!({
        "name": "Ada", "age": 36, "nickname": null,
        "address": {"city": "London", "zip": null},
        "pets": [{"Cat": {"name": "Tom"}}, {"Dog": {"name": "Rex", "good": true}}],
    });
    server.push(Reply::text(reply.to_string()));
    let person: Person = model
        .structured_output(&[Message::user("Who?")], None)
        .await
        .unwrap();
    assert_eq!(person.name, "Ada");
    assert_eq!(
        person.pets[1],
        Pet::Dog {
            name: "Rex".into(),
            good: true
        }
    );
    let sent = &server.requests()[0].body;
    assert_eq!(sent["response_format"]["type"], "json_schema");
    assert_eq!(sent["temperature"], 0.0, "model params still apply");
    assert!(
        sent.get("stream").is_none(),
        "structured output asks for one complete reply"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn each_failure_is_typed_and_keeps_the_raw_text() {
    let (server, model) = setup().await;
    let messages = [Message::user("Who?")];

    server.push(Reply::refusal("I can't share that."));
    let err = model
        .structured_output::<Person>(&messages, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::StructuredOutput { kind: StructuredFailure::Refusal, raw, .. } if raw == "I can't share that."),
        "{err:?}"
    );

    server.push(Reply::text("Ada, 36, from London"));
    let err = model
        .structured_output::<Person>(&messages, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::StructuredOutput { kind: StructuredFailure::Parse, raw, .. } if raw == "Ada, 36, from London"),
        "{err:?}"
    );

    let two = json!({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"},
        ],
    });
    server.push(Reply::raw(200, "application/json", two.to_string()));
    let err = model
        .structured_output::<Person>(&messages, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ModelError::StructuredOutput {
                kind: StructuredFailure::SeveralChoices,
                ..
            }
        ),
        "{err:?}"
    );

    server.push(Reply::text(r#"{"name": "Ada", "age": 3"#).finish_reason("length"));
    let err = model
        .structured_output::<Person>(&messages, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ModelError::StructuredOutput {
                kind: StructuredFailure::Truncated,
                ..
            }
        ),
        "{err:?}"
    );
    server.shutdown().await;
}
