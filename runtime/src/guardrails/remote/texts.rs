//! The texts that model-backed checks (moderation, LLM judges) look at.

use crate::guardrails::scan::channels::{Channel, reply_choice_texts};
use crate::text::{Author, Piece, walk_request};
use crate::types::{ChatRequest, ChatResponse};

/// The text of every system, developer and user message, in order (the
/// input a person or an application wrote; assistant history and tool
/// results are the model's own or the tools').
pub(crate) fn input_texts(req: &ChatRequest) -> Vec<String> {
    by_message(req, |piece| piece.author.wrote_input())
        .into_iter()
        .map(|(_, text)| text)
        .collect()
}

/// The last `max_turns` user and assistant messages with text, oldest
/// first, as `(role, text)`: their content (string or parts), not an
/// assistant's refusal field nor its tool-call arguments.
pub(crate) fn conversation(req: &ChatRequest, max_turns: usize) -> Vec<(&'static str, String)> {
    let mut turns: Vec<_> = by_message(req, |piece| {
        matches!(piece.author, Author::User | Author::Assistant) && piece.place.is_content()
    })
    .into_iter()
    .map(|(author, text)| {
        let role = if author == Author::User {
            "user"
        } else {
            "assistant"
        };
        (role, text)
    })
    .collect();
    let skip = turns.len().saturating_sub(max_turns.max(1));
    turns.split_off(skip)
}

/// The pieces `keep` keeps, joined per message (one line each), with the
/// message's author; messages with no text but whitespace are left out.
fn by_message(req: &ChatRequest, keep: impl Fn(Piece) -> bool) -> Vec<(Author, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, Author, String)> = None;
    let mut flush = |current: Option<(usize, Author, String)>| {
        if let Some((_, author, text)) = current
            && !text.trim().is_empty()
        {
            out.push((author, text));
        }
    };
    walk_request(req, |piece, t| {
        if !keep(piece) {
            return;
        }
        if current.as_ref().is_none_or(|(m, ..)| *m != piece.message) {
            flush(current.replace((piece.message, piece.author, String::new())));
        }
        if let Some((_, _, text)) = &mut current {
            push_part(text, t);
        }
    });
    flush(current);
    out
}

/// What a prompt-injection check is shown of a request: the user's latest
/// message (the intent) and every tool result, with the calls that asked
/// for them; `None` when the request carries no tool result.
pub(crate) fn tool_use_input(req: &ChatRequest) -> Option<String> {
    let tools: Vec<String> = by_message(req, |p| p.author == Author::Tool)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    if tools.is_empty() {
        return None;
    }
    let calls: Vec<String> = by_message(req, |p| {
        p.author == Author::Assistant && matches!(p.place, crate::text::Place::ToolArguments(_))
    })
    .into_iter()
    .map(|(_, t)| t)
    .collect();
    let intent = by_message(req, |p| p.author == Author::User)
        .pop()
        .map(|(_, t)| t)
        .unwrap_or_default();
    Some(
        serde_json::json!({"user_intent": intent, "tool_calls": calls, "tool_outputs": tools})
            .to_string(),
    )
}

/// What a prompt-injection check is shown of a reply: each choice's tool
/// calls (name and arguments), `None` for a choice with none.
pub(crate) fn tool_use_reply(resp: &ChatResponse) -> Vec<String> {
    resp.choices
        .iter()
        .filter_map(|c| {
            let calls: Vec<serde_json::Value> = c
                .message
                .tool_calls
                .iter()
                .flatten()
                .map(|t| serde_json::json!({"name": t.function.name, "arguments": t.function.arguments}))
                .collect();
            (!calls.is_empty()).then(|| serde_json::json!({"tool_calls": calls}).to_string())
        })
        .collect()
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
            // The message's role is read as a value (a server could hide
            // text in it), but a plain role is not text to judge.
            let role = c.message.role.clone();
            let _ = reply_choice_texts::<()>(&mut c, true, &mut |ch, t| {
                let plain_role = matches!(ch, Channel::Value(_)) && *t == role;
                if !t.trim().is_empty() && !plain_role {
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
