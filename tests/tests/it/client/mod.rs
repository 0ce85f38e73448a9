//! `ChatClient` on async-openai's client and on generated clients: what a
//! dropped call releases, one client shared across runtimes, keys kept out
//! of errors and `Debug`, errors' public messages and the checks every
//! stream gets.

mod azure;
mod cancel;
mod cross_runtime;
mod errors;
mod key_leakage;
mod owned;
mod responses;
mod responses_wire;
mod stream;
