//! What the outbox asks the application before and after a delivery: is
//! this code still wanted, and withdraw one that could not be delivered.

use async_trait::async_trait;

use super::Letter;

/// The outbox's questions about a letter's code, answered by whoever issued
/// it (the [`Flow`](crate::Flow) answers them from its store).
///
/// [`still_wanted`](Recall::still_wanted) is asked just before a letter
/// leaves: another instance may have issued a newer code for the ticket, or
/// the code may have been used, so only the store knows. Answer `true` when
/// unsure: an unwanted mail costs less than a missing one.
/// [`withdraw`](Recall::withdraw) is called once for a letter the mail
/// server refused for good or that failed every try, so its code is not
/// left counted and live with nobody holding it.
///
/// ```
/// use tower_otp::mail::outbox::{Letter, Recall};
///
/// /// Wants every code; withdraws nothing (codes kept elsewhere).
/// #[derive(Debug)]
/// struct Everything;
///
/// #[async_trait::async_trait]
/// impl Recall for Everything {
///     async fn still_wanted(&self, _letter: &Letter) -> bool {
///         true
///     }
///     async fn withdraw(&self, _letter: &Letter) {}
/// }
/// ```
#[async_trait]
pub trait Recall: Send + Sync + 'static {
    /// Whether the letter's code is still wanted (live, and the newest the
    /// ticket has). Called just before the letter leaves.
    async fn still_wanted(&self, letter: &Letter) -> bool;

    /// Withdraws the code of a letter that will not be delivered (refused or
    /// failed). Failures are the implementation's to log.
    async fn withdraw(&self, letter: &Letter);
}

#[async_trait]
impl<R: Recall + ?Sized> Recall for std::sync::Arc<R> {
    async fn still_wanted(&self, letter: &Letter) -> bool {
        (**self).still_wanted(letter).await
    }

    async fn withdraw(&self, letter: &Letter) {
        (**self).withdraw(letter).await
    }
}

/// The [`Recall`] of an outbox on its own: every code is wanted, nothing is
/// withdrawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepAll;

#[async_trait]
impl Recall for KeepAll {
    async fn still_wanted(&self, _letter: &Letter) -> bool {
        true
    }

    async fn withdraw(&self, _letter: &Letter) {}
}
