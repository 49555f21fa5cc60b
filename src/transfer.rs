//! Transfers: a verified owner gives a ticket (a family's, with its seats
//! still with the family) to another address, confirmed by a code sent to
//! the bound address first, accepted by the recipient on their own device.
//!
//! 1. [`Flow::start_transfer`](crate::Flow::start_transfer), from a device
//!    verified on the ticket: records the offer to the new address and
//!    mails a confirmation code to the bound address (a stolen device
//!    cookie alone cannot give a ticket away).
//! 2. [`Flow::confirm_transfer`](crate::Flow::confirm_transfer), with that
//!    code: mails the recipient the link of the acceptance page, a route
//!    the application puts behind the layer with the ticket id
//!    [`Flow::transfer_id`](crate::Flow::transfer_id) names. That id is
//!    bound to the recipient while the offer stands: its challenge sends
//!    the recipient a code.
//! 3. [`Flow::accept_transfer`](crate::Flow::accept_transfer), from the
//!    recipient's device verified there: the binding moves, every earlier
//!    device is challenged on its next request (within the revocation
//!    bound on other instances), both addresses are told.
//!
//! The owner may [cancel](crate::Flow::cancel_transfer) until the recipient
//! accepts; [`TransferRules`] caps the transfers of a ticket (one by
//! default) and carries the application's own check.

pub use crate::flow::transfer::terms::{
    PendingTransfer, TransferAsk, TransferError, TransferRefusal, TransferRules, TransferStarted,
    TransferStatus, Transferred,
};
