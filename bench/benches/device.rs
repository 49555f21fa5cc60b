//! Device-token and device-cookie hot path, against baselines in the same run.
//!
//! `cargo bench -p tower-otp-bench --bench device -- --warm-up-time 1 --measurement-time 3`
//!
//! - `token/verify`: our verifier on a valid token it has seen (a per-thread
//!   cache hit, as a browser's repeat request);
//! - `token/verify_cold`: the same on 1,024 tokens in turn (the cache holds
//!   64), so nearly every call verifies in full;
//! - `token/jsonwebtoken_decode`: `jsonwebtoken::decode` with the equivalent
//!   strict validation and a `typ` check (the baseline);
//! - `token/hmac_floor`: a bare pre-keyed HMAC-SHA256 over `header.payload`;
//! - `cookie/find` vs `cookie/split_parse`: finding the device cookie in a
//!   request with five cookies.

// `criterion_group!` defines an undocumented `pub fn`.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use http::header::COOKIE;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Sha256;
use tower_otp::cookie::Cookie;
use tower_otp::device::{DeviceCookie, DeviceTokens};
use tower_otp::{Clock, DeviceKey, KeyRing, SystemClock, TicketKey};

const KEY: [u8; 32] = *b"\x13\x37\xc0\xde\x42\x99\x0a\xbe\x7e\x51\xf3\x28\x6d\x04\xb9\x8c\x22\xe5\x17\x90\x3b\xaf\x6e\xd1\x05\x48\xfc\x73\x2a\x9d\xc6\x81";
const OLD_KEY: [u8; 32] = *b"\x8a\x01\x7f\x33\xc4\x10\x9e\x5b\x27\xd8\x61\x0c\xf2\x4a\x93\x1e\x55\xb0\x0d\xe7\x48\x2f\x91\x6c\x3a\xd5\x08\x7b\xe1\x24\x9f\x66";

#[derive(Deserialize)]
#[allow(dead_code)]
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

fn tokens(c: &mut Criterion) {
    let ring = KeyRing::new(DeviceKey::new("k2", &KEY).unwrap())
        .with_previous(DeviceKey::new("k1", &OLD_KEY).unwrap())
        .unwrap();
    let tokens = DeviceTokens::new(ring);
    let ticket = TicketKey::from_bytes(*b"ticket-key-bytes");
    let now = SystemClock.now();
    let token = tokens.issue(&ticket, 3, now).token;
    assert!(tokens.verify(&token, &ticket, now).is_ok());

    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[tokens.issuer()]);
    validation.set_audience(&[tokens.audience()]);
    validation.sub = Some(ticket.as_str().to_owned());
    validation.leeway = tokens.leeway().as_secs();
    let decoding = DecodingKey::from_secret(&KEY);
    let jwt_decode = |token: &str| {
        let data = jsonwebtoken::decode::<Claims>(token, &decoding, &validation).ok()?;
        (data.header.typ.as_deref() == Some("device+jwt")).then_some(data.claims)
    };
    assert!(jwt_decode(&token).is_some());

    let mac = <Hmac<Sha256> as Mac>::new_from_slice(&KEY).unwrap();
    let message = token.rsplit_once('.').unwrap().0.as_bytes();

    let mut group = c.benchmark_group("token");
    group.bench_function("verify", |b| {
        b.iter(|| tokens.verify(black_box(&token), black_box(&ticket), black_box(now)))
    });
    let many: Vec<String> = (0..1024)
        .map(|g| tokens.issue(&ticket, g, now).token)
        .collect();
    let mut next = 0;
    group.bench_function("verify_cold", |b| {
        b.iter(|| {
            next = (next + 1) % many.len();
            tokens.verify(black_box(&many[next]), black_box(&ticket), black_box(now))
        })
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| jwt_decode(black_box(&token)))
    });
    group.bench_function("hmac_floor", |b| {
        b.iter(|| {
            let mut mac = mac.clone();
            mac.update(black_box(message));
            mac.finalize().into_bytes()
        })
    });
    group.finish();
}

fn cookies(c: &mut Criterion) {
    let tokens = DeviceTokens::new(KeyRing::new(DeviceKey::new("k2", &KEY).unwrap()));
    let ticket = TicketKey::from_bytes(*b"ticket-key-bytes");
    let token = tokens.issue(&ticket, 0, SystemClock.now()).token;
    let name = DeviceCookie::new().name(&ticket);
    let header = format!(
        "_ga=GA1.1.1234567890.1700000000; theme=dark; lang=ja; \
         session=7f3c9a1e0b2d4c6e8fa1b3d5f7092a4c; {name}={token}"
    );
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, header.parse().unwrap());
    assert_eq!(DeviceCookie::find(&headers, &name), Some(token.as_str()));
    assert_eq!(
        split_parse(&headers, &name).map(|c| c.value().to_owned()),
        Some(token.clone())
    );

    let mut group = c.benchmark_group("cookie");
    group.bench_function("find", |b| {
        b.iter(|| DeviceCookie::find(black_box(&headers), black_box(&name)))
    });
    group.bench_function("split_parse", |b| {
        b.iter(|| split_parse(black_box(&headers), black_box(&name)))
    });
    group.finish();
}

/// The `cookie` crate's way: parse every cookie until the name matches.
fn split_parse<'a>(headers: &'a HeaderMap, name: &str) -> Option<Cookie<'a>> {
    headers.get_all(COOKIE).iter().find_map(|v| {
        Cookie::split_parse(v.to_str().ok()?)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
    })
}

criterion_group!(benches, tokens, cookies);
criterion_main!(benches);
