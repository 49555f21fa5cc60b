//! The first-device claim as the gate makes it: vouched for when the layer
//! has a ticket validator (which already accepted the id), else counted
//! against the client's budget of unvouched claims and kept only for the
//! shorter unvouched lifetime, which the device cookie then keeps too.

use std::net::IpAddr;

use http::HeaderValue;

use super::render;
use super::request::GateRequest;
use crate::config::Config;
use crate::device::DeviceClaims;
use crate::store::StoreError;

/// Claims the first device of `req`'s ticket for the browser at `client`.
/// Returns the new device's claims and cookie, or `None` when the ticket was
/// claimed or bound already, or the client's budget refused the claim.
pub(crate) async fn first_device(
    config: &Config,
    req: &GateRequest,
    client: impl FnOnce() -> Option<IpAddr>,
) -> Result<Option<(DeviceClaims, HeaderValue)>, StoreError> {
    let flow = &config.flow;
    if config.ticket_validator.is_some() {
        let generation = flow.claim_first_device(&req.key).await?;
        return Ok(generation.map(|g| render::mint(config, req, g, config.tokens.lifetime())));
    }
    let client = client();
    if client.is_none() {
        crate::client_address::warn_unknown(&config.client_unknown_warned);
    }
    let generation = flow.claim_unvouched(&req.key, client).await?;
    let lifetime = flow.limits().policy().unvouched_claim_lifetime;
    Ok(generation.map(|g| render::mint(config, req, g, lifetime)))
}
