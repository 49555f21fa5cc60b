//! A development mailer that writes `.eml` files (lettre's file transport).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};

use super::message::{DEFAULT_FROM, build_message, parse_from};
use super::{MailError, Mailer, OtpMail};
use crate::email::AddressError;

/// Writes each message as an `.eml` file into a directory, for development:
/// open the newest file to read the code. Nothing leaves the machine.
///
/// The directory is created on the first send if it does not exist. Each
/// file is named by a random UUID. Clones write to the same directory.
///
/// ```
/// use tower_otp::mail::FileMailer;
///
/// let mailer = FileMailer::new("target/mail")
///     .with_from("Example Tickets <noreply@tickets.example>")?;
/// assert_eq!(mailer.dir(), std::path::Path::new("target/mail"));
/// # Ok::<(), tower_otp::AddressError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
    transport: Arc<AsyncFileTransport<Tokio1Executor>>,
}

impl FileMailer {
    /// A mailer writing into `dir`, with the sender `tower-otp@localhost`
    /// (shown with the site name).
    ///
    /// ```
    /// let mailer = tower_otp::mail::FileMailer::new(std::env::temp_dir().join("otp-mail"));
    /// ```
    pub fn new(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref().to_path_buf();
        Self {
            transport: Arc::new(AsyncFileTransport::new(&dir)),
            from: DEFAULT_FROM.parse().expect("the default sender is valid"),
            dir,
        }
    }

    /// Sets the sender, `Name <address>` or a bare address (then shown with
    /// the site name). Default: `tower-otp@localhost`.
    ///
    /// # Errors
    /// [`AddressError::Invalid`] if `from` is not a valid mailbox.
    ///
    /// ```
    /// use tower_otp::mail::FileMailer;
    ///
    /// assert!(FileMailer::new("mail").with_from("noreply@tickets.example").is_ok());
    /// assert!(FileMailer::new("mail").with_from("not an address").is_err());
    /// ```
    pub fn with_from(mut self, from: &str) -> Result<Self, AddressError> {
        self.from = parse_from(from).ok_or(AddressError::Invalid)?;
        Ok(self)
    }

    /// The directory the files are written to.
    ///
    /// ```
    /// let mailer = tower_otp::mail::FileMailer::new("mail");
    /// assert_eq!(mailer.dir(), std::path::Path::new("mail"));
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &OtpMail) -> Result<(), MailError> {
        let message = build_message(mail, &self.from)?;
        // A development transport: a short blocking call is acceptable here.
        std::fs::create_dir_all(&self.dir).map_err(MailError::new)?;
        self.transport
            .send(message)
            .await
            .map(|_id| ())
            .map_err(MailError::new)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mail::{Code, MailKind};
    use crate::{EmailAddress, Locale};

    #[tokio::test]
    async fn writes_an_eml_file_with_to_and_subject() {
        let dir = std::env::temp_dir().join(format!(
            "tower-otp-file-mailer-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mailer = FileMailer::new(dir.join("nested"))
            .with_from("noreply@tickets.example")
            .unwrap();
        let to = EmailAddress::parse("taro@example.com").unwrap();
        let kind = MailKind::Code {
            code: Code::normalize("246810", 6).unwrap(),
            valid_for: Duration::from_secs(300),
        };
        let mail = OtpMail::new(to, kind, Locale::En, "Example Tickets");
        mailer.send(&mail).await.unwrap();

        let files: Vec<_> = std::fs::read_dir(mailer.dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
        let eml = std::fs::read_to_string(&files[0]).unwrap();
        let (head, body) = eml.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("To: taro@example.com\r\n"), "{head}");
        assert!(head.contains("Subject: [Example Tickets] Your one-time password\r\n"));
        assert!(!head.contains("246810"));
        assert!(body.contains("246810"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn an_unwritable_directory_is_a_mail_error() {
        let file =
            std::env::temp_dir().join(format!("tower-otp-not-a-dir-{}", rand::random::<u64>()));
        std::fs::write(&file, b"").unwrap();
        let mailer = FileMailer::new(&file);
        let to = EmailAddress::parse("taro@example.com").unwrap();
        let kind = MailKind::NewDevice {
            at: crate::Timestamp::from_millis(0),
        };
        let result = mailer
            .send(&OtpMail::new(to, kind, Locale::En, "Site"))
            .await;
        std::fs::remove_file(&file).unwrap();
        assert!(result.is_err());
    }
}
