//! Compile tests of `#[openai_client]`: `ui/pass` must compile (and run),
//! `ui/fail` must fail with exactly the errors in the `.stderr` next to each
//! case. Regenerate those with `TRYBUILD=overwrite`, then read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
