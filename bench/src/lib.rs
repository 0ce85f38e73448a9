//! Shared pieces of the load benchmark and the micro-benchmarks.
#![forbid(unsafe_code)]

pub mod hooks;
pub mod memory;
