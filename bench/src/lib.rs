//! Shared pieces of the load benchmark and the micro-benchmarks.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod hooks;
pub mod memory;
