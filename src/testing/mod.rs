//! Helpers for applications' own tests (feature `test-util`).

mod browser;
mod jar;

pub use self::browser::{TestBrowser, TestResponse};
