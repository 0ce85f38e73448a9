//! `#[openai_client(api = responses)]` and `api = both`: the same hooks
//! (traits taking the API's types) around a Responses client, and one
//! struct serving both APIs.

use std::sync::Mutex;

use futures::StreamExt;
use openai_hooks::async_openai::types::responses::CreateResponseArgs;
use openai_hooks::types::responses::{Response, ResponseEvent, ResponsesRequest};
use openai_hooks::{
    ChatChunk, ChatClient, ChatRequest, ChatResponse, ChatStream, ChunkAction, ClientError,
    HookContext, HookError, OnChunk, PostResponse, PreRequest, ResponseStream, ResponsesClient,
    openai_client,
};
use serde_json::json;

/// An inner client of both APIs that answers from memory and keeps the
/// last request it was sent.
#[derive(Default)]
struct Canned {
    seen: Mutex<Vec<String>>,
}

fn event(v: serde_json::Value) -> Result<ResponseEvent, ClientError> {
    Ok(serde_json::from_value(v).unwrap())
}

impl ResponsesClient for Canned {
    async fn create(&self, req: ResponsesRequest) -> Result<Response, ClientError> {
        self.seen
            .lock()
            .unwrap()
            .push(serde_json::to_string(&req).unwrap());
        Ok(serde_json::from_value(json!({
            "id": "resp_1", "model": req.model, "status": "completed",
            "output": [{"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": "hello"}]}],
        }))
        .unwrap())
    }

    async fn create_stream(
        &self,
        req: ResponsesRequest,
    ) -> Result<ResponseStream<'_>, ClientError> {
        self.seen
            .lock()
            .unwrap()
            .push(serde_json::to_string(&req).unwrap());
        let delta = |s: &str| {
            event(json!({"type": "response.output_text.delta", "item_id": "msg_1", "delta": s}))
        };
        Ok(Box::pin(futures::stream::iter(vec![
            event(json!({"type": "response.created", "response": {"status": "in_progress"}})),
            delta("hel"),
            delta("lo"),
            event(json!({"type": "response.completed", "response": {"status": "completed"}})),
        ])))
    }
}

impl ChatClient for Canned {
    async fn create(&self, req: ChatRequest) -> Result<ChatResponse, ClientError> {
        self.seen.lock().unwrap().push(req.model.clone());
        Ok(serde_json::from_value(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        }))
        .unwrap())
    }

    async fn create_stream(&self, req: ChatRequest) -> Result<ChatStream<'_>, ClientError> {
        self.seen.lock().unwrap().push(req.model.clone());
        let chunk = |v| Ok(serde_json::from_value::<ChatChunk>(v).unwrap());
        Ok(Box::pin(futures::stream::iter(vec![
            chunk(json!({"choices": [{"index": 0, "delta": {"content": "hel"}}]})),
            chunk(
                json!({"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}),
            ),
        ])))
    }
}

/// Upper-cases text on the way out and tags the request on the way in,
/// on both APIs.
struct Shout;

impl PreRequest<ResponsesRequest> for Shout {
    async fn pre_request(
        &self,
        req: &mut ResponsesRequest,
        cx: &mut HookContext,
    ) -> Result<(), HookError> {
        assert_eq!(
            cx.model(),
            "gpt-4.1-mini",
            "the context names the request's model"
        );
        req.instructions = Some("shout".into());
        Ok(())
    }
}

impl PostResponse<Response> for Shout {
    async fn post_response(
        &self,
        resp: &mut Response,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        for item in &mut resp.output {
            for part in &mut item.content {
                part.text = part.text.as_deref().map(str::to_uppercase);
            }
        }
        Ok(())
    }
}

impl OnChunk<ResponseEvent> for Shout {
    type State = usize;
    fn on_chunk(
        &self,
        event: &mut ResponseEvent,
        seen: &mut usize,
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        *seen += 1;
        if let Some(serde_json::Value::String(text)) = event.delta.as_mut() {
            *text = text.to_uppercase();
        }
        Ok(ChunkAction::Pass)
    }
}

impl PreRequest for Shout {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        req.model = format!("{}-shout", req.model);
        Ok(())
    }
}

impl PostResponse for Shout {
    async fn post_response(
        &self,
        resp: &mut ChatResponse,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        for choice in &mut resp.choices {
            choice.message.content = choice.message.content.as_deref().map(str::to_uppercase);
        }
        Ok(())
    }
}

impl OnChunk for Shout {
    type State = ();
    fn on_chunk(
        &self,
        chunk: &mut ChatChunk,
        _: &mut (),
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        for choice in &mut chunk.choices {
            choice.delta.content = choice.delta.content.as_deref().map(str::to_uppercase);
        }
        Ok(ChunkAction::Pass)
    }
}

#[openai_client(api = responses, on_chunk = Self::drop_lifecycle, pre_request = Self::stamp)]
struct Guarded {
    #[inner]
    client: Canned,
    #[pre_request]
    #[post_response]
    #[on_chunk]
    shout: Shout,
}

impl Guarded {
    fn drop_lifecycle(
        &self,
        event: &mut ResponseEvent,
        _: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        Ok(if event.kind == "response.created" {
            ChunkAction::Drop
        } else {
            ChunkAction::Pass
        })
    }

    async fn stamp(
        &self,
        req: &mut ResponsesRequest,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        req.max_output_tokens = Some(64);
        Ok(())
    }
}

#[openai_client(api = both, pre_request = Self::note)]
struct Both {
    #[inner]
    client: Canned,
    #[pre_request]
    #[post_response]
    #[on_chunk]
    shout: Shout,
}

impl Both {
    /// Generic over the request, so one method serves both APIs.
    async fn note<R: Send>(&self, _: &mut R, cx: &mut HookContext) -> Result<(), HookError> {
        cx.extensions_mut().insert("noted");
        Ok(())
    }
}

fn request() -> ResponsesRequest {
    CreateResponseArgs::default()
        .model("gpt-4.1-mini")
        .input("hi")
        .build()
        .unwrap()
}

fn chat_request() -> ChatRequest {
    serde_json::from_value(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap()
}

#[tokio::test]
async fn a_responses_client_runs_every_hook_kind() {
    let client = Guarded {
        client: Canned::default(),
        shout: Shout,
    };
    let reply = ResponsesClient::create(&client, request()).await.unwrap();
    assert_eq!(reply.output_text(), "HELLO");
    let sent = client.client.seen.lock().unwrap().pop().unwrap();
    assert!(sent.contains(r#""instructions":"shout""#), "{sent}");
    assert!(sent.contains(r#""max_output_tokens":64"#), "{sent}");

    let events: Vec<_> = ResponsesClient::create_stream(&client, request())
        .await
        .unwrap()
        .collect()
        .await;
    let kinds: Vec<_> = events
        .iter()
        .map(|e| e.as_ref().unwrap().kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "response.output_text.delta",
            "response.output_text.delta",
            "response.completed"
        ],
        "the method hook dropped response.created"
    );
    let text: String = events
        .iter()
        .filter_map(|e| e.as_ref().unwrap().delta_text())
        .collect();
    assert_eq!(text, "HELLO");
}

#[tokio::test]
async fn one_struct_serves_both_apis_with_the_same_hooks() {
    let client = Both {
        client: Canned::default(),
        shout: Shout,
    };
    let reply = ResponsesClient::create(&client, request()).await.unwrap();
    assert_eq!(reply.output_text(), "HELLO");
    let reply = ChatClient::create(&client, chat_request()).await.unwrap();
    assert_eq!(reply.content(), Some("HELLO"));
    assert_eq!(
        client.client.seen.lock().unwrap().last().unwrap(),
        "m-shout"
    );

    let text: String = ChatClient::create_stream(&client, chat_request())
        .await
        .unwrap()
        .map(|c| c.unwrap().content().unwrap_or_default().to_owned())
        .collect()
        .await;
    assert_eq!(text, "HELLO");
    let text: String = ResponsesClient::create_stream(&client, request())
        .await
        .unwrap()
        .filter_map(|e| async move { e.unwrap().delta_text().map(str::to_owned) })
        .collect()
        .await;
    assert_eq!(text, "HELLO");
}

#[test]
fn the_default_is_chat_alone() {
    #[openai_client]
    struct ChatOnly {
        #[inner]
        client: Canned,
    }
    fn is_chat(_: &impl ChatClient) {}
    is_chat(&ChatOnly {
        client: Canned::default(),
    });
}
