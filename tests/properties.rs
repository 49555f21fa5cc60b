//! Property tests over the parsers that meet hostile input, through the
//! public API (the same parsers the fuzz targets in `fuzz/` drive): address
//! validation, code normalisation, the ticket path pattern, the device
//! cookie finder and token verifier, and the gate's form and JSON bodies
//! (through the layer). Each normaliser never panics, is idempotent, and
//! round-trips where it should; hostile input (CR/LF, NUL, very long,
//! non-ASCII where ASCII is required) is refused with an error.

mod common;

use http::header::{COOKIE, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use proptest::prelude::*;
use tower_otp::device::{DeviceCookie, DeviceTokens};
use tower_otp::mail::Code;
use tower_otp::ticket::Found;
use tower_otp::{AddressError, EmailAddress, KeyRing, PathPattern, Secret, TicketKey, Timestamp};

use common::{Browser, Harness, ticket_path};

/// A valid dot-atom local part and a lower-case domain.
fn address() -> impl Strategy<Value = (String, String)> {
    (
        "[A-Za-z0-9][A-Za-z0-9_+-]{0,15}(\\.[A-Za-z0-9_+-]{1,8}){0,2}",
        "[a-z0-9]{2,12}(\\.[a-z0-9]{1,8}){0,2}\\.[a-z]{2,6}",
    )
}

/// Characters an address must never carry, silently or otherwise.
const HOSTILE: [char; 9] = [
    '\r', '\n', '\0', '\u{7}', '\u{1b}', '\u{2028}', '\u{200b}', '\u{202e}', '\u{85}',
];

proptest! {
    #[test]
    fn address_parse_never_panics_and_is_idempotent(input in any::<String>()) {
        if let Ok(address) = EmailAddress::parse(&input) {
            let text = address.as_str();
            prop_assert!(text.len() <= EmailAddress::MAX_BYTES);
            prop_assert!(!text.chars().any(|c| c.is_control() || c.is_whitespace()));
            prop_assert_eq!(EmailAddress::parse(text), Ok(address.clone()));
        }
    }

    #[test]
    fn address_round_trips_with_the_domain_lower_cased(
        (local, domain) in address(),
        upper in any::<bool>(),
        pad in "[ \t\u{3000}]{0,3}",
    ) {
        let typed_domain = if upper { domain.to_uppercase() } else { domain.clone() };
        let typed = format!("{pad}{local}@{typed_domain}{pad}");
        let parsed = EmailAddress::parse(&typed).expect("a valid address");
        prop_assert_eq!(parsed.as_str(), format!("{local}@{domain}"));
        let masked = parsed.masked();
        prop_assert!(!masked.contains(&domain), "masked {} shows {}", masked, domain);
        if local.len() > 1 {
            prop_assert!(!masked.contains(&local), "masked {} shows {}", masked, local);
        }
    }

    #[test]
    fn address_with_a_control_character_is_refused(
        (local, domain) in address(),
        bad in prop::sample::select(HOSTILE.to_vec()),
        at in any::<prop::sample::Index>(),
    ) {
        let mut typed = format!("{local}@{domain}");
        let mut cuts: Vec<usize> = typed.char_indices().map(|(i, _)| i).collect();
        cuts.push(typed.len());
        typed.insert(cuts[at.index(cuts.len())], bad);
        prop_assert_eq!(EmailAddress::parse(&typed), Err(AddressError::ControlCharacter));
        // Header injection as a whole line, too.
        let injected = format!("{local}@{domain}{bad}Bcc: victim@example.com");
        prop_assert!(EmailAddress::parse(&injected).is_err());
    }

    #[test]
    fn address_too_long_is_refused((local, domain) in address(), extra in 1usize..2000) {
        let long = format!("{local}@{}{domain}", "a.".repeat(EmailAddress::MAX_BYTES / 2 + extra));
        prop_assert_eq!(EmailAddress::parse(&long), Err(AddressError::TooLong));
    }

    #[test]
    fn address_with_a_non_ascii_local_part_is_refused(
        (local, domain) in address(),
        c in "[\u{e0}-\u{ff}\u{3041}-\u{3093}\u{4e00}-\u{4e20}]",
    ) {
        let typed = format!("{local}{c}@{domain}");
        prop_assert!(EmailAddress::parse(&typed).is_err(), "{} accepted", typed);
    }

    #[test]
    fn code_normalize_never_panics_and_is_idempotent(input in any::<String>(), digits in 6u8..=12) {
        if let Ok(code) = Code::normalize(&input, digits) {
            let out = code.as_str();
            prop_assert_eq!(out.len(), usize::from(digits));
            prop_assert!(out.bytes().all(|b| b.is_ascii_digit()));
            let again = Code::normalize(out, digits).unwrap();
            prop_assert_eq!(again.as_str(), out);
        }
    }

    #[test]
    fn code_round_trips_through_separators_and_full_width(
        code in "[0-9]{6}",
        seps in prop::collection::vec("[ \u{3000}\u{2010}\u{2212}\u{30fc}\u{ff0d}\t-]{0,2}", 7),
        wide in prop::collection::vec(any::<bool>(), 6),
    ) {
        let mut typed = seps[0].clone();
        for (i, d) in code.chars().enumerate() {
            typed.push(if wide[i] {
                char::from_u32(u32::from(d) - u32::from('0') + 0xFF10).unwrap()
            } else {
                d
            });
            typed.push_str(&seps[i + 1]);
        }
        let normalized = Code::normalize(&typed, 6).unwrap();
        prop_assert_eq!(normalized.as_str(), code.as_str());
    }

    #[test]
    fn code_with_anything_else_is_refused(
        code in "[0-9]{6}",
        bad in "[\r\n\0a-zA-Z+.,/\u{0660}-\u{0669}\u{1d7ce}]",
        at in 0usize..=6,
    ) {
        let mut typed = code.clone();
        typed.insert_str(at, &bad);
        prop_assert!(Code::normalize(&typed, 6).is_err(), "{:?} accepted", typed);
        let long = format!("{code}{}", " ".repeat(64));
        prop_assert!(Code::normalize(&long, 6).is_err());
    }

    #[test]
    fn path_pattern_round_trips_percent_encoded_ids(id in "[^\\p{Cc}]{1,64}", tail in "(/[a-z]{1,5}){0,2}") {
        let pattern = PathPattern::new("/tickets/{ticket}").unwrap();
        let encoded: String =
            percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC).collect();
        let path = format!("/tickets/{encoded}{tail}");
        match pattern.find_in_path(&path) {
            Found::Ticket(found) => {
                prop_assert_eq!(found.id.as_str(), id.as_str());
                let cookie_path = found.cookie_path(&path);
                prop_assert!(path.starts_with(cookie_path));
                prop_assert!(!cookie_path.contains(';'));
            }
            other => prop_assert!(false, "{:?} for {}", other, path),
        }
    }

    #[test]
    fn path_pattern_never_panics_and_refuses_control_characters(
        path in any::<String>(),
        id in "[a-z]{0,8}",
        bad in "[\0\r\n\u{7f}]",
    ) {
        let pattern = PathPattern::new("/tickets/{ticket}").unwrap();
        if let Found::Ticket(found) = pattern.find_in_path(&path) {
            prop_assert!(!found.id.as_str().is_empty());
            prop_assert!(!found.id.as_str().chars().any(char::is_control));
        }
        let encoded: String =
            percent_encoding::utf8_percent_encode(&bad, percent_encoding::NON_ALPHANUMERIC).collect();
        let hostile = format!("/tickets/{id}{encoded}");
        prop_assert_eq!(pattern.find_in_path(&hostile), Found::Malformed);
        let long = format!("/tickets/{}", "x".repeat(257));
        prop_assert_eq!(pattern.find_in_path(&long), Found::Malformed);
    }

    #[test]
    fn cookie_finder_never_panics_and_finds_what_was_set(
        noise in "[ -~]{0,80}",
        value in "[!#-+\\--:<-\\[\\]-~]{1,40}",
        quoted in any::<bool>(),
    ) {
        let name = "otp-AQEBAQEBAQEBAQEB";
        let mut headers = HeaderMap::new();
        if let Ok(noise) = HeaderValue::from_str(&noise) {
            headers.append(COOKIE, noise);
            // Whatever the noise holds, every value found is cookie-octets.
            for found in DeviceCookie::find_all(&headers, name) {
                prop_assert!(!found.is_empty());
                prop_assert!(!found.contains([';', ',', '"', '\\', ' ']));
            }
        }
        let mut headers = HeaderMap::new();
        let shown = if quoted { format!("\"{value}\"") } else { value.clone() };
        headers.append(COOKIE, HeaderValue::from_str(&format!("a=b; {name}={shown}; c=d")).unwrap());
        prop_assert_eq!(DeviceCookie::find(&headers, name), Some(value.as_str()));
        prop_assert_eq!(DeviceCookie::find(&headers, &name[..name.len() - 1]), None);
    }

    #[test]
    fn token_verifier_refuses_anything_but_the_signed_token(
        noise in any::<String>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let tokens = DeviceTokens::new(KeyRing::derived(&Secret::from_hex("635fb5c22d8b0648b75861f9f06c4d2e11512aeecc43ef41937890b4caf9dbec").unwrap()));
        let ticket = TicketKey::from_bytes([2; 16]);
        let now = Timestamp::from_millis(1_800_000_000_000);
        prop_assert!(tokens.verify(&noise, &ticket, now).is_err());
        let token = tokens.issue(&ticket, 0, now).token;
        prop_assert!(tokens.verify(&token, &ticket, now).is_ok());
        let mut edited = token.clone().into_bytes();
        let i = at.index(edited.len());
        prop_assume!(edited[i] != byte);
        edited[i] = byte;
        if let Ok(edited) = String::from_utf8(edited) {
            prop_assert!(tokens.verify(&edited, &ticket, now).is_err(), "{} accepted", edited);
        }
        prop_assert!(tokens.verify(&token, &TicketKey::from_bytes([3; 16]), now).is_err());
    }
}

/// Form and JSON bodies are parsed inside the layer: whatever a POST carries,
/// the answer is a 4xx (or the gate's page), never a 5xx, never the ticket,
/// and the ticket's challenge is unchanged.
#[test]
fn gate_bodies_never_reach_the_ticket_nor_change_state() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    let harness = Harness::new();
    runtime.block_on(harness.claim("prop"));
    let before = format!("{:?}", runtime.block_on(harness.state("prop")));
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..300),
        prop::sample::select(vec![
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "multipart/form-data; boundary=x",
        ]),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(body, content_type, json)| {
            let reply = runtime.block_on(async {
                let mut browser = harness.browser();
                let mut request = Browser::request(Method::POST, &ticket_path("prop"))
                    .header("content-type", content_type)
                    .header("sec-fetch-site", "same-origin");
                if json {
                    request = request.header("accept", "application/json");
                }
                browser
                    .send(request.body(axum::body::Body::from(body)).unwrap())
                    .await
            });
            prop_assert!(!reply.is_ticket(), "{:?}", reply);
            prop_assert!(
                reply.status.is_client_error() || reply.status == StatusCode::SEE_OTHER,
                "{:?}",
                reply.status
            );
            prop_assert!(reply.device_cookie().is_none());
            Ok(())
        })
        .unwrap();
    let after = format!("{:?}", runtime.block_on(harness.state("prop")));
    assert_eq!(before, after, "a refused body changed the challenge");
    assert!(
        harness.mailer.last_code().is_none(),
        "a refused body sent mail"
    );
}

/// JSON and form bodies that carry a hostile address are refused with 400 and
/// send nothing.
#[test]
fn gate_refuses_hostile_addresses_in_both_encodings() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let harness = Harness::new();
        harness.claim("hostile").await;
        let long = format!("{}@example.com", "a".repeat(300));
        for address in [
            "a@b.c\r\nBcc: x@y.z",
            "a\0@b.c",
            "a@b.c\u{2028}",
            long.as_str(),
            "Taro <a@b.c>",
            "tarö@example.com",
        ] {
            let mut browser = harness.browser();
            browser.open(&ticket_path("hostile")).await;
            let reply = browser
                .post_form(
                    &ticket_path("hostile"),
                    &[("action", "send"), ("email", address)],
                )
                .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "form {address:?}");
            let reply = browser
                .post_json(
                    &ticket_path("hostile"),
                    serde_json::json!({"action": "send", "email": address}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "json {address:?}");
        }
        assert!(harness.mailer.last_code().is_none());
    });
}
