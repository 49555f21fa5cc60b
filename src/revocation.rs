//! [`Revocation`]: how quickly revoked device cookies stop passing.

use std::time::Duration;

/// How the layer honours [`Flow::revoke_devices`](crate::Flow::revoke_devices).
///
/// ```
/// use std::time::Duration;
/// use tower_otp::Revocation;
///
/// assert_eq!(Revocation::default(), Revocation::Cached { ttl: Duration::from_secs(5) });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Revocation {
    /// Revoked cookies keep passing until they expire. No store I/O.
    Off,
    /// The default. Each instance keeps the generations of the tickets it
    /// serves for `ttl` and reads them again in the background, so the
    /// verified path does no store I/O: a revoked device is refused at once
    /// on the instance that revoked it, and within `ttl` (plus one store read)
    /// on the others. A ticket an instance has no reading of (after a
    /// restart, say), or only one older than twice `ttl` and at least a
    /// minute, is read before any device passes: one read, shared by the
    /// requests that arrive meanwhile, waited for at most half a second.
    ///
    /// While the store does not answer (down, stalled, or refusing calls
    /// past [`Flow::with_store_concurrency`](crate::Flow::with_store_concurrency)),
    /// a device passes on the generation its instance read within that
    /// age, with no store call on its way; a device on a ticket whose
    /// generation is older or unknown is refused with `503` and
    /// `Retry-After` (it fails closed) within half a second, never held for
    /// the store's timeout. A revocation made before the store failed is
    /// thus missed for at most that age (a minute at the default `ttl`) on
    /// an instance that had not read it.
    Cached {
        /// How long a generation is trusted before it is read again.
        ttl: Duration,
    },
    /// Every verified request reads the ticket's generation from the store:
    /// revocation takes effect at once everywhere, at one store read per
    /// request (and a `503` for verified devices while the store is down).
    EveryRequest,
}

impl Default for Revocation {
    /// Cached for 5 seconds: a few seconds of staleness, no store I/O on the
    /// verified path.
    fn default() -> Self {
        Revocation::Cached {
            ttl: Duration::from_secs(5),
        }
    }
}
