//! The waiting line: one place per ticket, first in first out, bounded.
//!
//! Places are numbered as they are taken (slots), and a letter for a ticket
//! that already waits takes over that ticket's place, so the line never has
//! holes: a ticket's position is its slot minus the front's.

use std::collections::{HashMap, VecDeque};

use tokio::time::Instant;

use super::Letter;
use crate::ticket::TicketKey;

/// A letter in line.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) letter: Letter,
    pub(super) enqueued_at: Instant,
    /// The place's number: later places have larger ones.
    pub(super) slot: u64,
}

/// Where a pushed letter stands.
#[derive(Debug)]
pub(super) struct Pushed {
    /// Letters ahead of it.
    pub(super) position: usize,
    /// The older letter for the same ticket it replaced, if any.
    pub(super) replaced: Option<Letter>,
}

#[derive(Debug)]
pub(super) struct Queue {
    entries: VecDeque<Entry>,
    /// The slot of the front entry (of the next one pushed when empty).
    front: u64,
    slots: HashMap<TicketKey, u64>,
    capacity: usize,
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            front: 0,
            slots: HashMap::new(),
            capacity,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues `letter`, in place of the ticket's waiting letter if it has
    /// one; `None` when the line is full.
    pub(super) fn push(&mut self, letter: Letter, now: Instant) -> Option<Pushed> {
        if let Some(&slot) = self.slots.get(&letter.ticket) {
            let position = usize::try_from(slot - self.front).unwrap_or(usize::MAX);
            let entry = &mut self.entries[position];
            entry.enqueued_at = now;
            let replaced = std::mem::replace(&mut entry.letter, letter);
            return Some(Pushed {
                position,
                replaced: Some(replaced),
            });
        }
        if self.entries.len() >= self.capacity {
            return None;
        }
        let position = self.entries.len();
        let slot = self.front + position as u64;
        self.slots.insert(letter.ticket, slot);
        self.entries.push_back(Entry {
            letter,
            enqueued_at: now,
            slot,
        });
        Some(Pushed {
            position,
            replaced: None,
        })
    }

    /// Takes the front letter.
    pub(super) fn pop(&mut self) -> Option<Entry> {
        let entry = self.entries.pop_front()?;
        self.slots.remove(&entry.letter.ticket);
        self.front += 1;
        Some(entry)
    }

    /// Letters ahead of the ticket's, if it waits.
    pub(super) fn position(&self, ticket: &TicketKey) -> Option<usize> {
        let slot = self.slots.get(ticket)?;
        usize::try_from(slot - self.front).ok()
    }
}
