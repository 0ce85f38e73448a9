//! Reading a Responses stream: SSE blocks split on blank lines, and the
//! checks every well-formed stream passes.

use std::collections::HashMap;

use serde_json::{Value, json};

/// One SSE block: its `event:` name, its `data:` lines joined, and whether
/// it held only comments.
#[derive(Debug)]
struct Block {
    event: Option<String>,
    data: Option<String>,
}

/// Splits an SSE body on blank lines.
fn blocks(body: &str) -> Vec<Block> {
    body.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let mut event = None;
            let mut data: Option<String> = None;
            for line in b.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim_start().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    let v = v.strip_prefix(' ').unwrap_or(v);
                    data = Some(match data {
                        Some(d) => format!("{d}\n{v}"),
                        None => v.to_owned(),
                    });
                } else {
                    assert!(line.starts_with(':'), "not an SSE field: {line:?}");
                }
            }
            Block { event, data }
        })
        .collect()
}

/// The events of an SSE body: each `data:` parsed as JSON (`[DONE]` and
/// comment-only blocks skipped); an `event:` line must name the data's type.
pub(super) fn events(body: &str) -> Vec<Value> {
    blocks(body)
        .into_iter()
        .filter_map(|b| {
            let data = b.data?;
            if data == "[DONE]" {
                return None;
            }
            let v: Value = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("data is not JSON ({e}): {data}"));
            if let Some(name) = &b.event {
                assert_eq!(v["type"], name.as_str(), "event line and type differ");
            }
            Some(v)
        })
        .collect()
}

/// What a well-formed stream ended with.
#[derive(Debug, Default)]
pub(super) struct Ended {
    pub(super) kinds: Vec<String>,
    /// The response of `response.completed`, `.incomplete` or `.failed`.
    pub(super) response: Option<Value>,
    /// An `error` event.
    pub(super) error: Option<Value>,
    /// The texts the deltas built, by output index: text, refusal,
    /// arguments, reasoning summary and reasoning text, concatenated.
    pub(super) deltas: HashMap<u64, String>,
}

/// Checks that `events` form a Responses stream: `response.created` and
/// `.in_progress` first, `sequence_number` 0, 1, 2, …, each item added
/// before its parts and deltas, every `.done` text equal to its deltas,
/// every finished item equal to its place in the final `output`, and
/// nothing after a terminal or `error` event.
pub(super) fn check(events: &[Value]) -> Ended {
    assert!(events.len() >= 2, "{events:?}");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i, "sequence_number of {e}");
    }
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[1]["type"], "response.in_progress");
    let id = events[0]["response"]["id"].clone();
    assert!(id.as_str().unwrap().starts_with("resp_"), "{id}");
    for e in &events[..2] {
        assert_eq!(e["response"]["status"], "in_progress");
        assert_eq!(e["response"]["output"], json!([]));
        assert_eq!(e["response"]["object"], "response");
    }
    let mut ended = Ended::default();
    let mut added: Vec<Value> = Vec::new();
    let mut done: Vec<Option<Value>> = Vec::new();
    let mut buf: HashMap<(u64, &str, u64), String> = HashMap::new();
    for e in &events[2..] {
        let ty = e["type"].as_str().unwrap();
        ended.kinds.push(ty.to_owned());
        assert!(
            ended.response.is_none() && ended.error.is_none(),
            "{ty} after the end"
        );
        let out = e["output_index"].as_u64();
        if let Some(out) = out
            && ty != "response.output_item.added"
        {
            let item = &added[out as usize];
            assert!(done[out as usize].is_none(), "{ty} after its item's done");
            if let Some(item_id) = e.get("item_id") {
                assert_eq!(item_id, &item["id"], "{ty}");
            }
        }
        let slot = |field: &'static str, key: &str| (out.unwrap(), field, e[key].as_u64().unwrap());
        match ty {
            "response.output_item.added" => {
                assert_eq!(out, Some(added.len() as u64));
                let status = e["item"].get("status");
                assert!(status.is_none_or(|s| s == "in_progress"), "{e}");
                added.push(e["item"].clone());
                done.push(None);
            }
            "response.content_part.added" => {
                assert!(
                    buf.insert(slot("content", "content_index"), String::new())
                        .is_none()
                );
            }
            "response.reasoning_summary_part.added" => {
                assert!(
                    buf.insert(slot("summary", "summary_index"), String::new())
                        .is_none()
                );
            }
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.reasoning_text.delta" => {
                if ty == "response.output_text.delta" {
                    assert!(e["logprobs"].is_array(), "{e}");
                }
                let text = e["delta"].as_str().unwrap();
                buf.get_mut(&slot("content", "content_index"))
                    .expect("a delta before its part")
                    .push_str(text);
                ended.deltas.entry(out.unwrap()).or_default().push_str(text);
            }
            "response.reasoning_summary_text.delta" => {
                let text = e["delta"].as_str().unwrap();
                buf.get_mut(&slot("summary", "summary_index"))
                    .expect("a delta before its part")
                    .push_str(text);
                ended.deltas.entry(out.unwrap()).or_default().push_str(text);
            }
            "response.function_call_arguments.delta" => {
                let text = e["delta"].as_str().unwrap();
                buf.entry((out.unwrap(), "arguments", 0))
                    .or_default()
                    .push_str(text);
                ended.deltas.entry(out.unwrap()).or_default().push_str(text);
            }
            "response.output_text.done" | "response.reasoning_text.done" => {
                assert_eq!(e["text"], buf[&slot("content", "content_index")].as_str());
            }
            "response.refusal.done" => {
                assert_eq!(
                    e["refusal"],
                    buf[&slot("content", "content_index")].as_str()
                );
            }
            "response.reasoning_summary_text.done" => {
                assert_eq!(e["text"], buf[&slot("summary", "summary_index")].as_str());
            }
            "response.content_part.done" => {
                let part = &e["part"];
                let field = if part["type"] == "refusal" {
                    "refusal"
                } else {
                    "text"
                };
                assert_eq!(part[field], buf[&slot("content", "content_index")].as_str());
            }
            "response.reasoning_summary_part.done" => {
                assert_eq!(
                    e["part"]["text"],
                    buf[&slot("summary", "summary_index")].as_str()
                );
            }
            "response.function_call_arguments.done" => {
                let item = &added[out.unwrap() as usize];
                assert_eq!(e["name"], item["name"]);
                let args = buf.get(&(out.unwrap(), "arguments", 0)).cloned();
                assert_eq!(e["arguments"], args.unwrap_or_default().as_str());
            }
            "response.output_item.done" => {
                let out = out.unwrap();
                let item = &e["item"];
                assert_eq!(item["id"], added[out as usize]["id"]);
                assert_eq!(item["type"], added[out as usize]["type"]);
                let part = |field: &'static str, i: u64| buf.get(&(out, field, i)).cloned();
                match item["type"].as_str().unwrap() {
                    "message" => {
                        let c = &item["content"][0];
                        let field = if c["type"] == "refusal" {
                            "refusal"
                        } else {
                            "text"
                        };
                        assert_eq!(
                            Some(c[field].as_str().unwrap().to_owned()),
                            part("content", 0)
                        );
                    }
                    "function_call" => assert_eq!(
                        item["arguments"].as_str().unwrap(),
                        part("arguments", 0).unwrap_or_default()
                    ),
                    "reasoning" => {
                        if let Some(s) = item["summary"][0]["text"].as_str() {
                            assert_eq!(Some(s.to_owned()), part("summary", 0));
                        }
                        if let Some(t) = item["content"][0]["text"].as_str() {
                            assert_eq!(Some(t.to_owned()), part("content", 0));
                        }
                    }
                    other => panic!("unexpected item type {other}"),
                }
                done[out as usize] = Some(item.clone());
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let r = &e["response"];
                assert_eq!(r["id"], id);
                let status = ty.strip_prefix("response.").unwrap();
                assert_eq!(r["status"], status);
                let output = r["output"].as_array().unwrap();
                // A failed response may leave out what it did not finish.
                if status != "failed" {
                    assert_eq!(output.len(), added.len(), "{r}");
                }
                for (i, item) in output.iter().enumerate() {
                    match &done[i] {
                        Some(d) => assert_eq!(item, d),
                        None => assert_eq!(status, "failed", "item {i} never done"),
                    }
                }
                ended.response = Some(r.clone());
            }
            "error" => {
                assert!(
                    e["message"].is_string() && e.get("code").is_some() && e.get("param").is_some()
                );
                ended.error = Some(e.clone());
            }
            other => panic!("unexpected event {other}"),
        }
    }
    ended
}

/// `v` without what differs between two renderings of one reply: ids and
/// times.
pub(super) fn without_ids(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "id" | "created_at" | "completed_at"))
                .map(|(k, v)| (k.clone(), without_ids(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_ids).collect()),
        other => other.clone(),
    }
}
