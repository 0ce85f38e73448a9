//! Building requests for tests.

use openai_hooks::ChatRequest;
use openai_hooks::async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};

/// A request with a system message (`texts[0]`), a user message per other
/// text, and an assistant reply `ok` at the end.
pub(crate) fn request(texts: &[&str]) -> ChatRequest {
    let mut messages = vec![ChatCompletionRequestSystemMessage::from(texts[0]).into()];
    for t in &texts[1..] {
        messages.push(ChatCompletionRequestUserMessage::from(*t).into());
    }
    messages.push(ChatCompletionRequestAssistantMessage::from("ok").into());
    CreateChatCompletionRequestArgs::default()
        .model("m")
        .messages(messages)
        .build()
        .unwrap()
}
