//! Pipelines: loading bundles, and a loaded pipeline around a real client.

mod client;
mod config;
