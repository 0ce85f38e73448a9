//! Local OpenAI-compatible server.
