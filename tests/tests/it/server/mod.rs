//! The local server, over HTTP and HTTPS.

mod http;
mod responses;
mod tls;
