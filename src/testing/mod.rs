//! Helpers for applications' own tests (feature `test-util`).

mod browser;
mod jar;
mod tap;

pub use self::browser::{TestBrowser, TestResponse};
pub use self::tap::{StoreCall, StoreTap};
