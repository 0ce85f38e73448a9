//! The integration tests, in one binary: one module per part of
//! `openai-hooks` (`runtime/src`), so the whole dependency graph is linked
//! once instead of once per test file.
//!
//! Run one part with a filter on the module path, e.g.
//! `cargo test -p openai-hooks-tests --test it guardrails::`.
//!
//! Three test binaries stay separate, because they depend on state that is
//! global to the process and the tests here (run in parallel, in this
//! process) would disturb or be disturbed by it:
//!
//! - `hostile_server`: a counting `#[global_allocator]` measures the peak
//!   heap of each call; allocations made by other tests at the same time
//!   would count too.
//! - `reliability_load`: reads the process's resident memory
//!   (`/proc/self/statm`) and open file descriptors (`/proc/self/fd`),
//!   which every other test moves.
//! - `reliability_secrets`: installs the process-wide `tracing` subscriber
//!   and `log` bridge (once per process), and searches everything logged
//!   for the key; other tests' records would land in it.
//!
//! The compile-fail cases of `#[openai_client]` are a crate of their own,
//! `tests/ui`; what the macro must accept is `macros` here.
//!
//! Checked and kept here:
//!
//! - `client::cancel` counts tasks with tokio's
//!   `RuntimeMetrics::num_alive_tasks`, which is per runtime: each test has
//!   its own runtime (and its server another), so other tests' tasks do not
//!   count.
//! - `model::sources` runs one of its tests again in a child process of
//!   this binary, with the environment set there (the child is started with
//!   that test's full path, `--exact`, so nothing else runs in it); this
//!   process's environment is never changed.
//! - `telemetry` sets a `tracing` subscriber for its own thread only
//!   (`set_default`), one test at a time, and rebuilds the call sites'
//!   cached interest when it does; no test here sets a global one.
//! - Statics elsewhere (guardrails built once, counters, locks) are private
//!   to their module and used only by its tests.

mod client;
mod fuzz;
mod guardrails;
mod hooks;
mod macros;
mod middleware;
mod model;
mod server;
mod sse;
mod support;
mod telemetry;
mod transport;
mod types;
