//! Mistakes the compiler refuses, with the errors users see (tests/ui/*.rs
//! and their .stderr files).
//!
//! After a deliberate change to an error, `TRYBUILD=overwrite cargo test
//! --test compile_fail` writes the new .stderr files; read them before
//! committing.

#[test]
fn errors_name_the_fix() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
