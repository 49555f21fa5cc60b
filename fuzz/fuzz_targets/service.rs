//! The whole layer fed arbitrary request sequences (one browser's jar
//! replayed between steps). Asserts: never a panic; the inner handler runs
//! for a ticket request only with a device cookie that verifies for that
//! ticket, or, when first devices are trusted, on the claim that sets one;
//! never for a malformed ticket; every `Set-Cookie` carries only the
//! attributes the gate writes (`Path` a prefix of the request path or `/`,
//! `HttpOnly`, `Secure`, `SameSite=Lax`, `Max-Age`), never `Domain`.
#![no_main]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, LazyLock, Mutex};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use tower_otp::device::DeviceCookie;
use tower_otp::ticket::Found;
use tower_otp::{
    __fuzz, testing::CapturingMailer, Clock, FirstDevice, Flow, testing::ManualClock, MemoryStore, OtpLayer,
    PathPattern, Secret, TicketId, Timestamp, VerifiedDevice,
};

const NOW: u64 = 1_800_000_000_000;
const HEADER_NAMES: [&str; 14] = [
    "cookie",
    "content-type",
    "accept",
    "origin",
    "sec-fetch-site",
    "sec-purpose",
    "purpose",
    "accept-language",
    "x-forwarded-proto",
    "host",
    "content-length",
    "referer",
    "transfer-encoding",
    "x-other",
];

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
});

#[derive(Arbitrary, Debug)]
struct Input {
    mode: u8,
    secure: bool,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
struct Step {
    method: u8,
    /// Under `/tickets/` unless `raw_path`.
    path: String,
    raw_path: bool,
    query: Option<String>,
    headers: Vec<(u8, Vec<u8>)>,
    /// 0: none; 1: the valid cookie of ticket `own`; 2: the same token under
    /// the cookie name of the requested ticket; 3: the jar only.
    device: u8,
    body: Vec<u8>,
}

/// What the inner handler saw.
#[derive(Default)]
struct Seen(Vec<(String, Option<String>)>);

fuzz_target!(|input: Input| {
    if input.steps.len() > 6 {
        return;
    }
    RUNTIME.block_on(run(input));
});

async fn run(input: Input) {
    let secret =
        Secret::from_hex("42f2bfe89aeafc549f724da386b456af061dff8636f3b4054866a36b3556b1d4")
            .expect("a fixed test key");
    let clock = ManualClock::new(Timestamp::from_millis(NOW));
    let flow = Flow::new(&secret, MemoryStore::new(), CapturingMailer::new())
        .with_clock(clock.clone())
        .with_new_device_notice(false);
    let mode = match input.mode % 3 {
        0 => FirstDevice::Trust,
        1 => FirstDevice::Confirm,
        _ => FirstDevice::Challenge,
    };
    let layer = OtpLayer::new(flow.clone())
        .with_ticket_path("/tickets/{ticket}")
        .expect("valid pattern")
        .with_cookie_secure(input.secure)
        .with_first_device(mode);
    let pattern = PathPattern::new("/tickets/{ticket}").expect("valid pattern");
    let tokens = __fuzz::device_tokens(&flow);
    let cookies = DeviceCookie::new().with_secure(input.secure);
    let own = flow.ticket_key(&TicketId::new("own"));
    let own_token = tokens.issue(&own, 0, Timestamp::from_millis(NOW)).token;

    let seen = Arc::new(Mutex::new(Seen::default()));
    let inner = {
        let seen = seen.clone();
        tower::service_fn(move |request: Request<Full<Bytes>>| {
            let device = request.extensions().get::<VerifiedDevice>().cloned();
            seen.lock().unwrap().0.push((
                request.uri().path().to_owned(),
                device.map(|d| d.ticket().as_str().to_owned()),
            ));
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner")))) }
        })
    };
    let service = tower::Layer::layer(&layer, inner);
    let mut jar: BTreeMap<String, String> = BTreeMap::new();

    for step in input.steps {
        let path = if step.raw_path {
            step.path.clone()
        } else {
            format!("/tickets/{}", step.path)
        };
        let uri = match &step.query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let method = match step.method % 6 {
            0 => Method::GET,
            1 => Method::HEAD,
            2 | 3 => Method::POST,
            4 => Method::OPTIONS,
            _ => Method::PUT,
        };
        let Ok(mut request) = Request::builder()
            .method(method)
            .uri(uri.as_str())
            .body(Full::new(Bytes::from(step.body)))
        else {
            continue;
        };
        let request_path = request.uri().path().to_owned();
        for (name, value) in step.headers.iter().take(8) {
            let name =
                HeaderName::from_static(HEADER_NAMES[usize::from(*name) % HEADER_NAMES.len()]);
            if let Ok(value) = HeaderValue::from_bytes(value) {
                request.headers_mut().append(name, value);
            }
        }
        let found = pattern.find_in_path(&request_path);
        let mut pairs: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        match step.device % 4 {
            1 => pairs.push(format!("{}={own_token}", cookies.name(&own).as_str())),
            2 => {
                if let Found::Ticket(m) = &found {
                    let key = flow.ticket_key(&m.id);
                    pairs.push(format!("{}={own_token}", cookies.name(&key).as_str()));
                }
            }
            _ => {}
        }
        if !pairs.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&pairs.join("; ")) {
                request.headers_mut().append(COOKIE, value);
            }
        }
        // Which ticket a valid device cookie in this request opens, if any.
        let valid_for = match &found {
            Found::Ticket(m) => {
                let key = flow.ticket_key(&m.id);
                let name = cookies.name(&key);
                DeviceCookie::find_all(request.headers(), name.as_str())
                    .any(|token| tokens.verify(token, &key, clock.now()).is_ok())
            }
            _ => false,
        };

        let before = seen.lock().unwrap().0.len();
        let response = service.clone().oneshot(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let _ = body.collect().await;
        let inner_ran = seen.lock().unwrap().0.len() > before;

        let mut sets_device = false;
        for value in parts.headers.get_all(SET_COOKIE) {
            let text = value.to_str().expect("Set-Cookie is ASCII");
            let mut attributes = text.split("; ");
            let pair = attributes.next().expect("a name");
            let (name, value) = pair.split_once('=').expect("name=value");
            let mut same_site = None;
            let mut removal = false;
            for attribute in attributes {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                match key {
                    "HttpOnly" | "Secure" => assert!(val.is_empty(), "{text:?}"),
                    "SameSite" => same_site = Some(val),
                    "Path" => assert!(
                        val == "/" || request_path.starts_with(val),
                        "Path {val:?} for {request_path:?}: {text:?}"
                    ),
                    "Max-Age" => {
                        let age: i64 = val.parse().expect("Max-Age is a number");
                        removal |= age == 0;
                    }
                    "Expires" => {}
                    _ => panic!("attribute the gate did not write: {text:?}"),
                }
            }
            assert_eq!(same_site, Some("Lax"), "{text:?}");
            if input.secure {
                assert!(text.contains("; Secure"), "{text:?}");
            }
            if let Found::Ticket(m) = &found {
                let key = flow.ticket_key(&m.id);
                if name == cookies.name(&key).as_str() && !removal {
                    sets_device = true;
                    assert!(tokens.verify(value, &key, clock.now()).is_ok());
                }
            }
            if removal {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }

        match &found {
            Found::Ticket(m) if inner_ran => {
                let (_, device) = seen.lock().unwrap().0.last().cloned().expect("seen");
                assert_eq!(
                    device.as_deref(),
                    Some(m.id.as_str()),
                    "VerifiedDevice for the ticket"
                );
                let claimed = sets_device && !matches!(mode, FirstDevice::Challenge);
                assert!(
                    valid_for || claimed,
                    "inner ran for {:?} without a valid cookie (status {})",
                    m.id.as_str(),
                    parts.status
                );
            }
            Found::Malformed | Found::Misconfigured(_) => {
                assert!(!inner_ran, "inner ran for a malformed ticket path");
            }
            _ => {}
        }
    }
}
