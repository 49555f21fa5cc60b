//! Device tokens and cookies, checked both ways: every token we issue is a
//! standard JWT that `jsonwebtoken` accepts under strict validation, and our
//! own verifier refuses a table of forged tokens (RFC 8725; the security
//! checklist, sections 7 and 8).

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use proptest::prelude::*;
use serde::Deserialize;
use sha2::Sha256;
use tower_otp::cookie::{Cookie, SameSite};
use tower_otp::device::{DeviceCookie, DeviceTokens, TokenError};
use tower_otp::{Clock, DeviceKey, KeyRing, SystemClock, TicketKey, Timestamp};

const OLD_KEY: [u8; 32] = *b"\x8a\x01\x7f\x33\xc4\x10\x9e\x5b\x27\xd8\x61\x0c\xf2\x4a\x93\x1e\x55\xb0\x0d\xe7\x48\x2f\x91\x6c\x3a\xd5\x08\x7b\xe1\x24\x9f\x66";
const KEY: [u8; 32] = *b"\x13\x37\xc0\xde\x42\x99\x0a\xbe\x7e\x51\xf3\x28\x6d\x04\xb9\x8c\x22\xe5\x17\x90\x3b\xaf\x6e\xd1\x05\x48\xfc\x73\x2a\x9d\xc6\x81";
const ATTACKER_KEY: [u8; 32] = [0x5c; 32];

fn ring() -> KeyRing {
    KeyRing::new(DeviceKey::new("k2", &KEY).unwrap())
        .with_previous(DeviceKey::new("k1", &OLD_KEY).unwrap())
        .unwrap()
}

fn ticket() -> TicketKey {
    TicketKey::from_bytes(*b"ticket-key-bytes")
}

fn now() -> Timestamp {
    SystemClock.now()
}

/// `jsonwebtoken`'s strictest HS256 validation for our tokens.
fn strict_validation(tokens: &DeviceTokens, ticket: &TicketKey) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.set_issuer(&[tokens.issuer()]);
    v.set_audience(&[tokens.audience()]);
    v.sub = Some(ticket.as_str().to_owned());
    v.leeway = tokens.leeway().as_secs();
    v
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    jti: String,
    iat: u64,
    exp: u64,
    #[serde(rename = "gen")]
    generation: u64,
}

/// A token with any header and payload JSON, HMAC-SHA256-signed with `key`.
fn forge(key: &[u8], header: &str, payload: &str) -> String {
    let message = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(message.as_bytes());
    format!("{message}.{}", B64.encode(mac.finalize().into_bytes()))
}

const HEADER: &str = r#"{"typ":"device+jwt","alg":"HS256","kid":"k2"}"#;

/// A payload our verifier accepts, with `edit` applied to its claims.
fn payload(
    now: Timestamp,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> String {
    let mut claims = serde_json::json!({
        "iss": "tower-otp",
        "aud": "tower-otp/device",
        "sub": ticket().as_str(),
        "jti": "AAAAAAAAAAAAAAAAAAAAAA",
        "iat": now.as_secs(),
        "exp": now.as_secs() + 3600,
        "gen": 0,
    });
    edit(claims.as_object_mut().unwrap());
    claims.to_string()
}

fn valid(now: Timestamp) -> String {
    payload(now, |_| {})
}

#[test]
fn issued_tokens_pass_jsonwebtoken_strict_validation() {
    let tokens = DeviceTokens::new(ring());
    let ticket = ticket();
    let now = now();
    let issued = tokens.issue(&ticket, 42, now);

    let header = jsonwebtoken::decode_header(&issued.token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    assert_eq!(header.typ.as_deref(), Some("device+jwt"));
    assert_eq!(header.kid.as_deref(), Some("k2"));
    assert!(header.jwk.is_none() && header.jku.is_none() && header.x5u.is_none());

    let data = jsonwebtoken::decode::<Claims>(
        &issued.token,
        &DecodingKey::from_secret(&KEY),
        &strict_validation(&tokens, &ticket),
    )
    .unwrap();
    let c = data.claims;
    assert_eq!(c.iss, "tower-otp");
    assert_eq!(c.aud, "tower-otp/device");
    assert_eq!(c.sub, ticket.as_str());
    assert_eq!(c.jti, issued.device_id.to_string());
    assert_eq!(c.iat, now.as_secs());
    assert_eq!(c.exp, issued.expires_at.as_secs());
    assert_eq!(c.exp - c.iat, 30 * 24 * 3600);
    assert_eq!(c.generation, 42);

    // The same token under another ticket, key, issuer or audience fails there too.
    let other = TicketKey::from_bytes([0; 16]);
    assert!(
        jsonwebtoken::decode::<Claims>(
            &issued.token,
            &DecodingKey::from_secret(&KEY),
            &strict_validation(&tokens, &other),
        )
        .is_err()
    );
    assert!(
        jsonwebtoken::decode::<Claims>(
            &issued.token,
            &DecodingKey::from_secret(&OLD_KEY),
            &strict_validation(&tokens, &ticket),
        )
        .is_err()
    );
}

#[test]
fn tokens_jsonwebtoken_accepts_we_accept() {
    // Our forge() matches what a standard library would write; a sanity check
    // that the rejections below are about the changed part only.
    let tokens = DeviceTokens::new(ring());
    let now = now();
    let token = forge(&KEY, HEADER, &valid(now));
    assert!(tokens.verify(&token, &ticket(), now).is_ok());
    assert!(
        jsonwebtoken::decode::<Claims>(
            &token,
            &DecodingKey::from_secret(&KEY),
            &strict_validation(&tokens, &ticket()),
        )
        .is_ok()
    );
}

#[test]
fn forged_tokens_are_rejected() {
    let tokens = DeviceTokens::new(ring());
    let now = now();
    let good = forge(&KEY, HEADER, &valid(now));
    let issued = tokens.issue(&ticket(), 0, now).token;
    let (h, rest) = issued.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let leeway = tokens.leeway().as_secs();
    let rsa_public_key = b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n";
    let header_with =
        |extra: &str| format!(r#"{{"typ":"device+jwt","alg":"HS256","kid":"k2",{extra}}}"#);
    let without = |claim: &'static str| {
        forge(
            &KEY,
            HEADER,
            &payload(now, |c| {
                c.remove(claim);
            }),
        )
    };
    let with = |claim: &'static str, value: serde_json::Value| {
        forge(
            &KEY,
            HEADER,
            &payload(now, |c| {
                c.insert(claim.to_owned(), value);
            }),
        )
    };
    use TokenError::*;

    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(r#"{"typ":"device+jwt","alg":"none","kid":"k2"}"#),
                B64.encode(valid(now))
            ),
            WrongAlgorithm,
        ),
        (
            "alg none with a signature",
            forge(
                &KEY,
                r#"{"typ":"device+jwt","alg":"none","kid":"k2"}"#,
                &valid(now),
            ),
            WrongAlgorithm,
        ),
        (
            "HS384",
            forge(
                &KEY,
                r#"{"typ":"device+jwt","alg":"HS384","kid":"k2"}"#,
                &valid(now),
            ),
            WrongAlgorithm,
        ),
        (
            "RS256 with the RSA public key as HMAC secret",
            forge(
                rsa_public_key,
                r#"{"typ":"device+jwt","alg":"RS256","kid":"k2"}"#,
                &valid(now),
            ),
            WrongAlgorithm,
        ),
        (
            "hs256 lower case",
            forge(
                &KEY,
                r#"{"typ":"device+jwt","alg":"hs256","kid":"k2"}"#,
                &valid(now),
            ),
            WrongAlgorithm,
        ),
        (
            "changed payload",
            format!(
                "{h}.{}.{sig}",
                B64.encode(payload(now, |c| {
                    c.insert("gen".into(), 9.into());
                }))
            ),
            BadSignature,
        ),
        (
            "signature from another token",
            format!("{}.{sig}", good.rsplit_once('.').unwrap().0),
            BadSignature,
        ),
        (
            "empty signature",
            format!("{}.", good.rsplit_once('.').unwrap().0),
            BadSignature,
        ),
        (
            "wrong key",
            forge(&ATTACKER_KEY, HEADER, &valid(now)),
            BadSignature,
        ),
        (
            "old key under the new kid",
            forge(&OLD_KEY, HEADER, &valid(now)),
            BadSignature,
        ),
        (
            "unknown kid",
            forge(
                &KEY,
                r#"{"typ":"device+jwt","alg":"HS256","kid":"k9"}"#,
                &valid(now),
            ),
            UnknownKey,
        ),
        (
            "path traversal kid",
            forge(
                &KEY,
                r#"{"typ":"device+jwt","alg":"HS256","kid":"../../etc/passwd"}"#,
                &valid(now),
            ),
            UnknownKey,
        ),
        (
            "no kid",
            forge(&KEY, r#"{"typ":"device+jwt","alg":"HS256"}"#, &valid(now)),
            UnknownKey,
        ),
        (
            "10 KB kid",
            forge(
                &KEY,
                &format!(
                    r#"{{"typ":"device+jwt","alg":"HS256","kid":"{}"}}"#,
                    "k".repeat(10_240)
                ),
                &valid(now),
            ),
            TooLarge,
        ),
        (
            "embedded jwk, attacker key",
            forge(
                &ATTACKER_KEY,
                &header_with(&format!(
                    r#""jwk":{{"kty":"oct","k":"{}"}}"#,
                    B64.encode(ATTACKER_KEY)
                )),
                &valid(now),
            ),
            UnexpectedHeader,
        ),
        (
            "embedded jwk, real key",
            forge(
                &KEY,
                &header_with(r#""jwk":{"kty":"oct","k":"AAAA"}"#),
                &valid(now),
            ),
            UnexpectedHeader,
        ),
        (
            "jku",
            forge(
                &KEY,
                &header_with(r#""jku":"https://evil.example/k""#),
                &valid(now),
            ),
            UnexpectedHeader,
        ),
        (
            "crit",
            forge(&KEY, &header_with(r#""crit":["exp"]"#), &valid(now)),
            UnexpectedHeader,
        ),
        (
            "header members reordered",
            forge(
                &KEY,
                r#"{"alg":"HS256","typ":"device+jwt","kid":"k2"}"#,
                &valid(now),
            ),
            UnexpectedHeader,
        ),
        (
            "header with whitespace",
            forge(
                &KEY,
                r#"{"typ":"device+jwt", "alg":"HS256","kid":"k2"}"#,
                &valid(now),
            ),
            UnexpectedHeader,
        ),
        (
            "typ JWT",
            forge(
                &KEY,
                r#"{"typ":"JWT","alg":"HS256","kid":"k2"}"#,
                &valid(now),
            ),
            WrongType,
        ),
        (
            "typ absent",
            forge(&KEY, r#"{"alg":"HS256","kid":"k2"}"#, &valid(now)),
            WrongType,
        ),
        (
            "header not JSON",
            forge(&KEY, "not json", &valid(now)),
            Malformed,
        ),
        (
            "expired: exp = now - leeway - 1",
            with("exp", (now.as_secs() - leeway - 1).into()),
            Expired,
        ),
        ("expired long ago", with("exp", 0.into()), Expired),
        (
            "other ticket",
            with("sub", TicketKey::from_bytes([0; 16]).as_str().into()),
            WrongTicket,
        ),
        ("raw id as sub", with("sub", "A7x9-Qz".into()), WrongTicket),
        ("string exp", with("exp", "9999999999".into()), Malformed),
        ("float exp", with("exp", 9_999_999_999.5.into()), Malformed),
        ("negative exp", with("exp", (-1).into()), Malformed),
        ("string gen", with("gen", "0".into()), Malformed),
        ("numeric sub", with("sub", 1.into()), Malformed),
        (
            "aud as array",
            with("aud", serde_json::json!(["tower-otp/device"])),
            Malformed,
        ),
        (
            "only a string exp, real key",
            forge(&KEY, HEADER, r#"{"exp":"9999999999"}"#),
            Malformed,
        ),
        (
            "only a string nbf, real key",
            forge(&KEY, HEADER, r#"{"nbf":"99999999999"}"#),
            MissingClaim("iss"),
        ),
        ("missing iss", without("iss"), MissingClaim("iss")),
        ("missing aud", without("aud"), MissingClaim("aud")),
        ("missing sub", without("sub"), MissingClaim("sub")),
        ("missing exp", without("exp"), MissingClaim("exp")),
        ("missing iat", without("iat"), MissingClaim("iat")),
        ("missing jti", without("jti"), MissingClaim("jti")),
        ("missing gen", without("gen"), MissingClaim("gen")),
        (
            "null exp",
            with("exp", serde_json::Value::Null),
            MissingClaim("exp"),
        ),
        (
            "wrong iss",
            with("iss", "tower-otp-evil".into()),
            WrongIssuer,
        ),
        (
            "wrong aud",
            with("aud", "tower-otp/other".into()),
            WrongAudience,
        ),
        ("short jti", with("jti", "AAAA".into()), Malformed),
        (
            "iat after exp",
            with("iat", (now.as_secs() + 7200).into()),
            Malformed,
        ),
        (
            "duplicate sub",
            forge(
                &KEY,
                HEADER,
                &valid(now).replacen('{', r#"{"sub":"AAAAAAAAAAAAAAAAAAAAAA","#, 1),
            ),
            Malformed,
        ),
        ("payload not JSON", forge(&KEY, HEADER, "{"), Malformed),
        ("empty payload", forge(&KEY, HEADER, ""), Malformed),
        ("oversized", "a".repeat(4096), TooLarge),
        (
            "oversized payload, real key",
            forge(
                &KEY,
                HEADER,
                &payload(now, |c| {
                    c.insert("pad".into(), "x".repeat(1200).into());
                }),
            ),
            TooLarge,
        ),
        (
            "two segments",
            good.rsplit_once('.').unwrap().0.to_owned(),
            Malformed,
        ),
        ("four segments", format!("{good}.{sig}"), Malformed),
        ("non-ASCII", format!("{good}\u{e9}"), Malformed),
        ("space", format!(" {good}"), Malformed),
        ("inner space", good.replacen('.', " .", 1), Malformed),
        ("brace", format!("{{{good}"), Malformed),
        (
            "JSON instead of base64",
            format!("{HEADER}.{}.{sig}", valid(now)),
            Malformed,
        ),
        ("padding", format!("{good}="), Malformed),
        (
            "standard base64 alphabet",
            format!("{}.+{}", good.rsplit_once('.').unwrap().0, &sig[1..]),
            Malformed,
        ),
        (
            "standard base64 alphabet in payload",
            format!("{h}.+{}", &rest[1..]),
            Malformed,
        ),
        ("empty", String::new(), Malformed),
        ("dots only", "..".into(), Malformed),
    ];

    let mut names = HashSet::new();
    for (name, token, want) in &cases {
        assert!(names.insert(*name), "duplicate case {name}");
        assert_eq!(
            tokens.verify(token, &ticket(), now),
            Err(*want),
            "case {name:?}: {token}"
        );
    }
}

#[test]
fn key_rotation() {
    let now = now();
    let ticket = ticket();
    let k1 = || DeviceKey::new("k1", &OLD_KEY).unwrap();
    let k2 = || DeviceKey::new("k2", &KEY).unwrap();

    let before = DeviceTokens::new(KeyRing::new(k1()));
    let old_token = before.issue(&ticket, 0, now).token;

    let during = DeviceTokens::new(KeyRing::new(k2()).with_previous(k1()).unwrap());
    assert!(during.verify(&old_token, &ticket, now).is_ok());
    let new_token = during.issue(&ticket, 0, now).token;
    let header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(header.kid.as_deref(), Some("k2"));
    assert!(during.verify(&new_token, &ticket, now).is_ok());

    let after = DeviceTokens::new(KeyRing::new(k2()));
    assert_eq!(
        after.verify(&old_token, &ticket, now),
        Err(TokenError::UnknownKey)
    );
    assert!(after.verify(&new_token, &ticket, now).is_ok());

    // A key under a different id is a different key: re-labelling fails.
    let relabelled = DeviceTokens::new(KeyRing::new(DeviceKey::new("k1", &KEY).unwrap()));
    assert_eq!(
        relabelled.verify(&old_token, &ticket, now),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn device_ids_are_fresh_128_bit_and_payload_has_no_personal_data() {
    let tokens = DeviceTokens::new(ring());
    let ticket = ticket();
    let now = now();
    let mut seen = HashSet::new();
    for _ in 0..100_000 {
        let issued = tokens.issue(&ticket, 0, now);
        assert!(seen.insert(issued.device_id));
    }
    let issued = tokens.issue(&ticket, 0, now);
    let payload = issued.token.split('.').nth(1).unwrap();
    let json = String::from_utf8(B64.decode(payload).unwrap()).unwrap();
    assert!(!json.contains('@'), "{json}");
    let claims: Claims = serde_json::from_str(&json).unwrap();
    assert_eq!(claims.jti.len(), 22);
    assert!(
        claims
            .jti
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(B64.decode(&claims.jti).unwrap().len(), 16);
    assert_eq!(claims.sub.len(), 22);
}

#[test]
fn set_cookie_attributes() {
    let tokens = DeviceTokens::new(ring());
    let cookies = DeviceCookie::for_tokens(&tokens);
    let ticket = ticket();
    let now = now();
    let issued = tokens.issue(&ticket, 0, now);
    let set = cookies.set_cookie(&ticket, &issued.token, "/tickets/abc");
    let parsed = Cookie::parse(set.to_string()).unwrap();
    assert_eq!(parsed.name(), cookies.name(&ticket).as_str());
    assert!(parsed.name().starts_with("__Secure-"));
    assert_eq!(parsed.value(), issued.token);
    assert_eq!(parsed.secure(), Some(true));
    assert_eq!(parsed.http_only(), Some(true));
    assert_eq!(parsed.same_site(), Some(SameSite::Lax));
    assert_eq!(parsed.path(), Some("/tickets/abc"));
    assert_eq!(parsed.domain(), None);
    let max_age = parsed.max_age().unwrap().whole_seconds();
    assert_eq!(max_age, 30 * 24 * 3600);
    assert!(max_age as u64 <= issued.expires_at.as_secs() - now.as_secs());
    assert!(max_age as u64 <= tower_otp::device::MAX_DEVICE_LIFETIME.as_secs());

    // Replaying the cookie value finds it and verifies.
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        format!("theme=dark; {}={}", parsed.name(), parsed.value())
            .parse()
            .unwrap(),
    );
    let found = DeviceCookie::find(&headers, parsed.name()).unwrap();
    assert!(tokens.verify(found, &ticket, now).is_ok());
}

#[test]
fn largest_realistic_cookie_is_small() {
    let kid = "K".repeat(32);
    let tokens = DeviceTokens::new(KeyRing::new(DeviceKey::new(kid, &KEY).unwrap()))
        .with_issuer("i".repeat(64))
        .unwrap()
        .with_audience("a".repeat(64))
        .unwrap()
        .with_lifetime(tower_otp::device::MAX_DEVICE_LIFETIME)
        .unwrap();
    let ticket = ticket();
    let issued = tokens.issue(&ticket, u64::MAX, Timestamp::from_millis(u64::MAX / 2));
    let cookie = DeviceCookie::for_tokens(&tokens).set_cookie(&ticket, &issued.token, "/");
    let size = cookie.name().len() + cookie.value().len();
    assert!(size < 3500, "{size}");
    assert!(size < 700, "{size}: tokens should stay well under 1 KiB");
    assert!(
        tokens
            .verify(&issued.token, &ticket, Timestamp::from_millis(u64::MAX / 2))
            .is_ok()
    );
}

/// RFC 6265bis §5.1.4 path-match.
fn path_matches(cookie_path: &str, request_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path.as_bytes()[cookie_path.len()] == b'/'))
}

#[test]
fn twenty_tickets_in_one_browser() {
    let tokens = DeviceTokens::new(ring());
    let cookies = DeviceCookie::for_tokens(&tokens);
    let now = now();
    let jar: Vec<(TicketKey, Cookie<'static>)> = (0..20u8)
        .map(|i| {
            let ticket = TicketKey::from_bytes([i; 16]);
            let token = tokens.issue(&ticket, 0, now).token;
            let path = format!("/tickets/t{i}");
            (ticket, cookies.set_cookie(&ticket, &token, &path))
        })
        .collect();
    let names: HashSet<&str> = jar.iter().map(|(_, c)| c.name()).collect();
    assert_eq!(names.len(), 20);

    for request in ["/tickets/t7", "/tickets/t7/seat/3"] {
        let sent: Vec<&Cookie<'_>> = jar
            .iter()
            .map(|(_, c)| c)
            .filter(|c| path_matches(c.path().unwrap(), request))
            .collect();
        assert_eq!(sent.len(), 1, "{request}");
        let header = sent
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ");
        assert!(header.len() < 1024, "{}", header.len());
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, header.parse().unwrap());
        let (ticket, _) = &jar[7];
        let found = DeviceCookie::find(&headers, &cookies.name(ticket)).unwrap();
        assert!(tokens.verify(found, ticket, now).is_ok());
        // And it opens only its own ticket.
        assert_eq!(
            tokens.verify(found, &jar[8].0, now),
            Err(TokenError::WrongTicket)
        );
    }
    assert!(!path_matches("/tickets/t1", "/tickets/t10"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_are_rejected(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let tokens = DeviceTokens::new(ring());
        let input = String::from_utf8_lossy(&bytes);
        prop_assert!(tokens.verify(&input, &ticket(), now()).is_err());
    }

    #[test]
    fn random_token_shaped_strings_are_rejected(input in "[A-Za-z0-9_.-]{0,600}") {
        let tokens = DeviceTokens::new(ring());
        prop_assert!(tokens.verify(&input, &ticket(), now()).is_err());
    }

    #[test]
    fn any_single_change_to_a_token_is_rejected(at in any::<prop::sample::Index>(), with in "[A-Za-z0-9_.={} -]") {
        let tokens = DeviceTokens::new(ring());
        let now = now();
        let token = tokens.issue(&ticket(), 0, now).token;
        let at = at.index(token.len());
        prop_assume!(token[at..at + 1] != with);
        let changed = format!("{}{with}{}", &token[..at], &token[at + 1..]);
        prop_assert!(tokens.verify(&changed, &ticket(), now).is_err());
    }
}
