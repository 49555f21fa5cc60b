//! A development mailer that writes `.eml` files (lettre's file transport).

/// Writes each message as an `.eml` file into a directory.
#[derive(Debug, Clone)]
pub struct FileMailer {}
