//! Building a Chat Completions request from provider-neutral messages, in
//! step with Strands Agents' OpenAI provider.
//!
//! The request is built typed, directly: building it as JSON and reading
//! that back goes through serde's buffering of untagged enums and costs
//! tens of microseconds for a short conversation with tools, on every call.
//! The model's `params` are merged last, so any request field can be set:
//! they are read from JSON (a param of the wrong type is an error here
//! rather than at the server), and a param that names a field the
//! conversation, tools or stream settings fill overrides it through
//! [`request_json`], the request as JSON with the params merged in.

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
use serde_json::{Map, Value};

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

/// The request as JSON, with the params merged last.
pub fn request_json(parts: RequestParts<'_>) -> Result<Value, ModelError> {
    let built = fill(parts, ChatRequest::default())?;
    let mut json =
        serde_json::to_value(built).map_err(|e| ModelError::InvalidRequest(e.to_string()))?;
    if let Value::Object(fields) = &mut json {
        for (key, value) in parts.params {
            fields.insert(key.clone(), value.clone());
        }
    }
    Ok(json)
}

/// Request fields [`fill`] sets; a param naming one of them goes through
/// [`request_json`], where params are merged last.
const FILLED: [&str; 6] = [
    "model",
    "messages",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
];

/// The request, typed.
pub fn request(parts: RequestParts<'_>) -> Result<ChatRequest, ModelError> {
    if parts
        .params
        .keys()
        .any(|key| FILLED.contains(&key.as_str()))
    {
        let json = request_json(parts)?;
        let request: ChatRequest =
            serde_json::from_value(json).map_err(|e| ModelError::InvalidRequest(e.to_string()))?;
        check_params_kept(&request, parts.params)?;
        return Ok(request);
    }
    fill(parts, params_only(parts.params)?)
}

/// A request holding only the params (none of them a [`FILLED`] field).
fn params_only(params: &Map<String, Value>) -> Result<ChatRequest, ModelError> {
    if params.is_empty() {
        return Ok(ChatRequest::default());
    }
    let mut head = Map::new();
    head.insert("model".into(), Value::String(String::new()));
    head.insert("messages".into(), Value::Array(Vec::new()));
    for (key, value) in params {
        head.insert(key.clone(), value.clone());
    }
    let request: ChatRequest = serde_json::from_value(Value::Object(head))
        .map_err(|e| ModelError::InvalidRequest(e.to_string()))?;
    check_params_kept(&request, params)?;
    Ok(request)
}

/// Sets the model id, the stream settings, the conversation, the tools and
/// the tool choice on `request`.
fn fill(parts: RequestParts<'_>, mut request: ChatRequest) -> Result<ChatRequest, ModelError> {
    parts.model_id.clone_into(&mut request.model);
    if parts.stream {
        request.stream = Some(true);
        request.stream_options = Some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            ..ChatCompletionStreamOptions::default()
        });
    }
    request.messages = messages(parts.messages, parts.system_prompt)?;
    if !parts.tools.is_empty() {
        request.tools = Some(parts.tools.iter().map(tool_spec).collect());
    }
    request.tool_choice = parts.tool_choice.map(tool_choice);
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

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", BASE64.encode(bytes))
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
    ChatCompletionRequestUserMessageContentPart::File(ChatCompletionRequestMessageContentPartFile {
        file: FileObject {
            file_data: Some(data_url(doc.mime(), &doc.bytes)),
            file_id: None,
            filename: Some(doc.name.clone()),
        },
        prompt_cache_breakpoint: None,
    })
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

fn tool_spec(spec: &ToolSpec) -> ChatCompletionTools {
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: spec.name.clone(),
            description: Some(spec.description.clone()),
            parameters: Some(spec.input_schema.clone()),
            strict: None,
        },
    })
}

fn tool_choice(choice: &ToolChoice) -> ChatCompletionToolChoiceOption {
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

/// The messages: the system prompt, then each message, its tool results
/// first; empty messages are left out. A message's tool results become
/// `tool` messages, all of them before the user messages that carry their
/// images and documents (the API wants every call of an assistant turn
/// answered by a `tool` message before any other message). A message the
/// API cannot take (media or tool calls where its role has no place for
/// them) is an error.
pub fn messages(
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
        let mut media = Vec::new();
        for block in &message.content {
            match block {
                ContentBlock::Text(t) => {
                    parts.push(ChatCompletionRequestUserMessageContentPart::Text(text(t)));
                }
                ContentBlock::Image(i) => parts.push(image(i)),
                ContentBlock::Document(d) => parts.push(document(d)),
                ContentBlock::ToolUse(call) => tool_calls.push(tool_call(call)),
                ContentBlock::ToolResult(result) => tool_messages(result, &mut out, &mut media),
                ContentBlock::Reasoning { .. } => {
                    tracing::warn!(
                        target: "openai_hooks::model",
                        "reasoning content is not supported in Chat Completions requests; it is left out"
                    );
                }
            }
        }
        out.append(&mut media);
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

/// A `tool` message with the result's text into `out` and, if the result
/// held images or documents, a user message carrying them into `media`:
/// tool messages take text only.
fn tool_messages(
    result: &ToolResult,
    out: &mut Vec<ChatCompletionRequestMessage>,
    media_out: &mut Vec<ChatCompletionRequestMessage>,
) {
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
        media_out.push(ChatCompletionRequestMessage::User(
            ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Array(parts),
                name: None,
            },
        ));
    }
}
