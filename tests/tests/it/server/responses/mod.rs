//! `POST /v1/responses` on the local server, read with a plain HTTP client
//! and an SSE parser written here: the events of every scripted reply kind
//! in the order the Responses API sends them, the JSON replies, the
//! fixtures and their replay, and the 400s for malformed bodies.

mod check;
mod fixtures;

use std::time::Duration;

use openai_hooks::server::{Fault, LocalServer, Reply, ToolCallSpec};
use serde_json::{Value, json};

use check::{check, events, without_ids};

pub(super) fn url(server: &LocalServer) -> String {
    format!("{}/responses", server.base_url())
}

pub(super) async fn post(server: &LocalServer, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url(server))
        .json(body)
        .send()
        .await
        .unwrap()
}

pub(super) fn request(stream: bool) -> Value {
    json!({"model": "gpt-4.1-mini", "input": "hello responses", "stream": stream})
}

async fn stream(server: &LocalServer, reply: Reply) -> (String, Vec<Value>) {
    server.push(reply);
    let response = post(server, &request(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await.unwrap();
    let events = events(&body);
    (body, events)
}

fn weather(city: &str) -> ToolCallSpec {
    ToolCallSpec::new("get_weather", json!({"city": city, "unit": "celsius"}))
}

/// Every scripted kind with the terminal event it ends with.
fn kinds() -> Vec<(&'static str, Reply, Option<&'static str>)> {
    vec![
        (
            "text",
            Reply::text("Hello there, friend").chunks(5),
            Some("response.completed"),
        ),
        ("echo", Reply::echo().chunks(3), Some("response.completed")),
        (
            "one call",
            Reply::tool_calls([weather("Paris")]).fragments(4),
            Some("response.completed"),
        ),
        (
            "two calls",
            Reply::tool_calls([
                weather("Paris"),
                ToolCallSpec::new("get_time", json!({"tz": "CET"})),
            ])
            .fragments(3),
            Some("response.completed"),
        ),
        (
            "text then a call",
            Reply::text("Let me check.")
                .then_tool_calls([weather("Oslo")])
                .chunks(3),
            Some("response.completed"),
        ),
        (
            "reasoning summary",
            Reply::text("9.8 is greater.")
                .reasoning_summary("**Comparing** 9.8 and 9.11")
                .chunks(4),
            Some("response.completed"),
        ),
        (
            "reasoning text",
            Reply::text("9.8")
                .reasoning("The user asks which is larger")
                .chunks(4),
            Some("response.completed"),
        ),
        (
            "summary and text",
            Reply::text("ok")
                .reasoning_summary("short")
                .reasoning("long thought")
                .chunks(2),
            Some("response.completed"),
        ),
        (
            "refusal",
            Reply::refusal("I can't help with that.").chunks(4),
            Some("response.completed"),
        ),
        (
            "incomplete text",
            Reply::text("Once upon a time")
                .chunks(4)
                .incomplete("max_output_tokens"),
            Some("response.incomplete"),
        ),
        (
            "incomplete mid-arguments",
            Reply::tool_calls([weather("San Francisco")])
                .fragments(3)
                .incomplete("max_output_tokens"),
            Some("response.incomplete"),
        ),
        (
            "content filter",
            Reply::text("Here is how to")
                .chunks(2)
                .incomplete("content_filter"),
            Some("response.incomplete"),
        ),
        (
            "failed",
            Reply::text("The answer is")
                .chunks(3)
                .failed("server_error", "The model failed"),
            Some("response.failed"),
        ),
        (
            "rate limit",
            Reply::text("Sure, here")
                .chunks(2)
                .stream_error("rate_limit_exceeded", "Rate limit reached"),
            None,
        ),
        (
            "context length",
            Reply::text("x").stream_error(
                "context_length_exceeded",
                "Your input exceeds the context window",
            ),
            None,
        ),
        (
            "no terminal",
            Reply::text("The stream stops here")
                .chunks(4)
                .no_terminal_event(),
            None,
        ),
    ]
}

#[tokio::test]
async fn every_reply_kind_streams_well_formed_events_and_the_same_json_response() {
    let server = LocalServer::start().await.unwrap();
    for (name, reply, terminal) in kinds() {
        let (_, evs) = stream(&server, reply.clone()).await;
        let ended = check(&evs);
        let last = evs.last().unwrap()["type"].as_str().unwrap().to_owned();
        match terminal {
            Some(t) => assert_eq!(last, t, "{name}"),
            None => assert!(ended.response.is_none(), "{name}: {last}"),
        }
        // JSON: the response the stream ended with.
        server.push(reply.clone());
        let json_reply = post(&server, &request(false)).await;
        let status = json_reply.status().as_u16();
        let text = json_reply.text().await.unwrap();
        match (&ended.response, &ended.error) {
            (Some(r), _) => {
                assert_eq!(status, 200, "{name}");
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(without_ids(&body), without_ids(r), "{name}");
            }
            (None, Some(error)) => {
                let expected = if error["code"] == "rate_limit_exceeded" {
                    429
                } else {
                    400
                };
                assert_eq!(status, expected, "{name}");
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["error"]["code"], error["code"], "{name}");
                assert_eq!(body["error"]["message"], error["message"], "{name}");
            }
            (None, None) => {
                assert_eq!(status, 200, "{name}");
                assert!(
                    serde_json::from_str::<Value>(&text).is_err(),
                    "{name}: {text}"
                );
                // The last item got its deltas and nothing after them.
                let last = ended.kinds.last().unwrap();
                assert!(last.ends_with(".delta"), "{name}: {last}");
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn text_events_come_in_spec_order_and_concatenate_to_the_output() {
    let server = LocalServer::start().await.unwrap();
    let (body, evs) = stream(&server, Reply::text("Hello there").chunks(5)).await;
    let ended = check(&evs);
    let mut expected = vec!["response.output_item.added", "response.content_part.added"];
    expected.extend(["response.output_text.delta"; 5]);
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(ended.kinds, expected);
    let r = ended.response.unwrap();
    assert_eq!(r["output"][0]["content"][0]["text"], "Hello there");
    assert_eq!(ended.deltas[&0], "Hello there");
    assert_eq!(r["model"], "gpt-4.1-mini");
    assert!(r["output"][0]["id"].as_str().unwrap().starts_with("msg_"));
    // The wire form: an `event:` line, then one `data:` line, type first.
    assert!(body.starts_with("event: response.created\ndata: {\"type\":\"response.created\","));
    assert!(!body.contains("[DONE]"));
    server.shutdown().await;
}

#[tokio::test]
async fn one_queue_serves_both_routes_in_order() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::text("first"));
    server.push(Reply::text("second").chunks(2));
    let chat = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(chat["choices"][0]["message"]["content"], "first");
    let r: Value = post(&server, &request(false)).await.json().await.unwrap();
    assert_eq!(r["output"][0]["content"][0]["text"], "second");
    // With the queue empty, the default echoes the last user input.
    let r: Value = post(
        &server,
        &json!({"model": "m", "input": [
            {"role": "user", "content": "older"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "input_text", "text": "newest"}]},
        ]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(r["output"][0]["content"][0]["text"], "newest");
    server.shutdown().await;
}

#[tokio::test]
async fn function_calls_carry_call_id_and_arguments_in_fragments() {
    let server = LocalServer::start().await.unwrap();
    let calls = [
        weather("Paris"),
        ToolCallSpec::new("get_time", json!({"tz": "CET"})),
    ];
    let (_, evs) = stream(&server, Reply::tool_calls(calls.clone()).fragments(3)).await;
    let ended = check(&evs);
    let deltas = ended
        .kinds
        .iter()
        .filter(|k| *k == "response.function_call_arguments.delta")
        .count();
    assert_eq!(deltas, 6);
    let output = &ended.response.unwrap()["output"];
    for (i, spec) in calls.iter().enumerate() {
        let item = &output[i];
        assert_eq!(item["type"], "function_call");
        assert!(item["id"].as_str().unwrap().starts_with("fc_"));
        assert_eq!(item["call_id"], spec.id.as_str());
        assert_eq!(item["name"], spec.name.as_str());
        assert_eq!(item["status"], "completed");
        let args: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, spec.arguments);
        assert_eq!(
            ended.deltas[&(i as u64)],
            item["arguments"].as_str().unwrap()
        );
    }

    // Cut by the token limit inside the arguments.
    let (_, evs) = stream(
        &server,
        Reply::tool_calls([weather("San Francisco")]).incomplete("max_output_tokens"),
    )
    .await;
    let r = check(&evs).response.unwrap();
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    let item = &r["output"][0];
    assert_eq!(item["status"], "incomplete");
    let args = item["arguments"].as_str().unwrap();
    let whole = weather("San Francisco").arguments.to_string();
    assert!(
        whole.starts_with(args) && args.len() < whole.len(),
        "{args}"
    );
    assert!(serde_json::from_str::<Value>(args).is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn reasoning_comes_first_in_its_own_item() {
    let server = LocalServer::start().await.unwrap();
    let reply = Reply::text("9.8")
        .reasoning_summary("Comparing decimals")
        .reasoning("9.8 is 9.80")
        .chunks(2);
    let (_, evs) = stream(&server, reply).await;
    let ended = check(&evs);
    let position = |k: &str| ended.kinds.iter().position(|x| x == k).unwrap();
    assert!(
        position("response.reasoning_summary_text.done")
            < position("response.reasoning_text.delta")
    );
    assert!(position("response.reasoning_text.done") < position("response.output_text.delta"));
    let r = ended.response.unwrap();
    let rs = &r["output"][0];
    assert_eq!(rs["type"], "reasoning");
    assert!(rs["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(
        rs["summary"],
        json!([{"type": "summary_text", "text": "Comparing decimals"}])
    );
    assert_eq!(
        rs["content"],
        json!([{"type": "reasoning_text", "text": "9.8 is 9.80"}])
    );
    assert_eq!(r["output"][1]["content"][0]["text"], "9.8");
    assert!(
        r["usage"]["output_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn usage_model_and_request_settings_are_reported() {
    let server = LocalServer::start().await.unwrap();
    server.push(
        Reply::text("hi")
            .usage(7, 3)
            .usage_details(2, 1)
            .model("gpt-4.1-2025-04-14"),
    );
    let r: Value = post(
        &server,
        &json!({"model": "gpt-4.1", "input": "x", "instructions": "Be brief", "max_output_tokens": 50}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        r["usage"],
        json!({
            "input_tokens": 7,
            "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 1},
            "total_tokens": 10,
        })
    );
    assert_eq!(r["model"], "gpt-4.1-2025-04-14");
    assert_eq!(r["instructions"], "Be brief");
    assert_eq!(r["max_output_tokens"], 50);
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert!(r["completed_at"].is_u64());
    // The spec's required fields of `Response`.
    for field in [
        "id",
        "object",
        "created_at",
        "error",
        "incomplete_details",
        "instructions",
        "model",
        "tools",
        "output",
        "parallel_tool_calls",
        "metadata",
        "tool_choice",
        "temperature",
        "top_p",
    ] {
        assert!(r.get(field).is_some(), "{field}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn errors_answer_as_on_chat_and_malformed_bodies_get_400() {
    let server = LocalServer::start().await.unwrap();
    server.push(Reply::error(429, "rate_limit_exceeded", "Slow down").retry_after(2));
    let response = post(&server, &request(true)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "rate_limit_error");

    let cases = [
        (None, "missing_required_parameter", Value::Null),
        (
            Some(json!({"input": "hi"})),
            "missing_required_parameter",
            json!("model"),
        ),
        (
            Some(json!({"model": "m", "input": {"text": "hi"}})),
            "invalid_type",
            json!("input"),
        ),
        (
            Some(json!({"model": "m", "input": 12})),
            "invalid_type",
            json!("input"),
        ),
        (
            Some(json!({"model": "m"})),
            "missing_required_parameter",
            json!("input"),
        ),
    ];
    for (body, code, param) in cases {
        let builder = reqwest::Client::new().post(url(&server));
        let response = match &body {
            Some(b) => builder.json(b),
            None => builder
                .header("content-type", "application/json")
                .body("{not json"),
        }
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        let err: Value = response.json().await.unwrap();
        let expected_code = if body.is_none() { "invalid_json" } else { code };
        assert_eq!(err["error"]["code"], expected_code, "{body:?}");
        assert_eq!(err["error"]["param"], param, "{body:?}");
        assert_eq!(err["error"]["type"], "invalid_request_error");
    }
    // Every request is logged, the malformed ones too.
    let log = server.requests();
    assert_eq!(log.len(), 6);
    assert!(
        log.iter()
            .all(|r| r.path == "/v1/responses" && r.method == "POST")
    );
    assert_eq!(log[0].body, request(true));
    assert_eq!(log[1].raw, "{not json");
    assert!(log[1].body.is_null());
    assert_eq!(log[3].body["input"]["text"], "hi");
    server.shutdown().await;
}

#[tokio::test]
async fn faults_and_latency_apply_as_on_chat() {
    let server = LocalServer::start().await.unwrap();
    let (_, evs) = stream(
        &server,
        Reply::text("never finishes")
            .chunks(5)
            .fault(Fault::CutBeforeDone { after: 4 }),
    )
    .await;
    assert_eq!(evs.len(), 4);
    assert_eq!(evs[3]["type"], "response.content_part.added");

    server.push(
        Reply::text("reset")
            .chunks(5)
            .fault(Fault::ResetAfter { after: 3 }),
    );
    let response = post(&server, &request(true)).await;
    assert!(response.text().await.is_err());

    server.push(Reply::text("late").first_byte_delay(Duration::from_millis(150)));
    let started = std::time::Instant::now();
    let r: Value = post(&server, &request(false)).await.json().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(r["output"][0]["content"][0]["text"], "late");
    server.shutdown().await;
}

#[tokio::test]
async fn the_new_builders_have_their_chat_equivalents() {
    let server = LocalServer::start().await.unwrap();
    let chat = |stream: bool| {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream});
        let url = format!("{}/chat/completions", server.base_url());
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    server.push(Reply::text("Let me check.").then_tool_calls([weather("Oslo")]));
    let r: Value = serde_json::from_str(&chat(false).await).unwrap();
    let choice = &r["choices"][0];
    assert_eq!(choice["message"]["content"], "Let me check.");
    assert_eq!(
        choice["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(choice["finish_reason"], "tool_calls");

    server.push(
        Reply::text("Let me check.")
            .then_tool_calls([weather("Oslo")])
            .chunks(2),
    );
    let body = chat(true).await;
    let chunks: Vec<Value> = events(&body);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Let me check.");
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        weather("Oslo").arguments
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    for (reason, finish) in [
        ("max_output_tokens", "length"),
        ("content_filter", "content_filter"),
    ] {
        server.push(Reply::text("cut").incomplete(reason));
        let r: Value = serde_json::from_str(&chat(false).await).unwrap();
        assert_eq!(r["choices"][0]["finish_reason"], finish);
    }
    server.shutdown().await;
}
