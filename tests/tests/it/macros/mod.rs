//! `#[openai_client]` (crate `openai-hooks-macros`): what must compile and
//! work. Each module is one shape of client; its test builds it and checks
//! what the macro generated. What must *not* compile is the trybuild suite
//! in `tests/ui` (its own small crate).

mod all_hook_kinds;
mod attributes_preserved;
mod crate_path;
mod generics;
mod hook_options;
mod method_hooks;
mod methods_and_fields;
mod responses_api;
mod zero_hooks;
