//! One server for end-to-end load tests (`scripts/load.sh`): the same route
//! behind one middleware at a time, so their requests per second compare.
//!
//! ```sh
//! cargo run --release --example bench_server --features test-util -- otp 127.0.0.1:4000
//! ```
//!
//! Modes (`examples/support/peers.rs`, shared with `benches/layer.rs`):
//! `bare`, `noop`, `noop-layer`, `spin`, `otp`, `param-layer`, `pattern`,
//! `jwt`, `sessions`, `cookies`. At start it prints one line, `COOKIE
//! <header value>`: the `Cookie` header a verified client sends (the same
//! padding cookies in every mode, filled to 900 bytes, so every mode reads
//! the same bytes).

#![allow(missing_docs)]

#[path = "support/peers.rs"]
mod peers;

use std::net::SocketAddr;

use http::StatusCode;
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "otp".into());
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:4000".into())
        .parse()?;
    let Some((app, cookie)) = peers::app(&mode).await else {
        return Err(format!("unknown mode {mode}").into());
    };
    // Check once that the cookie passes, as the load generator will send it.
    let header = peers::cookie_header(&cookie);
    let check = app.clone().oneshot(peers::get_with(&header)).await?;
    assert_eq!(check.status(), StatusCode::OK, "{mode}: the cookie passes");
    println!("COOKIE {header}");
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
