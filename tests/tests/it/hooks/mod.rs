//! Hooks around a generated client: how they are wired (against an
//! in-memory client), end to end through the local server, and how their
//! failures are contained.

mod end_to_end;
mod failures;
mod wiring;
