//! How a ticket's challenge and an address's sends are kept in one column.
//!
//! The long-lived facts (claim, binding, generation, failures) have columns
//! of their own, readable by an operator; the challenge, which lives minutes
//! to an hour and is only ever read and written whole, is one binary value:
//!
//! ```text
//! version 1 | flags (bit 0: exhausted) | attempts u32 | round_until u64
//! | locked_until u64 | keep_until u64 | address length u16 (0: none) | address
//! | code count u8 | (hash [32] | issued_at u64 | expires_at u64)* | send count u16 | (u64)*
//! ```
//!
//! Integers are big-endian; times are milliseconds since the Unix epoch. An
//! address's sends are a plain sequence of big-endian `u64` times.

use crate::clock::Timestamp;
use crate::code::CodeHash;
use crate::email::EmailAddress;
use crate::store::CodeRecord;
use crate::store::rules::Challenge;

const VERSION: u8 = 1;

/// A value that does not decode (written by a newer version, or damaged).
#[derive(Debug, thiserror::Error)]
#[error("undecodable challenge record")]
pub(super) struct Corrupt;

pub(super) fn encode_challenge(c: &Challenge) -> Vec<u8> {
    let address = c.address.as_ref().map_or("", |a| a.as_str());
    let mut out = Vec::with_capacity(32 + address.len() + c.codes.len() * 48 + c.sends.len() * 8);
    out.push(VERSION);
    out.push(u8::from(c.exhausted));
    out.extend_from_slice(&c.attempts.to_be_bytes());
    for t in [c.round_until, c.locked_until, c.keep_until] {
        out.extend_from_slice(&t.as_millis().to_be_bytes());
    }
    // Addresses are at most 254 bytes.
    out.extend_from_slice(&(address.len() as u16).to_be_bytes());
    out.extend_from_slice(address.as_bytes());
    // At most `live_codes` codes (a u32 of the policy, in practice 3).
    let codes = &c.codes[c.codes.len().saturating_sub(usize::from(u8::MAX))..];
    out.push(codes.len() as u8);
    for code in codes {
        out.extend_from_slice(code.hash.as_bytes());
        out.extend_from_slice(&code.issued_at.as_millis().to_be_bytes());
        out.extend_from_slice(&code.expires_at.as_millis().to_be_bytes());
    }
    let sends = &c.sends[c.sends.len().saturating_sub(usize::from(u16::MAX))..];
    out.extend_from_slice(&(sends.len() as u16).to_be_bytes());
    for t in sends {
        out.extend_from_slice(&t.as_millis().to_be_bytes());
    }
    out
}

pub(super) fn decode_challenge(bytes: &[u8]) -> Result<Challenge, Corrupt> {
    let mut r = Reader(bytes);
    if r.u8()? != VERSION {
        return Err(Corrupt);
    }
    let exhausted = r.u8()? & 1 == 1;
    let attempts = u32::from_be_bytes(r.array()?);
    let round_until = r.time()?;
    let locked_until = r.time()?;
    let keep_until = r.time()?;
    let len = usize::from(u16::from_be_bytes(r.array()?));
    let address = match len {
        0 => None,
        _ => {
            let text = std::str::from_utf8(r.take(len)?).map_err(|_| Corrupt)?;
            Some(EmailAddress::parse(text).map_err(|_| Corrupt)?)
        }
    };
    let n = usize::from(r.u8()?);
    let mut codes = Vec::with_capacity(n);
    for _ in 0..n {
        let hash = CodeHash::from_bytes(r.array()?);
        codes.push(CodeRecord::new(hash, r.time()?, r.time()?));
    }
    let n = usize::from(u16::from_be_bytes(r.array()?));
    let mut sends = Vec::with_capacity(n);
    for _ in 0..n {
        sends.push(r.time()?);
    }
    if !r.0.is_empty() {
        return Err(Corrupt);
    }
    Ok(Challenge {
        address,
        codes,
        sends,
        round_until,
        locked_until,
        keep_until,
        attempts,
        exhausted,
    })
}

pub(super) fn encode_sends(sends: &[Timestamp]) -> Vec<u8> {
    sends
        .iter()
        .flat_map(|t| t.as_millis().to_be_bytes())
        .collect()
}

pub(super) fn decode_sends(bytes: &[u8]) -> Result<Vec<Timestamp>, Corrupt> {
    if !bytes.len().is_multiple_of(8) {
        return Err(Corrupt);
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| Timestamp::from_millis(u64::from_be_bytes(c.try_into().expect("8 bytes"))))
        .collect())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        if self.0.len() < n {
            return Err(Corrupt);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn u8(&mut self) -> Result<u8, Corrupt> {
        Ok(self.take(1)?[0])
    }

    fn time(&mut self) -> Result<Timestamp, Corrupt> {
        Ok(Timestamp::from_millis(u64::from_be_bytes(self.array()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000 + ms)
    }

    fn sample() -> Challenge {
        Challenge {
            address: Some(EmailAddress::parse("taro@example.com").unwrap()),
            codes: vec![
                CodeRecord::new(CodeHash::from_bytes([1; 32]), t(0), t(300_000)),
                CodeRecord::new(CodeHash::from_bytes([2; 32]), t(60_000), t(360_000)),
            ],
            sends: vec![t(0), t(60_000)],
            round_until: t(360_000),
            locked_until: t(7),
            keep_until: t(3_600_000),
            attempts: 3,
            exhausted: true,
        }
    }

    #[test]
    fn challenge_round_trips() {
        for c in [sample(), Challenge::default()] {
            let bytes = encode_challenge(&c);
            let back = decode_challenge(&bytes).unwrap();
            assert_eq!(format!("{back:?}"), format!("{c:?}"));
            assert_eq!(encode_challenge(&back), bytes);
        }
    }

    #[test]
    fn damaged_values_are_refused() {
        let bytes = encode_challenge(&sample());
        for cut in [0, 1, 10, bytes.len() - 1] {
            assert!(decode_challenge(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_challenge(&longer).is_err());
        let mut newer = bytes;
        newer[0] = 2;
        assert!(decode_challenge(&newer).is_err());
    }

    #[test]
    fn sends_round_trip() {
        let sends = vec![t(0), t(1), t(u64::from(u32::MAX))];
        assert_eq!(decode_sends(&encode_sends(&sends)).unwrap(), sends);
        assert!(decode_sends(&[0; 7]).is_err());
    }
}
