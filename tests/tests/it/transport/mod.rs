//! The retrying `Transport` and the `Timeout` layer under server faults.

mod faults;
mod tokens;
