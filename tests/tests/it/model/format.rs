//! Request formatting: every content-block kind and tool-choice kind, and
//! every built request valid against OpenAI's published request schema.

use std::sync::LazyLock;

use openai_hooks::ChatRequest;
use openai_hooks::model::parts::{RequestParts, format_request, request_json};
use openai_hooks::model::{
    ContentBlock, Document, Image, ImageFormat, Message, OpenAIModel, Role, SystemPrompt,
    ToolChoice, ToolResult, ToolResultContent, ToolSpec, ToolStatus, ToolUse,
};
use serde_json::{Map, Value, json};

static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/create-chat-completion-request.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
});

/// Builds the request JSON (params merged) and checks it against the spec;
/// checks that the typed request the model sends is that JSON read back,
/// and valid too.
fn build(parts: RequestParts<'_>) -> Value {
    let json = request_json(parts).unwrap();
    assert_valid(&json);
    assert_tool_calls_answered(&json);
    let via_json: ChatRequest = serde_json::from_value(json.clone()).unwrap();
    let typed = format_request(parts).unwrap();
    assert_eq!(
        typed, via_json,
        "the typed request differs from its JSON form"
    );
    let sent = serde_json::to_value(&typed).unwrap();
    assert_valid(&sent);
    json
}

fn assert_valid(json: &Value) {
    let errors: Vec<String> = SCHEMA
        .iter_errors(json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid request per the spec: {errors:#?}\n{json:#}"
    );
}

/// OpenAI's rule the schema cannot say: an assistant message with
/// `tool_calls` is followed right after by `tool` messages answering each
/// of its ids (the local server rejects requests that break it, too).
fn assert_tool_calls_answered(json: &Value) {
    let messages = json["messages"].as_array().unwrap();
    for (i, m) in messages.iter().enumerate() {
        for call in m["tool_calls"].as_array().into_iter().flatten() {
            let answered = messages[i + 1..]
                .iter()
                .take_while(|m| m["role"] == "tool")
                .any(|m| m["tool_call_id"] == call["id"]);
            assert!(
                answered,
                "tool call {} not answered right after:\n{json:#}",
                call["id"]
            );
        }
    }
}

fn parts<'a>(messages: &'a [Message], params: &'a Map<String, Value>) -> RequestParts<'a> {
    RequestParts {
        model_id: "gpt-4o-mini",
        params,
        stream: true,
        messages,
        tools: &[],
        system_prompt: None,
        tool_choice: None,
    }
}

fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "Weather for a city".into(),
        input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    }
}

#[test]
fn text_and_system_prompt_as_string_or_blocks() {
    let no_params = Map::new();
    let messages = [
        Message::user("Hello"),
        Message::assistant("Hi!"),
        Message::user("Bye"),
    ];
    let system = SystemPrompt::from("Be brief.");
    let mut p = parts(&messages, &no_params);
    p.system_prompt = Some(&system);
    let req = build(p);
    assert_eq!(req["model"], "gpt-4o-mini");
    assert_eq!(req["stream"], true);
    assert_eq!(req["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        req["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        req["messages"][1],
        json!({"role": "user", "content": [{"type": "text", "text": "Hello"}]})
    );
    assert_eq!(req["messages"][2]["role"], "assistant");
    assert_eq!(req["messages"].as_array().unwrap().len(), 4);

    let blocks = SystemPrompt::Blocks(vec!["Rule one.".into(), "Rule two.".into()]);
    let mut p = parts(&messages, &no_params);
    p.system_prompt = Some(&blocks);
    let req = build(p);
    assert_eq!(
        req["messages"][0],
        json!({"role": "system", "content": [{"type": "text", "text": "Rule one."}, {"type": "text", "text": "Rule two."}]})
    );
}

#[test]
fn images_and_documents_become_data_urls() {
    let no_params = Map::new();
    let messages = [Message {
        role: Role::User,
        content: vec![
            ContentBlock::Text("What is in these?".into()),
            ContentBlock::Image(Image {
                format: ImageFormat::Png,
                bytes: vec![0x89, b'P', b'N', b'G'],
            }),
            ContentBlock::Document(Document {
                format: "pdf".into(),
                name: "report.pdf".into(),
                bytes: b"%PDF-1.7".to_vec(),
            }),
        ],
    }];
    let req = build(parts(&messages, &no_params));
    let content = &req["messages"][0]["content"];
    assert_eq!(
        content[1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw==", "detail": "auto"}})
    );
    assert_eq!(
        content[2],
        json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjc=", "filename": "report.pdf"}})
    );
}

#[test]
fn tool_use_and_results_follow_the_python_provider() {
    let no_params = Map::new();
    let messages = [
        Message::user("Weather in Paris and a map?"),
        Message {
            role: Role::Assistant,
            content: vec![
                ContentBlock::Text("Let me look.".into()),
                ContentBlock::ToolUse(ToolUse {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    input: json!({"city": "Paris"}),
                }),
                ContentBlock::ToolUse(ToolUse {
                    id: "call_2".into(),
                    name: "get_map".into(),
                    input: json!({"city": "Paris"}),
                }),
            ],
        },
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::ToolResult(ToolResult {
                    tool_use_id: "call_1".into(),
                    status: ToolStatus::Success,
                    content: vec![
                        ToolResultContent::Text("Sunny".into()),
                        ToolResultContent::Json(json!({"celsius": 21})),
                    ],
                }),
                ContentBlock::ToolResult(ToolResult {
                    tool_use_id: "call_2".into(),
                    status: ToolStatus::Success,
                    content: vec![ToolResultContent::Image(Image {
                        format: ImageFormat::Jpeg,
                        bytes: vec![1, 2, 3],
                    })],
                }),
            ],
        },
    ];
    let req = build(parts(&messages, &no_params));
    let m = req["messages"].as_array().unwrap();
    assert_eq!(
        m[1]["tool_calls"][0],
        json!({"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}})
    );
    assert_eq!(m[1]["tool_calls"][1]["id"], "call_2");
    assert_eq!(
        m[1]["content"],
        json!([{"type": "text", "text": "Let me look."}])
    );
    // The user message held only tool results: it becomes tool messages.
    assert_eq!(
        m[2],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "Sunny\n{\"celsius\":21}"})
    );
    assert_eq!(m[3]["role"], "tool");
    assert_eq!(m[3]["tool_call_id"], "call_2");
    // Images in a tool result move to a user message after the tool
    // messages.
    assert_eq!(m[4]["role"], "user");
    assert_eq!(
        m[4]["content"][1]["image_url"]["url"],
        "data:image/jpeg;base64,AQID"
    );
    assert_eq!(m.len(), 5);
}

/// A tool result holding an image, for call `id`.
fn image_result(id: &str, byte: u8) -> ContentBlock {
    ContentBlock::ToolResult(ToolResult {
        tool_use_id: id.into(),
        status: ToolStatus::Success,
        content: vec![
            ToolResultContent::Text(format!("shot {id}")),
            ToolResultContent::Image(Image {
                format: ImageFormat::Png,
                bytes: vec![byte],
            }),
        ],
    })
}

#[test]
fn every_tool_message_comes_before_the_images_of_the_results() {
    // OpenAI wants each tool_call_id of an assistant turn answered by a
    // tool message before any other message: with two results that carry
    // images, both tool messages come first, then the images, in call
    // order.
    let no_params = Map::new();
    let call = |id: &str| {
        ContentBlock::ToolUse(ToolUse {
            id: id.into(),
            name: "screenshot".into(),
            input: json!({}),
        })
    };
    let messages = [
        Message::user("Two screenshots, please."),
        Message {
            role: Role::Assistant,
            content: vec![call("call_a"), call("call_b")],
        },
        Message {
            role: Role::User,
            content: vec![
                image_result("call_a", 1),
                image_result("call_b", 2),
                ContentBlock::Text("Compare them.".into()),
            ],
        },
    ];
    let req = build(parts(&messages, &no_params));
    let m = req["messages"].as_array().unwrap();
    let roles: Vec<&str> = m.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["user", "assistant", "tool", "tool", "user", "user", "user"]
    );
    assert_eq!(m[2]["tool_call_id"], "call_a");
    assert_eq!(m[2]["content"], "shot call_a");
    assert_eq!(m[3]["tool_call_id"], "call_b");
    assert_eq!(
        m[4]["content"][0]["text"],
        "Content returned by tool call call_a:"
    );
    assert_eq!(
        m[4]["content"][1]["image_url"]["url"],
        "data:image/png;base64,AQ=="
    );
    assert_eq!(
        m[5]["content"][0]["text"],
        "Content returned by tool call call_b:"
    );
    assert_eq!(
        m[5]["content"][1]["image_url"]["url"],
        "data:image/png;base64,Ag=="
    );
    assert_eq!(m[6]["content"][0]["text"], "Compare them.");
}

#[test]
fn reasoning_is_dropped_and_empty_messages_removed() {
    let no_params = Map::new();
    let messages = [
        Message::user("Think."),
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::Reasoning { text: "hmm".into() }],
        },
        Message {
            role: Role::User,
            content: vec![],
        },
        Message::user("Well?"),
    ];
    let req = build(parts(&messages, &no_params));
    let m = req["messages"].as_array().unwrap();
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(!req.to_string().contains("hmm"));
}

#[test]
fn tools_and_every_tool_choice() {
    let no_params = Map::new();
    let messages = [Message::user("Weather?")];
    let tools = [weather_tool()];
    let cases = [
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::Any, json!("required")),
        (
            ToolChoice::Tool {
                name: "get_weather".into(),
            },
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ),
    ];
    for (choice, expected) in cases {
        let mut p = parts(&messages, &no_params);
        p.tools = &tools;
        p.tool_choice = Some(&choice);
        let req = build(p);
        assert_eq!(req["tool_choice"], expected);
        assert_eq!(req["tools"][0]["type"], "function");
        assert_eq!(req["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(
            req["tools"][0]["function"]["parameters"]["required"],
            json!(["city"])
        );
    }
    // No choice: the field is absent.
    let mut p = parts(&messages, &no_params);
    p.tools = &tools;
    assert!(build(p).get("tool_choice").is_none());
}

#[test]
fn params_merge_last_and_non_streaming_asks_no_usage() {
    let params: Map<String, Value> = serde_json::from_value(json!({
        "temperature": 0.3,
        "max_completion_tokens": 100,
        "model": "gpt-4o",
        "seed": 7,
    }))
    .unwrap();
    let messages = [Message::user("Hi")];
    let mut p = parts(&messages, &params);
    p.stream = false;
    let req = build(p);
    assert_eq!(req["model"], "gpt-4o", "params override the built fields");
    assert_eq!(req["temperature"], 0.3);
    assert_eq!(req["seed"], 7);
    assert!(req.get("stream").is_none() && req.get("stream_options").is_none());

    // Params that name no built field: the typed path reads only them.
    let params: Map<String, Value> = serde_json::from_value(json!({
        "temperature": 0.3,
        "seed": 7,
        "response_format": {"type": "json_object"},
    }))
    .unwrap();
    let tools = [weather_tool()];
    let mut p = parts(&messages, &params);
    p.tools = &tools;
    p.tool_choice = Some(&ToolChoice::Auto);
    let req = build(p);
    assert_eq!(req["model"], "gpt-4o-mini");
    assert_eq!(req["seed"], 7);
    assert_eq!(req["tool_choice"], "auto");
}

#[test]
fn the_model_reports_a_param_of_the_wrong_type() {
    let model = OpenAIModel::builder("gpt-4o-mini")
        .params(json!({"temperature": "hot"}))
        .build()
        .unwrap();
    let err = model
        .format_request(&[Message::user("Hi")], &[], None, None)
        .unwrap_err();
    assert!(err.to_string().contains("invalid request"), "{err}");
    assert!(
        OpenAIModel::builder("m")
            .params(json!([1, 2]))
            .build()
            .is_err()
    );
}

#[test]
fn the_schema_check_rejects_what_the_api_rejects() {
    // The check above must be able to fail: a few requests the API refuses.
    for bad in [
        json!({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
        json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
        json!({"messages": [{"role": "user", "content": "hi"}]}),
    ] {
        assert!(!SCHEMA.is_valid(&bad), "accepted {bad}");
    }
}

#[test]
fn tool_only_assistant_messages_and_mixed_user_messages_stay_valid_once_typed() {
    let messages = [
        Message::user("Weather?"),
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse(ToolUse {
                id: "call_1".into(),
                name: "get_weather".into(),
                input: json!({"city": "Paris"}),
            })],
        },
        Message {
            role: Role::User,
            content: vec![
                ContentBlock::Text("Also, thanks.".into()),
                ContentBlock::ToolResult(ToolResult {
                    tool_use_id: "call_1".into(),
                    status: ToolStatus::Success,
                    content: vec![ToolResultContent::Text("Sunny".into())],
                }),
            ],
        },
    ];
    let no_params = Map::new();
    // The typed request, as it goes on the wire.
    let typed = openai_hooks::model::parts::format_request(parts(&messages, &no_params)).unwrap();
    let req = serde_json::to_value(typed).unwrap();
    let errors: Vec<String> = SCHEMA.iter_errors(&req).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{req:#}");
    assert!(req["messages"][1].get("content").is_none(), "{req:#}");
    let roles: Vec<&str> = req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "user"]);
}

#[test]
fn a_param_that_is_no_request_field_is_an_error_not_dropped() {
    let mut params = Map::new();
    params.insert("top_k".into(), json!(40));
    let messages = [Message::user("Hi")];
    let err = openai_hooks::model::parts::format_request(parts(&messages, &params)).unwrap_err();
    assert!(err.to_string().contains("top_k"), "{err}");
}

#[test]
fn messages_the_api_cannot_take_are_refused() {
    let no_params = Map::new();
    let image = ContentBlock::Image(Image {
        format: ImageFormat::Png,
        bytes: vec![1, 2, 3],
    });
    let call = ContentBlock::ToolUse(ToolUse {
        id: "call_1".into(),
        name: "get_weather".into(),
        input: json!({}),
    });
    for (role, block, says) in [
        (
            Role::Assistant,
            image,
            "assistant message can hold only text",
        ),
        (Role::User, call, "user message cannot hold tool calls"),
    ] {
        let messages = [Message {
            role,
            content: vec![block],
        }];
        let err = format_request(parts(&messages, &no_params)).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
}

#[test]
fn a_param_that_names_a_built_field_wins() {
    let params: Map<String, Value> = serde_json::from_value(json!({
        "tool_choice": "none",
        "stream": false,
    }))
    .unwrap();
    let messages = [Message::user("Hi")];
    let tools = [weather_tool()];
    let mut p = parts(&messages, &params);
    p.tools = &tools;
    p.tool_choice = Some(&ToolChoice::Any);
    let req = build(p);
    assert_eq!(req["tool_choice"], "none");
    assert_eq!(req["stream"], false);
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
struct Trip {
    destination: String,
    nights: u8,
    budget: Option<f64>,
    stops: Vec<Stop>,
    transport: Transport,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
struct Stop {
    city: String,
    note: Option<String>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema, PartialEq)]
enum Transport {
    Train,
    Car { seats: u8 },
}

#[tokio::test]
async fn the_structured_output_request_on_the_wire_is_valid() {
    use openai_hooks::async_openai::{Client, config::OpenAIConfig};
    use openai_hooks::server::{LocalServer, Reply};

    let server = LocalServer::start().await.unwrap();
    let model = OpenAIModel::builder("gpt-4o-mini")
        .client(Client::with_config(
            OpenAIConfig::new()
                .with_api_base(server.base_url())
                .with_api_key("k"),
        ))
        .params(json!({"temperature": 0.2, "max_completion_tokens": 200}))
        .build()
        .unwrap();
    let reply = json!({
        "destination": "Lisbon", "nights": 3, "budget": null,
        "stops": [{"city": "Porto", "note": null}],
        "transport": {"Car": {"seats": 4}},
    });
    server.push(Reply::text(reply.to_string()));
    let system = SystemPrompt::from("Plan trips.");
    let trip: Trip = model
        .structured_output(&[Message::user("A weekend away?")], Some(&system))
        .await
        .unwrap();
    assert_eq!(trip.transport, Transport::Car { seats: 4 });

    // The request as the server received it.
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    let body = &sent[0].body;
    assert_valid(body);
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["strict"], true);
    assert!(format["json_schema"]["schema"]["properties"]["stops"].is_object());
    // OpenAI's rule for the name (not in the published schema): letters,
    // digits, `_` and `-`, at most 64.
    let name = format["json_schema"]["name"].as_str().unwrap();
    assert!(
        !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{name}"
    );
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["temperature"], 0.2);

    // The check covers the response format: broken copies of it fail.
    let mut no_name = body.clone();
    no_name["response_format"]["json_schema"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let mut strict_text = body.clone();
    strict_text["response_format"]["json_schema"]["strict"] = json!("yes");
    let mut no_schema = body.clone();
    no_schema["response_format"]
        .as_object_mut()
        .unwrap()
        .remove("json_schema");
    for bad in [no_name, strict_text, no_schema] {
        assert!(
            !SCHEMA.is_valid(&bad),
            "accepted {}",
            bad["response_format"]
        );
    }
    server.shutdown().await;
}
