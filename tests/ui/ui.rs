//! Compile tests of `#[openai_client]`: each case in `fail/` must fail with
//! exactly the errors in the `.stderr` next to it. Regenerate those with
//! `TRYBUILD=overwrite cargo test -p openai-hooks-ui`, then read the diff.
//! What must compile (and work) is in `tests/tests/it/macros`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("fail/*.rs");
}
