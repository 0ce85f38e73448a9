//! `OpenAIModel`: request formatting, replies to events, client sources and
//! structured output.

mod events;
mod format;
mod sources;
mod structured;
