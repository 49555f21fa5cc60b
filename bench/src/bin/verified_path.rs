//! A driver for counting the verified path's instructions: the app of a
//! mode (`tower_otp_bench::app`, the apps `load.sh` loads end to end) and
//! the same 900-byte `Cookie` header, `n` requests. Under callgrind,
//! instruction counts are repeatable whatever else the machine does;
//! `bench/instructions.sh` runs it:
//!
//! ```sh
//! cargo build --release -p tower-otp-bench --bin verified_path
//! for n in 1000 3000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/verified_path otp $n 2>&1 | grep Collected
//! done   # (I(3000) - I(1000)) / 2000 = instructions per request; same with `bare`
//! ```
//!
//! `verified_path MODE [N] [LEVEL]`: a third argument installs a `tracing`
//! subscriber at that level (`info`, `debug`) writing to nowhere, to price
//! the gate's span.

use axum::extract::Request;
use tower::{Service, ServiceExt};

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
    let (app, cookie) = rt
        .block_on(tower_otp_bench::app(mode))
        .unwrap_or_else(|| panic!("unknown mode {mode}"));
    let header = tower_otp_bench::cookie_header(&cookie);
    let mut app = app.with_state::<()>(());
    rt.block_on(async {
        for _ in 0..n {
            let response = ServiceExt::<Request>::ready(&mut app)
                .await
                .unwrap()
                .call(tower_otp_bench::get_with(&header))
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{mode}: the cookie passes");
            std::hint::black_box(response);
        }
    });
}
