//! The ticket path pattern: never a panic; a found ticket is 1 to 256 bytes
//! without control characters and is the percent-decoded segment after the
//! literal prefix; its cookie path is a prefix of the request path and
//! survives the gate's `Set-Cookie` writer unchanged or as `/`, which never
//! lets a path inject an attribute.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_otp::__fuzz;
use tower_otp::PathPattern;
use tower_otp::ticket::Found;

fuzz_target!(|data: (&str, &str)| {
    let (pattern, path) = data;
    for pattern in [pattern, "/tickets/{ticket}", "/a/b/{id}"] {
        let Ok(pattern) = PathPattern::new(pattern) else {
            continue;
        };
        check(&pattern, path);
    }
});

fn check(pattern: &PathPattern, path: &str) {
    let Found::Ticket(found) = pattern.find_in_path(path) else {
        return;
    };
    let id = found.id.as_str();
    assert!(!id.is_empty() && id.len() <= 256, "{id:?}");
    assert!(!id.chars().any(char::is_control), "{id:?}");
    let cookie_path = found.cookie_path(path);
    assert!(
        path.starts_with(cookie_path) || cookie_path == "/",
        "{cookie_path:?} of {path:?}"
    );
    let safe = __fuzz::safe_path(cookie_path);
    assert!(safe == cookie_path || safe == "/");
    let header = __fuzz::set_cookie("otp-x", "v", cookie_path, None, true);
    let attributes: Vec<&str> = header.split("; ").skip(1).collect();
    for attribute in &attributes {
        let name = attribute.split('=').next().unwrap_or("");
        assert!(
            matches!(name, "Path" | "HttpOnly" | "Secure" | "SameSite"),
            "{header:?}"
        );
    }
    assert!(attributes.contains(&"SameSite=Lax"), "{header:?}");
    // The decoded id matches the segment the router would decode.
    let prefix = pattern.to_string();
    let literal = prefix.rsplit_once('/').map_or("", |(l, _)| l);
    let rest = &path[literal.len() + 1..];
    let segment = rest.split('/').next().unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .expect("a found id decodes");
    assert_eq!(decoded, id);
}
