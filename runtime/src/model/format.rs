//! Building a Chat Completions request from provider-neutral messages, in
//! step with Strands Agents' OpenAI provider.
//!
//! [`request_json`] is the definition: the request as JSON, with the
//! model's `params` merged last, so any request field can be set. Reading
//! that JSON into a [`ChatRequest`] goes through serde's buffering of
//! untagged enums and costs tens of microseconds for a short conversation
//! with tools, paid on every call; [`request`] builds the same typed
//! request directly instead, and reads only the model id, the stream
//! options and the params from JSON (so a param of the wrong type is still
//! an error here rather than at the server). A param that names a field the
//! messages, tools or stream settings fill takes the JSON path whole, so
//! params still win. Tests check that both paths give the same request.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionNamedToolChoice,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestAssistantMessageContentPart, ChatCompletionRequestMessage,
    ChatCompletionRequestMessageContentPartFile, ChatCompletionRequestMessageContentPartImage,
    ChatCompletionRequestMessageContentPartText, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestSystemMessageContentPart,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionRequestUserMessageContentPart, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionToolChoiceOption, ChatCompletionTools, FileObject, FunctionCall, FunctionName,
    FunctionObject, ImageDetail, ImageUrl, ToolChoiceOptions,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::content::{
    ContentBlock, Document, Image, Message, Role, SystemPrompt, ToolChoice, ToolResult,
    ToolResultContent, ToolSpec, ToolStatus, ToolUse,
};
use super::error::ModelError;
use crate::types::ChatRequest;

/// Everything that shapes one request.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The model id.
    pub model_id: &'a str,
    /// Extra request fields, merged last.
    pub params: &'a Map<String, Value>,
    /// Whether the reply streams (then usage is asked for).
    pub stream: bool,
    /// The conversation.
    pub messages: &'a [Message],
    /// Tools the model may call.
    pub tools: &'a [ToolSpec],
    /// The system prompt.
    pub system_prompt: Option<&'a SystemPrompt>,
    /// Which tool must be called, if any.
    pub tool_choice: Option<&'a ToolChoice>,
}

/// The request as JSON, before it is read into a [`ChatRequest`].
pub fn request_json(parts: RequestParts<'_>) -> Value {
    let mut request = Map::new();
    request.insert("model".into(), json!(parts.model_id));
    request.insert(
        "messages".into(),
        Value::Array(messages(parts.messages, parts.system_prompt)),
    );
    if parts.stream {
        request.insert("stream".into(), json!(true));
        request.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if !parts.tools.is_empty() {
        let tools = parts.tools.iter().map(tool_spec).collect();
        request.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = parts.tool_choice {
        request.insert("tool_choice".into(), tool_choice(choice));
    }
    for (key, value) in parts.params {
        request.insert(key.clone(), value.clone());
    }
    Value::Object(request)
}

/// Request fields the typed path fills itself; a param naming one of them
/// takes the JSON path, where params are merged last.
const FILLED: [&str; 6] = [
    "model",
    "messages",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
];

/// The request, typed: the same request as [`request_json`] read into a
/// [`ChatRequest`], built without the JSON round trip where it can be.
pub fn request(parts: RequestParts<'_>) -> Result<ChatRequest, ModelError> {
    if parts
        .params
        .keys()
        .any(|key| FILLED.contains(&key.as_str()))
    {
        return request_via_json(parts);
    }
    let mut request = head(parts)?;
    request.messages = typed::messages(parts.messages, parts.system_prompt)?;
    if !parts.tools.is_empty() {
        request.tools = Some(parts.tools.iter().map(typed::tool_spec).collect());
    }
    request.tool_choice = parts.tool_choice.map(typed::tool_choice);
    Ok(request)
}

/// The request with everything but the conversation, tools and tool
/// choice: the model id, the stream settings and the params.
fn head(parts: RequestParts<'_>) -> Result<ChatRequest, ModelError> {
    let mut request = if parts.params.is_empty() {
        ChatRequest::default()
    } else {
        let mut head = Map::new();
        head.insert("model".into(), Value::String(String::new()));
        head.insert("messages".into(), Value::Array(Vec::new()));
        for (key, value) in parts.params {
            head.insert(key.clone(), value.clone());
        }
        let request: ChatRequest = serde_json::from_value(Value::Object(head))
            .map_err(|e| ModelError::InvalidRequest(e.to_string()))?;
        check_params_kept(&request, parts.params)?;
        request
    };
    parts.model_id.clone_into(&mut request.model);
    if parts.stream {
        request.stream = Some(true);
        request.stream_options = Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            ..ChatCompletionStreamOptions::default()
        });
    }
    Ok(request)
}

/// The request through [`request_json`], for params that set fields the
/// typed path fills.
fn request_via_json(parts: RequestParts<'_>) -> Result<ChatRequest, ModelError> {
    let json = request_json(parts);
    let request: ChatRequest =
        serde_json::from_value(json).map_err(|e| ModelError::InvalidRequest(e.to_string()))?;
    check_params_kept(&request, parts.params)?;
    Ok(request)
}

/// async-openai's request has no catch-all field: a param it does not name
/// would vanish without a trace. Say so instead.
fn check_params_kept(request: &ChatRequest, params: &Map<String, Value>) -> Result<(), ModelError> {
    let given = || params.iter().filter(|(_, value)| !value.is_null());
    if given().next().is_none() {
        return Ok(());
    }
    let sent =
        serde_json::to_value(request).map_err(|e| ModelError::InvalidRequest(e.to_string()))?;
    for (key, _) in given() {
        if sent.get(key).is_none() {
            return Err(ModelError::InvalidRequest(format!(
                "model param `{key}` is not a Chat Completions request field"
            )));
        }
    }
    Ok(())
}

fn tool_spec(spec: &ToolSpec) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.input_schema,
        },
    })
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Any => json!("required"),
        ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
    }
}

/// The messages: the system prompt, then each message, then its tool
/// results; empty messages are left out.
pub fn messages(messages: &[Message], system_prompt: Option<&SystemPrompt>) -> Vec<Value> {
    let mut out = Vec::with_capacity(messages.len() + 1);
    match system_prompt {
        Some(SystemPrompt::Text(text)) if !text.is_empty() => {
            out.push(json!({"role": "system", "content": text}));
        }
        Some(SystemPrompt::Blocks(blocks)) if !blocks.is_empty() => {
            let parts: Vec<Value> = blocks.iter().map(|t| text_part(t)).collect();
            out.push(json!({"role": "system", "content": parts}));
        }
        _ => {}
    }
    for message in messages {
        let mut parts = Vec::new();
        let mut tool_calls = Vec::new();
        let mut results = Vec::new();
        for block in &message.content {
            match block {
                ContentBlock::Text(text) => parts.push(text_part(text)),
                ContentBlock::Image(image) => parts.push(image_part(image)),
                ContentBlock::Document(doc) => parts.push(document_part(doc)),
                ContentBlock::ToolUse(call) => tool_calls.push(tool_call(call)),
                ContentBlock::ToolResult(result) => results.push(result),
                ContentBlock::Reasoning { .. } => {
                    tracing::warn!(
                        target: "openai_hooks::model",
                        "reasoning content is not supported in Chat Completions requests; it is left out"
                    );
                }
            }
        }
        // Tool messages must follow the assistant's calls directly, so a
        // user message's results go before the rest of it.
        for result in results {
            tool_messages(result, &mut out);
        }
        if !parts.is_empty() || !tool_calls.is_empty() {
            let mut m = Map::new();
            m.insert("role".into(), json!(message.role.as_str()));
            // An empty content array is invalid (`minItems: 1`): an
            // assistant message of tool calls only has no content.
            if !parts.is_empty() {
                m.insert("content".into(), Value::Array(parts));
            }
            if !tool_calls.is_empty() {
                m.insert("tool_calls".into(), Value::Array(tool_calls));
            }
            out.push(Value::Object(m));
        }
    }
    out
}

fn text_part(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", BASE64.encode(bytes))
}

fn image_part(image: &Image) -> Value {
    json!({
        "type": "image_url",
        "image_url": {"url": data_url(image.format.mime(), &image.bytes), "detail": "auto"},
    })
}

fn document_part(doc: &Document) -> Value {
    json!({
        "type": "file",
        "file": {"file_data": data_url(doc.mime(), &doc.bytes), "filename": doc.name},
    })
}

fn tool_call(call: &ToolUse) -> Value {
    json!({
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.input.to_string()},
    })
}

/// The text of a tool result's `tool` message: its texts joined, JSON as
/// its text; a note when it failed silently or sent only media.
fn tool_result_text(result: &ToolResult) -> String {
    let mut texts = Vec::new();
    let mut media = false;
    for item in &result.content {
        match item {
            ToolResultContent::Text(text) => texts.push(text.clone()),
            ToolResultContent::Json(value) => texts.push(value.to_string()),
            ToolResultContent::Image(_) | ToolResultContent::Document(_) => media = true,
        }
    }
    let text = texts.join("\n");
    if !text.is_empty() {
        text
    } else if result.status == ToolStatus::Error {
        "the tool failed".to_owned()
    } else if media {
        "the tool returned the content in the next message".to_owned()
    } else {
        text
    }
}

/// A `tool` message with the result's text (texts joined, JSON as its
/// text), then, if the result held images or documents, a user message
/// carrying them: tool messages take text only.
fn tool_messages(result: &ToolResult, out: &mut Vec<Value>) {
    let text = tool_result_text(result);
    let media: Vec<Value> = result
        .content
        .iter()
        .filter_map(|item| match item {
            ToolResultContent::Image(image) => Some(image_part(image)),
            ToolResultContent::Document(doc) => Some(document_part(doc)),
            ToolResultContent::Text(_) | ToolResultContent::Json(_) => None,
        })
        .collect();
    out.push(json!({"role": "tool", "tool_call_id": result.tool_use_id, "content": text}));
    if !media.is_empty() {
        let mut parts = vec![text_part(&format!(
            "Content returned by tool call {}:",
            result.tool_use_id
        ))];
        parts.extend(media);
        out.push(json!({"role": "user", "content": parts}));
    }
}

/// The typed twins of the JSON builders above, part for part.
mod typed {
    use super::*;

    fn text(text: &str) -> ChatCompletionRequestMessageContentPartText {
        ChatCompletionRequestMessageContentPartText {
            text: text.to_owned(),
            prompt_cache_breakpoint: None,
        }
    }

    fn image(image: &Image) -> ChatCompletionRequestUserMessageContentPart {
        ChatCompletionRequestUserMessageContentPart::ImageUrl(
            ChatCompletionRequestMessageContentPartImage {
                image_url: ImageUrl {
                    url: data_url(image.format.mime(), &image.bytes),
                    detail: Some(ImageDetail::Auto),
                },
                prompt_cache_breakpoint: None,
            },
        )
    }

    fn document(doc: &Document) -> ChatCompletionRequestUserMessageContentPart {
        ChatCompletionRequestUserMessageContentPart::File(
            ChatCompletionRequestMessageContentPartFile {
                file: FileObject {
                    file_data: Some(data_url(doc.mime(), &doc.bytes)),
                    file_id: None,
                    filename: Some(doc.name.clone()),
                },
                prompt_cache_breakpoint: None,
            },
        )
    }

    fn tool_call(call: &ToolUse) -> ChatCompletionMessageToolCalls {
        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
            id: call.id.clone(),
            function: FunctionCall {
                name: call.name.clone(),
                arguments: call.input.to_string(),
            },
        })
    }

    pub(super) fn tool_spec(spec: &ToolSpec) -> ChatCompletionTools {
        ChatCompletionTools::Function(ChatCompletionTool {
            function: FunctionObject {
                name: spec.name.clone(),
                description: Some(spec.description.clone()),
                parameters: Some(spec.input_schema.clone()),
                strict: None,
            },
        })
    }

    pub(super) fn tool_choice(choice: &ToolChoice) -> ChatCompletionToolChoiceOption {
        match choice {
            ToolChoice::Auto => ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::Auto),
            ToolChoice::Any => ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::Required),
            ToolChoice::Tool { name } => {
                ChatCompletionToolChoiceOption::Function(ChatCompletionNamedToolChoice {
                    function: FunctionName { name: name.clone() },
                })
            }
        }
    }

    /// As [`super::messages`]; a message the API cannot take (media or
    /// tool calls where its role has no place for them) is an error.
    pub(super) fn messages(
        messages: &[Message],
        system_prompt: Option<&SystemPrompt>,
    ) -> Result<Vec<ChatCompletionRequestMessage>, ModelError> {
        let mut out = Vec::with_capacity(messages.len() + 1);
        match system_prompt {
            Some(SystemPrompt::Text(t)) if !t.is_empty() => {
                out.push(ChatCompletionRequestMessage::System(
                    ChatCompletionRequestSystemMessage {
                        content: ChatCompletionRequestSystemMessageContent::Text(t.clone()),
                        name: None,
                    },
                ));
            }
            Some(SystemPrompt::Blocks(blocks)) if !blocks.is_empty() => {
                let parts = blocks
                    .iter()
                    .map(|t| ChatCompletionRequestSystemMessageContentPart::Text(text(t)))
                    .collect();
                out.push(ChatCompletionRequestMessage::System(
                    ChatCompletionRequestSystemMessage {
                        content: ChatCompletionRequestSystemMessageContent::Array(parts),
                        name: None,
                    },
                ));
            }
            _ => {}
        }
        for message in messages {
            let mut parts = Vec::new();
            let mut tool_calls = Vec::new();
            for block in &message.content {
                match block {
                    ContentBlock::Text(t) => {
                        parts.push(ChatCompletionRequestUserMessageContentPart::Text(text(t)));
                    }
                    ContentBlock::Image(i) => parts.push(image(i)),
                    ContentBlock::Document(d) => parts.push(document(d)),
                    ContentBlock::ToolUse(call) => tool_calls.push(tool_call(call)),
                    ContentBlock::ToolResult(result) => tool_messages(result, &mut out),
                    ContentBlock::Reasoning { .. } => {
                        tracing::warn!(
                            target: "openai_hooks::model",
                            "reasoning content is not supported in Chat Completions requests; it is left out"
                        );
                    }
                }
            }
            if parts.is_empty() && tool_calls.is_empty() {
                continue;
            }
            out.push(match message.role {
                Role::User => {
                    if !tool_calls.is_empty() {
                        return Err(ModelError::InvalidRequest(
                            "a user message cannot hold tool calls; they belong to the assistant"
                                .into(),
                        ));
                    }
                    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                        content: ChatCompletionRequestUserMessageContent::Array(parts),
                        name: None,
                    })
                }
                Role::Assistant => {
                    let content = assistant_parts(parts)?;
                    ChatCompletionRequestMessage::Assistant(
                        #[allow(deprecated)] // `function_call` is a field, left unset.
                        ChatCompletionRequestAssistantMessage {
                            content,
                            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                            ..ChatCompletionRequestAssistantMessage::default()
                        },
                    )
                }
            });
        }
        Ok(out)
    }

    /// An assistant message's content: text only.
    fn assistant_parts(
        parts: Vec<ChatCompletionRequestUserMessageContentPart>,
    ) -> Result<Option<ChatCompletionRequestAssistantMessageContent>, ModelError> {
        if parts.is_empty() {
            return Ok(None);
        }
        let parts = parts
            .into_iter()
            .map(|part| match part {
                ChatCompletionRequestUserMessageContentPart::Text(t) => {
                    Ok(ChatCompletionRequestAssistantMessageContentPart::Text(t))
                }
                _ => Err(ModelError::InvalidRequest(
                    "an assistant message can hold only text and tool calls, not images, audio or documents"
                        .into(),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(ChatCompletionRequestAssistantMessageContent::Array(
            parts,
        )))
    }

    /// As [`super::tool_messages`].
    fn tool_messages(result: &ToolResult, out: &mut Vec<ChatCompletionRequestMessage>) {
        let content = tool_result_text(result);
        let media: Vec<_> = result
            .content
            .iter()
            .filter_map(|item| match item {
                ToolResultContent::Image(i) => Some(image(i)),
                ToolResultContent::Document(d) => Some(document(d)),
                ToolResultContent::Text(_) | ToolResultContent::Json(_) => None,
            })
            .collect();
        out.push(ChatCompletionRequestMessage::Tool(
            ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(content),
                tool_call_id: result.tool_use_id.clone(),
            },
        ));
        if !media.is_empty() {
            let mut parts = Vec::with_capacity(media.len() + 1);
            parts.push(ChatCompletionRequestUserMessageContentPart::Text(text(
                &format!("Content returned by tool call {}:", result.tool_use_id),
            )));
            parts.extend(media);
            out.push(ChatCompletionRequestMessage::User(
                ChatCompletionRequestUserMessage {
                    content: ChatCompletionRequestUserMessageContent::Array(parts),
                    name: None,
                },
            ));
        }
    }
}
