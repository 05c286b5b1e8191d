//! Mistakes in consumers and messages fail to compile with a message that shows the fix.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
