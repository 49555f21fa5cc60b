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
    /// restart, say) is read before any device passes: one read, shared by
    /// the requests that arrive meanwhile. While the store is down an
    /// instance keeps the generations it last read, and answers `503` to
    /// devices on tickets it has none for.
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
