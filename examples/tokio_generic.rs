//! Plain tokio: many concurrent tasks share one client, and so one
//! connection pool.
//!
//! ```sh
//! cargo run --example tokio_generic
//! ```
//!
//! The client is built once and handed to each task behind an `Arc`; every
//! task's request reuses the pool's warm connections. Compare the number of
//! TCP connections the server accepted with the number of requests.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use openai_hooks::async_openai::Client;
use openai_hooks::async_openai::config::OpenAIConfig;
use openai_hooks::server::Reply;
use openai_hooks::{ChatClient, ChatRequest, HookContext, HookError, PreRequest, openai_client};
use openai_hooks_examples::backend;

/// Tags every request with a stable end-user identifier (OpenAI's
/// `safety_identifier`), so abuse monitoring can tell callers apart.
struct TagUser;

impl PreRequest for TagUser {
    async fn pre_request(
        &self,
        req: &mut ChatRequest,
        _: &mut HookContext,
    ) -> Result<(), HookError> {
        req.safety_identifier
            .get_or_insert_with(|| "tokio-generic-example".to_owned());
        Ok(())
    }
}

#[openai_client]
struct Shared {
    #[inner]
    client: Client<OpenAIConfig>,
    #[pre_request]
    tag: TagUser,
}

const TASKS: usize = 32;
const REQUESTS_PER_TASK: usize = 4;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let backend = backend(
        Reply::echo()
            .chunks(1)
            .first_byte_delay(Duration::from_millis(5)),
    )
    .await?;
    // One client for the program; tasks share it through an Arc.
    let client = Arc::new(Shared {
        client: Client::with_config(backend.config.clone()),
        tag: TagUser,
    });

    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let client = client.clone();
        let model = backend.model.clone();
        tasks.spawn(async move {
            let mut answers = Vec::new();
            for i in 0..REQUESTS_PER_TASK {
                let req: ChatRequest = serde_json::from_value(serde_json::json!({
                    "model": model,
                    "messages": [{"role": "user", "content": format!("Reply with exactly: task {task} request {i}")}],
                    "max_completion_tokens": 20,
                }))?;
                let reply = client.create(req).await?;
                answers.push(reply.content().unwrap_or_default().to_owned());
            }
            Ok::<_, Box<dyn Error + Send + Sync>>((task, answers))
        });
    }
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (task, answers) = joined?.map_err(|e| e as Box<dyn Error>)?;
        done += answers.len();
        if task < 3 {
            println!("task {task}: {answers:?}");
        }
    }
    println!("... {TASKS} tasks, {done} replies in all.");

    if let Some(server) = &backend.server {
        println!(
            "The server accepted {} TCP connection(s) for {} requests: the pool was reused.",
            server.connections_accepted(),
            server.requests().len()
        );
        let tagged = server
            .requests()
            .iter()
            .filter(|r| r.body["safety_identifier"] == "tokio-generic-example")
            .count();
        println!("{tagged} of them carried the hook's `safety_identifier`.");
    }
    backend.shutdown().await;
    Ok(())
}
