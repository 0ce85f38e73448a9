//! Clients that wrap a client.

mod concurrent;
