//! A driver for counting the verified path's instructions: the
//! apps of `examples/support/peers.rs` (the ones `scripts/load.sh` loads end
//! to end) and the same 900-byte `Cookie` header, `n` requests. Under
//! callgrind, instruction counts are repeatable whatever else the machine
//! does:
//!
//! ```sh
//! cargo build --release --example verified_path --features test-util
//! for n in 1000 3000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/verified_path otp $n 2>&1 | grep Collected
//! done   # (I(3000) - I(1000)) / 2000 = instructions per request; same with `bare`
//! ```
//!
//! Modes: the peers' (`bare`, `noop`, `otp` with `route_layer` and
//! `PathParam`, `jwt`, `sessions`, `cookies`), and `OtpLayer` applied with
//! `.layer` and a path pattern under each revocation setting: `pattern`
//! (the default cache), `pattern-off` (`Revocation::Off`), `pattern-every`
//! (`Revocation::EveryRequest`).
//!
//! A third argument installs a `tracing` subscriber at that level (`info`,
//! `debug`) writing to nowhere, to price the gate's span.

#![allow(missing_docs)]

#[path = "support/peers.rs"]
mod peers;

use axum::extract::Request;
use tower::{Service, ServiceExt};
use tower_otp::Revocation;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("otp");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    if let Some(level) = args.get(3) {
        let level: tracing::Level = level.parse().expect("a tracing level");
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::sink)
            .init();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, cookie) = rt.block_on(async {
        match mode {
            "pattern-off" => peers::pattern(Revocation::Off).await,
            "pattern-every" => peers::pattern(Revocation::EveryRequest).await,
            _ => peers::app(mode)
                .await
                .unwrap_or_else(|| panic!("unknown mode {mode}")),
        }
    });
    let header = peers::cookie_header(&cookie);
    let mut app = app.with_state::<()>(());
    rt.block_on(async {
        for _ in 0..n {
            let response = ServiceExt::<Request>::ready(&mut app)
                .await
                .unwrap()
                .call(peers::get_with(&header))
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{mode}: the cookie passes");
            std::hint::black_box(response);
        }
    });
}
