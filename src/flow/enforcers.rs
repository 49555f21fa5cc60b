//! Which live layers over a flow check revocation, so that revoking devices
//! can say whether the layers that serve will refuse them.
//!
//! Each layer's settings hold a [`Registration`]: counted while they are
//! alive (the layer, its clones, the services made from it), uncounted when
//! dropped. A setting never flows back into the flow: a layer that was
//! built and dropped, or whose revocation was changed later, no longer
//! counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The live layers over one flow, by whether they check revocation.
#[derive(Debug, Default)]
pub(crate) struct Enforcers {
    checking: AtomicUsize,
    not_checking: AtomicUsize,
}

/// Whether the live layers refuse revoked devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enforcement {
    /// Every live layer checks revocation (and there is at least one).
    Enforced,
    /// No layer over this flow is alive.
    NoLayer,
    /// At least one live layer does not check revocation.
    SomeLayerOff,
}

impl Enforcers {
    fn counter(&self, checks: bool) -> &AtomicUsize {
        if checks {
            &self.checking
        } else {
            &self.not_checking
        }
    }

    /// What the live layers do with a revoked device.
    pub(crate) fn enforcement(&self) -> Enforcement {
        if self.not_checking.load(Ordering::Acquire) > 0 {
            Enforcement::SomeLayerOff
        } else if self.checking.load(Ordering::Acquire) > 0 {
            Enforcement::Enforced
        } else {
            Enforcement::NoLayer
        }
    }
}

/// One layer's settings, counted in its flow's [`Enforcers`] while alive.
#[derive(Debug)]
pub(crate) struct Registration {
    enforcers: Arc<Enforcers>,
    checks: bool,
}

impl Registration {
    pub(crate) fn new(enforcers: &Arc<Enforcers>, checks: bool) -> Self {
        enforcers.counter(checks).fetch_add(1, Ordering::AcqRel);
        Self {
            enforcers: Arc::clone(enforcers),
            checks,
        }
    }
}

impl Clone for Registration {
    fn clone(&self) -> Self {
        Self::new(&self.enforcers, self.checks)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.enforcers
            .counter(self.checks)
            .fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_registrations_decide() {
        let enforcers = Arc::new(Enforcers::default());
        assert_eq!(enforcers.enforcement(), Enforcement::NoLayer);
        let checking = Registration::new(&enforcers, true);
        assert_eq!(enforcers.enforcement(), Enforcement::Enforced);
        let copy = checking.clone();
        drop(checking);
        assert_eq!(enforcers.enforcement(), Enforcement::Enforced);
        let off = Registration::new(&enforcers, false);
        assert_eq!(enforcers.enforcement(), Enforcement::SomeLayerOff);
        drop(off);
        assert_eq!(enforcers.enforcement(), Enforcement::Enforced);
        drop(copy);
        assert_eq!(enforcers.enforcement(), Enforcement::NoLayer);
    }
}
