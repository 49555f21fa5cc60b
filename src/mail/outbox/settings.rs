//! How fast an [`Outbox`](super::Outbox) sends, how much it holds, and how it
//! retries.

use std::time::Duration;

use crate::error::ConfigError;

/// The settings of an [`Outbox`](super::Outbox). Every setter states its
/// default and why.
///
/// ```
/// use std::time::Duration;
/// use tower_otp::mail::outbox::OutboxSettings;
///
/// let settings = OutboxSettings::default()
///     .with_rate(14)?
///     .with_capacity(4_200)?
///     .with_retries(2, Duration::from_millis(500));
/// assert_eq!(settings.rate(), 14);
/// assert_eq!(settings.period(), Duration::from_secs(1) / 14);
/// # Ok::<(), tower_otp::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "settings do nothing until an outbox uses them"]
pub struct OutboxSettings {
    rate: u32,
    capacity: usize,
    retries: u32,
    backoff: Duration,
    in_flight: usize,
    remember: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            // Below the per-second quotas mail services start accounts with
            // (Amazon SES: 14 messages a second in production), so one
            // instance alone is never throttled; several instances share
            // the provider's quota, so divide it among them.
            rate: 10,
            // Five minutes of sending at the default rate: a code is valid
            // for five minutes, so a code queued behind more would expire
            // before it leaves. Beyond it, a send is refused with the wait
            // instead of being accepted and never mailed.
            capacity: 3_000,
            // RFC 5321 §4.5.4.1 asks senders to retry a 4xx reply; three
            // tries, 1 s apart then doubling, fit in a code's first seconds.
            retries: 3,
            backoff: Duration::from_secs(1),
            // The default pool of `SmtpMailer` (four connections).
            in_flight: 4,
            // Twice a code's validity: the page can say what became of a
            // mail as long as its code would have been of use.
            remember: Duration::from_secs(10 * 60),
        }
    }
}

impl OutboxSettings {
    /// Messages that leave per second, from this instance. Default: 10.
    /// With several instances sharing a mail account, give each its share.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for 0 or more than 10,000.
    ///
    /// ```
    /// use tower_otp::mail::outbox::OutboxSettings;
    ///
    /// assert!(OutboxSettings::default().with_rate(0).is_err());
    /// assert_eq!(OutboxSettings::default().with_rate(5)?.rate(), 5);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    pub fn with_rate(mut self, per_second: u32) -> Result<Self, ConfigError> {
        if !(1..=10_000).contains(&per_second) {
            return Err(ConfigError::out_of_range(
                "outbox rate",
                "between 1 and 10000 messages a second",
            ));
        }
        self.rate = per_second;
        Ok(self)
    }

    /// How many mails may wait at once. Default: 3,000 (five minutes at the
    /// default rate). A send beyond it is refused with the wait until a
    /// place frees.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for 0 or more than 1,000,000.
    ///
    /// ```
    /// use tower_otp::mail::outbox::OutboxSettings;
    ///
    /// assert_eq!(OutboxSettings::default().with_capacity(100)?.capacity(), 100);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    pub fn with_capacity(mut self, capacity: usize) -> Result<Self, ConfigError> {
        if !(1..=1_000_000).contains(&capacity) {
            return Err(ConfigError::out_of_range(
                "outbox capacity",
                "between 1 and 1000000 mails",
            ));
        }
        self.capacity = capacity;
        Ok(self)
    }

    /// Tries after the first for a mail refused for now (an SMTP `4xx`, a
    /// timeout), `backoff` apart and doubling. Default: 3 tries, from 1 s.
    /// A mail still refused is given up and its code withdrawn.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::mail::outbox::OutboxSettings;
    ///
    /// let settings = OutboxSettings::default().with_retries(0, Duration::ZERO);
    /// assert_eq!(settings.retries(), 0);
    /// ```
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries.min(10);
        self.backoff = backoff;
        self
    }

    /// Mails handed to the mailer at once. Default: 4, the pool of
    /// [`SmtpMailer`](crate::SmtpMailer). Pacing holds whatever this is;
    /// it bounds how many slow deliveries overlap.
    ///
    /// ```
    /// use tower_otp::mail::outbox::OutboxSettings;
    ///
    /// assert_eq!(OutboxSettings::default().with_in_flight(8).in_flight(), 8);
    /// ```
    pub fn with_in_flight(mut self, in_flight: usize) -> Self {
        self.in_flight = in_flight.clamp(1, 1024);
        self
    }

    /// How long what became of a ticket's mail is remembered for its page.
    /// Default: 10 minutes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::mail::outbox::OutboxSettings;
    ///
    /// let settings = OutboxSettings::default().with_remember(Duration::from_secs(60));
    /// assert_eq!(settings.remember(), Duration::from_secs(60));
    /// ```
    pub fn with_remember(mut self, remember: Duration) -> Self {
        self.remember = remember;
        self
    }

    /// Messages per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The time between two departures: a second divided by the rate.
    pub fn period(&self) -> Duration {
        Duration::from_secs(1) / self.rate
    }

    /// Mails that may wait at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Tries after the first for a mail refused for now.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The wait before the first retry (it doubles after each).
    pub fn backoff(&self) -> Duration {
        self.backoff
    }

    /// Mails handed to the mailer at once.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How long outcomes are remembered.
    pub fn remember(&self) -> Duration {
        self.remember
    }
}
