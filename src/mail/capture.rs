//! A mailer that keeps messages in memory, for tests.

/// Keeps every message it is given (feature `test-util`).
#[derive(Debug, Clone, Default)]
pub struct CapturingMailer {}
