//! The texts that model-backed checks (moderation, LLM judges) look at.

use async_openai::types::chat::ChatCompletionRequestMessage as Msg;

use crate::guardrails::input_budget::each_text;
use crate::guardrails::scan::channels::reply_choice_texts;
use crate::types::{ChatRequest, ChatResponse};

/// The text of every system, developer and user message, in order (the
/// input a person or an application wrote; assistant history and tool
/// results are the model's own or the tools').
pub(crate) fn input_texts(req: &ChatRequest) -> Vec<String> {
    let mut out = Vec::new();
    for msg in &req.messages {
        if matches!(msg, Msg::System(_) | Msg::Developer(_) | Msg::User(_)) {
            let mut text = String::new();
            each_text(msg, &mut |t| push_part(&mut text, t));
            if !text.trim().is_empty() {
                out.push(text);
            }
        }
    }
    out
}

/// The last `max_turns` user and assistant messages with text, oldest
/// first, as `(role, text)`.
pub(crate) fn conversation(req: &ChatRequest, max_turns: usize) -> Vec<(&'static str, String)> {
    let mut turns = Vec::new();
    for msg in &req.messages {
        let role = match msg {
            Msg::User(_) => "user",
            Msg::Assistant(_) => "assistant",
            _ => continue,
        };
        let mut text = String::new();
        each_text(msg, &mut |t| push_part(&mut text, t));
        if !text.trim().is_empty() {
            turns.push((role, text));
        }
    }
    let skip = turns.len().saturating_sub(max_turns.max(1));
    turns.split_off(skip)
}

/// Each choice's text, every channel of it (see
/// [`channels`](crate::guardrails::scan::channels): content, refusal, reasoning, tool calls,
/// transcripts, strings in unknown fields) one after another, as
/// `(choice index, text)`; choices with no text are left out.
pub(crate) fn reply_texts(resp: &ChatResponse) -> Vec<(u32, String)> {
    resp.choices
        .iter()
        .filter_map(|c| {
            let mut text = String::new();
            let mut c = c.clone();
            let _ = reply_choice_texts::<()>(&mut c, true, &mut |_, t| {
                if !t.trim().is_empty() {
                    push_part(&mut text, t);
                }
                Ok(())
            });
            (!text.is_empty()).then_some((c.index, text))
        })
        .collect()
}

fn push_part(text: &mut String, part: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(part);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_and_conversation() {
        let req: ChatRequest = serde_json::from_value(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "ok"},
                {"role": "tool", "tool_call_id": "t", "content": "tool out"},
                {"role": "user", "content": "c"},
            ],
        }))
        .unwrap();
        assert_eq!(input_texts(&req), ["be nice", "a\nb", "c"]);
        assert_eq!(
            conversation(&req, 2),
            [("assistant", "ok".to_owned()), ("user", "c".to_owned())]
        );
        assert_eq!(conversation(&req, 0).len(), 1);
    }
}
