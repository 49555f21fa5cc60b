//! The limits of the challenge flow, with their defaults.

use std::time::Duration;

use crate::code::{MAX_CODE_DIGITS, MIN_CODE_DIGITS};
use crate::error::ConfigError;
use crate::store::Policy;

/// How codes are issued and checked. Every default is written on its
/// setter.
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

    /// Sends per mailbox per hour, across tickets. Default 10; allowed 1 to 1000.
    ///
    /// A mailbox is the address however it is spelled
    /// ([`EmailAddress::mailbox`](crate::EmailAddress::mailbox): case,
    /// `+tags`, Gmail's dots), so variants share one count; mail still goes
    /// to the address as typed. The sends through tickets bound to the
    /// mailbox (its owner's) and through every other ticket (strangers') are
    /// counted apart, each with this cap: strangers filling the count can
    /// neither stop the owner's codes nor tell which ticket the mailbox is
    /// bound to.
    ///
    /// ```
    /// let limits = tower_otp::Limits::default().with_sends_per_address(20)?;
    /// assert_eq!(limits.policy().sends_per_address, 20);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
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

    /// Sends per domain per hour through tickets not bound to the address:
    /// the budget no spelling escapes (catch-all domains, `-` tags, dots
    /// outside Gmail). Default 100; allowed 1 to 1,000,000. Sends through a
    /// ticket bound to the address do not count here, so a flood never
    /// stops a bound ticket's codes; nor do sends to the large providers
    /// whose every spelling of a mailbox [`EmailAddress::mailbox`](crate::EmailAddress::mailbox)
    /// already folds into one (Gmail, Outlook, iCloud, the Japanese
    /// carriers), so strangers cannot switch such a provider off. Raise it
    /// when more than that many people of one other domain verify new
    /// devices on unbound tickets in an hour.
    ///
    /// ```
    /// let limits = tower_otp::Limits::default().with_sends_per_domain(1000)?;
    /// assert_eq!(limits.policy().sends_per_domain, 1000);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1..=1,000,000.
    pub fn with_sends_per_domain(mut self, n: u32) -> Result<Self, ConfigError> {
        check(
            (1..=1_000_000).contains(&n),
            "sends per domain",
            "between 1 and 1000000",
        )?;
        self.policy.sends_per_domain = n;
        Ok(self)
    }

    /// Sends per hour site-wide through tickets not bound to the address
    /// (`None`: no such budget). Default `None`: its right size depends on
    /// the site's traffic, and a flood that reaches it stops every unbound
    /// ticket's codes until the hour passes (bound tickets are never
    /// counted here). Set it to what the mail provider or sender reputation
    /// can bear. Allowed 1 to 10,000,000.
    ///
    /// ```
    /// let limits = tower_otp::Limits::default().with_sends_site_wide(Some(5000))?;
    /// assert_eq!(limits.policy().sends_site_wide, 5000);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for `Some` outside 1..=10,000,000.
    pub fn with_sends_site_wide(mut self, n: Option<u32>) -> Result<Self, ConfigError> {
        check(
            n.is_none_or(|n| (1..=10_000_000).contains(&n)),
            "sends site-wide",
            "between 1 and 10000000",
        )?;
        self.policy.sends_site_wide = n.unwrap_or(0);
        Ok(self)
    }

    /// Sends per client per hour, whatever the ticket and the address
    /// (`None`: no such budget). A client is the address the layer reads
    /// for the request (see
    /// [`OtpLayer::with_client_address`](crate::OtpLayer::with_client_address)):
    /// an IPv4 address, or an IPv6 /64. Default 4; allowed 1 to 1000.
    ///
    /// It is the budget a stranger spends first: one client cannot use up
    /// a ticket's sends, a mailbox's, a domain's or the site's for everyone
    /// else, because the cap applied is kept below each of them
    /// ([`Policy::client_cap`](crate::store::Policy::client_cap)). People
    /// behind one address (an office, a carrier's shared IPv4 address)
    /// share it; a refused send says when to try again, at most an hour.
    ///
    /// ```
    /// let limits = tower_otp::Limits::default().with_sends_per_client(Some(3))?;
    /// assert_eq!(limits.policy().client_cap(), 3);
    /// let off = tower_otp::Limits::default().with_sends_per_client(None)?;
    /// assert_eq!(off.policy().client_cap(), 0);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for `Some` outside 1..=1000.
    pub fn with_sends_per_client(mut self, n: Option<u32>) -> Result<Self, ConfigError> {
        check(
            n.is_none_or(|n| (1..=1000).contains(&n)),
            "sends per client",
            "between 1 and 1000",
        )?;
        self.policy.sends_per_client = n.unwrap_or(0);
        Ok(self)
    }

    /// How long a first-device claim is kept while the ticket stays unbound
    /// and no device verifies: after it, the ticket is unclaimed again (its
    /// next browser may be trusted as the first device) and the store
    /// forgets it. A bound ticket never expires. Default 30 days, the
    /// default device cookie lifetime, so a first device's cookie does not
    /// outlive its claim (keep it at least the device cookie lifetime);
    /// allowed 1 to 400 days.
    ///
    /// Without it, any request pair on any ticket id would leave a record
    /// forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let limits = tower_otp::Limits::default().with_claim_lifetime(Duration::from_secs(7 * 86_400))?;
    /// assert_eq!(limits.policy().claim_lifetime, Duration::from_secs(7 * 86_400));
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside 1 to 400 days.
    pub fn with_claim_lifetime(mut self, lifetime: Duration) -> Result<Self, ConfigError> {
        let day = Duration::from_secs(86_400);
        check(
            lifetime >= day && lifetime <= 400 * day,
            "claim lifetime",
            "between 1 and 400 days",
        )?;
        self.policy.claim_lifetime = lifetime;
        Ok(self)
    }

    /// Claims of ticket ids no validator vouched for (a layer without
    /// [`OtpLayer::with_ticket_validator`](crate::OtpLayer::with_ticket_validator)):
    /// how long one lasts while its ticket stays unbound (default one day;
    /// allowed 1 hour to the [claim lifetime](Self::with_claim_lifetime)'s
    /// 400-day ceiling), and how many one client may make per hour
    /// (default 30; `None`: no such budget; allowed 1 to 10,000).
    ///
    /// Anyone can make up ticket ids, so each made-up id opened from a
    /// browser that keeps cookies would otherwise leave a claim for the
    /// full claim lifetime. A first device of such an id gets a device
    /// cookie for the same shorter time; when it comes back later and no
    /// other browser came first, it is trusted again at once. A client over
    /// its budget is not trusted as a first device: it gets the challenge.
    ///
    /// ```
    /// use std::time::Duration;
    /// let limits = tower_otp::Limits::default()
    ///     .with_unvouched_claims(Duration::from_secs(6 * 3600), Some(10))?;
    /// assert_eq!(limits.policy().unvouched_claims_per_client, 10);
    /// # Ok::<(), tower_otp::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] outside those ranges.
    pub fn with_unvouched_claims(
        mut self,
        lifetime: Duration,
        per_client: Option<u32>,
    ) -> Result<Self, ConfigError> {
        let ok =
            lifetime >= Duration::from_secs(3600) && lifetime <= Duration::from_secs(400 * 86_400);
        check(
            ok,
            "unvouched claim lifetime",
            "between 1 hour and 400 days",
        )?;
        check(
            per_client.is_none_or(|n| (1..=10_000).contains(&n)),
            "unvouched claims per client",
            "between 1 and 10000",
        )?;
        self.policy.unvouched_claim_lifetime = lifetime;
        self.policy.unvouched_claims_per_client = per_client.unwrap_or(0);
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
        assert_eq!((p.sends_per_domain, p.sends_site_wide), (100, 0));
        assert_eq!((p.sends_per_client, p.client_cap()), (4, 4));
        assert_eq!(p.claim_lifetime, Duration::from_secs(30 * 86_400));
        assert_eq!(p.unvouched_claim_lifetime, Duration::from_secs(86_400));
        assert_eq!(p.unvouched_claims_per_client, 30);
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
        assert!(l.clone().with_sends_per_domain(0).is_err());
        assert!(l.clone().with_sends_site_wide(Some(0)).is_err());
        assert!(l.clone().with_sends_site_wide(None).is_ok());
        assert!(l.clone().with_sends_per_client(Some(0)).is_err());
        assert!(l.clone().with_sends_per_client(Some(1001)).is_err());
        let hour = Duration::from_secs(3600);
        assert!(l.clone().with_unvouched_claims(hour / 2, None).is_err());
        assert!(l.clone().with_unvouched_claims(hour, Some(0)).is_err());
        assert!(l.clone().with_unvouched_claims(hour, None).is_ok());
        assert!(
            l.clone()
                .with_claim_lifetime(Duration::from_secs(3600))
                .is_err()
        );
        let e = l.with_code_digits(4).unwrap_err();
        assert_eq!(e.to_string(), "code digits must be between 6 and 12");
    }
}
