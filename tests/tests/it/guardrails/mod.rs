//! The built-in guardrails: whole-text checks, every reply channel, the
//! streaming guarantee, the guardrails as hooks, the evasion tables and
//! pipelines.

mod channels;
mod checks;
mod evasion;
mod pipeline;
mod responses;
mod responses_probe;
mod responses_stream;
mod scan_hooks;
mod streaming;
