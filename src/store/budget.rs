//! [`SendBudget`]: the names of the limits a send can meet.

use std::fmt;

/// Which budget refused a send: each limit has a name of its own, for logs,
/// metrics (the `budget` label) and [`OtpEvent::SendThrottled`](crate::OtpEvent::SendThrottled).
///
/// The name is for the operator: the challenge page says only when to try
/// again, never which budget it was (that could tell a stranger whether an
/// address is bound to a ticket).
///
/// ```
/// use tower_otp::store::SendBudget;
///
/// assert_eq!(SendBudget::Client.as_str(), "client");
/// assert_eq!(SendBudget::Domain.to_string(), "domain");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendBudget {
    /// The ticket's own: its resend cooldown and its sends per hour.
    Ticket,
    /// Sends to a mailbox through the tickets bound to it (its owner's).
    Owner,
    /// Sends to a mailbox through every other ticket (strangers').
    Mailbox,
    /// Strangers' sends to one domain whose spellings are not all known.
    Domain,
    /// Strangers' sends site-wide.
    Site,
    /// Sends asked for by one client (an IPv4 address or an IPv6 /64).
    Client,
}

impl SendBudget {
    /// The name, one fixed word.
    pub fn as_str(self) -> &'static str {
        match self {
            SendBudget::Ticket => "ticket",
            SendBudget::Owner => "owner",
            SendBudget::Mailbox => "mailbox",
            SendBudget::Domain => "domain",
            SendBudget::Site => "site",
            SendBudget::Client => "client",
        }
    }

    /// The budget named `name` ([`as_str`](Self::as_str) read back).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            SendBudget::Ticket,
            SendBudget::Owner,
            SendBudget::Mailbox,
            SendBudget::Domain,
            SendBudget::Site,
            SendBudget::Client,
        ]
        .into_iter()
        .find(|b| b.as_str() == name)
    }
}

impl fmt::Display for SendBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SendBudget;

    #[test]
    fn every_name_reads_back() {
        for name in ["ticket", "owner", "mailbox", "domain", "site", "client"] {
            let budget = SendBudget::from_name(name).expect(name);
            assert_eq!(budget.as_str(), name);
        }
        assert_eq!(SendBudget::from_name("address"), None);
    }
}
