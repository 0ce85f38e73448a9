//! Building a Chat Completions request from provider-neutral messages, in
//! step with Strands Agents' OpenAI provider.
//!
//! The request is built as JSON first: the model's `params` are merged into
//! it last, so any request field (including ones async-openai does not name
//! yet) can be set, and the result is then read into a [`ChatRequest`], so a
//! field of the wrong type is an error here rather than at the server.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::content::{
    ContentBlock, Document, Image, Message, SystemPrompt, ToolChoice, ToolResult,
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

/// The request, typed.
pub fn request(parts: RequestParts<'_>) -> Result<ChatRequest, ModelError> {
    let json = request_json(parts);
    let request: ChatRequest =
        serde_json::from_value(json).map_err(|e| ModelError::InvalidRequest(e.to_string()))?;
    // async-openai's request has no catch-all field: a param it does not
    // name would vanish without a trace. Say so instead.
    let given = || parts.params.iter().filter(|(_, value)| !value.is_null());
    if given().next().is_none() {
        return Ok(request);
    }
    let sent =
        serde_json::to_value(&request).map_err(|e| ModelError::InvalidRequest(e.to_string()))?;
    for (key, _) in given() {
        if sent.get(key).is_none() {
            return Err(ModelError::InvalidRequest(format!(
                "model param `{key}` is not a Chat Completions request field"
            )));
        }
    }
    Ok(request)
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

/// A `tool` message with the result's text (texts joined, JSON as its
/// text), then, if the result held images or documents, a user message
/// carrying them: tool messages take text only.
fn tool_messages(result: &ToolResult, out: &mut Vec<Value>) {
    let mut texts = Vec::new();
    let mut media = Vec::new();
    for item in &result.content {
        match item {
            ToolResultContent::Text(text) => texts.push(text.clone()),
            ToolResultContent::Json(value) => texts.push(value.to_string()),
            ToolResultContent::Image(image) => media.push(image_part(image)),
            ToolResultContent::Document(doc) => media.push(document_part(doc)),
        }
    }
    let mut text = texts.join("\n");
    if result.status == ToolStatus::Error && text.is_empty() {
        text = "the tool failed".to_owned();
    }
    if text.is_empty() && !media.is_empty() {
        text = "the tool returned the content in the next message".to_owned();
    }
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
