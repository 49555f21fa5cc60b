//! Who passes: the access decision, as one plain function of what is known
//! about a request. Every request the layer sees goes through [`decide`]:
//! once with what its head tells, and, when that is not enough, once more
//! after the ticket's state was read from the store.

use http::Method;

/// How the first browser to open a ticket is treated.
///
/// ```
/// use tower_otp::FirstDevice;
///
/// assert_eq!(FirstDevice::default(), FirstDevice::Trust);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FirstDevice {
    /// Trusted without a code, after a cookie round-trip (the seed's
    /// behaviour). HEAD and prefetch requests never claim. The default.
    #[default]
    Trust,
    /// Trusted after one tap on a button (a POST), so link scanners that
    /// follow redirects and keep cookies cannot become the first device.
    Confirm,
    /// Never trusted: every device, the first included, verifies by code.
    Challenge,
}

/// What the ticket source made of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ticket {
    /// The request names no ticket.
    Absent,
    /// It is on a ticket route, but its ticket part is unusable.
    Malformed,
    /// The source cannot work where the layer was put (it logged why).
    Misconfigured,
    /// It names a ticket.
    Named,
}

/// The device cookie, as far as its signature tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Device {
    /// No cookie for this ticket passed verification.
    Unverified,
    /// A valid cookie minted at this revocation generation.
    Signed { generation: u64 },
}

/// The ticket's state in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Not read (yet).
    NotRead,
    /// The store failed.
    Unavailable,
    /// Read: the ticket's revocation generation, and whether the first
    /// device may still be trusted (never claimed, never bound).
    Read { generation: u64, claimable: bool },
}

/// The request method, as far as the decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Head,
    Post,
    Other,
}

impl Verb {
    pub(crate) fn of(method: &Method) -> Verb {
        match *method {
            Method::GET => Verb::Get,
            Method::HEAD => Verb::Head,
            Method::POST => Verb::Post,
            _ => Verb::Other,
        }
    }
}

/// Everything the decision depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) ticket: Ticket,
    /// A trusted proxy says the request arrived over plain HTTP.
    pub(crate) plain_http: bool,
    pub(crate) device: Device,
    /// Device cookies are checked against the store's generation.
    pub(crate) revocation_check: bool,
    pub(crate) stored: Stored,
    pub(crate) verb: Verb,
    /// A prefetch (`Sec-Purpose`/`Purpose: prefetch`): changes nothing.
    pub(crate) prefetch: bool,
    /// The browser returned the first-device probe cookie.
    pub(crate) probe: bool,
    /// The URL carries the probe's mark: this request follows the probe's
    /// redirect (so a missing probe cookie means the browser refuses cookies).
    pub(crate) marked: bool,
    pub(crate) mode: FirstDevice,
}

/// What to do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No ticket: to the inner service untouched.
    Pass,
    /// A malformed ticket: 404, never the inner service.
    NotFound,
    /// The layer cannot find its ticket where it was put: 500.
    Misconfigured,
    /// Plain HTTP behind a trusted proxy: 308 to HTTPS, no cookie read or set.
    UpgradeToHttps,
    /// A verified device: to the inner service with a `VerifiedDevice`.
    PassVerified,
    /// Read the ticket's state from the store, then decide again.
    Lookup,
    /// The store failed: 503.
    Unavailable,
    /// First device, trust mode, no probe cookie yet: set it and redirect to
    /// the same URL, marked.
    Probe,
    /// First device, trust mode, back from the probe's redirect without the
    /// cookie: the browser refuses cookies; say so instead of looping.
    CookiesRequired,
    /// First device with the probe cookie: claim, then pass with a device cookie.
    Claim,
    /// First device, confirm mode: the one-tap page.
    ConfirmPage,
    /// A gate action (POST).
    Action,
    /// The challenge page (401).
    Page,
}

impl Decision {
    /// Its name in the gate's `tracing` span.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::NotFound => "not_found",
            Decision::Misconfigured => "misconfigured",
            Decision::UpgradeToHttps => "upgrade_to_https",
            Decision::PassVerified => "pass_verified",
            Decision::Lookup => "lookup",
            Decision::Unavailable => "unavailable",
            Decision::Probe => "probe",
            Decision::CookiesRequired => "cookies_required",
            Decision::Claim => "claim",
            Decision::ConfirmPage => "confirm_page",
            Decision::Action => "action",
            Decision::Page => "page",
        }
    }
}

/// The decision: the first rule below that applies decides.
pub(crate) fn decide(facts: &Facts) -> Decision {
    match facts.ticket {
        Ticket::Absent => return Decision::Pass,
        Ticket::Malformed => return Decision::NotFound,
        Ticket::Misconfigured => return Decision::Misconfigured,
        Ticket::Named => {}
    }
    if facts.plain_http {
        return Decision::UpgradeToHttps;
    }
    let (generation, claimable) = match (facts.device, facts.stored) {
        (Device::Signed { .. }, _) if !facts.revocation_check => return Decision::PassVerified,
        (_, Stored::NotRead) => return Decision::Lookup,
        (_, Stored::Unavailable) => return Decision::Unavailable,
        (
            _,
            Stored::Read {
                generation,
                claimable,
            },
        ) => (generation, claimable),
    };
    if let Device::Signed { generation: minted } = facts.device
        && minted >= generation
    {
        return Decision::PassVerified;
    }
    if facts.prefetch || matches!(facts.verb, Verb::Head | Verb::Other) {
        return Decision::Page;
    }
    if facts.verb == Verb::Post {
        return Decision::Action;
    }
    match (claimable, facts.mode, facts.probe) {
        (true, FirstDevice::Trust, false) if facts.marked => Decision::CookiesRequired,
        (true, FirstDevice::Trust, false) => Decision::Probe,
        (true, FirstDevice::Trust, true) => Decision::Claim,
        (true, FirstDevice::Confirm, _) => Decision::ConfirmPage,
        _ => Decision::Page,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row is a case production reaches: the first call (store not
    /// read) and the second (after the read).
    #[test]
    fn decision_table() {
        use Decision::*;
        use FirstDevice::*;
        use Verb::*;
        let read = Stored::Read {
            generation: 1,
            claimable: true,
        };
        let claimed = Stored::Read {
            generation: 1,
            claimable: false,
        };
        let signed = Device::Signed { generation: 1 };
        let revoked = Device::Signed { generation: 0 };
        let head = Facts {
            ticket: Ticket::Named,
            plain_http: false,
            device: Device::Unverified,
            revocation_check: false,
            stored: Stored::NotRead,
            verb: Get,
            prefetch: false,
            probe: false,
            marked: false,
            mode: Trust,
        };
        let gate = Facts {
            stored: read,
            ..head
        };
        #[rustfmt::skip]
        let cases: &[(&str, Facts, Decision)] = &[
            // First call: what the request head tells.
            ("no ticket passes untouched", Facts { ticket: Ticket::Absent, ..head }, Pass),
            ("no ticket, even a POST with a cookie", Facts { ticket: Ticket::Absent, verb: Post, device: signed, ..head }, Pass),
            ("a malformed ticket is not found", Facts { ticket: Ticket::Malformed, device: signed, ..head }, NotFound),
            ("a misconfigured source fails closed", Facts { ticket: Ticket::Misconfigured, ..head }, Misconfigured),
            ("plain HTTP behind the proxy is upgraded", Facts { plain_http: true, device: signed, ..head }, UpgradeToHttps),
            ("a verified device passes without I/O", Facts { device: signed, ..head }, PassVerified),
            ("a verified device POST passes", Facts { device: signed, verb: Post, ..head }, PassVerified),
            ("a verified device under revocation checks is looked up", Facts { device: signed, revocation_check: true, ..head }, Lookup),
            ("an unverified browser is looked up", head, Lookup),
            ("an unverified POST is looked up", Facts { verb: Post, ..head }, Lookup),
            // Second call: after the store was read (or failed).
            ("store down: 503", Facts { stored: Stored::Unavailable, ..head }, Unavailable),
            ("store down under revocation checks: 503", Facts { stored: Stored::Unavailable, device: signed, revocation_check: true, ..head }, Unavailable),
            ("current generation passes", Facts { device: signed, revocation_check: true, ..gate }, PassVerified),
            ("revoked device is gated", Facts { device: revoked, revocation_check: true, stored: claimed, ..gate }, Page),
            ("first GET sets the probe", gate, Probe),
            ("GET with the probe claims", Facts { probe: true, ..gate }, Claim),
            ("the probe's redirect with the cookie claims", Facts { probe: true, marked: true, ..gate }, Claim),
            ("the probe's redirect without it: cookies refused", Facts { marked: true, ..gate }, CookiesRequired),
            ("a marked URL on a claimed ticket is the page", Facts { marked: true, stored: claimed, ..gate }, Page),
            ("HEAD never claims", Facts { verb: Head, probe: true, ..gate }, Page),
            ("prefetch never claims", Facts { prefetch: true, probe: true, ..gate }, Page),
            ("prefetch never probes", Facts { prefetch: true, ..gate }, Page),
            ("OPTIONS gets the page", Facts { verb: Other, ..gate }, Page),
            ("claimed ticket is gated", Facts { stored: claimed, probe: true, ..gate }, Page),
            ("POST is a gate action", Facts { verb: Post, ..gate }, Action),
            ("confirm mode shows the button", Facts { mode: Confirm, ..gate }, ConfirmPage),
            ("confirm mode, claimed", Facts { mode: Confirm, stored: claimed, ..gate }, Page),
            ("challenge mode never trusts", Facts { mode: Challenge, probe: true, ..gate }, Page),
        ];
        for (name, facts, want) in cases {
            assert_eq!(decide(facts), *want, "{name}");
        }
    }
}
