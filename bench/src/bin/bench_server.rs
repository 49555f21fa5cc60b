//! One server for end-to-end load tests (`bench/load.sh`): the same route
//! behind one middleware at a time, so their requests per second compare.
//!
//! ```sh
//! cargo run --release -p tower-otp-bench --bin bench_server -- otp 127.0.0.1:4000
//! ```
//!
//! Modes: those of `tower_otp_bench::app` (shared with `benches/layer.rs`).
//! At start it prints one line, `COOKIE <header value>`: the `Cookie` header
//! a verified client sends (the same padding cookies in every mode, filled
//! to 900 bytes, so every mode reads the same bytes).

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
    let Some((app, cookie)) = tower_otp_bench::app(&mode).await else {
        return Err(format!("unknown mode {mode}").into());
    };
    // Check once that the cookie passes, as the load generator will send it.
    let header = tower_otp_bench::cookie_header(&cookie);
    let check = app
        .clone()
        .oneshot(tower_otp_bench::get_with(&header))
        .await?;
    assert_eq!(check.status(), StatusCode::OK, "{mode}: the cookie passes");
    println!("COOKIE {header}");
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
