//! What a conversation is made of, provider-neutral: messages of content
//! blocks, tool specifications, the tool choice and the system prompt. The
//! shapes follow Strands Agents' content types, so an agent loop written
//! against them maps one to one.

use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The user (and tool results, which answer the assistant).
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The wire name: `user` or `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message: a role and its content blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What it holds, in order.
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user message of one text block.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![ContentBlock::Text(text.into())],
        }
    }

    /// An assistant message of one text block.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: vec![ContentBlock::Text(text.into())],
        }
    }
}

/// An image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// `image/png`
    Png,
    /// `image/jpeg`
    Jpeg,
    /// `image/gif`
    Gif,
    /// `image/webp`
    Webp,
}

impl ImageFormat {
    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
        }
    }
}

/// An image, as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Its format.
    pub format: ImageFormat,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A document (PDF, text, ...), as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Its format, as a file extension: `pdf`, `txt`, `csv`, `md`, ...
    pub format: String,
    /// Its file name, shown to the model.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Document {
    /// The MIME type for the format (`application/octet-stream` when unknown).
    pub fn mime(&self) -> &'static str {
        match self.format.to_ascii_lowercase().as_str() {
            "pdf" => "application/pdf",
            "txt" => "text/plain",
            "md" => "text/markdown",
            "csv" => "text/csv",
            "html" => "text/html",
            "json" => "application/json",
            "doc" => "application/msword",
            "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "xls" => "application/vnd.ms-excel",
            "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            _ => "application/octet-stream",
        }
    }
}

/// The model asking for a tool to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    /// The call's id, echoed by its result.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON.
    pub input: Value,
}

/// Whether a tool ran successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolStatus {
    /// It did.
    #[default]
    Success,
    /// It did not; the content says why.
    Error,
}

/// One piece of a tool's result.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolResultContent {
    /// Text.
    Text(String),
    /// JSON, sent to the model as its text.
    Json(Value),
    /// An image: Chat Completions does not take images in tool messages, so
    /// it goes in a user message right after.
    Image(Image),
    /// A document: sent like an image.
    Document(Document),
}

/// A tool's answer to a [`ToolUse`].
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The id of the call it answers.
    pub tool_use_id: String,
    /// Success or error.
    pub status: ToolStatus,
    /// What the tool returned.
    pub content: Vec<ToolResultContent>,
}

/// One block of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    /// Text.
    Text(String),
    /// An image.
    Image(Image),
    /// A document.
    Document(Document),
    /// A tool call the model made (in assistant messages).
    ToolUse(ToolUse),
    /// A tool's result (in user messages).
    ToolResult(ToolResult),
    /// The model's reasoning from an earlier turn: Chat Completions has no
    /// place for it in a request, so it is left out (with a warning).
    Reasoning {
        /// The reasoning text.
        text: String,
    },
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// Its arguments' JSON schema.
    pub input_schema: Value,
}

/// Which tool the model must call, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (`auto`).
    Auto,
    /// The model must call some tool (`required`).
    Any,
    /// The model must call this tool.
    Tool {
        /// The tool's name.
        name: String,
    },
}

/// The system prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum SystemPrompt {
    /// One string.
    Text(String),
    /// Text blocks, sent as content parts of one system message.
    Blocks(Vec<String>),
}

impl From<&str> for SystemPrompt {
    fn from(text: &str) -> Self {
        SystemPrompt::Text(text.to_owned())
    }
}

impl From<String> for SystemPrompt {
    fn from(text: String) -> Self {
        SystemPrompt::Text(text)
    }
}
