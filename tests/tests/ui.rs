//! Compile-pass and compile-fail tests of the macros' diagnostics.
//! Regenerate expectations with `TRYBUILD=overwrite cargo test -p cortex-tests --test ui`
//! and review the `.stderr` diff.

#[test]
fn derive_message() {
    let t = trybuild::TestCases::new();
    t.pass("ui/derive/pass/*.rs");
    t.compile_fail("ui/derive/fail/*.rs");
}

#[test]
fn handler_macros() {
    let t = trybuild::TestCases::new();
    t.pass("ui/handlers/pass/*.rs");
    t.compile_fail("ui/handlers/fail/*.rs");
}
