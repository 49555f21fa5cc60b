//! A small e-ticket site behind tower-otp.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! Then buy an order of seats on http://127.0.0.1:3000 with your address:
//! it is pre-bound to it, and every browser opens it with a code sent there
//! (printed in this terminal); one code opens every seat, and a seat handed
//! to a companion opens with a code sent to them. Or open any ticket id in
//! one browser (the first device, trusted) and the same URL in another
//! browser or a private window: it is challenged, and the first address
//! verified there is bound (`OTP_REQUIRE_PREBOUND=1` refuses it instead;
//! `OTP_DEMO_SOLD_ONLY=1` answers only the orders sold here). Configuration
//! is by environment variable; see the README's "Demo" section.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_otp::mail::outbox::OutboxSettings;
use tower_otp::mail::{FileMailer, Mailer, TerminalMailer};
use tower_otp::serve;
use tower_otp::store::Store;
use tower_otp::{FirstDevice, Flow, Limits, OtpLayer, Secret, SmtpMailer, SqliteStore};

#[path = "support/admin.rs"]
mod admin;
#[path = "support/demo_app.rs"]
mod demo_app;
#[path = "support/prometheus.rs"]
mod prometheus;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    env(name)
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|_| format!("{name}: cannot parse {v:?}"))
        })
        .transpose()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let addr: SocketAddr =
        env_parse("OTP_DEMO_ADDR")?.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
    // Metrics on a loopback port of their own (OTP_METRICS_ADDR=off: none).
    let metrics_addr = match env("OTP_METRICS_ADDR").as_deref() {
        Some("off") => None,
        _ => Some(
            env_parse("OTP_METRICS_ADDR")?
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9464))),
        ),
    };
    let secret = match env("OTP_SECRET") {
        Some(hex) => Secret::from_hex(&hex).map_err(|e| format!("OTP_SECRET: {e}"))?,
        // The stored state is keyed by the secret: a new one at each start
        // would orphan every binding. Keep one beside the demo's database.
        None => demo_secret()?,
    };
    let mut limits = Limits::default();
    if let Some(secs) = env_parse::<u64>("OTP_CODE_TTL_SECS")? {
        limits = limits.with_code_ttl(Duration::from_secs(secs))?;
    }
    if let Some(secs) = env_parse::<u64>("OTP_RESEND_COOLDOWN_SECS")? {
        limits = limits.with_resend_cooldowns(vec![Duration::from_secs(secs)])?;
    }
    if let Some(n) = env_parse::<u32>("OTP_MAX_ATTEMPTS")? {
        limits = limits.with_max_attempts(n)?;
    }
    let first_device = match env("OTP_FIRST_DEVICE").as_deref() {
        None | Some("trust") => FirstDevice::Trust,
        Some("confirm") => FirstDevice::Confirm,
        Some("challenge") => FirstDevice::Challenge,
        Some(other) => {
            return Err(format!(
                "OTP_FIRST_DEVICE: expected trust, confirm or challenge, got {other:?}"
            )
            .into());
        }
    };
    // Tickets sold at /buy are pre-bound to their buyer. Others (any
    // well-formed id) are bound by the first address verified, unless this
    // refuses every address typed for them.
    let require_prebound = demo_app::require_prebound(env("OTP_REQUIRE_PREBOUND").as_deref())?;
    // Only the orders sold at /buy, their seats (and the samples) exist: any
    // other id is a 404, and nothing is stored for it.
    let sold_only = demo_app::sold_only_setting(env("OTP_DEMO_SOLD_ONLY").as_deref())?;
    // Behind a reverse proxy (OTP_PUBLIC_ORIGIN=https://tickets.example): the
    // origin browsers use. POSTs are checked against it, and a ticket request
    // the proxy does not say came over HTTPS is redirected there.
    let public_origin = env("OTP_PUBLIC_ORIGIN");
    let behind_https_proxy = public_origin
        .as_deref()
        .is_some_and(|o| o.trim().to_ascii_lowercase().starts_with("https://"));
    // Plain http on a loopback address needs non-Secure cookies; anywhere else,
    // or behind a proxy that serves HTTPS, keep them Secure.
    let secure = env_parse::<bool>("OTP_COOKIE_SECURE")?
        .unwrap_or(behind_https_proxy || !addr.ip().is_loopback());
    if !secure && !addr.ip().is_loopback() {
        return Err("OTP_COOKIE_SECURE=false is only allowed on a loopback address".into());
    }

    // Challenge state: durable, in a SQLite file (OTP_DATABASE_URL names
    // another file or a PostgreSQL database), or in Redis (OTP_REDIS_URL).
    let store: Arc<dyn Store> = match (env("OTP_REDIS_URL"), env("OTP_DATABASE_URL")) {
        (Some(url), _) => redis_store(&url).await?,
        (None, Some(url)) if url.starts_with("postgres") => postgres_store(&url).await?,
        (None, url) => {
            let url = match url {
                Some(url) => url,
                None => format!("sqlite://{}?mode=rwc", demo_file(DEMO_DB)?.display()),
            };
            let store = SqliteStore::connect(&url)
                .await
                .map_err(|e| format!("cannot open {url} (OTP_DATABASE_URL): {e}"))?;
            store
                .migrate()
                .await
                .map_err(|e| format!("cannot migrate {url} (OTP_DATABASE_URL): {e}"))?;
            tracing::info!(?store, "challenge state in SQLite");
            Arc::new(store)
        }
    };
    let mailer: Box<dyn Mailer> = if let Some(url) = env("OTP_SMTP_URL") {
        let from = env("OTP_MAIL_FROM").unwrap_or_else(|| "tickets@example.com".to_owned());
        tracing::info!("sending codes through SMTP");
        Box::new(SmtpMailer::from_url(&url, &from)?)
    } else if let Some(dir) = env("OTP_MAIL_DIR") {
        tracing::info!(dir, "writing codes as .eml files");
        Box::new(FileMailer::new(dir))
    } else {
        tracing::info!(
            "printing codes to this terminal (set OTP_SMTP_URL or OTP_MAIL_DIR to send mail)"
        );
        // Prints each code to this terminal (stdout): for trying the demo without a mail server.
        Box::new(TerminalMailer::new())
    };

    let reachable_now =
        !matches!(env("OTP_DATABASE_URL"), Some(url) if url.starts_with("postgres"));
    // Code mails through SMTP leave from an outbox, at OTP_MAIL_RATE a
    // second (default 10): a burst of sends queues instead of waiting on the
    // mail server, and each page says when its mail should leave.
    let mail_rate = env_parse::<u32>("OTP_MAIL_RATE")?;
    let outbox = match (mail_rate, env("OTP_SMTP_URL")) {
        (Some(rate), _) => Some(rate),
        (None, Some(_)) => Some(OutboxSettings::default().rate()),
        (None, None) => None,
    };
    let flow = demo_app::configure_flow(Flow::new(&secret, store, mailer))
        .with_limits(limits)
        .with_require_prebound(require_prebound);
    let flow = match outbox {
        Some(rate) => flow.with_outbox(
            OutboxSettings::default()
                .with_rate(rate)
                .map_err(|e| format!("OTP_MAIL_RATE: {e}"))?,
        ),
        None => flow,
    };
    // The store was written with this secret (or is new): checked now, so
    // a wrong OTP_SECRET stops the demo with the cause and the fix instead
    // of serving bound tickets as new ones. (PostgreSQL may not be reachable
    // yet: its first operation checks.)
    if reachable_now {
        let state = flow.check_state().await.map_err(|e| e.to_string())?;
        if state.first_devices_held {
            tracing::warn!(
                "first devices are held: every device verifies by code until an operator \
                 trusts them again (Flow::trust_first_devices)"
            );
        }
    }
    let otp = demo_app::configure(OtpLayer::new(flow.clone()))
        .with_first_device(first_device)
        .with_cookie_secure(secure);
    let otp = if sold_only {
        demo_app::sold_only(otp)
    } else {
        otp
    };
    let otp = match &public_origin {
        Some(origin) => demo_app::behind_proxy(otp, origin.trim())
            .map_err(|e| format!("OTP_PUBLIC_ORIGIN: {e}"))?,
        None => otp,
    };

    let mut app = demo_app::router(otp);
    let operator_page = env("OTP_ADMIN_TOKEN").is_some();
    // The operator page, only with a token (OTP_ADMIN_TOKEN), outside the gate.
    if let Some(token) = env("OTP_ADMIN_TOKEN") {
        admin::check_token(&token).map_err(|why| format!("OTP_ADMIN_TOKEN: {why}"))?;
        app = app.merge(admin::router(flow, &token, secure));
    }
    let app = app
        // What a real service puts around its router, outermost first:
        // cookies (device tokens among them) marked sensitive so traces never
        // print them, a trace span per request, and a deadline on every response.
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    COOKIE,
                    AUTHORIZATION,
                ]))
                .layer(TraceLayer::new_for_http())
                .layer(SetSensitiveResponseHeadersLayer::new([SET_COOKIE]))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(10),
                )),
        );

    let listener =
        serve::bind(addr).map_err(|e| format!("cannot bind {addr} (OTP_DEMO_ADDR): {e}"))?;
    println!("\n  tower-otp demo: http://{addr}/");
    if let Some(origin) = &public_origin {
        println!("  behind a reverse proxy, open it at {}", origin.trim());
    }
    if operator_page {
        println!("  operator page: http://{addr}/admin");
    }
    if let Some(metrics_addr) = metrics_addr {
        prometheus::serve(metrics_addr, prometheus::install()?)
            .await
            .map_err(|e| {
                format!("cannot serve metrics on {metrics_addr} (OTP_METRICS_ADDR): {e}")
            })?;
    }
    println!();
    // Connection bounds (serve::Bounds), each settable in whole seconds.
    let mut bounds = serve::Bounds::default();
    for (name, bound) in [
        ("OTP_HEADER_READ_TIMEOUT_SECS", &mut bounds.header_read),
        ("OTP_FIRST_REQUEST_TIMEOUT_SECS", &mut bounds.first_request),
        ("OTP_IDLE_TIMEOUT_SECS", &mut bounds.idle),
        ("OTP_DRAIN_TIMEOUT_SECS", &mut bounds.drain),
    ] {
        if let Some(secs) = env_parse::<u64>(name)? {
            *bound = Duration::from_secs(secs);
        }
    }
    let stop = serve::shutdown_signal()?;
    serve::serve(listener, app, bounds, async {
        stop.await;
        println!("\n  shutting down: finishing the requests in flight");
    })
    .await?;
    println!("  stopped");
    Ok(())
}

/// `path`, after creating the directory it goes in (a fresh clone whose
/// `CARGO_TARGET_DIR` is elsewhere has no `target/`).
fn demo_file(path: &str) -> Result<&std::path::Path, String> {
    let path = std::path::Path::new(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot create {} (the demo's database and secret; set OTP_DATABASE_URL and OTP_SECRET to keep them elsewhere): {e}",
                dir.display()
            )
        })?;
    }
    Ok(path)
}

/// Where the demo keeps its SQLite file unless `OTP_DATABASE_URL` says
/// otherwise: under this crate's `target/` (`cargo clean` removes it).
const DEMO_DB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/tower-otp-demo.db");

/// The demo's secret when `OTP_SECRET` is not set: made once, kept in
/// `target/tower-otp-demo.secret` (readable by its owner only).
fn demo_secret() -> Result<Secret, Box<dyn std::error::Error>> {
    let path = demo_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/tower-otp-demo.secret"
    ))?;
    let named = |e: &dyn std::fmt::Display| {
        format!("{} (the demo's secret; OTP_SECRET): {e}", path.display())
    };
    if let Ok(bytes) = std::fs::read(path) {
        return Ok(Secret::from_bytes(&bytes).map_err(|e| named(&e))?);
    }
    let bytes: [u8; 32] = rand::random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &bytes))
        .map_err(|e| format!("cannot write {}", named(&e)))?;
    tracing::warn!(
        path = %path.display(),
        "OTP_SECRET is not set: made a demo secret and kept it there"
    );
    Ok(Secret::from_bytes(&bytes)?)
}

#[cfg(feature = "postgres")]
async fn postgres_store(url: &str) -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    shared_store_needs_secret("OTP_DATABASE_URL=postgres://…")?;
    // Started before the database is reachable: serve 503 meanwhile, and
    // migrate as soon as it answers.
    let store = tower_otp::PostgresStore::connect_lazy(url)?;
    tokio::spawn({
        let store = store.clone();
        async move { store.migrate_until_done(Duration::from_secs(2)).await }
    });
    tracing::info!(?store, "challenge state in PostgreSQL");
    Ok(Arc::new(store))
}

/// A store that several instances share needs the one secret they all use:
/// a secret of the demo's own would differ from one machine to the next.
#[cfg(any(feature = "postgres", feature = "redis"))]
fn shared_store_needs_secret(store: &str) -> Result<(), Box<dyn std::error::Error>> {
    if env("OTP_SECRET").is_none() {
        return Err(format!(
            "{store} needs OTP_SECRET: every instance sharing the store must use the same \
             secret (try: OTP_SECRET=$(openssl rand -hex 32))"
        )
        .into());
    }
    Ok(())
}

#[cfg(not(feature = "postgres"))]
async fn postgres_store(_: &str) -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    Err("a postgres:// OTP_DATABASE_URL needs the postgres feature: cargo run --example demo --features postgres".into())
}

#[cfg(feature = "redis")]
async fn redis_store(url: &str) -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    shared_store_needs_secret("OTP_REDIS_URL")?;
    let store = if url.contains(',') {
        tower_otp::RedisStore::cluster(url.split(',').map(str::trim)).await?
    } else {
        tower_otp::RedisStore::new(url.trim()).await?
    };
    let store = match env("OTP_REDIS_PREFIX") {
        Some(prefix) => store.with_prefix(&prefix)?,
        None => store,
    };
    tracing::info!(?store, "challenge state in Redis");
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
async fn redis_store(_: &str) -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    Err("OTP_REDIS_URL needs the redis feature: cargo run --example demo --features redis".into())
}
