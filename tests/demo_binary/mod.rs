//! The demo as a binary for the tests that run it as a process: built once
//! per test run with the features the test itself was built with.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The demo binary (`cargo build --example demo` with this test's
/// features), next to the test's own: `target/debug/examples/demo`.
pub fn demo_binary() -> PathBuf {
    let mut features = vec!["axum", "smtp", "sqlite"];
    if cfg!(feature = "postgres") {
        features.push("postgres");
    }
    if cfg!(feature = "redis") {
        features.push("redis");
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--example", "demo", "--features"])
        .arg(features.join(","))
        .status()
        .expect("cargo build --example demo");
    assert!(status.success(), "the demo builds");
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/<test>-… → target/debug/examples/demo
    exe.parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join("demo")
}
