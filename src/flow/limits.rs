//! The limits of the challenge flow, with their defaults.

use std::time::Duration;

use crate::code::{MAX_CODE_DIGITS, MIN_CODE_DIGITS};
use crate::error::ConfigError;
use crate::store::Policy;

/// How codes are issued and checked. Every default follows DESIGN.md's
/// "Codes and limits" table and is written on its setter.
///
/// ```
/// use std::time::Duration;
/// use tower_otp::Limits;
///
/// let limits = Limits::default()
///     .with_code_ttl(Duration::from_secs(180))?
///     .with_max_attempts(3)?;
/// assert_eq!(limits.code_ttl(), Duration::from_secs(180));
/// # Ok::<(), tower_otp::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Limits {
    code_digits: u8,
    policy: Policy,
}

fn check(ok: bool, setting: &'static str, range: &'static str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { setting, range })
    }
}

impl Default for Limits {
    fn default() -> Self {
        // NIST SP 800-63B §3.1.3.2: at least 6 digits. The rest is `Policy::default`.
        Self {
            code_digits: 6,
            policy: Policy::default(),
        }
    }
}

impl Limits {
    /// Digits per code. Default 6; allowed 6 to 12.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 6..=12.
    pub fn with_code_digits(mut self, digits: u8) -> Result<Self, ConfigError> {
        check(
            (MIN_CODE_DIGITS..=MAX_CODE_DIGITS).contains(&digits),
            "code digits",
            "between 6 and 12",
        )?;
        self.code_digits = digits;
        Ok(self)
    }

    /// How long a code stays valid. Default 5 minutes; allowed 30 s to 10 minutes (NIST).
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside that range.
    pub fn with_code_ttl(mut self, ttl: Duration) -> Result<Self, ConfigError> {
        let ok = ttl >= Duration::from_secs(30) && ttl <= Duration::from_secs(600);
        check(ok, "code validity", "between 30 seconds and 10 minutes")?;
        self.policy.code_ttl = ttl;
        Ok(self)
    }

    /// How many of the latest codes stay valid. Default 3; allowed 1 to 10.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1..=10.
    pub fn with_live_codes(mut self, n: u32) -> Result<Self, ConfigError> {
        check((1..=10).contains(&n), "live codes", "between 1 and 10")?;
        self.policy.live_codes = n;
        Ok(self)
    }

    /// Wrong entries allowed per round across all live codes and browsers.
    /// Default 5; allowed 1 to 10. Resend does not reset it.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1..=10.
    pub fn with_max_attempts(mut self, n: u32) -> Result<Self, ConfigError> {
        check((1..=10).contains(&n), "max attempts", "between 1 and 10")?;
        self.policy.max_attempts = n;
        Ok(self)
    }

    /// Consecutive failures on a ticket before new devices are locked out,
    /// and for how long. Default 20 failures, one hour; allowed 1 to 100
    /// failures (NIST's ceiling) and 1 minute to 1 day.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside those ranges.
    pub fn with_lockout(mut self, failures: u32, duration: Duration) -> Result<Self, ConfigError> {
        check(
            (1..=100).contains(&failures),
            "lockout threshold",
            "between 1 and 100",
        )?;
        let ok = duration >= Duration::from_secs(60) && duration <= Duration::from_secs(86_400);
        check(ok, "lockout duration", "between 1 minute and 1 day")?;
        self.policy.lockout_threshold = failures;
        self.policy.lockout_duration = duration;
        Ok(self)
    }

    /// The wait after the 1st, 2nd, 3rd... send of the hour; the last repeats.
    /// Default 60 s, 120 s, 300 s; each at most one hour, at least one entry.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for an empty list or an entry over an hour.
    pub fn with_resend_cooldowns(
        mut self,
        cooldowns: impl Into<Vec<Duration>>,
    ) -> Result<Self, ConfigError> {
        let cooldowns = cooldowns.into();
        let ok = !cooldowns.is_empty()
            && cooldowns.len() <= 16
            && cooldowns.iter().all(|c| *c <= Duration::from_secs(3600));
        check(
            ok,
            "resend cooldowns",
            "1 to 16 durations of at most one hour",
        )?;
        self.policy.cooldowns = cooldowns;
        Ok(self)
    }

    /// Sends per ticket per hour. Default 5; allowed 1 to 100.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1..=100.
    pub fn with_sends_per_ticket(mut self, n: u32) -> Result<Self, ConfigError> {
        check(
            (1..=100).contains(&n),
            "sends per ticket",
            "between 1 and 100",
        )?;
        self.policy.sends_per_ticket = n;
        Ok(self)
    }

    /// Sends per address per hour, across tickets. Default 10; allowed 1 to 1000.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1..=1000.
    pub fn with_sends_per_address(mut self, n: u32) -> Result<Self, ConfigError> {
        check(
            (1..=1000).contains(&n),
            "sends per address",
            "between 1 and 1000",
        )?;
        self.policy.sends_per_address = n;
        Ok(self)
    }

    /// Digits per code.
    pub fn code_digits(&self) -> u8 {
        self.code_digits
    }

    /// How long a code stays valid.
    pub fn code_ttl(&self) -> Duration {
        self.policy.code_ttl
    }

    /// Wrong entries allowed per round.
    pub fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    /// The limits as a store applies them.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design_table() {
        let l = Limits::default();
        let p = l.policy();
        assert_eq!(l.code_digits(), 6);
        assert_eq!(p.code_ttl, Duration::from_secs(300));
        assert_eq!(p.live_codes, 3);
        assert_eq!(p.max_attempts, 5);
        assert_eq!(
            (p.lockout_threshold, p.lockout_duration),
            (20, Duration::from_secs(3600))
        );
        assert_eq!(p.cooldown_after(1), Duration::from_secs(60));
        assert_eq!(p.cooldown_after(2), Duration::from_secs(120));
        assert_eq!(p.cooldown_after(3), Duration::from_secs(300));
        assert_eq!(p.cooldown_after(9), Duration::from_secs(300));
        assert_eq!((p.sends_per_ticket, p.sends_per_address), (5, 10));
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        let l = Limits::default();
        assert!(l.clone().with_code_digits(5).is_err());
        assert!(l.clone().with_code_digits(13).is_err());
        assert!(l.clone().with_code_ttl(Duration::from_secs(601)).is_err());
        assert!(l.clone().with_code_ttl(Duration::from_secs(29)).is_err());
        assert!(l.clone().with_max_attempts(0).is_err());
        assert!(
            l.clone()
                .with_lockout(101, Duration::from_secs(3600))
                .is_err()
        );
        assert!(l.clone().with_resend_cooldowns(vec![]).is_err());
        assert!(l.clone().with_sends_per_ticket(0).is_err());
        let e = l.with_code_digits(4).unwrap_err();
        assert_eq!(e.to_string(), "code digits must be between 6 and 12");
    }
}
