//! Reaching the text inside a request's messages, for hooks that read or
//! rewrite it (PII masking, keyword checks, budgets): the one walk over a
//! request that every guardrail reads requests through. Each piece of text
//! comes with its [`Piece`]: its [`Author`], the message it is in and its
//! [`Place`] there, so a reader can choose what it looks at.
//!
//! | author | [`Place`]s |
//! |---|---|
//! | developer, system, tool | `Content`, or `Part` for each text part |
//! | user | `Content`, or `Part` for each text part (image, audio and file parts carry no text: their index is skipped) |
//! | assistant | `Content`, or `Part` for each text or refusal part; then `Refusal`; then `ToolArguments` for each function tool call |
//! | function (legacy) | `Content`, if it has any |

use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessageContent as Assistant,
    ChatCompletionRequestAssistantMessageContentPart as AssistantPart,
    ChatCompletionRequestDeveloperMessageContent as Developer,
    ChatCompletionRequestDeveloperMessageContentPart as DeveloperPart,
    ChatCompletionRequestMessage as Message, ChatCompletionRequestSystemMessageContent as System,
    ChatCompletionRequestSystemMessageContentPart as SystemPart,
    ChatCompletionRequestToolMessageContent as Tool,
    ChatCompletionRequestToolMessageContentPart as ToolPart,
    ChatCompletionRequestUserMessageContent as User,
    ChatCompletionRequestUserMessageContentPart as UserPart,
};

use std::convert::Infallible;

use async_openai::types::chat::ChatCompletionMessageToolCalls as ToolCall;

use crate::types::ChatRequest;

mod responses;
pub use responses::{walk_responses_request, walk_responses_request_mut};

/// Who wrote a piece of request text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Author {
    /// A developer message.
    Developer,
    /// A system prompt.
    System,
    /// The user.
    User,
    /// An earlier assistant turn (including its tool-call arguments).
    Assistant,
    /// A tool result.
    Tool,
    /// A legacy function result.
    Function,
}

impl Author {
    /// Whether the text came from outside the application's own prompts
    /// (the user, or a tool that may have fetched outside content).
    pub fn is_untrusted(self) -> bool {
        matches!(self, Self::User | Self::Tool | Self::Function)
    }

    /// Whether the text is input a person or the application wrote
    /// (system, developer and user messages), not the model's own earlier
    /// turns nor what tools returned.
    pub(crate) fn wrote_input(self) -> bool {
        matches!(self, Self::System | Self::Developer | Self::User)
    }
}

/// Where a piece of request text sits in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Place {
    /// The message's content, given as one string.
    Content,
    /// Part `n` of the message's content array: a text part, or an
    /// assistant's refusal part. Parts with no text (images, audio, files)
    /// are never passed, but count in `n`.
    Part(usize),
    /// An assistant message's `refusal` field.
    Refusal,
    /// The arguments (JSON text) of the assistant message's tool call at
    /// position `n` in its `tool_calls` (in a Responses request, the call
    /// item's arguments or input, `n` = 0).
    ToolArguments(usize),
    /// A Responses request's `instructions`.
    Instructions,
    /// A Responses request's function or custom tool call output, given as
    /// one string.
    ToolOutput,
}

impl Place {
    /// Whether the text is the message's content (the string, a part of it,
    /// a tool output, or a Responses request's instructions), not a refusal
    /// field or tool-call arguments.
    pub fn is_content(self) -> bool {
        matches!(
            self,
            Self::Content | Self::Part(_) | Self::ToolOutput | Self::Instructions
        )
    }
}

/// Where a piece of request text came from: who wrote it, and where it sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Piece {
    /// Who wrote it.
    pub author: Author,
    /// The index of its message in the request's `messages`.
    pub message: usize,
    /// Where it sits in that message.
    pub place: Place,
}

/// The walk over a request's texts, once for shared and once for mutable
/// access: `$req` the request, `$f` the callback, `mut` for mutable.
macro_rules! walk_messages {
    ($req:ident, $f:ident $(, $m:tt)?) => {{
        for (message, msg) in (& $($m)? $req.messages).into_iter().enumerate() {
            let at = |author, place| Piece { author, message, place };
            match msg {
                Message::Developer(m) => match & $($m)? m.content {
                    Developer::Text(t) => $f(at(Author::Developer, Place::Content), t)?,
                    Developer::Array(parts) => {
                        for (i, DeveloperPart::Text(p)) in parts.into_iter().enumerate() {
                            $f(at(Author::Developer, Place::Part(i)), & $($m)? p.text)?;
                        }
                    }
                },
                Message::System(m) => match & $($m)? m.content {
                    System::Text(t) => $f(at(Author::System, Place::Content), t)?,
                    System::Array(parts) => {
                        for (i, SystemPart::Text(p)) in parts.into_iter().enumerate() {
                            $f(at(Author::System, Place::Part(i)), & $($m)? p.text)?;
                        }
                    }
                },
                Message::User(m) => match & $($m)? m.content {
                    User::Text(t) => $f(at(Author::User, Place::Content), t)?,
                    User::Array(parts) => {
                        for (i, part) in parts.into_iter().enumerate() {
                            if let UserPart::Text(p) = part {
                                $f(at(Author::User, Place::Part(i)), & $($m)? p.text)?;
                            }
                        }
                    }
                },
                Message::Assistant(m) => {
                    match & $($m)? m.content {
                        Some(Assistant::Text(t)) => {
                            $f(at(Author::Assistant, Place::Content), t)?
                        }
                        Some(Assistant::Array(parts)) => {
                            for (i, part) in parts.into_iter().enumerate() {
                                let t = match part {
                                    AssistantPart::Text(p) => & $($m)? p.text,
                                    AssistantPart::Refusal(p) => & $($m)? p.refusal,
                                };
                                $f(at(Author::Assistant, Place::Part(i)), t)?;
                            }
                        }
                        None => {}
                    }
                    if let Some(refusal) = & $($m)? m.refusal {
                        $f(at(Author::Assistant, Place::Refusal), refusal)?;
                    }
                    for (i, call) in (& $($m)? m.tool_calls).into_iter().flatten().enumerate() {
                        if let ToolCall::Function(c) = call {
                            $f(
                                at(Author::Assistant, Place::ToolArguments(i)),
                                & $($m)? c.function.arguments,
                            )?;
                        }
                    }
                }
                Message::Tool(m) => match & $($m)? m.content {
                    Tool::Text(t) => $f(at(Author::Tool, Place::Content), t)?,
                    Tool::Array(parts) => {
                        for (i, ToolPart::Text(p)) in parts.into_iter().enumerate() {
                            $f(at(Author::Tool, Place::Part(i)), & $($m)? p.text)?;
                        }
                    }
                },
                Message::Function(m) => {
                    if let Some(t) = & $($m)? m.content {
                        $f(at(Author::Function, Place::Content), t)?;
                    }
                }
            }
        }
        Ok(())
    }};
}

/// Calls `f` on every piece of text in `req`'s messages, mutable, in
/// message order, with where it came from (see the [module](self) docs for
/// which texts and in what order), until `f` returns an error, which it
/// returns.
///
/// ```
/// use openai_hooks::text::{walk_request_mut, Author, Place};
/// use openai_hooks::ChatRequest;
///
/// let mut req: ChatRequest = serde_json::from_value(serde_json::json!({
///     "model": "m",
///     "messages": [
///         {"role": "system", "content": "Be brief."},
///         {"role": "user", "content": [{"type": "text", "text": "mail me at a@b.co"}]},
///     ],
/// })).unwrap();
/// walk_request_mut(&mut req, |piece, text| {
///     if piece.author == Author::User && piece.place == Place::Part(0) {
///         *text = text.replace("a@b.co", "<EMAIL_ADDRESS>");
///     }
///     Ok::<_, ()>(())
/// }).unwrap();
/// let sent = serde_json::to_value(&req).unwrap();
/// assert_eq!(sent["messages"][1]["content"][0]["text"], "mail me at <EMAIL_ADDRESS>");
/// ```
pub fn walk_request_mut<'a, E>(
    req: &'a mut ChatRequest,
    mut f: impl FnMut(Piece, &'a mut String) -> Result<(), E>,
) -> Result<(), E> {
    walk_messages!(req, f, mut)
}

/// Calls `f` on every piece of text in `req`'s messages, in message order,
/// with where it came from: the texts [`walk_request_mut`] reaches, read
/// only.
///
/// ```
/// use openai_hooks::text::walk_request;
/// use openai_hooks::ChatRequest;
///
/// let req: ChatRequest = serde_json::from_value(serde_json::json!({
///     "model": "m",
///     "messages": [
///         {"role": "system", "content": "Be brief."},
///         {"role": "user", "content": "Hello"},
///     ],
/// })).unwrap();
/// let mut chars = 0;
/// walk_request(&req, |piece, text| {
///     if piece.place.is_content() {
///         chars += text.chars().count();
///     }
/// });
/// assert_eq!(chars, 14);
/// ```
pub fn walk_request<'a>(req: &'a ChatRequest, mut f: impl FnMut(Piece, &'a str)) {
    let Ok(()) = walk_shared::<Infallible>(req, |piece, text| {
        f(piece, text);
        Ok(())
    });
}

fn walk_shared<'a, E>(
    req: &'a ChatRequest,
    mut f: impl FnMut(Piece, &'a String) -> Result<(), E>,
) -> Result<(), E> {
    walk_messages!(req, f)
}

/// Every piece of text in `req`'s messages, mutable, in message order, with
/// its author: plain contents, text parts, refusals, and tool-call
/// arguments (what [`walk_request_mut`] reaches).
///
/// ```
/// use openai_hooks::text::{request_texts_mut, Author};
/// use openai_hooks::ChatRequest;
///
/// let mut req: ChatRequest = serde_json::from_value(serde_json::json!({
///     "model": "m",
///     "messages": [
///         {"role": "system", "content": "Be brief."},
///         {"role": "user", "content": [{"type": "text", "text": "mail me at a@b.co"}]},
///     ],
/// })).unwrap();
/// for (author, text) in request_texts_mut(&mut req) {
///     if author == Author::User {
///         *text = text.replace("a@b.co", "<EMAIL_ADDRESS>");
///     }
/// }
/// let sent = serde_json::to_value(&req).unwrap();
/// assert_eq!(sent["messages"][1]["content"][0]["text"], "mail me at <EMAIL_ADDRESS>");
/// ```
pub fn request_texts_mut(req: &mut ChatRequest) -> Vec<(Author, &mut String)> {
    let mut out = Vec::new();
    let Ok(()) = walk_request_mut::<Infallible>(req, |piece, text| {
        out.push((piece.author, text));
        Ok(())
    });
    out
}
