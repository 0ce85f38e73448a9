//! Test doubles for the generated-client tests: an inner client that
//! answers from memory, and a hook of every kind that records its runs;
//! and where the recorded fixtures are.

pub(crate) mod request;
pub(crate) mod stream;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChatStream, ChunkAction, ClientError,
    HookContext, HookError, OnChunk, PostResponse, PreRequest,
};
use serde_json::json;

/// `tests/fixtures`: recorded replies and streams (see its README).
pub(crate) fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A shared, ordered record of what ran.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The inner client: canned answers, and a record of every request.
#[derive(Default)]
pub(crate) struct Canned {
    pub(crate) log: Log,
    pub(crate) calls: AtomicUsize,
    pub(crate) received: Mutex<Vec<ChatRequest>>,
}

pub(crate) fn chunk(text: &str, finish: bool) -> ChatChunk {
    let finish_reason = if finish { json!("stop") } else { json!(null) };
    serde_json::from_value(json!({
        "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish_reason}],
    }))
    .unwrap()
}

impl ChatClient for Canned {
    async fn create(&self, req: ChatRequest) -> Result<ChatResponse, ClientError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.log.push("inner");
        self.received.lock().unwrap().push(req);
        Ok(serde_json::from_value(json!({
            "id": "r1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello world"},
                         "finish_reason": "stop"}],
        }))
        .unwrap())
    }

    async fn create_stream(&self, req: ChatRequest) -> Result<ChatStream<'_>, ClientError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.log.push("inner");
        self.received.lock().unwrap().push(req);
        let chunks = [
            chunk("Hel", false),
            chunk("lo ", false),
            chunk("world", true),
        ];
        Ok(Box::pin(futures::stream::iter(chunks.map(Ok))))
    }
}

pub(crate) fn request() -> ChatRequest {
    serde_json::from_value(json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
    }))
    .unwrap()
}

/// Collects a stream: texts of the chunks, then the error that ended it.
pub(crate) async fn drain(mut stream: ChatStream<'_>) -> (Vec<String>, Option<ClientError>) {
    let mut texts = Vec::new();
    // Bounded: the doubles send at most a handful of chunks.
    for _ in 0..32 {
        match stream.next().await {
            Some(Ok(c)) => texts.push(c.content().unwrap_or_default().to_owned()),
            Some(Err(e)) => {
                // Nothing may follow an error.
                assert!(stream.next().await.is_none(), "an item followed an error");
                return (texts, Some(e));
            }
            None => return (texts, None),
        }
    }
    panic!("stream did not end");
}

/// What a recording hook does when it runs.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Act {
    Pass,
    Trip,
    Fail,
    Panic,
}

/// A hook of every kind that records `label` and then acts.
pub(crate) struct Rec {
    label: &'static str,
    pub(crate) log: Log,
    act: Act,
}

impl Rec {
    pub(crate) fn new(label: &'static str, log: &Log) -> Self {
        Self::acting(label, log, Act::Pass)
    }
    pub(crate) fn acting(label: &'static str, log: &Log, act: Act) -> Self {
        Self {
            label,
            log: log.clone(),
            act,
        }
    }
    fn run(&self, what: &str) -> Result<(), HookError> {
        self.log.push(format!("{}:{what}", self.label));
        match self.act {
            Act::Pass => Ok(()),
            Act::Trip => Err(HookError::tripwire(format!("{} says no", self.label))),
            Act::Fail => Err(HookError::failed(format!("{} is down", self.label))),
            Act::Panic => panic!("{} blew up", self.label),
        }
    }
}

impl PreRequest for Rec {
    async fn pre_request(&self, _: &mut ChatRequest, _: &mut HookContext) -> Result<(), HookError> {
        self.run("pre")
    }
}

impl PostResponse for Rec {
    async fn post_response(
        &self,
        _: &mut ChatResponse,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        self.run("post")
    }
}

impl OnChunk for Rec {
    type State = ();
    fn on_chunk(
        &self,
        c: &mut ChatChunk,
        _: &mut (),
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        self.run(&format!("chunk {}", c.content().unwrap_or_default()))?;
        Ok(ChunkAction::Pass)
    }
}
