//! What became of each ticket's latest mail, remembered for a while.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::Delivery;
use crate::ticket::TicketKey;

#[derive(Debug, Clone, Copy)]
struct Record {
    delivery: Delivery,
    /// The letter's slot: a later letter's outcome wins over an earlier's.
    slot: u64,
    at: Instant,
}

/// Outcomes per ticket, forgotten after `remember`.
#[derive(Debug)]
pub(super) struct Ledger {
    records: HashMap<TicketKey, Record>,
    remember: Duration,
    /// Old records are swept when the map reaches this size.
    sweep_at: usize,
}

/// Records are swept no more often than this many apart.
const MIN_SWEEP: usize = 1024;

impl Ledger {
    pub(super) fn new(remember: Duration) -> Self {
        Self {
            records: HashMap::new(),
            remember,
            sweep_at: MIN_SWEEP,
        }
    }

    /// Notes what became of the letter in `slot`, unless a later letter of
    /// the ticket already has an outcome.
    pub(super) fn record(
        &mut self,
        ticket: TicketKey,
        slot: u64,
        delivery: Delivery,
        now: Instant,
    ) {
        if self.records.len() >= self.sweep_at {
            let remember = self.remember;
            self.records
                .retain(|_, r| now.saturating_duration_since(r.at) < remember);
            self.sweep_at = (self.records.len() * 2).max(MIN_SWEEP);
        }
        let record = Record {
            delivery,
            slot,
            at: now,
        };
        self.records
            .entry(ticket)
            .and_modify(|r| {
                if r.slot <= slot {
                    *r = record;
                }
            })
            .or_insert(record);
    }

    /// The ticket's latest outcome, if still remembered.
    pub(super) fn get(&self, ticket: &TicketKey, now: Instant) -> Option<Delivery> {
        self.records
            .get(ticket)
            .filter(|r| now.saturating_duration_since(r.at) < self.remember)
            .map(|r| r.delivery)
    }
}
