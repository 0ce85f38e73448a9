//! A pipeline entry: one configured guardrail, and how it runs at each
//! stage.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::PipelineClients;
use super::config::{PipelineError, RawEntry};
use super::guard::{DynGuard, StreamGuard};
use super::registry::REGISTRY;
use crate::client::ClientError;
use crate::hooks::ChunkChain;
use crate::hooks::{ChunkAction, FailurePolicy, HookContext, HookError, Stage};
use crate::hooks::{guard, outcome};
use crate::types::{ChatChunk, ChatRequest, ChatResponse};

/// One configured guardrail of a stage.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The bundle's name for it ("Contains PII"), used as the hook's name in
    /// tripwires and errors.
    pub(crate) name: &'static str,
    pub(crate) check: Arc<dyn DynGuard>,
    pub(crate) policy: FailurePolicy,
}

/// Builds the guardrail an entry names.
pub(crate) fn build(raw: &RawEntry, clients: &PipelineClients) -> Result<Entry, PipelineError> {
    let Some(registration) = REGISTRY.iter().find(|r| r.name == raw.at.name) else {
        return Err(PipelineError::UnknownGuardrail { at: raw.at.clone() });
    };
    Ok(Entry {
        name: registration.name,
        check: registration.build(raw, clients)?,
        policy: FailurePolicy::FailClosed,
    })
}

impl Entry {
    /// Whether the entry checks streamed chunks as they pass (the text
    /// guardrails) rather than the whole streamed text at its end.
    pub(crate) fn scans_chunks(&self) -> bool {
        self.check.scans_chunks()
    }

    /// Runs the entry on a request, applying its failure policy.
    pub(crate) async fn pre_request(
        &self,
        req: &mut ChatRequest,
        cx: &mut HookContext,
    ) -> Result<(), ClientError> {
        let fut = self.check.pre_request_dyn(req, cx);
        guard(fut, self.name, Stage::PreRequest, self.policy).await
    }

    /// Runs the entry on a reply, applying its failure policy.
    pub(crate) async fn post_response(
        &self,
        resp: &mut ChatResponse,
        cx: &mut HookContext,
    ) -> Result<(), ClientError> {
        let fut = self.check.post_response_dyn(resp, cx);
        guard(fut, self.name, Stage::PostResponse, self.policy).await
    }
}

/// The output stage's text guardrails as one chunk chain, in bundle order.
pub(crate) struct EntryChain<'a> {
    links: Vec<(&'a Entry, Box<dyn StreamGuard + 'a>, bool)>,
}

impl<'a> EntryChain<'a> {
    pub(crate) fn new(entries: impl IntoIterator<Item = &'a Entry>) -> Self {
        Self {
            links: entries
                .into_iter()
                .filter_map(|e| Some((e, e.check.stream_dyn()?, false)))
                .collect(),
        }
    }

    /// Runs links `from..` on `chunk`.
    fn run_from(
        &mut self,
        from: usize,
        chunk: &mut ChatChunk,
        cx: &HookContext,
    ) -> Result<ChunkAction, HookError> {
        for (entry, state, benched) in &mut self.links[from..] {
            if *benched {
                continue;
            }
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| state.on_chunk(chunk, cx)));
            match outcome(r, entry.name, Stage::Chunk, entry.policy)? {
                Some(ChunkAction::Drop) => return Ok(ChunkAction::Drop),
                Some(ChunkAction::Pass) => {}
                None => *benched = true,
            }
        }
        Ok(ChunkAction::Pass)
    }
}

impl ChunkChain<ChatChunk> for EntryChain<'_> {
    // The pipeline's guardrails release nothing ahead of a chunk (on Chat
    // Completions, held text goes out with the chunk that finishes a
    // choice).
    fn on_chunk(
        &mut self,
        chunk: &mut ChatChunk,
        cx: &HookContext,
        _: &mut VecDeque<ChatChunk>,
    ) -> Result<ChunkAction, HookError> {
        self.run_from(0, chunk, cx)
    }

    fn on_end(&mut self, cx: &HookContext, out: &mut VecDeque<ChatChunk>) -> Result<(), HookError> {
        for i in 0..self.links.len() {
            let (entry, state, benched) = &mut self.links[i];
            if *benched {
                continue;
            }
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| state.on_end(cx)));
            match outcome(r, entry.name, Stage::StreamEnd, entry.policy)? {
                Some(Some(mut flushed)) => {
                    if self.run_from(i + 1, &mut flushed, cx)? == ChunkAction::Pass {
                        out.push_back(flushed);
                    }
                }
                Some(None) => {}
                None => self.links[i].2 = true,
            }
        }
        Ok(())
    }
}
