//! What a test needs from outside its process (a server, a browser, a
//! program on `PATH`), and what happens when it is missing.
//!
//! The rule for every test that depends on something outside the process:
//!
//! - it reads where to find it from the environment at run time (for
//!   example `OTP_TEST_REDIS_URL`), or starts it from a program on `PATH`;
//! - when it is missing, the test calls [`missing`] with what it needs and
//!   how to provide it, and returns;
//! - [`missing`] fails the test in CI (`CI=true`, which `.ci/run` runs
//!   under) and skips it with a visible `SKIPPED` line everywhere else.
//!
//! So a test can never pass in CI without having checked anything.
//!
//! A test file declares `mod needs;` once; the support modules
//! (`redis_support`, `sql_support`) use it as `crate::needs`.

#![allow(dead_code, unreachable_pub)]

/// Whether a missing server fails the test: under CI (`CI` set to `true`
/// or `1`), or when `OTP_TESTS_REQUIRE_SERVERS=1` asks for it locally.
pub fn required() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true"))
    };
    set("CI") || set("OTP_TESTS_REQUIRE_SERVERS")
}

/// Reports that `what` is missing: panics when [`required`], else prints a
/// `SKIPPED` line the test run shows. The caller returns right after.
#[track_caller]
pub fn missing(what: &str) {
    assert!(
        !required(),
        "{what} (required under CI=true: .ci/run installs and starts it)"
    );
    eprintln!("SKIPPED: {what}");
}
