//! Guardrails that ask a model: [`Moderation`](super::Moderation) (the
//! moderation endpoint) and [`LlmJudge`](super::LlmJudge) (a chat model
//! asked for a verdict), and the texts of a request or reply they send.

pub(crate) mod judge;
pub(crate) mod moderation;
pub(super) mod texts;
