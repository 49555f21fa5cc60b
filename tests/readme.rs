//! The README's quick start compiles: its Rust block is the body of
//! `quick_start` below, line for line, and `the_quick_start_is_this_file`
//! checks that they are the same. The block uses `?` and `.await` at the top
//! level, as in an `async fn main`, so it cannot be a doc-test as written;
//! this file compiles it instead (it needs a real secret, database path and
//! SMTP server to run, so it only compiles). The Rust block of the README's
//! "Metrics" section is the body of `prometheus` below in the same way
//! (`the_metrics_block_is_this_file`); it installs a process-wide recorder
//! and binds a port, so it only compiles too.

use std::fs;
use std::path::Path;

const BEGIN: &str = "    // README quick start: begin\n";
const END: &str = "    // README quick start: end\n";
const METRICS_BEGIN: &str = "    // README metrics: begin\n";
const METRICS_END: &str = "    // README metrics: end\n";

// Formatted as the README shows it, not as rustfmt would.
#[rustfmt::skip]
#[allow(dead_code)]
async fn quick_start() -> Result<(), Box<dyn std::error::Error>> {
    // README quick start: begin
    use axum::{routing::get, Router};
    use tower_otp::{EmailAddress, Flow, OtpLayer, Secret, SmtpMailer, SqliteStore, TicketId, VerifiedDevice};

    // The secret keys the stored state too: keep it (and the file) across restarts.
    let secret = Secret::from_hex(&std::env::var("OTP_SECRET")?)?;
    let store = SqliteStore::open("/var/lib/tickets/otp.db").await?;
    store.migrate().await?; // creates or updates the tables; nothing else does
    let mailer = SmtpMailer::from_url("smtps://user:pass@smtp.example.com", "tickets@example.com")?;
    let flow = Flow::new(&secret, store, mailer)
        .with_site_name("Example Tickets")
        .with_require_prebound(true); // an order nobody pre-bound takes no typed address
    flow.check_state().await?; // stops here if another secret wrote the store
    let app = Router::new()
        .route("/orders/{order_id}", get(|device: VerifiedDevice| async move {
            format!("your order, verified since {}", device.verified_at().as_secs())
        }))
        .route_layer(OtpLayer::new(flow.clone()).with_ticket_param("order_id"))
        .route("/", get(|| async { "home" }));

    // At checkout, before the order's link is mailed (in your checkout handler,
    // with a clone of `flow`): bind the order to the address the buyer paid with.
    let order = flow.ticket_key(&TicketId::new("A7x9Qz"));
    flow.pre_bind(&order, &EmailAddress::parse("buyer@example.com")?).await?;
    // README quick start: end
    let _: Router = app; // what `axum::serve` would take
    Ok(())
}

// Formatted as the README shows it, not as rustfmt would.
#[rustfmt::skip]
#[allow(dead_code)]
async fn prometheus() -> Result<(), Box<dyn std::error::Error>> {
    // README metrics: begin
    use std::time::Duration;
    use axum::{http::header::CONTENT_TYPE, routing::get, Router};
    use metrics_exporter_prometheus::PrometheusBuilder;

    // Once per process, before the first request: the recorder, then tower-otp's descriptions.
    let handle = PrometheusBuilder::new().install_recorder()?;
    tower_otp::metrics::describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep(); // keeps the histograms' windows rolling
        }
    });
    // `/metrics` on a loopback port of its own, apart from the site's router.
    let metrics = Router::new().route("/metrics", get(move || async move {
        ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render())
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
    tokio::spawn(async move { axum::serve(listener, metrics).await });
    // README metrics: end
    Ok(())
}

/// The first ```` ```rust ```` block after `heading` in the README.
fn readme_block(heading: &str) -> String {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = &readme[readme.find(heading).expect("the section")..];
    let start = section.find("```rust\n").expect("a rust block") + "```rust\n".len();
    let len = section[start..].find("```\n").expect("the block's end");
    section[start..start + len].to_owned()
}

/// The first ```` ```rust ```` block after `## Quick start` in the README.
fn readme_quick_start() -> String {
    readme_block("\n## Quick start\n")
}

/// The lines of this file between `begin` and `end`, unindented.
fn this_files_block(begin: &str, end: &str) -> String {
    let source = include_str!("readme.rs");
    let start = source.find(begin).expect("the begin marker") + begin.len();
    let len = source[start..].find(end).expect("the end marker");
    source[start..start + len]
        .lines()
        .map(|line| line.strip_prefix("    ").unwrap_or(line))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The body of `quick_start` above, unindented.
fn this_files_quick_start() -> String {
    this_files_block(BEGIN, END)
}

#[test]
fn the_quick_start_is_this_file() {
    let readme = readme_quick_start();
    let compiled = this_files_quick_start();
    assert_eq!(
        readme, compiled,
        "README.md's quick start and tests/readme.rs's quick_start differ: \
         change both, so what the README shows compiles"
    );
}

#[test]
fn the_quick_start_pre_binds_the_buyer() {
    let quick_start = readme_quick_start();
    for needle in [".pre_bind(", ".with_require_prebound(true)"] {
        assert!(
            quick_start.contains(needle),
            "the quick start lacks {needle}:\n{quick_start}"
        );
    }
}

#[test]
fn the_metrics_block_is_this_file() {
    let readme = readme_block("\n### Metrics\n");
    let compiled = this_files_block(METRICS_BEGIN, METRICS_END);
    assert_eq!(
        readme, compiled,
        "README.md's Metrics block and tests/readme.rs's prometheus differ: \
         change both, so what the README shows compiles"
    );
    for needle in [
        "install_recorder()",
        "metrics::describe()",
        "run_upkeep()",
        "\"/metrics\"",
    ] {
        assert!(readme.contains(needle), "the Metrics block lacks {needle}");
    }
}
