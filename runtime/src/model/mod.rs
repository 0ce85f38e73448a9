//! `OpenAIModel`: the model provider an agent loop sits on, with the client
//! lifecycle done right (Strands Agents' OpenAI provider, in Rust).
//!
//! A model turns a conversation ([`Message`]s of [`ContentBlock`]s, tool
//! specs, a system prompt, a tool choice) into a Chat Completions request,
//! sends it through a client from its [`ClientSource`], and turns the reply
//! into [`StreamEvent`]s, or, for [`structured_output`](OpenAIModel::structured_output),
//! into a value of your type. Streaming, non-streaming and structured output
//! all take their client from the same source.
//!
//! ```
//! use futures::StreamExt;
//! use openai_hooks::model::{BlockDelta, Message, OpenAIModel, StreamEvent};
//! use openai_hooks::server::{LocalServer, Reply};
//! use openai_hooks::async_openai::{Client, config::OpenAIConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = LocalServer::start().await?;
//! server.push(Reply::text("Hello there").chunks(2));
//!
//! // One client, built once, injected: every request reuses its pool.
//! let client = Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));
//! let model = OpenAIModel::builder("gpt-4o-mini").client(client).build()?;
//!
//! let messages = [Message::user("Hi")];
//! let mut events = std::pin::pin!(model.stream(&messages, &[], None, None));
//! let mut text = String::new();
//! while let Some(event) = events.next().await {
//!     if let StreamEvent::ContentBlockDelta(BlockDelta::Text(piece)) = event? {
//!         text.push_str(&piece);
//!     }
//! }
//! assert_eq!(text, "Hello there");
//! # server.shutdown().await;
//! # Ok(()) }
//! ```

mod content;
mod error;
mod events;
mod format;
mod source;
mod structured;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use content::{
    ContentBlock, Document, Image, ImageFormat, Message, Role, SystemPrompt, ToolChoice,
    ToolResult, ToolResultContent, ToolSpec, ToolStatus, ToolUse,
};
pub use error::{ModelError, StructuredFailure};
pub use events::{BlockDelta, BlockStart, Metrics, StopReason, StreamEvent, TokenUsage};
pub use source::{ClientArgs, ClientSource, Ephemeral, Factory, Fixed, PerRuntime};

/// The building blocks `OpenAIModel` is made of, for an agent loop of your
/// own that sends requests some other way: formatting a conversation into a
/// request, turning a reply or a stream of chunks into [`StreamEvent`]s, and
/// the strict JSON schema and parsing of structured output.
pub mod parts {
    pub use super::events::{EventConverter, response_events};
    pub use super::format::{
        RequestParts, messages as format_messages, request as format_request, request_json,
    };
    pub use super::structured::{
        parse as parse_structured, response_format, strict as strict_schema,
    };
}

use crate::client::{ChatClient, DynChatClient};
use parts::{EventConverter, RequestParts, response_events, response_format};

/// A model's settings: which model, extra request fields, streaming.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The model id sent as `model`.
    pub model_id: String,
    /// Request fields merged into every request last (`temperature`,
    /// `max_completion_tokens`, vendor extensions, ...).
    pub params: Map<String, Value>,
    /// Stream replies (the default) or ask for one complete reply; the
    /// events are the same.
    pub stream: bool,
}

impl ModelConfig {
    /// `model_id`, no params, streaming.
    pub fn new(model_id: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            params: Map::new(),
            stream: true,
        }
    }
}

/// A change to a [`ModelConfig`]: what is `Some` replaces, params merge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigUpdate {
    /// A new model id.
    pub model_id: Option<String>,
    /// Params to add or replace (a `null` value removes the param).
    pub params: Map<String, Value>,
    /// Streaming on or off.
    pub stream: Option<bool>,
}

/// What an agent loop needs from a model, whatever the provider.
pub trait Model: Send + Sync {
    /// The model's current settings.
    fn config(&self) -> ModelConfig;

    /// Changes the settings for the calls that start afterwards.
    fn update_config(&self, update: ConfigUpdate);

    /// The reply to a conversation, as events.
    fn stream<'a>(
        &'a self,
        messages: &'a [Message],
        tools: &'a [ToolSpec],
        system_prompt: Option<&'a SystemPrompt>,
        tool_choice: Option<&'a ToolChoice>,
    ) -> impl Stream<Item = Result<StreamEvent, ModelError>> + Send + 'a;

    /// The reply to a conversation as a `T`.
    fn structured_output<'a, T>(
        &'a self,
        messages: &'a [Message],
        system_prompt: Option<&'a SystemPrompt>,
    ) -> impl Future<Output = Result<T, ModelError>> + Send + 'a
    where
        T: JsonSchema + DeserializeOwned + Send + 'a;
}

/// An [`OpenAIModel`] whose client is behind `dyn` ([`ModelBuilder::dyn_client`]):
/// one type to name in an application's state, whatever client it holds.
///
/// ```
/// use std::sync::Arc;
/// use openai_hooks::model::{DynModel, OpenAIModel};
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
///
/// struct AppState {
///     model: Arc<DynModel>,
/// }
///
/// let client = Client::with_config(OpenAIConfig::new());
/// let state = AppState {
///     model: Arc::new(OpenAIModel::builder("gpt-4o-mini").dyn_client(client).build()?),
/// };
/// # drop(state);
/// # Ok::<(), openai_hooks::model::ModelError>(())
/// ```
pub type DynModel = OpenAIModel<Fixed<Arc<dyn DynChatClient>>>;

/// The OpenAI model provider; see the [module docs](self).
///
/// `S` is where clients come from: [`Ephemeral`] (the default, a client per
/// request), [`Fixed`] (an injected client, e.g. one generated by
/// `#[openai_client]`, held without boxing), [`Factory`] or [`PerRuntime`].
pub struct OpenAIModel<S = Ephemeral> {
    source: S,
    config: RwLock<ModelConfig>,
}

impl<S> std::fmt::Debug for OpenAIModel<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAIModel")
            .field(
                "config",
                &*self
                    .config
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            )
            .field("source", &std::any::type_name::<S>())
            .finish()
    }
}

/// Builds an [`OpenAIModel`]; start with [`OpenAIModel::builder`].
#[derive(Debug)]
#[must_use]
pub struct ModelBuilder<S = Ephemeral> {
    config: ModelConfig,
    source: S,
    args: Option<ClientArgs>,
}

impl OpenAIModel<Ephemeral> {
    /// A builder for `model_id`; without a client or a source it makes an
    /// ephemeral client per request from [`ClientArgs`] (or the
    /// environment), like the Python provider.
    pub fn builder(model_id: impl Into<String>) -> ModelBuilder<Ephemeral> {
        ModelBuilder {
            config: ModelConfig::new(model_id),
            source: Ephemeral::default(),
            args: None,
        }
    }
}

impl<S> ModelBuilder<S> {
    /// Request fields merged into every request (must be a JSON object).
    pub fn params(mut self, params: Value) -> Self {
        if let Value::Object(map) = params {
            self.config.params = map;
        } else {
            // Kept as an invalid marker so `build` reports it.
            self.config.params = Map::from_iter([("".to_owned(), params)]);
        }
        self
    }

    /// Stream replies (default `true`).
    pub fn stream(mut self, stream: bool) -> Self {
        self.config.stream = stream;
        self
    }

    /// Settings for ephemeral clients. With any other source this is an
    /// error at [`build`](Self::build): the client is already configured.
    pub fn client_args(mut self, args: ClientArgs) -> Self {
        self.args = Some(args);
        self
    }

    /// Uses `client` for every request (any [`ChatClient`], a generated one
    /// included); the model shares it and never closes it.
    pub fn client<C: ChatClient + 'static>(self, client: C) -> ModelBuilder<Fixed<C>> {
        self.source(Fixed::new(client))
    }

    /// Uses a client shared with other models or code.
    pub fn shared_client<C: ChatClient + 'static>(self, client: Arc<C>) -> ModelBuilder<Fixed<C>> {
        self.source(Fixed::shared(client))
    }

    /// Uses `client` behind `dyn`, so the model's type is [`DynModel`]
    /// whatever the client: for storing a model in an application's state
    /// without naming a generated client's type.
    pub fn dyn_client(
        self,
        client: impl ChatClient + 'static,
    ) -> ModelBuilder<Fixed<Arc<dyn DynChatClient>>> {
        let client: Arc<dyn DynChatClient> = Arc::new(client);
        self.source(Fixed::new(client))
    }

    /// Calls `make` for a new client whenever one is needed.
    pub fn factory<C, F>(self, make: F) -> ModelBuilder<Factory<F>>
    where
        C: ChatClient + 'static,
        F: Fn() -> Result<C, ModelError> + Send + Sync,
    {
        self.source(Factory::new(make))
    }

    /// One client per tokio runtime, made by `make`.
    pub fn per_runtime<C, F>(self, make: F) -> ModelBuilder<PerRuntime<C, F>>
    where
        C: ChatClient + 'static,
        F: Fn() -> Result<C, ModelError> + Send + Sync,
    {
        self.source(PerRuntime::new(make))
    }

    /// Uses any [`ClientSource`].
    pub fn source<T: ClientSource>(self, source: T) -> ModelBuilder<T> {
        ModelBuilder {
            config: self.config,
            source,
            args: self.args,
        }
    }
}

impl<S: ClientSource> ModelBuilder<S> {
    /// The model, or why the settings do not fit together.
    pub fn build(self) -> Result<OpenAIModel<S>, ModelError> {
        if let Some(bad) = self.config.params.get("") {
            return Err(ModelError::Config(format!(
                "params must be a JSON object, not {bad}"
            )));
        }
        let source = self.source.with_client_args(self.args)?;
        Ok(OpenAIModel {
            source,
            config: RwLock::new(self.config),
        })
    }
}

impl<S: ClientSource> OpenAIModel<S> {
    /// The client source.
    pub fn client_source(&self) -> &S {
        &self.source
    }

    /// The model's current settings.
    pub fn config(&self) -> ModelConfig {
        self.config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Changes the settings for the calls that start afterwards.
    pub fn update_config(&self, update: ConfigUpdate) {
        let mut config = self
            .config
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(id) = update.model_id {
            config.model_id = id;
        }
        if let Some(stream) = update.stream {
            config.stream = stream;
        }
        for (key, value) in update.params {
            if value.is_null() {
                config.params.remove(&key);
            } else {
                config.params.insert(key, value);
            }
        }
    }

    /// The request these inputs make, as it would be sent.
    pub fn format_request(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        system_prompt: Option<&SystemPrompt>,
        tool_choice: Option<&ToolChoice>,
    ) -> Result<crate::ChatRequest, ModelError> {
        self.build_request(messages, tools, system_prompt, tool_choice)
            .1
    }

    /// Whether the config streams, and the request these inputs make: one
    /// read of the config, borrowed under the lock, not cloned (this runs on
    /// every call).
    fn build_request(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        system_prompt: Option<&SystemPrompt>,
        tool_choice: Option<&ToolChoice>,
    ) -> (bool, Result<crate::ChatRequest, ModelError>) {
        let config = self
            .config
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let request = format::request(RequestParts {
            model_id: &config.model_id,
            params: &config.params,
            stream: config.stream,
            messages,
            tools,
            system_prompt,
            tool_choice,
        });
        (config.stream, request)
    }

    /// The reply to a conversation, as events; see [`StreamEvent`]. With
    /// `stream: false` in the config the same events come from one complete
    /// reply. Errors end the stream.
    pub fn stream<'a>(
        &'a self,
        messages: &'a [Message],
        tools: &'a [ToolSpec],
        system_prompt: Option<&'a SystemPrompt>,
        tool_choice: Option<&'a ToolChoice>,
    ) -> impl Stream<Item = Result<StreamEvent, ModelError>> + Send + 'a {
        let (streaming, request) = self.build_request(messages, tools, system_prompt, tool_choice);
        async_stream::try_stream! {
            let request = request?;
            let client = self.source.client()?;
            let started = Instant::now();
            if streaming {
                let mut chunks = client.create_stream(request).await?;
                let mut converter = EventConverter::new(started);
                let mut out = Vec::new();
                while let Some(chunk) = chunks.next().await {
                    let pushed = match chunk {
                        Ok(chunk) => converter.push(&chunk, &mut out),
                        Err(e) => {
                            converter.interrupt(&mut out);
                            Err(e.into())
                        }
                    };
                    for event in out.drain(..) {
                        yield event;
                    }
                    pushed?;
                }
                converter.finish(&mut out)?;
                for event in out.drain(..) {
                    yield event;
                }
            } else {
                let reply = client.create(request).await?;
                for event in response_events(&reply, started)? {
                    yield event;
                }
            }
        }
    }

    /// [`stream`](Self::stream) with owned inputs, holding the model: the
    /// same events and errors, and dropping the stream drops the call, but
    /// the stream is `'static`, for a handler that returns it (an axum SSE
    /// body) or a task of its own. Clone the `Arc` to keep the model.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use futures::StreamExt;
    /// use openai_hooks::model::{Message, OpenAIModel};
    /// use openai_hooks::server::{LocalServer, Reply};
    /// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = LocalServer::start().await?;
    /// server.push(Reply::text("Hello"));
    /// let client = Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));
    /// let model = Arc::new(OpenAIModel::builder("gpt-4o-mini").client(client).build()?);
    /// let events = Arc::clone(&model).stream_owned(vec![Message::user("Hi")], vec![], None, None);
    /// let events = tokio::spawn(events.collect::<Vec<_>>()).await?;
    /// assert!(events.iter().all(Result::is_ok));
    /// # server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn stream_owned(
        self: Arc<Self>,
        messages: Vec<Message>,
        tools: Vec<ToolSpec>,
        system_prompt: Option<SystemPrompt>,
        tool_choice: Option<ToolChoice>,
    ) -> impl Stream<Item = Result<StreamEvent, ModelError>> + Send + 'static
    where
        S: 'static,
    {
        async_stream::stream! {
            let events = self.stream(&messages, &tools, system_prompt.as_ref(), tool_choice.as_ref());
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                yield event;
            }
        }
    }

    /// The reply to a conversation as a `T`: the request asks for `T`'s
    /// JSON schema in strict mode (always one complete reply), and the
    /// reply is parsed. A refusal, several choices, or text that is not a
    /// `T` is [`ModelError::StructuredOutput`] with the raw text.
    pub async fn structured_output<T: JsonSchema + DeserializeOwned>(
        &self,
        messages: &[Message],
        system_prompt: Option<&SystemPrompt>,
    ) -> Result<T, ModelError> {
        let config = self.config();
        let mut params = config.params.clone();
        params.insert("response_format".into(), response_format::<T>());
        let request = format::request(RequestParts {
            model_id: &config.model_id,
            params: &params,
            stream: false,
            messages,
            tools: &[],
            system_prompt,
            tool_choice: None,
        })?;
        let client = self.source.client()?;
        let reply = client.create(request).await?;
        structured::parse(&reply)
    }
}

impl<S: ClientSource> Model for OpenAIModel<S> {
    fn config(&self) -> ModelConfig {
        OpenAIModel::config(self)
    }

    fn update_config(&self, update: ConfigUpdate) {
        OpenAIModel::update_config(self, update);
    }

    fn stream<'a>(
        &'a self,
        messages: &'a [Message],
        tools: &'a [ToolSpec],
        system_prompt: Option<&'a SystemPrompt>,
        tool_choice: Option<&'a ToolChoice>,
    ) -> impl Stream<Item = Result<StreamEvent, ModelError>> + Send + 'a {
        OpenAIModel::stream(self, messages, tools, system_prompt, tool_choice)
    }

    fn structured_output<'a, T>(
        &'a self,
        messages: &'a [Message],
        system_prompt: Option<&'a SystemPrompt>,
    ) -> impl Future<Output = Result<T, ModelError>> + Send + 'a
    where
        T: JsonSchema + DeserializeOwned + Send + 'a,
    {
        OpenAIModel::structured_output(self, messages, system_prompt)
    }
}
