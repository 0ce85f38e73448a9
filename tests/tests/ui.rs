//! Compile-time behaviour of `#[openai_client]`: what compiles, and the
//! error each misuse gets. `TRYBUILD=overwrite cargo test -p openai-hooks-tests --test ui`
//! regenerates the `.stderr` files; read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
