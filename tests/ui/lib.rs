//! Empty: the compile-fail cases are in `fail/`, run by `ui.rs`.
