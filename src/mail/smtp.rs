//! SMTP delivery over lettre's async transport (Tokio, rustls).

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use url::{Host, Url};

use super::message::{build_message, parse_from};
use super::{MailError, Mailer, OtpMail};
use crate::error::BoxError;

/// The default connect and per-command timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default limit for one whole send, queueing for a connection included.
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The default number of pooled connections.
const DEFAULT_MAX_CONNECTIONS: u32 = 4;

/// Sends mail through an SMTP submission server, over TLS.
///
/// Configured from a URL, as lettre reads it:
///
/// | URL | transport |
/// |---|---|
/// | `smtps://user:pass@smtp.example.com` | implicit TLS (port 465 by default); recommended |
/// | `smtp://user:pass@smtp.example.com?tls=required` | STARTTLS required (port 587 by default) |
/// | `smtp://127.0.0.1:2525` | no TLS: only to a loopback host, or with [`with_allow_insecure`](SmtpMailerBuilder::with_allow_insecure) |
///
/// `?tls=opportunistic` counts as no TLS (an attacker on the path can strip
/// it). Percent-encode special characters in the user name and password.
/// Certificates are checked against the Web PKI roots.
///
/// Connections are pooled and shared by clones. The pool is started on the
/// first send, inside the Tokio runtime that sends, so the mailer can be
/// built anywhere. Each message is `multipart/alternative` (text and HTML)
/// from [`OtpMail::render`], with the configured sender; a sender without a
/// display name is shown with the site name.
///
/// `Debug` shows the host, port and TLS mode, never the credentials.
///
/// ```
/// use tower_otp::SmtpMailer;
///
/// let mailer = SmtpMailer::from_url(
///     "smtps://user:secret@smtp.example.com",
///     "Example Tickets <noreply@tickets.example>",
/// )?;
/// assert!(!format!("{mailer:?}").contains("secret"));
///
/// // Plain SMTP to a public host is refused.
/// assert!(SmtpMailer::from_url("smtp://smtp.example.com", "noreply@tickets.example").is_err());
/// # Ok::<(), tower_otp::mail::SmtpConfigError>(())
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    inner: Arc<Inner>,
}

struct Inner {
    builder: AsyncSmtpTransportBuilder,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    server: Server,
    send_timeout: Duration,
}

/// What `Debug` may show about the server.
#[derive(Debug)]
struct Server {
    host: String,
    port: Option<u16>,
    tls: TlsMode,
    authenticated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `?tls=required`: STARTTLS or fail.
    StartTlsRequired,
    /// `?tls=opportunistic`: STARTTLS if offered (strippable).
    Opportunistic,
    /// Plain text.
    None,
}

/// Settings for an [`SmtpMailer`], from [`SmtpMailer::builder`].
///
/// ```
/// use std::time::Duration;
/// use tower_otp::SmtpMailer;
///
/// let mailer = SmtpMailer::builder("smtp://mail.internal:25", "noreply@tickets.example")
///     .with_allow_insecure(true) // a relay on a private network
///     .with_timeout(Duration::from_secs(5))
///     .build()?;
/// # Ok::<(), tower_otp::mail::SmtpConfigError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct SmtpMailerBuilder {
    url: String,
    from: String,
    allow_insecure: bool,
    timeout: Duration,
    send_timeout: Duration,
    max_connections: u32,
}

/// Why an SMTP configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpConfigError {
    /// The URL does not parse.
    #[error("the SMTP URL is not valid")]
    InvalidUrl(#[source] BoxError),
    /// The URL has no host.
    #[error("the SMTP URL has no host")]
    MissingHost,
    /// A scheme other than `smtp` or `smtps`.
    #[error("unsupported SMTP URL scheme {0:?} (use smtps:// or smtp://...?tls=required)")]
    UnsupportedScheme(String),
    /// A `tls` parameter other than `required` or `opportunistic`, or more than one.
    #[error("unsupported tls parameter {0:?} (use tls=required)")]
    UnsupportedTls(String),
    /// Plain or opportunistic SMTP to a host that is not loopback, without
    /// [`with_allow_insecure`](SmtpMailerBuilder::with_allow_insecure).
    #[error(
        "SMTP to {host} would not be encrypted: use smtps:// or smtp://...?tls=required, \
         or allow it explicitly for development"
    )]
    InsecureTransport {
        /// The host.
        host: String,
    },
    /// The sender is not a valid mailbox.
    #[error("the sender address is not valid")]
    InvalidFrom,
    /// A timeout of zero.
    #[error("SMTP timeouts must be greater than zero")]
    ZeroTimeout,
    /// lettre refused the configuration.
    #[error("the SMTP transport could not be configured")]
    Transport(#[source] BoxError),
}

impl SmtpMailer {
    /// A mailer with the default settings (see [`SmtpMailerBuilder`]).
    /// `from` is `Name <address>` or a bare address.
    ///
    /// # Errors
    /// [`SmtpConfigError`] if the URL or sender is invalid, or the connection
    /// would not be encrypted to a host that is not loopback.
    ///
    /// ```
    /// use tower_otp::SmtpMailer;
    ///
    /// assert!(SmtpMailer::from_url("smtp://smtp.example.com?tls=required", "noreply@tickets.example").is_ok());
    /// assert!(SmtpMailer::from_url("smtp://127.0.0.1:2525", "noreply@tickets.example").is_ok());
    /// ```
    pub fn from_url(url: &str, from: &str) -> Result<Self, SmtpConfigError> {
        Self::builder(url, from).build()
    }

    /// A builder, to change timeouts, the pool size or allow plain SMTP.
    ///
    /// ```
    /// let builder = tower_otp::SmtpMailer::builder("smtps://smtp.example.com", "noreply@tickets.example");
    /// ```
    pub fn builder(url: &str, from: &str) -> SmtpMailerBuilder {
        SmtpMailerBuilder {
            url: url.to_owned(),
            from: from.to_owned(),
            allow_insecure: false,
            timeout: DEFAULT_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    fn transport(&self) -> &AsyncSmtpTransport<Tokio1Executor> {
        self.inner
            .transport
            .get_or_init(|| self.inner.builder.clone().build())
    }
}

impl SmtpMailerBuilder {
    /// Allows plain (or opportunistic STARTTLS) SMTP to any host, for
    /// development or a relay on a trusted network. Default: `false`; plain
    /// SMTP is then accepted only to `localhost`, `127.0.0.0/8` and `::1`.
    ///
    /// ```
    /// use tower_otp::SmtpMailer;
    ///
    /// let url = "smtp://mailpit.dev:1025";
    /// assert!(SmtpMailer::builder(url, "a@b.example").build().is_err());
    /// assert!(SmtpMailer::builder(url, "a@b.example").with_allow_insecure(true).build().is_ok());
    /// ```
    pub fn with_allow_insecure(mut self, allow: bool) -> Self {
        self.allow_insecure = allow;
        self
    }

    /// The timeout to connect and for each SMTP command. Default: 10 seconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = tower_otp::SmtpMailer::builder("smtps://smtp.example.com", "a@b.example")
    ///     .with_timeout(Duration::from_secs(5));
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The limit for one whole send (connection, commands and message), so a
    /// slow server cannot hold a visitor's request for long. Default: 30 seconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = tower_otp::SmtpMailer::builder("smtps://smtp.example.com", "a@b.example")
    ///     .with_send_timeout(Duration::from_secs(15));
    /// ```
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// The most pooled connections kept to the server (at least 1).
    /// Default: 4.
    ///
    /// ```
    /// let b = tower_otp::SmtpMailer::builder("smtps://smtp.example.com", "a@b.example")
    ///     .with_max_connections(8);
    /// ```
    pub fn with_max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Checks the settings and builds the mailer. Connects to nothing yet.
    ///
    /// # Errors
    /// [`SmtpConfigError`] if the URL or sender is invalid, a timeout is
    /// zero, or the connection would not be encrypted to a host that is not
    /// loopback and insecure SMTP was not allowed.
    ///
    /// ```
    /// let mailer = tower_otp::SmtpMailer::builder("smtps://smtp.example.com", "a@b.example").build()?;
    /// # Ok::<(), tower_otp::mail::SmtpConfigError>(())
    /// ```
    pub fn build(self) -> Result<SmtpMailer, SmtpConfigError> {
        if self.timeout.is_zero() || self.send_timeout.is_zero() {
            return Err(SmtpConfigError::ZeroTimeout);
        }
        let from = parse_from(&self.from).ok_or(SmtpConfigError::InvalidFrom)?;
        let server = check_url(&self.url, self.allow_insecure)?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url)
            .map_err(|e| SmtpConfigError::Transport(e.into()))?
            .timeout(Some(self.timeout))
            .pool_config(PoolConfig::new().max_size(self.max_connections));
        Ok(SmtpMailer {
            inner: Arc::new(Inner {
                builder,
                transport: OnceLock::new(),
                from,
                server,
                send_timeout: self.send_timeout,
            }),
        })
    }
}

/// Applies the TLS policy to the URL before lettre reads it.
fn check_url(raw: &str, allow_insecure: bool) -> Result<Server, SmtpConfigError> {
    let url = Url::parse(raw).map_err(|e| SmtpConfigError::InvalidUrl(e.into()))?;
    let host = url.host().ok_or(SmtpConfigError::MissingHost)?;
    let host_str = url.host_str().unwrap_or_default().to_owned();
    if host_str.is_empty() {
        return Err(SmtpConfigError::MissingHost);
    }
    let mut tls_params = url
        .query_pairs()
        .filter(|(k, _)| k == "tls")
        .map(|(_, v)| v);
    let tls_param = tls_params.next();
    if let Some(extra) = tls_params.next() {
        return Err(SmtpConfigError::UnsupportedTls(extra.into_owned()));
    }
    let tls = match (url.scheme(), tls_param.as_deref()) {
        ("smtps", None | Some("required")) => TlsMode::Implicit,
        ("smtp", Some("required")) => TlsMode::StartTlsRequired,
        ("smtp", Some("opportunistic")) => TlsMode::Opportunistic,
        ("smtp", None) => TlsMode::None,
        ("smtp" | "smtps", Some(other)) => {
            return Err(SmtpConfigError::UnsupportedTls(other.to_owned()));
        }
        (scheme, _) => return Err(SmtpConfigError::UnsupportedScheme(scheme.to_owned())),
    };
    let encrypted = matches!(tls, TlsMode::Implicit | TlsMode::StartTlsRequired);
    if !encrypted && !allow_insecure && !is_loopback(&host) {
        return Err(SmtpConfigError::InsecureTransport { host: host_str });
    }
    Ok(Server {
        host: host_str,
        port: url.port(),
        tls,
        authenticated: !url.username().is_empty() || url.password().is_some(),
    })
}

/// `localhost`, `127.0.0.0/8`, `::1` (and `::ffff:127.x.y.z`).
fn is_loopback(host: &Host<&str>) -> bool {
    let ip = match host {
        Host::Domain(name) => {
            if name.eq_ignore_ascii_case("localhost") {
                return true;
            }
            // `smtp:` is not a special scheme: IPv4 hosts stay opaque strings.
            match name.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => return false,
            }
        }
        Host::Ipv4(ip) => IpAddr::V4(*ip),
        Host::Ipv6(ip) => IpAddr::V6(*ip),
    };
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The whole send took longer than the send timeout.
#[derive(Debug, thiserror::Error)]
#[error("SMTP send timed out after {0:?}")]
struct SendTimedOut(Duration);

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        let message = build_message(mail, &self.inner.from)?;
        let limit = self.inner.send_timeout;
        match tokio::time::timeout(limit, self.transport().send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(error)) => {
                // The server's reply text can quote the address: log the class only.
                tracing::warn!(
                    to = %mail.to.masked(),
                    status = ?error.status().map(|code| code.to_string()),
                    permanent = error.is_permanent(),
                    timeout = error.is_timeout(),
                    tls = error.is_tls(),
                    "SMTP delivery failed"
                );
                // A 5xx reply is final; a 4xx, a timeout or a lost
                // connection may pass on a later try.
                if error.is_permanent() {
                    Err(MailError::permanent(error))
                } else {
                    Err(MailError::new(error))
                }
            }
            Err(_elapsed) => {
                tracing::warn!(to = %mail.to.masked(), ?limit, "SMTP delivery timed out");
                Err(MailError::new(SendTimedOut(limit)))
            }
        }
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("SmtpMailer")
            .field("host", &inner.server.host)
            .field("port", &inner.server.port)
            .field("tls", &inner.server.tls)
            .field(
                "credentials",
                &if inner.server.authenticated {
                    "REDACTED"
                } else {
                    "none"
                },
            )
            .field("from", &inner.from.email.to_string())
            .field("send_timeout", &inner.send_timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SmtpMailerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailerBuilder")
            .field("url", &"REDACTED")
            .field("from", &self.from)
            .field("allow_insecure", &self.allow_insecure)
            .field("timeout", &self.timeout)
            .field("send_timeout", &self.send_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: &str = "Example Tickets <noreply@tickets.example>";

    #[test]
    fn tls_policy_table() {
        let cases: &[(&str, bool, Option<TlsMode>)] = &[
            (
                "smtps://user:pass@smtp.example.com:465",
                false,
                Some(TlsMode::Implicit),
            ),
            ("smtps://smtp.example.com", false, Some(TlsMode::Implicit)),
            (
                "smtp://smtp.example.com?tls=required",
                false,
                Some(TlsMode::StartTlsRequired),
            ),
            (
                "smtp://u:p@smtp.example.com:587?tls=required",
                false,
                Some(TlsMode::StartTlsRequired),
            ),
            ("smtp://smtp.example.com", false, None),
            ("smtp://user:pass@smtp.example.com:25", false, None),
            ("smtp://smtp.example.com?tls=opportunistic", false, None),
            ("smtp://smtp.example.com", true, Some(TlsMode::None)),
            (
                "smtp://smtp.example.com?tls=opportunistic",
                true,
                Some(TlsMode::Opportunistic),
            ),
            ("smtp://127.0.0.1:2525", false, Some(TlsMode::None)),
            ("smtp://127.8.9.10", false, Some(TlsMode::None)),
            ("smtp://localhost:1025", false, Some(TlsMode::None)),
            ("smtp://LOCALHOST:1025", false, Some(TlsMode::None)),
            ("smtp://[::1]:2525", false, Some(TlsMode::None)),
            ("smtp://[::ffff:127.0.0.1]:2525", false, Some(TlsMode::None)),
            ("smtp://localhost.example.com", false, None),
            ("smtp://127.0.0.1.example.com", false, None),
            ("smtp://10.0.0.1", false, None),
            ("smtp://[::2]", false, None),
            ("smtp://0.0.0.0", false, None),
            ("smtp://smtp.example.com?tls=none", false, None),
            (
                "smtp://smtp.example.com?tls=required&tls=opportunistic",
                false,
                None,
            ),
            ("smtps://smtp.example.com?tls=opportunistic", false, None),
            ("http://smtp.example.com", false, None),
            ("smtp://", true, None),
            ("not a url", true, None),
        ];
        for (url, allow, want) in cases {
            let got = check_url(url, *allow).map(|s| s.tls).ok();
            assert_eq!(got, *want, "{url} (allow_insecure = {allow})");
            let built = SmtpMailer::builder(url, FROM)
                .with_allow_insecure(*allow)
                .build();
            assert_eq!(built.is_ok(), want.is_some(), "{url}: {built:?}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let err = SmtpMailer::from_url("smtp://smtp.example.com", FROM).unwrap_err();
        assert!(
            matches!(err, SmtpConfigError::InsecureTransport { ref host } if host == "smtp.example.com")
        );
        let err = SmtpMailer::from_url("smtp://u:hunter2@smtp.example.com", FROM).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{err:?}").contains("hunter2"));
        assert!(matches!(
            SmtpMailer::from_url("imap://x.example", FROM),
            Err(SmtpConfigError::UnsupportedScheme(s)) if s == "imap"
        ));
        assert!(matches!(
            SmtpMailer::from_url("::", FROM),
            Err(SmtpConfigError::InvalidUrl(_))
        ));
        assert!(matches!(
            SmtpMailer::from_url("smtps://smtp.example.com", "not a mailbox"),
            Err(SmtpConfigError::InvalidFrom)
        ));
        assert!(matches!(
            SmtpMailer::from_url("smtps://smtp.example.com", "a@b.example\r\nBcc: x@y.z"),
            Err(SmtpConfigError::InvalidFrom)
        ));
        assert!(matches!(
            SmtpMailer::builder("smtps://smtp.example.com", FROM)
                .with_timeout(Duration::ZERO)
                .build(),
            Err(SmtpConfigError::ZeroTimeout)
        ));
    }

    #[test]
    fn debug_never_prints_the_password() {
        let url = "smtps://mailuser:s3cr%21t-pw@smtp.example.com:465";
        let builder = SmtpMailer::builder(url, FROM);
        let debug = format!("{builder:?}");
        assert!(
            !debug.contains("s3cr") && !debug.contains("mailuser"),
            "{debug}"
        );
        let mailer = builder.build().unwrap();
        let debug = format!("{mailer:?}");
        assert!(!debug.contains("s3cr"), "{debug}");
        assert!(
            debug.contains("smtp.example.com") && debug.contains("REDACTED"),
            "{debug}"
        );
        let debug = format!("{:?}", mailer.clone());
        assert!(!debug.contains("s3cr"));
    }

    #[test]
    fn building_needs_no_runtime() {
        // The pool starts on the first send, so configuration can happen
        // before (or outside) the Tokio runtime.
        let mailer = SmtpMailer::from_url("smtp://127.0.0.1:9", FROM).unwrap();
        assert!(mailer.inner.transport.get().is_none());
    }
}
