//! The client a pipeline assembles around an inner client.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;

use super::entry::{Entry, EntryChain};
use super::{Pipeline, PipelineResults, PipelineStage};
use crate::client::ChatClient;
use crate::client::ChatStream;
use crate::client::ClientError;
use crate::guardrails::GuardrailResults;
use crate::guardrails::scan::channels::{Gathered, delta_bytes};
use crate::hooks::hooked;
use crate::hooks::{HookContext, Stage};
use crate::limits::{MAX_CHOICES, MAX_GATHERED_BYTES};
use crate::middleware::race;
use crate::types::{ChatChunk, ChatRequest, ChatResponse};

type Notify = Arc<dyn Fn(&PipelineResults) + Send + Sync>;

/// A live handle to one call's results: filled as the call proceeds (a
/// stream's output results arrive when it ends).
#[derive(Debug, Clone, Default)]
pub struct CallResults {
    pre_flight: GuardrailResults,
    input: GuardrailResults,
    output: GuardrailResults,
    finished: Arc<AtomicBool>,
}

impl CallResults {
    /// The results so far.
    pub fn snapshot(&self) -> PipelineResults {
        PipelineResults {
            pre_flight: self.pre_flight.snapshot(),
            input: self.input.snapshot(),
            output: self.output.snapshot(),
        }
    }

    /// Whether the call is over: failed, answered, or its stream ended.
    /// (A stream dropped before its end never finishes.)
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    fn handle(&self, stage: PipelineStage) -> &GuardrailResults {
        match stage {
            PipelineStage::PreFlight => &self.pre_flight,
            PipelineStage::Input => &self.input,
            PipelineStage::Output => &self.output,
        }
    }
}

/// A [`ChatClient`] that runs a [`Pipeline`] around `inner`; built with
/// [`Pipeline::wrap`]. See the [module docs](super) for what runs when.
///
/// It is a `ChatClient` like any other, so it can be injected where one is
/// expected (an `OpenAIModel`, another wrapper). Its results come back
/// through [`create_with_results`](Self::create_with_results),
/// [`create_stream_with_results`](Self::create_stream_with_results), or the
/// [`on_results`](Self::on_results) callback.
///
/// ```
/// use openai_hooks::ChatClient;
/// use openai_hooks::guardrails::pipeline::{Pipeline, PipelineClients};
/// use openai_hooks::server::{LocalServer, Reply};
/// use openai_hooks::async_openai::{Client, config::OpenAIConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = LocalServer::start().await?;
/// server.push(Reply::text("Acme makes the best ones"));
/// let openai = Client::with_config(OpenAIConfig::new().with_api_base(server.base_url()));
///
/// let guarded = Pipeline::from_json(
///     r#"{"version": 1,
///         "pre_flight": {"version": 1, "guardrails": [
///             {"name": "Contains PII", "config": {"entities": ["EMAIL_ADDRESS"]}}]},
///         "output": {"version": 1, "guardrails": [
///             {"name": "Competitors", "config": {"keywords": ["Acme"]}}]}}"#,
///     &PipelineClients::new(),
/// )?
/// .wrap(openai);
///
/// let request = serde_json::from_value(serde_json::json!({
///     "model": "gpt-4o-mini",
///     "messages": [{"role": "user", "content": "I am jane@example.com, what is best?"}],
/// }))?;
/// let (reply, results) = guarded.create_with_results(request).await;
/// let err = reply.unwrap_err();
/// assert_eq!(err.tripwire().unwrap().hook, "Competitors");
/// assert_eq!(server.requests()[0].body["messages"][0]["content"], "I am <EMAIL_ADDRESS>, what is best?");
/// assert!(!results.pre_flight[0].tripped && results.output[0].tripped);
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GuardedClient<C> {
    inner: C,
    pipeline: Arc<Pipeline>,
    notify: Option<Notify>,
}

impl<C> std::fmt::Debug for GuardedClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedClient")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl<C> GuardedClient<C> {
    /// Runs `pipeline` around `inner` (a pipeline may be shared by many
    /// clients).
    pub fn new(inner: C, pipeline: Arc<Pipeline>) -> Self {
        Self {
            inner,
            pipeline,
            notify: None,
        }
    }

    /// Calls `f` with every call's results once the call is over (for a
    /// stream, when it ends), whichever method made the call: the way to
    /// audit calls made through the plain [`ChatClient`] methods.
    pub fn on_results(mut self, f: impl Fn(&PipelineResults) + Send + Sync + 'static) -> Self {
        self.notify = Some(Arc::new(f));
        self
    }

    /// The wrapped client.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    fn finish(&self, results: &CallResults) {
        finish(results, self.notify.as_ref());
    }
}

fn finish(results: &CallResults, notify: Option<&Notify>) {
    if !results.finished.swap(true, Ordering::SeqCst)
        && let Some(f) = notify
    {
        f(&results.snapshot());
    }
}

fn context(model: &str, results: &CallResults, stage: PipelineStage) -> HookContext {
    let cx = HookContext::new(model);
    cx.set_shared(results.handle(stage).clone());
    cx
}

impl<C: ChatClient> GuardedClient<C> {
    /// Sends `req` through the pipeline; returns the reply (or why there is
    /// none) and every check's result.
    pub async fn create_with_results(
        &self,
        req: ChatRequest,
    ) -> (Result<ChatResponse, ClientError>, PipelineResults) {
        let results = CallResults::default();
        let reply = self.create_inner(req, &results).await;
        self.finish(&results);
        (reply, results.snapshot())
    }

    /// Streams `req` through the pipeline; returns the stream (or why there
    /// is none) and a handle whose output results are complete once the
    /// stream has ended ([`CallResults::is_finished`]).
    pub async fn create_stream_with_results(
        &self,
        req: ChatRequest,
    ) -> (Result<ChatStream<'_>, ClientError>, CallResults) {
        let results = CallResults::default();
        let stream = self.stream_inner(req, &results).await;
        if stream.is_err() {
            self.finish(&results);
        }
        (stream, results)
    }

    /// Runs `pre_flight`, then `call` racing the `input` checks.
    async fn before<T, F>(
        &self,
        mut req: ChatRequest,
        results: &CallResults,
        call: impl FnOnce(ChatRequest) -> F,
    ) -> Result<T, ClientError>
    where
        F: Future<Output = Result<T, ClientError>>,
    {
        let mut cx = context(&req.model, results, PipelineStage::PreFlight);
        for e in self.pipeline.stage(PipelineStage::PreFlight) {
            e.pre_request(&mut req, &mut cx).await?;
        }
        let input = self.pipeline.stage(PipelineStage::Input);
        if input.is_empty() {
            return call(req).await;
        }
        // Each check gets its own copy: they run at once, and none may see
        // another's rewrite.
        let mut copies: Vec<(ChatRequest, HookContext)> = input
            .iter()
            .map(|_| {
                let cx = context(&req.model, results, PipelineStage::Input);
                (req.clone(), cx)
            })
            .collect();
        let checks = futures::future::try_join_all(
            input
                .iter()
                .zip(copies.iter_mut())
                .map(|(e, (r, cx))| e.pre_request(r, cx)),
        );
        race(async { checks.await.map(drop) }, call(req)).await
    }

    async fn create_inner(
        &self,
        req: ChatRequest,
        results: &CallResults,
    ) -> Result<ChatResponse, ClientError> {
        let model = req.model.clone();
        let mut resp = self.before(req, results, |r| self.inner.create(r)).await?;
        let mut cx = context(&model, results, PipelineStage::Output);
        for e in self.pipeline.stage(PipelineStage::Output) {
            e.post_response(&mut resp, &mut cx).await?;
        }
        Ok(resp)
    }

    async fn stream_inner(
        &self,
        req: ChatRequest,
        results: &CallResults,
    ) -> Result<ChatStream<'_>, ClientError> {
        let model = req.model.clone();
        let upstream = self
            .before(req, results, |r| self.inner.create_stream(r))
            .await?;
        let output = self.pipeline.stage(PipelineStage::Output);
        let scanners: Vec<&Entry> = output.iter().filter(|e| e.scans_chunks()).collect();
        let judged: Vec<&Entry> = output.iter().filter(|e| !e.scans_chunks()).collect();
        let scanned = if scanners.is_empty() {
            upstream
        } else {
            hooked(
                upstream,
                EntryChain::new(scanners),
                context(&model, results, PipelineStage::Output),
            )
        };
        let tail = Tail {
            upstream: Some(scanned),
            judged,
            texts: Vec::new(),
            positions: HashMap::new(),
            kept: 0,
            held: VecDeque::new(),
            holding: false,
            releasing: false,
            cx: context(&model, results, PipelineStage::Output),
            results: results.clone(),
            notify: self.notify.clone(),
        };
        Ok(Box::pin(futures::stream::unfold(
            tail,
            |mut t| async move {
                let item = t.next().await?;
                Some((item, t))
            },
        )))
    }
}

impl<C: ChatClient> ChatClient for GuardedClient<C> {
    async fn create(&self, req: ChatRequest) -> Result<ChatResponse, ClientError> {
        self.create_with_results(req).await.0
    }

    async fn create_stream(&self, req: ChatRequest) -> Result<ChatStream<'_>, ClientError> {
        self.create_stream_with_results(req).await.0
    }
}

/// The end of a guarded stream: runs the output checks that judge the
/// whole text (holding back the finish chunks until they pass) and marks
/// the call finished.
///
/// What it keeps is bounded: more than [`MAX_CHOICES`] choices, more than
/// [`MAX_TOOL_CALLS`](crate::limits::MAX_TOOL_CALLS) tool calls in a
/// choice, or more than [`MAX_GATHERED_BYTES`] kept (the gathered reply's
/// strings, plus each held chunk's strings and size) ends the stream with
/// [`ClientError::LimitExceeded`] in place of the chunk that went past.
struct Tail<'a> {
    /// `None` once the stream is over (dropping the upstream releases its
    /// connection).
    upstream: Option<ChatStream<'a>>,
    judged: Vec<&'a Entry>,
    /// Each choice's reply so far, every channel of it.
    texts: Vec<Gathered>,
    /// Where each choice index is in `texts`.
    positions: HashMap<u32, usize>,
    /// Bytes kept in `texts` and `held`, as [`Tail::keep`] counts them.
    kept: usize,
    held: VecDeque<ChatChunk>,
    holding: bool,
    releasing: bool,
    cx: HookContext,
    results: CallResults,
    notify: Option<Notify>,
}

impl Tail<'_> {
    async fn next(&mut self) -> Option<Result<ChatChunk, ClientError>> {
        loop {
            if self.releasing {
                if let Some(chunk) = self.held.pop_front() {
                    return Some(Ok(chunk));
                }
                self.releasing = false;
                self.end();
                return None;
            }
            let upstream = self.upstream.as_mut()?;
            match upstream.next().await {
                Some(Ok(chunk)) => {
                    if self.judged.is_empty() {
                        return Some(Ok(chunk));
                    }
                    let hold =
                        self.holding || chunk.choices.iter().any(|c| c.finish_reason.is_some());
                    if let Err(e) = self.keep(&chunk, hold) {
                        self.end();
                        return Some(Err(e));
                    }
                    if hold {
                        self.holding = true;
                        self.held.push_back(chunk);
                        continue;
                    }
                    return Some(Ok(chunk));
                }
                Some(Err(e)) => {
                    self.end();
                    return Some(Err(e));
                }
                None => {
                    self.upstream = None;
                    if let Err(e) = self.judge().await {
                        self.end();
                        return Some(Err(e));
                    }
                    self.releasing = true;
                }
            }
        }
    }

    /// Adds `chunk`'s text to each choice's reply, and counts what that
    /// and, with `hold`, holding the chunk keep; an error past a limit.
    fn keep(&mut self, chunk: &ChatChunk, hold: bool) -> Result<(), ClientError> {
        let mut bytes = 0;
        for choice in &chunk.choices {
            let i = match self.positions.get(&choice.index) {
                Some(&i) => i,
                None if self.texts.len() == MAX_CHOICES => {
                    return Err(ClientError::LimitExceeded {
                        what: "choices per stream",
                        limit: MAX_CHOICES as u64,
                    });
                }
                None => {
                    self.texts.push(Gathered::new(choice.index));
                    self.positions.insert(choice.index, self.texts.len() - 1);
                    self.texts.len() - 1
                }
            };
            let n = delta_bytes(&choice.delta);
            self.count(n)?;
            self.texts[i].add(&choice.delta)?;
            bytes += n;
        }
        if hold {
            self.count(bytes + std::mem::size_of::<ChatChunk>())?;
        }
        Ok(())
    }

    /// Counts `n` more bytes kept; an error past [`MAX_GATHERED_BYTES`].
    fn count(&mut self, n: usize) -> Result<(), ClientError> {
        self.kept = self.kept.saturating_add(n);
        if self.kept > MAX_GATHERED_BYTES {
            return Err(ClientError::LimitExceeded {
                what: "reply bytes kept for whole-reply checks",
                limit: MAX_GATHERED_BYTES as u64,
            });
        }
        Ok(())
    }

    /// Runs the whole-text checks on what was streamed.
    async fn judge(&mut self) -> Result<(), ClientError> {
        let mut resp = ChatResponse {
            choices: std::mem::take(&mut self.texts)
                .into_iter()
                .map(|g| g.choice)
                .collect(),
            ..ChatResponse::default()
        };
        crate::hooks::enter(&mut self.cx, Stage::PostResponse);
        for e in &self.judged {
            e.post_response(&mut resp, &mut self.cx).await?;
        }
        Ok(())
    }

    fn end(&mut self) {
        self.upstream = None;
        self.held.clear();
        finish(&self.results, self.notify.as_ref());
    }
}
