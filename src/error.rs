//! The crate-wide error types every layer of the crate may name: a leaf module.

/// A boxed error that keeps its source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A setting was refused: the one error of every builder in the crate
/// ([`OtpLayer`](crate::OtpLayer), [`Limits`](crate::Limits), the device
/// token settings, the ticket path pattern).
///
/// ```
/// use std::time::Duration;
/// use tower_otp::{ConfigError, Limits};
///
/// let err = Limits::default().with_code_ttl(Duration::from_secs(5)).unwrap_err();
/// assert!(matches!(err, ConfigError::OutOfRange { setting: "code validity", .. }));
/// assert_eq!(err.to_string(), "code validity must be between 30 seconds and 10 minutes");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value outside its range; the message names the setting and the range.
    #[error("{setting} must be {range}")]
    OutOfRange {
        /// The setting.
        setting: &'static str,
        /// The allowed range, in words.
        range: &'static str,
    },
    /// A key was refused.
    #[error(transparent)]
    Key(#[from] crate::secret::KeyError),
}

impl ConfigError {
    /// `setting` must be `range`.
    pub(crate) const fn out_of_range(setting: &'static str, range: &'static str) -> Self {
        Self::OutOfRange { setting, range }
    }
}
