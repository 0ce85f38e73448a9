//! An inner client that answers from memory, so a micro-benchmark measures
//! the hooks and not a network.

use openai_hooks::{ChatChunk, ChatClient, ChatRequest, ChatResponse, ChatStream, ClientError};
use serde_json::json;

/// Answers every request with the same reply, or the same chunks.
#[derive(Debug, Clone)]
pub struct InMemory {
    reply: ChatResponse,
    chunks: Vec<ChatChunk>,
}

impl InMemory {
    /// A client whose streams carry `n` chunks of a word each (the last one
    /// with a finish reason).
    pub fn new(n: usize) -> Self {
        let reply = serde_json::from_value(json!({
            "id": "r", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }))
        .expect("a valid reply");
        let chunks = (0..n)
            .map(|i| {
                let finish = if i + 1 == n {
                    json!("stop")
                } else {
                    json!(null)
                };
                serde_json::from_value(json!({
                    "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                    "choices": [{"index": 0, "delta": {"content": format!("word{i} ")},
                                 "finish_reason": finish}],
                }))
                .expect("a valid chunk")
            })
            .collect();
        Self { reply, chunks }
    }

    /// The chunks its streams carry.
    pub fn chunks(&self) -> &[ChatChunk] {
        &self.chunks
    }

    /// A request of the usual shape.
    pub fn request() -> ChatRequest {
        serde_json::from_value(json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Say hello."},
            ],
        }))
        .expect("a valid request")
    }
}

impl ChatClient for InMemory {
    async fn create(&self, _: ChatRequest) -> Result<ChatResponse, ClientError> {
        Ok(self.reply.clone())
    }

    async fn create_stream(&self, _: ChatRequest) -> Result<ChatStream<'_>, ClientError> {
        Ok(Box::pin(futures::stream::iter(
            self.chunks.iter().cloned().map(Ok),
        )))
    }
}
