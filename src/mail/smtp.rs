//! SMTP delivery over lettre's async transport.

/// Sends over SMTP.
#[derive(Debug, Clone)]
pub struct SmtpMailer {}

/// Why an SMTP configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpConfigError {}
