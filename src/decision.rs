//! The access decision, as a plain function of what is known about a request.

use http::{HeaderMap, Method};

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

/// What the layer knows about a request when it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The request names a ticket.
    pub(crate) ticket: bool,
    /// It carries a valid device cookie for that ticket.
    pub(crate) verified: bool,
    /// Its method.
    pub(crate) method: Kind,
    /// It is a prefetch (`Sec-Purpose`/`Purpose: prefetch`).
    pub(crate) prefetch: bool,
    /// The ticket is unclaimed and unbound (known after the store is read).
    pub(crate) claimable: bool,
    /// The browser returned the first-device probe cookie.
    pub(crate) probe: bool,
    /// The first-device mode.
    pub(crate) mode: FirstDevice,
}

/// The request method, as far as the decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Get,
    Head,
    Post,
    Other,
}

impl Kind {
    pub(crate) fn of(method: &Method) -> Kind {
        match *method {
            Method::GET => Kind::Get,
            Method::HEAD => Kind::Head,
            Method::POST => Kind::Post,
            _ => Kind::Other,
        }
    }
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Pass to the inner service untouched (no ticket, or a verified device).
    Pass,
    /// First device, trust mode, no probe cookie yet: set it and redirect to the same URL.
    Probe,
    /// First device with the probe cookie: claim, then pass with a device cookie.
    Claim,
    /// First device, confirm mode: show the one-tap page.
    ConfirmPage,
    /// A gate action (POST).
    Action,
    /// The challenge page (401).
    Page,
}

/// Whether the request is a prefetch that must change nothing.
pub(crate) fn is_prefetch(headers: &HeaderMap) -> bool {
    ["sec-purpose", "purpose", "x-purpose", "x-moz"]
        .iter()
        .filter_map(|name| headers.get(*name))
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("prefetch"))
        })
}

/// The decision (DESIGN.md, "Behaviour").
pub(crate) fn decide(facts: &Facts) -> Decision {
    if !facts.ticket || facts.verified {
        return Decision::Pass;
    }
    if facts.prefetch || matches!(facts.method, Kind::Head | Kind::Other) {
        return Decision::Page;
    }
    if facts.method == Kind::Post {
        return Decision::Action;
    }
    match (facts.claimable, facts.mode, facts.probe) {
        (true, FirstDevice::Trust, false) => Decision::Probe,
        (true, FirstDevice::Trust, true) => Decision::Claim,
        (true, FirstDevice::Confirm, _) => Decision::ConfirmPage,
        _ => Decision::Page,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table() {
        use Decision::*;
        use FirstDevice::*;
        use Kind::*;
        let base = Facts {
            ticket: true,
            verified: false,
            method: Get,
            prefetch: false,
            claimable: true,
            probe: false,
            mode: Trust,
        };
        #[rustfmt::skip]
        let cases: &[(&str, Facts, Decision)] = &[
            ("no ticket passes untouched", Facts { ticket: false, ..base }, Pass),
            ("no ticket, even a POST", Facts { ticket: false, method: Post, ..base }, Pass),
            ("verified device passes", Facts { verified: true, ..base }, Pass),
            ("verified device POST passes", Facts { verified: true, method: Post, ..base }, Pass),
            ("first GET sets the probe", base, Probe),
            ("GET with the probe claims", Facts { probe: true, ..base }, Claim),
            ("HEAD never claims", Facts { method: Head, probe: true, ..base }, Page),
            ("prefetch never claims", Facts { prefetch: true, probe: true, ..base }, Page),
            ("prefetch never probes", Facts { prefetch: true, ..base }, Page),
            ("OPTIONS gets the page", Facts { method: Other, ..base }, Page),
            ("claimed ticket is gated", Facts { claimable: false, probe: true, ..base }, Page),
            ("POST is a gate action", Facts { method: Post, ..base }, Action),
            ("confirm mode shows the button", Facts { mode: Confirm, ..base }, ConfirmPage),
            ("confirm mode, claimed", Facts { mode: Confirm, claimable: false, ..base }, Page),
            ("challenge mode never trusts", Facts { mode: Challenge, probe: true, ..base }, Page),
        ];
        for (name, facts, want) in cases {
            assert_eq!(decide(facts), *want, "{name}");
        }
    }

    #[test]
    fn prefetch_headers() {
        for (name, value, want) in [
            ("sec-purpose", "prefetch", true),
            ("sec-purpose", "prefetch;prerender", true),
            ("purpose", "prefetch", true),
            ("x-moz", "prefetch", true),
            ("sec-purpose", "other", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(name, value.parse().unwrap());
            assert_eq!(is_prefetch(&headers), want, "{name}: {value}");
        }
        assert!(!is_prefetch(&HeaderMap::new()));
    }
}
