//! The verified path in process: the same route bare and behind each
//! middleware of `tower_otp_bench::app` (the code `bench/load.sh` loads end
//! to end), in the same run, with the ratios printed at the end.
//!
//! `cargo bench -p tower-otp-bench --bench layer -- --warm-up-time 1 --measurement-time 3`
//!
//! - `verified_path/bare`: the router alone (the baseline);
//! - `verified_path/noop_from_fn`: the router behind a no-op `from_fn` layer;
//! - `verified_path/otp`: `OtpLayer` (`route_layer`, `PathParam`), a valid
//!   device cookie; `verified_path/otp_pattern`: `.layer` with a path pattern;
//! - `verified_path/jwt`: a `from_fn` layer running `jsonwebtoken::decode`;
//! - `verified_path/sessions`: tower-sessions, memory store, one value read;
//! - `verified_path/cookies`: tower-cookies, one signed cookie checked.
//!
//! Every request carries a 900-byte `Cookie` header (`tower_otp_bench::cookie_header`). The medians and
//! what each adds over the bare router are printed, and written to
//! `target/criterion/verified_path/summary.csv` (for
//! `src/bin/plot_benchmarks.rs`).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::get;
use criterion::Criterion;
use http::StatusCode;
use tower::{Service, ServiceExt};

const GROUP: &str = "verified_path";

fn bench(c: &mut Criterion) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let noop = Router::new()
        .route("/tickets/{ticket}", get(|| async { "ok" }))
        .layer(middleware::from_fn(|req: Request, next: Next| {
            next.run(req)
        }));
    let mut variants = Vec::new();
    for mode in ["bare", "otp", "pattern", "jwt", "sessions", "cookies"] {
        let (app, cookie) = rt
            .block_on(tower_otp_bench::app(mode))
            .expect("a known mode");
        let name = if mode == "pattern" {
            "otp_pattern"
        } else {
            mode
        };
        variants.push((name, app, cookie));
    }
    variants.insert(1, ("noop_from_fn", noop, "device=none".into()));

    let mut group = c.benchmark_group(GROUP);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut names = Vec::new();
    for (name, app, cookie) in variants {
        let header = tower_otp_bench::cookie_header(&cookie);
        // As `axum::serve` does: routes made ready once, not per request.
        let mut app = app.with_state::<()>(());
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let response = ServiceExt::<Request>::ready(&mut app)
                        .await
                        .unwrap()
                        .call(tower_otp_bench::get_with(&header))
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK, "{name}");
                    black_box(response)
                })
            })
        });
        names.push(name.to_owned());
    }
    group.finish();
    names
}

/// Criterion's output directory.
fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// The median of one benchmark of this run, in nanoseconds.
fn median_ns(name: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(GROUP)
        .join(name)
        .join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// Prints the ratios of this run and writes them as CSV.
fn summarize(names: &[String]) {
    let Some(bare) = median_ns("bare") else {
        return;
    };
    let mut csv = String::from("middleware,median_us,added_us,ratio\n");
    println!("\nmiddleware        median     added over bare   time ratio");
    for name in names {
        let Some(ns) = median_ns(name) else { continue };
        let added = ns - bare;
        println!(
            "{name:16} {:7.3} µs   {:+7.3} µs        {:5.2}x",
            ns / 1000.0,
            added / 1000.0,
            ns / bare
        );
        csv.push_str(&format!(
            "{name},{:.4},{:.4},{:.4}\n",
            ns / 1000.0,
            added / 1000.0,
            ns / bare
        ));
    }
    let path = criterion_dir().join(GROUP).join("summary.csv");
    if std::fs::write(&path, csv).is_ok() {
        println!("written: {}", path.display());
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let names = bench(&mut criterion);
    criterion.final_summary();
    summarize(&names);
}
