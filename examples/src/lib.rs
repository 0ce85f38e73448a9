//! What every example needs to start: the OpenAI API when `OPENAI_API_KEY`
//! is set, the local OpenAI-compatible server otherwise
//! ([`openai_hooks::server::Backend`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use openai_hooks::server::{Backend, Reply};

/// Starts the backend (see [`Backend::start`]) and says which it is.
pub async fn backend(local_reply: Reply) -> std::io::Result<Backend> {
    let backend = Backend::start(local_reply).await?;
    println!("{}", backend.describe());
    Ok(backend)
}
