//! Pins which pieces of request text each reader of a request gets (the
//! public walk, the input budget, the scanning hooks, the model-backed
//! checks): the same texts, in the same order, with the same mutability.

use serde_json::json;

use crate::text::request_texts_mut;
use crate::types::ChatRequest;

/// A request with every message kind, both content shapes of each, and
/// every content-part kind, each text naming where it sits.
fn every_kind() -> ChatRequest {
    serde_json::from_value(json!({
        "model": "m",
        "messages": [
            {"role": "developer", "content": "dev"},
            {"role": "developer", "content": [{"type": "text", "text": "dev.0"}, {"type": "text", "text": "dev.1"}]},
            {"role": "system", "content": "sys"},
            {"role": "system", "content": [{"type": "text", "text": "sys.0"}]},
            {"role": "user", "content": "user"},
            {"role": "user", "content": [
                {"type": "text", "text": "user.0"},
                {"type": "image_url", "image_url": {"url": "https://img.example/u.png"}},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                {"type": "file", "file": {"file_id": "file-1", "filename": "f.txt"}},
                {"type": "text", "text": "user.4"},
            ]},
            {"role": "assistant", "content": "asst", "refusal": "asst.refusal", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f1", "arguments": "{\"a\":1}"}},
                {"id": "c2", "type": "function", "function": {"name": "f2", "arguments": "{\"b\":2}"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "asst.0"},
                {"type": "refusal", "refusal": "asst.1"},
            ]},
            {"role": "assistant", "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "f3", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "tool"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "tool.0"}]},
            {"role": "function", "name": "f", "content": "func"},
            {"role": "function", "name": "g"},
            {"role": "user", "content": "   "},
        ],
    }))
    .unwrap()
}

// What each caller of the request walk reads, through the caller's own
// path. The expectations below are the behaviour the callers had before
// they shared one walker, and must not change.

fn seen_by_request_texts_mut(req: &mut ChatRequest) -> Vec<String> {
    request_texts_mut(req)
        .into_iter()
        .map(|(author, t)| format!("{author:?}:{t}"))
        .collect()
}

fn seen_by_input_budget(req: &ChatRequest) -> Vec<String> {
    let mut out = Vec::new();
    crate::text::walk_request(req, |piece, t| {
        if super::input_budget::counts(piece) {
            out.push(t.to_owned());
        }
    });
    out
}

fn seen_by_scan_hooks(req: &mut ChatRequest) -> Vec<String> {
    let mut out = Vec::new();
    crate::guardrails::scan::hooks::for_each_input_text::<()>(req, |t| {
        out.push(t.clone());
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn each_caller_reads_the_texts_it_always_read() {
    let mut req = every_kind();
    let before = serde_json::to_value(&req).unwrap();
    assert_eq!(
        seen_by_request_texts_mut(&mut req),
        [
            "Developer:dev",
            "Developer:dev.0",
            "Developer:dev.1",
            "System:sys",
            "System:sys.0",
            "User:user",
            "User:user.0",
            "User:user.4",
            "Assistant:asst",
            "Assistant:asst.refusal",
            "Assistant:{\"a\":1}",
            "Assistant:{\"b\":2}",
            "Assistant:asst.0",
            "Assistant:asst.1",
            "Assistant:{}",
            "Tool:tool",
            "Tool:tool.0",
            "Function:func",
            "User:   ",
        ]
    );
    // Rewriting through the walk reaches every text, in place.
    for (_, t) in request_texts_mut(&mut req) {
        t.push('!');
    }
    let rewritten = serde_json::to_value(&req).unwrap();
    assert_eq!(rewritten["messages"][5]["content"][4]["text"], "user.4!");
    assert_eq!(rewritten["messages"][6]["refusal"], "asst.refusal!");
    assert_eq!(
        rewritten["messages"][6]["tool_calls"][1]["function"]["arguments"],
        "{\"b\":2}!"
    );
    assert_eq!(
        rewritten["messages"][6]["tool_calls"][1]["function"]["name"],
        "f2"
    );
    assert_eq!(
        rewritten["messages"][5]["content"][1],
        before["messages"][5]["content"][1]
    );
    let mut req = every_kind();

    // The input budget: every message's content and content parts (text
    // and refusal), not an assistant's refusal field nor its tool calls.
    let budget = seen_by_input_budget(&req);
    assert_eq!(
        budget,
        [
            "dev", "dev.0", "dev.1", "sys", "sys.0", "user", "user.0", "user.4", "asst", "asst.0",
            "asst.1", "tool", "tool.0", "func", "   ",
        ]
    );
    let chars = budget.iter().map(|t| t.chars().count()).sum::<usize>();
    assert_eq!(
        crate::guardrails::InputBudget::measure(&req),
        (14, chars, chars.div_ceil(4))
    );

    // The scanning hooks: system, developer and user texts, in place.
    assert_eq!(
        seen_by_scan_hooks(&mut req),
        [
            "dev", "dev.0", "dev.1", "sys", "sys.0", "user", "user.0", "user.4", "   ",
        ]
    );
    let mut n = 0;
    let stopped = crate::guardrails::scan::hooks::for_each_input_text(&mut req, |t| {
        n += 1;
        t.push('!');
        if n == 2 { Err(()) } else { Ok(()) }
    });
    assert_eq!(stopped, Err(()));
    let rewritten = serde_json::to_value(&req).unwrap();
    assert_eq!(rewritten["messages"][0]["content"], "dev!");
    assert_eq!(rewritten["messages"][1]["content"][0]["text"], "dev.0!");
    assert_eq!(rewritten["messages"][1]["content"][1]["text"], "dev.1");
    let req = every_kind();

    // The model-backed checks: the system, developer and user input,
    // one text per message with text; the user and assistant turns.
    use super::remote::texts::{conversation, input_texts};
    assert_eq!(
        input_texts(&req),
        [
            "dev",
            "dev.0\ndev.1",
            "sys",
            "sys.0",
            "user",
            "user.0\nuser.4"
        ]
    );
    assert_eq!(
        conversation(&req, 100),
        [
            ("user", "user".to_owned()),
            ("user", "user.0\nuser.4".to_owned()),
            ("assistant", "asst".to_owned()),
            ("assistant", "asst.0\nasst.1".to_owned()),
        ]
    );
    assert_eq!(
        conversation(&req, 1),
        [("assistant", "asst.0\nasst.1".to_owned())]
    );
}

#[test]
fn each_piece_says_where_it_came_from() {
    use crate::text::{Author, Place, walk_request};
    let req = every_kind();
    let mut pieces = Vec::new();
    walk_request(&req, |piece, t| {
        pieces.push((piece.author, piece.message, piece.place, t.to_owned()))
    });
    let at = |a, m, p, t: &str| (a, m, p, t.to_owned());
    use Author::*;
    use Place::*;
    assert_eq!(
        pieces,
        [
            at(Developer, 0, Content, "dev"),
            at(Developer, 1, Part(0), "dev.0"),
            at(Developer, 1, Part(1), "dev.1"),
            at(System, 2, Content, "sys"),
            at(System, 3, Part(0), "sys.0"),
            at(User, 4, Content, "user"),
            at(User, 5, Part(0), "user.0"),
            at(User, 5, Part(4), "user.4"),
            at(Assistant, 6, Content, "asst"),
            at(Assistant, 6, Refusal, "asst.refusal"),
            at(Assistant, 6, ToolArguments(0), "{\"a\":1}"),
            at(Assistant, 6, ToolArguments(1), "{\"b\":2}"),
            at(Assistant, 7, Part(0), "asst.0"),
            at(Assistant, 7, Part(1), "asst.1"),
            at(Assistant, 8, ToolArguments(0), "{}"),
            at(Tool, 9, Content, "tool"),
            at(Tool, 10, Part(0), "tool.0"),
            at(Function, 11, Content, "func"),
            at(User, 13, Content, "   "),
        ]
    );
}
