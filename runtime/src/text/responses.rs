//! The walk over a Responses API request's text.

use async_openai::types::responses::{
    CustomToolCallOutputOutput, EasyInputContent, FunctionCallOutput, InputContent, InputItem,
    InputParam, InputRole, Item, MessageItem, OutputMessageContent, ResponsePromptVariables, Role,
};

use super::{Author, Piece, Place};
use crate::types::responses::ResponsesRequest;

fn author_of(role: Role) -> Author {
    match role {
        Role::User => Author::User,
        Role::Assistant => Author::Assistant,
        Role::System => Author::System,
        Role::Developer => Author::Developer,
    }
}

fn input_author(role: InputRole) -> Author {
    match role {
        InputRole::User => Author::User,
        InputRole::System => Author::System,
        InputRole::Developer => Author::Developer,
    }
}

/// The walk, once for shared and once for mutable access: `$req` the
/// request, `$f` the callback, `mut` for mutable.
macro_rules! walk_items {
    ($req:ident, $f:ident $(, $m:tt)?) => {{
        if let Some(t) = & $($m)? $req.instructions {
            $f(Piece { author: Author::System, message: 0, place: Place::Instructions }, t)?;
        }
        // A stored prompt's variables: text put into the prompt, each a
        // string or an `input_text` part (images and files carry none).
        if let Some(prompt) = & $($m)? $req.prompt {
            let at = Piece { author: Author::User, message: 0, place: Place::Content };
            match & $($m)? prompt.variables {
                Some(ResponsePromptVariables::String(t)) => $f(at, t)?,
                Some(ResponsePromptVariables::Content(InputContent::InputText(p))) => {
                    $f(at, & $($m)? p.text)?
                }
                Some(ResponsePromptVariables::Custom(v)) => {
                    let values: Vec<_> = match v {
                        serde_json::Value::Object(map) => map.into_iter().map(|(_, v)| v).collect(),
                        v => vec![v],
                    };
                    for v in values {
                        match v {
                            serde_json::Value::String(t) => $f(at, t)?,
                            serde_json::Value::Object(part)
                                if part.get("type").and_then(|t| t.as_str()) == Some("input_text") =>
                            {
                                if let Some(serde_json::Value::String(t)) = (& $($m)? *part).into_iter().find(|(k, _)| *k == "text").map(|(_, v)| v) {
                                    $f(at, t)?;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        // The text parts of a content list; images and files carry none.
        macro_rules! parts {
            ($parts:expr, $at:expr, $author:expr) => {
                for (i, part) in ($parts).into_iter().enumerate() {
                    if let InputContent::InputText(p) = part {
                        $f($at($author, Place::Part(i)), & $($m)? p.text)?;
                    }
                }
            };
        }
        let items = match & $($m)? $req.input {
            InputParam::Text(t) => {
                $f(Piece { author: Author::User, message: 0, place: Place::Content }, t)?;
                return Ok(());
            }
            InputParam::Items(items) => items,
        };
        for (message, item) in items.into_iter().enumerate() {
            let at = |author, place| Piece { author, message, place };
            match item {
                InputItem::EasyMessage(m) => {
                    let author = author_of(m.role);
                    match & $($m)? m.content {
                        EasyInputContent::Text(t) => $f(at(author, Place::Content), t)?,
                        EasyInputContent::ContentList(list) => parts!(list, at, author),
                    }
                }
                InputItem::Item(Item::Message(MessageItem::Input(m))) => {
                    let author = input_author(m.role);
                    parts!(& $($m)? m.content, at, author);
                }
                InputItem::Item(Item::Message(MessageItem::Output(m))) => {
                    for (i, part) in (& $($m)? m.content).into_iter().enumerate() {
                        match part {
                            OutputMessageContent::OutputText(p) => {
                                $f(at(Author::Assistant, Place::Part(i)), & $($m)? p.text)?
                            }
                            OutputMessageContent::Refusal(p) => {
                                $f(at(Author::Assistant, Place::Part(i)), & $($m)? p.refusal)?
                            }
                        }
                    }
                }
                InputItem::Item(Item::FunctionCall(call)) => {
                    $f(at(Author::Assistant, Place::ToolArguments(0)), & $($m)? call.arguments)?;
                }
                InputItem::Item(Item::CustomToolCall(call)) => {
                    $f(at(Author::Assistant, Place::ToolArguments(0)), & $($m)? call.input)?;
                }
                InputItem::Item(Item::FunctionCallOutput(out)) => match & $($m)? out.output {
                    FunctionCallOutput::Text(t) => $f(at(Author::Tool, Place::ToolOutput), t)?,
                    FunctionCallOutput::Content(list) => parts!(list, at, Author::Tool),
                },
                InputItem::Item(Item::CustomToolCallOutput(out)) => match & $($m)? out.output {
                    CustomToolCallOutputOutput::Text(t) => {
                        $f(at(Author::Tool, Place::ToolOutput), t)?
                    }
                    CustomToolCallOutputOutput::List(list) => parts!(list, at, Author::Tool),
                },
                // What built-in tools gave back: tool output like a
                // function's.
                InputItem::Item(Item::LocalShellCallOutput(out)) => {
                    $f(at(Author::Tool, Place::ToolOutput), & $($m)? out.output)?
                }
                InputItem::Item(Item::ShellCallOutput(out)) => {
                    for (i, part) in (& $($m)? out.output).into_iter().enumerate() {
                        $f(at(Author::Tool, Place::Part(i)), & $($m)? part.stdout)?;
                        $f(at(Author::Tool, Place::Part(i)), & $($m)? part.stderr)?;
                    }
                }
                InputItem::Item(Item::ApplyPatchCallOutput(out)) => {
                    if let Some(t) = & $($m)? out.output {
                        $f(at(Author::Tool, Place::ToolOutput), t)?;
                    }
                }
                // References, reasoning, built-in tool calls, screenshots,
                // program items: no text a person or tool wrote in the
                // request.
                _ => {}
            }
        }
        Ok(())
    }};
}

/// Calls `f` on every piece of a Responses request's text, in order, with
/// where it came from, until `f` returns an error (which is returned).
///
/// | piece | author | [`Place`] | `message` |
/// |---|---|---|---|
/// | `instructions` | system | `Instructions` | 0 |
/// | `prompt.variables`: each string or `input_text` part | user | `Content` | 0 |
/// | `input` given as a string | user | `Content` | 0 |
/// | a message item (easy or typed) | its role | `Content`, or `Part` for each `input_text` part | the item's index in `input` |
/// | an assistant output message | assistant | `Part` for each `output_text` or `refusal` part | the item's index |
/// | a function or custom tool call | assistant | `ToolArguments(0)` (arguments, or a custom tool's input) | the item's index |
/// | a function or custom tool call output | tool | `ToolOutput`, or `Part` for each `input_text` part | the item's index |
/// | a local shell or `apply_patch` call output | tool | `ToolOutput` | the item's index |
/// | a shell call output | tool | `Part` for each output's `stdout`, then its `stderr` | the item's index |
///
/// Item references, reasoning items, built-in tool calls and the outputs
/// not named above (screenshots, MCP approvals) carry no text here.
pub fn walk_responses_request<E>(
    req: &ResponsesRequest,
    mut f: impl FnMut(Piece, &String) -> Result<(), E>,
) -> Result<(), E> {
    walk_items!(req, f)
}

/// [`walk_responses_request`], with each text mutable in place.
pub fn walk_responses_request_mut<E>(
    req: &mut ResponsesRequest,
    mut f: impl FnMut(Piece, &mut String) -> Result<(), E>,
) -> Result<(), E> {
    walk_items!(req, f, mut)
}
