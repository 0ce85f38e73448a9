//! A scripted [`Reply`] as a Responses API `Response` and the stream events
//! that build it, shaped as the OpenAPI schemas `Response` and
//! `ResponseStreamEvent` say.

use serde_json::{Value, json};

use crate::server::reply::{Body, Ending, Reply, ToolCallSpec, split};

/// One stream event: its `type`, and its fields other than `type` and
/// `sequence_number` (given when it is written).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub(crate) kind: &'static str,
    pub(crate) data: Value,
}

impl Event {
    /// The event as OpenAI sends it: an `event:` line, then one `data:`
    /// line with `type` first and `sequence_number` last.
    pub(crate) fn sse(&self, sequence_number: usize) -> String {
        let fields = self.data.to_string();
        let inner = fields
            .strip_prefix('{')
            .and_then(|f| f.strip_suffix('}'))
            .unwrap_or_default();
        let sep = if inner.is_empty() { "" } else { "," };
        format!(
            "event: {kind}\ndata: {{\"type\":\"{kind}\"{sep}{inner},\"sequence_number\":{sequence_number}}}\n\n",
            kind = self.kind
        )
    }
}

/// One output item of a reply.
enum Item<'a> {
    Reasoning {
        summary: Option<&'a str>,
        text: Option<&'a str>,
    },
    Message {
        text: &'a str,
        refusal: bool,
    },
    Call(&'a ToolCallSpec),
}

/// How an item ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Its `.done` events, status `completed`.
    Done,
    /// Its `.done` events, status `incomplete`; a call's arguments cut.
    Incomplete,
    /// No `.done` events: the stream broke off after its deltas.
    Cut,
}

/// What a reply renders from: the reply and the request it answers.
pub(crate) struct Render<'a> {
    pub(crate) reply: &'a Reply,
    pub(crate) request: &'a Value,
    /// A number that makes this reply's ids unique.
    pub(crate) n: u64,
    pub(crate) created_at: u64,
    pub(crate) model: String,
    /// The message text (the echo already resolved).
    pub(crate) text: String,
    /// The request body's size in bytes, for the usage estimate.
    pub(crate) request_bytes: usize,
}

impl Render<'_> {
    /// The stream's events, terminal event included (if the reply has
    /// one), and the response as it stands at the end.
    pub(crate) fn render(&self) -> (Vec<Event>, Value) {
        let reply = self.reply;
        let items = self.items();
        let start = self.response("in_progress", Vec::new(), Value::Null);
        let mut events = vec![
            Event {
                kind: "response.created",
                data: json!({"response": start}),
            },
            Event {
                kind: "response.in_progress",
                data: json!({"response": start}),
            },
        ];
        let last_finish = match &reply.ending {
            Ending::Completed => Finish::Done,
            Ending::Incomplete(_) => Finish::Incomplete,
            Ending::Failed { .. } | Ending::Error { .. } | Ending::Silent => Finish::Cut,
        };
        let mut output = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let finish = if i + 1 == items.len() {
                last_finish
            } else {
                Finish::Done
            };
            output.push(self.item(&mut events, i, item, finish));
        }
        let usage = self.usage(&items);
        let (status, kind) = match &reply.ending {
            Ending::Completed => ("completed", Some("response.completed")),
            Ending::Incomplete(_) => ("incomplete", Some("response.incomplete")),
            Ending::Failed { .. } => ("failed", Some("response.failed")),
            Ending::Error { .. } | Ending::Silent => ("in_progress", None),
        };
        let mut response = self.response(status, output, usage);
        match &reply.ending {
            Ending::Incomplete(reason) => {
                response["incomplete_details"] = json!({"reason": reason});
            }
            Ending::Failed { code, message } => {
                response["error"] = json!({"code": code, "message": message});
            }
            Ending::Error { code, message } => events.push(Event {
                kind: "error",
                data: json!({"code": code, "message": message, "param": null}),
            }),
            Ending::Completed | Ending::Silent => {}
        }
        if let Some(kind) = kind {
            events.push(Event {
                kind,
                data: json!({"response": response}),
            });
        }
        (events, response)
    }

    fn items(&self) -> Vec<Item<'_>> {
        let reply = self.reply;
        let mut items = Vec::new();
        if reply.summary.is_some() || reply.reasoning.is_some() {
            items.push(Item::Reasoning {
                summary: reply.summary.as_deref(),
                text: reply.reasoning.as_deref(),
            });
        }
        match &reply.body {
            Body::ToolCalls(calls) => items.extend(calls.iter().map(Item::Call)),
            Body::Refusal(r) => items.push(Item::Message {
                text: r,
                refusal: true,
            }),
            _ => {
                items.push(Item::Message {
                    text: &self.text,
                    refusal: false,
                });
                items.extend(reply.then_calls.iter().map(Item::Call));
            }
        }
        items
    }

    /// Streams item `i` into `events`; returns the item as it ends.
    fn item(&self, events: &mut Vec<Event>, i: usize, item: &Item<'_>, finish: Finish) -> Value {
        let chunks = self.reply.chunks;
        let status = match finish {
            Finish::Done => "completed",
            Finish::Incomplete | Finish::Cut => "incomplete",
        };
        let mut push = |kind: &'static str, data: Value| events.push(Event { kind, data });
        let mut done = match item {
            Item::Reasoning { summary, text } => {
                let id = format!("rs_local{}_{i}", self.n);
                let mut added =
                    json!({"id": id, "type": "reasoning", "summary": [], "status": "in_progress"});
                if text.is_some() {
                    added["content"] = json!([]);
                }
                push(
                    "response.output_item.added",
                    json!({"output_index": i, "item": added}),
                );
                let mut done = added.clone();
                let at = json!({"item_id": id, "output_index": i});
                let with = |extra: Value| merge(&at, extra);
                // The last piece of a cut item has no `.done` events.
                let cut_summary = finish == Finish::Cut && text.is_none();
                if let Some(s) = summary {
                    let part = |t: &str| json!({"type": "summary_text", "text": t});
                    push(
                        "response.reasoning_summary_part.added",
                        with(json!({"summary_index": 0, "part": part("")})),
                    );
                    for piece in split(s, chunks) {
                        push(
                            "response.reasoning_summary_text.delta",
                            with(json!({"summary_index": 0, "delta": piece})),
                        );
                    }
                    if !cut_summary {
                        push(
                            "response.reasoning_summary_text.done",
                            with(json!({"summary_index": 0, "text": s})),
                        );
                        push(
                            "response.reasoning_summary_part.done",
                            with(json!({"summary_index": 0, "part": part(s)})),
                        );
                    }
                    done["summary"] = json!([part(s)]);
                }
                if let Some(t) = text {
                    let part = |t: &str| json!({"type": "reasoning_text", "text": t});
                    push(
                        "response.content_part.added",
                        with(json!({"content_index": 0, "part": part("")})),
                    );
                    for piece in split(t, chunks) {
                        push(
                            "response.reasoning_text.delta",
                            with(json!({"content_index": 0, "delta": piece})),
                        );
                    }
                    if finish != Finish::Cut {
                        push(
                            "response.reasoning_text.done",
                            with(json!({"content_index": 0, "text": t})),
                        );
                        push(
                            "response.content_part.done",
                            with(json!({"content_index": 0, "part": part(t)})),
                        );
                    }
                    done["content"] = json!([part(t)]);
                }
                done
            }
            Item::Message { text, refusal } => {
                let id = format!("msg_local{}_{i}", self.n);
                let added = json!({
                    "id": id, "type": "message", "status": "in_progress",
                    "content": [], "role": "assistant",
                });
                push(
                    "response.output_item.added",
                    json!({"output_index": i, "item": added}),
                );
                let at = json!({"item_id": id, "output_index": i, "content_index": 0});
                let with = |extra: Value| merge(&at, extra);
                let (part, delta_kind, done_kind, field) = if *refusal {
                    (
                        json!({"type": "refusal", "refusal": ""}),
                        "response.refusal.delta",
                        "response.refusal.done",
                        "refusal",
                    )
                } else {
                    (
                        json!({"type": "output_text", "annotations": [], "logprobs": [], "text": ""}),
                        "response.output_text.delta",
                        "response.output_text.done",
                        "text",
                    )
                };
                push("response.content_part.added", with(json!({"part": part})));
                for piece in split(text, chunks) {
                    let mut delta = with(json!({"delta": piece}));
                    if !refusal {
                        delta["logprobs"] = json!([]);
                    }
                    push(delta_kind, delta);
                }
                let mut whole = part;
                whole[field] = json!(text);
                if finish != Finish::Cut {
                    let mut done = with(json!({field: text}));
                    if !refusal {
                        done["logprobs"] = json!([]);
                    }
                    push(done_kind, done);
                    push("response.content_part.done", with(json!({"part": whole})));
                }
                let mut done = added;
                done["content"] = json!([whole]);
                done
            }
            Item::Call(call) => {
                let id = format!("fc_local{}_{i}", self.n);
                let added = json!({
                    "id": id, "type": "function_call", "status": "in_progress",
                    "arguments": "", "call_id": call.id, "name": call.name,
                });
                push(
                    "response.output_item.added",
                    json!({"output_index": i, "item": added}),
                );
                let mut arguments = call.arguments.to_string();
                if finish == Finish::Incomplete {
                    arguments = cut_in_half(&arguments);
                }
                for piece in split(&arguments, chunks) {
                    push(
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": i, "delta": piece}),
                    );
                }
                if finish != Finish::Cut {
                    push(
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": i, "name": call.name, "arguments": arguments}),
                    );
                }
                let mut done = added;
                done["arguments"] = json!(arguments);
                done
            }
        };
        done["status"] = json!(status);
        if finish != Finish::Cut {
            events.push(Event {
                kind: "response.output_item.done",
                data: json!({"output_index": i, "item": done}),
            });
        }
        done
    }

    /// The `usage` object: the scripted counts, or estimates from the
    /// request's size and the reply's texts.
    fn usage(&self, items: &[Item<'_>]) -> Value {
        let reply = self.reply;
        let (mut visible, mut thought) = (0, 0);
        for item in items {
            match item {
                Item::Reasoning { summary, text } => {
                    thought += summary.map_or(0, str::len) + text.map_or(0, str::len);
                }
                Item::Message { text, .. } => visible += text.len(),
                Item::Call(c) => visible += c.arguments.to_string().len(),
            }
        }
        let estimated_reasoning = (thought / 4) as u64;
        let (input, output) = reply.usage.unwrap_or((
            (self.request_bytes / 4) as u64,
            (visible / 4).max(1) as u64 + estimated_reasoning,
        ));
        let reasoning = reply
            .reasoning_tokens
            .unwrap_or(estimated_reasoning.min(output));
        json!({
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": reply.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input + output,
        })
    }

    /// A `Response` object with the request's settings echoed.
    fn response(&self, status: &str, output: Vec<Value>, usage: Value) -> Value {
        let r = self.request;
        let or = |field: &str, default: Value| match &r[field] {
            Value::Null => default,
            v => v.clone(),
        };
        json!({
            "id": format!("resp_local{}", self.n),
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": false,
            "completed_at": if status == "completed" { json!(self.created_at) } else { Value::Null },
            "error": null,
            "incomplete_details": null,
            "instructions": or("instructions", Value::Null),
            "max_output_tokens": or("max_output_tokens", Value::Null),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": or("parallel_tool_calls", json!(true)),
            "previous_response_id": or("previous_response_id", Value::Null),
            "reasoning": {
                "effort": or("reasoning", json!({}))["effort"].clone(),
                "summary": or("reasoning", json!({}))["summary"].clone(),
            },
            "service_tier": "default",
            "store": or("store", json!(true)),
            "temperature": or("temperature", json!(1.0)),
            "text": or("text", json!({"format": {"type": "text"}})),
            "tool_choice": or("tool_choice", json!("auto")),
            "tools": or("tools", json!([])),
            "top_p": or("top_p", json!(1.0)),
            "truncation": or("truncation", json!("disabled")),
            "usage": usage,
            "user": or("user", Value::Null),
            "metadata": or("metadata", json!({})),
        })
    }
}

/// `base`'s fields and then `extra`'s.
fn merge(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
        out.extend(extra);
    }
    out
}

/// The first half of `s` (by chars): arguments the model stopped inside.
fn cut_in_half(s: &str) -> String {
    let n = s.chars().count();
    s.chars().take(n / 2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_put_type_first_and_sequence_number_last() {
        let e = Event {
            kind: "response.output_text.delta",
            data: json!({"delta": "Hi", "output_index": 0}),
        };
        assert_eq!(
            e.sse(7),
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\",\"output_index\":0,\"sequence_number\":7}\n\n"
        );
        let empty = Event {
            kind: "x",
            data: json!({}),
        };
        assert_eq!(
            empty.sse(0),
            "event: x\ndata: {\"type\":\"x\",\"sequence_number\":0}\n\n"
        );
    }

    fn kinds(reply: &Reply) -> (Vec<&'static str>, Value) {
        let request = json!({"model": "m", "input": "hi"});
        let render = Render {
            reply,
            request: &request,
            n: 1,
            created_at: 0,
            model: "m".to_owned(),
            text: "ab".to_owned(),
            request_bytes: 40,
        };
        let (events, response) = render.render();
        (events.iter().map(|e| e.kind).collect(), response)
    }

    #[test]
    fn each_ending_closes_the_stream_its_own_way() {
        let call = ToolCallSpec::new("f", json!({"a": 1}));
        let (k, r) = kinds(&Reply::tool_calls([call.clone()]).chunks(2));
        assert_eq!(
            k,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(r["output"][0]["call_id"], "call_f");
        assert_eq!(r["usage"]["total_tokens"], 10 + 1);

        let (k, r) = kinds(&Reply::tool_calls([call]).incomplete("max_output_tokens"));
        assert_eq!(k.last(), Some(&"response.incomplete"));
        assert_eq!(r["output"][0]["arguments"], r#"{"a"#);

        let (k, r) = kinds(&Reply::text("ab").chunks(2).failed("server_error", "boom"));
        assert_eq!(
            k[k.len() - 2..],
            ["response.output_text.delta", "response.failed"]
        );
        assert_eq!(
            r["error"],
            json!({"code": "server_error", "message": "boom"})
        );
        assert_eq!(r["output"][0]["status"], "incomplete");

        let (k, _) = kinds(&Reply::text("ab").stream_error("rate_limit_exceeded", "slow"));
        assert_eq!(k[k.len() - 2..], ["response.output_text.delta", "error"]);

        let (k, _) = kinds(&Reply::text("ab").no_terminal_event());
        assert_eq!(k.last(), Some(&"response.output_text.delta"));

        let (k, r) = kinds(&Reply::refusal("no").reasoning_summary("s"));
        assert!(k.contains(&"response.reasoning_summary_part.done"));
        assert!(k.contains(&"response.refusal.done"));
        assert_eq!(
            r["output"][1]["content"][0],
            json!({"type": "refusal", "refusal": "no"})
        );
    }

    #[test]
    fn a_cut_keeps_half_the_chars() {
        assert_eq!(cut_in_half(r#"{"city":"Paris"}"#), r#"{"city":"#);
        assert_eq!(cut_in_half("héllo!"), "hél");
        assert_eq!(cut_in_half(""), "");
    }
}
