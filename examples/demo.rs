//! A small e-ticket site behind tower-otp.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! Then open http://127.0.0.1:3000 in one browser (the first device, trusted),
//! and the same ticket URL in another browser or a private window: it is
//! challenged, and the code is printed in this terminal. Configuration is by
//! environment variable; see the README's "Demo" section.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tower_otp::{
    FileMailer, FirstDevice, Limits, MailError, MailKind, Mailer, MemoryStore, OtpLayer, OtpMail,
    Secret, SmtpMailer, Store,
};

#[path = "support/demo_app.rs"]
mod demo_app;

/// Prints each code to the terminal: for trying the demo without a mail server.
#[derive(Debug)]
struct TerminalMailer;

#[async_trait::async_trait]
impl Mailer for TerminalMailer {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        match &mail.kind {
            MailKind::Code { code, valid_for } => println!(
                "\n  ✉  one-time password for {}: {}  (valid {} min)\n",
                mail.to.masked(),
                code.as_str(),
                valid_for.as_secs() / 60
            ),
            MailKind::NewDevice { .. } => println!(
                "\n  ✉  notice to {}: a new device was verified\n",
                mail.to.masked()
            ),
            _ => {}
        }
        Ok(())
    }
}

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
    let secret = match env("OTP_SECRET") {
        Some(hex) => Secret::from_hex(&hex)?,
        None => {
            tracing::warn!(
                "OTP_SECRET is not set: using a random secret (devices and codes are forgotten on restart)"
            );
            Secret::random()
        }
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
    // Plain http on a loopback address needs non-Secure cookies; anywhere else, keep them Secure.
    let secure = env_parse::<bool>("OTP_COOKIE_SECURE")?.unwrap_or(!addr.ip().is_loopback());
    if !secure && !addr.ip().is_loopback() {
        return Err("OTP_COOKIE_SECURE=false is only allowed on a loopback address".into());
    }

    // Challenge state: in this process, or in Redis, shared by every instance
    // (OTP_REDIS_URL: one node, or comma-separated Redis Cluster nodes).
    let store: Arc<dyn Store> = match env("OTP_REDIS_URL") {
        None => Arc::new(MemoryStore::new()),
        #[cfg(feature = "redis")]
        Some(url) => {
            if env("OTP_SECRET").is_none() {
                return Err(
                    "OTP_REDIS_URL needs OTP_SECRET: every instance must use the same secret"
                        .into(),
                );
            }
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
            Arc::new(store)
        }
        #[cfg(not(feature = "redis"))]
        Some(_) => {
            return Err(
                "OTP_REDIS_URL needs the redis feature: cargo run --example demo --features redis"
                    .into(),
            );
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
        Box::new(TerminalMailer)
    };

    let otp = demo_app::configure(OtpLayer::new(&secret, store, mailer))
        .with_limits(limits)
        .with_first_device(first_device)
        .with_cookie_secure(secure);
    let app = demo_app::router(otp);

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("\n  tower-otp demo: http://{addr}/\n");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            println!("\n  shutting down");
        })
        .await?;
    Ok(())
}
