//! The device-token verifier over a cookie's raw bytes: never a panic, and
//! never `Ok` for anything but the exact token the key signed (edits of a
//! real token included: a changed byte, a re-encoding, a cut, an append).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tower_otp::device::{DeviceTokens, IssuedToken};
use tower_otp::{__fuzz, KeyRing, Secret, TicketKey, Timestamp};

const NOW: u64 = 1_800_000_000_000;

struct Fixture {
    tokens: DeviceTokens,
    ticket: TicketKey,
    issued: IssuedToken,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let secret =
        Secret::from_hex("44bd398f411f72c314a32f0809d8142282a2bb51df4ef8647f2b38b70dd94f20")
            .expect("a fixed test key");
    let tokens = DeviceTokens::new(KeyRing::derived(&secret));
    let ticket = TicketKey::from_bytes([3; 16]);
    let issued = tokens.issue(&ticket, 0, Timestamp::from_millis(NOW));
    Fixture {
        tokens,
        ticket,
        issued,
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token: Vec<u8> = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        // Edits of the real token: (position, byte) pairs, then an optional cut.
        let mut token = f.issued.token.as_bytes().to_vec();
        for edit in rest.chunks(2) {
            match *edit {
                [at, b] if usize::from(at) < token.len() => token[usize::from(at)] = b,
                [at, b] => token.insert(usize::from(at) % (token.len() + 1), b),
                [cut] => token.truncate(usize::from(cut) * 2),
                _ => {}
            }
        }
        token
    };
    let at = Timestamp::from_millis(NOW + u64::from(mode >> 1) * 3_600_000);
    let result = __fuzz::verify_token_bytes(&f.tokens, &token, &f.ticket, at);
    if result.is_ok() {
        assert_eq!(
            token,
            f.issued.token.as_bytes(),
            "accepted a token the key never signed"
        );
    }
    // The public `verify` agrees with the byte path whenever the bytes are text.
    if let Ok(text) = std::str::from_utf8(&token) {
        assert_eq!(f.tokens.verify(text, &f.ticket, at), result);
    }
    // A token for this ticket never opens another.
    let other = TicketKey::from_bytes([4; 16]);
    assert!(__fuzz::verify_token_bytes(&f.tokens, &token, &other, at).is_err());
});
