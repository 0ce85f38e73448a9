//! Reaching the text inside a request's messages, for hooks that read or
//! rewrite it (PII masking, keyword checks, budgets).

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

use crate::types::ChatRequest;

/// Who wrote a piece of request text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
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

impl Role {
    /// Whether the text came from outside the application's own prompts
    /// (the user, or a tool that may have fetched outside content).
    pub fn is_untrusted(self) -> bool {
        matches!(self, Self::User | Self::Tool | Self::Function)
    }
}

/// Every piece of text in `req`'s messages, mutable, in message order, with
/// its author: plain contents, text parts, refusals, and tool-call arguments.
///
/// ```
/// use openai_hooks::text::{request_texts_mut, Role};
/// use openai_hooks::ChatRequest;
///
/// let mut req: ChatRequest = serde_json::from_value(serde_json::json!({
///     "model": "m",
///     "messages": [
///         {"role": "system", "content": "Be brief."},
///         {"role": "user", "content": [{"type": "text", "text": "mail me at a@b.co"}]},
///     ],
/// })).unwrap();
/// for (role, text) in request_texts_mut(&mut req) {
///     if role == Role::User {
///         *text = text.replace("a@b.co", "<EMAIL_ADDRESS>");
///     }
/// }
/// let sent = serde_json::to_value(&req).unwrap();
/// assert_eq!(sent["messages"][1]["content"][0]["text"], "mail me at <EMAIL_ADDRESS>");
/// ```
pub fn request_texts_mut(req: &mut ChatRequest) -> Vec<(Role, &mut String)> {
    let mut out = Vec::new();
    for message in &mut req.messages {
        match message {
            Message::Developer(m) => match &mut m.content {
                Developer::Text(t) => out.push((Role::Developer, t)),
                Developer::Array(parts) => {
                    for DeveloperPart::Text(p) in parts {
                        out.push((Role::Developer, &mut p.text));
                    }
                }
            },
            Message::System(m) => match &mut m.content {
                System::Text(t) => out.push((Role::System, t)),
                System::Array(parts) => {
                    for SystemPart::Text(p) in parts {
                        out.push((Role::System, &mut p.text));
                    }
                }
            },
            Message::User(m) => match &mut m.content {
                User::Text(t) => out.push((Role::User, t)),
                User::Array(parts) => {
                    for part in parts {
                        if let UserPart::Text(p) = part {
                            out.push((Role::User, &mut p.text));
                        }
                    }
                }
            },
            Message::Assistant(m) => {
                match &mut m.content {
                    Some(Assistant::Text(t)) => out.push((Role::Assistant, t)),
                    Some(Assistant::Array(parts)) => {
                        for part in parts {
                            match part {
                                AssistantPart::Text(p) => out.push((Role::Assistant, &mut p.text)),
                                AssistantPart::Refusal(p) => {
                                    out.push((Role::Assistant, &mut p.refusal))
                                }
                            }
                        }
                    }
                    None => {}
                }
                if let Some(refusal) = &mut m.refusal {
                    out.push((Role::Assistant, refusal));
                }
                for call in m.tool_calls.iter_mut().flatten() {
                    if let async_openai::types::chat::ChatCompletionMessageToolCalls::Function(f) =
                        call
                    {
                        out.push((Role::Assistant, &mut f.function.arguments));
                    }
                }
            }
            Message::Tool(m) => match &mut m.content {
                Tool::Text(t) => out.push((Role::Tool, t)),
                Tool::Array(parts) => {
                    for ToolPart::Text(p) in parts {
                        out.push((Role::Tool, &mut p.text));
                    }
                }
            },
            Message::Function(m) => {
                if let Some(t) = &mut m.content {
                    out.push((Role::Function, t));
                }
            }
        }
    }
    out
}
