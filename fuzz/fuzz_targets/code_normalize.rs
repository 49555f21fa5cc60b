//! Code normalisation: never a panic; an accepted code is exactly `digits`
//! ASCII digits and normalises to itself; dropping separators and folding
//! full-width digits is all it does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_otp::mail::Code;

fuzz_target!(|data: (u8, &str)| {
    let (digits, input) = data;
    let digits = 6 + digits % 7;
    let Ok(code) = Code::normalize(input, digits) else {
        return;
    };
    let out = code.as_str();
    assert_eq!(out.len(), usize::from(digits));
    assert!(out.bytes().all(|b| b.is_ascii_digit()), "{out:?}");
    assert_eq!(
        Code::normalize(out, digits).expect("idempotent").as_str(),
        out
    );
    // The digits come from the input in order (full-width folded).
    let folded: String = input
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '\u{FF10}'..='\u{FF19}' => char::from_u32(u32::from(c) - 0xFF10 + u32::from('0')),
            _ => None,
        })
        .collect();
    assert_eq!(folded, out);
});
