//! The look of the demo's own pages: one stylesheet (inline, in the gate
//! pages' colours and type), the page frame, the language of a request and
//! the headers every page gets.

#![allow(dead_code, unreachable_pub)]

use axum::extract::Request;
use axum::http::header::{
    ACCEPT_LANGUAGE, CONTENT_SECURITY_POLICY, COOKIE, REFERRER_POLICY, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use tower_otp::Locale;
use tower_otp::pages::Texts;

/// The query parameter and the cookie that choose a language, as on the
/// gate's pages.
pub(crate) const LANG: &str = "otp_lang";

/// The site's name, in every language.
pub(crate) const SITE: &str = "Demo Tickets";

/// What the demo's pages may load: their own inline style and nothing else
/// (no script at all); forms post to this site only; never framed.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The one stylesheet: the gate pages' colours (primary #0b57d0, text
/// #1f1f1f on #f6f7f9, white on primary 6.9:1), system fonts with each
/// language's own, a single column on a phone and a wider one on a desktop,
/// a visible focus ring, touch targets of 44 px at least.
pub(crate) const STYLE: &str = r#"
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:#f6f7f9;color:#1f1f1f;font:1.0625rem/1.6 system-ui,-apple-system,"Segoe UI",sans-serif;overflow-wrap:anywhere}
:lang(ja){font-family:system-ui,-apple-system,"Segoe UI","Hiragino Sans","Yu Gothic UI","Noto Sans CJK JP","Noto Sans JP",sans-serif}
:lang(zh-Hans){font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC","Noto Sans SC",sans-serif}
:lang(zh-Hant){font-family:system-ui,-apple-system,"Segoe UI","PingFang TC","Microsoft JhengHei","Noto Sans CJK TC","Noto Sans TC",sans-serif}
:lang(ko){font-family:system-ui,-apple-system,"Segoe UI","Apple SD Gothic Neo","Malgun Gothic","Noto Sans CJK KR","Noto Sans KR",sans-serif;word-break:keep-all}
header,main{max-width:30rem;margin:0 auto;padding:0 1rem}
header{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:0 .5rem;padding-top:.5rem}
.site{margin:0;font-weight:700}
nav ul{display:flex;flex-wrap:wrap;gap:0 .125rem;list-style:none;margin:0;padding:0}
nav a{display:inline-block;min-height:2.75rem;padding:.6rem .375rem;border-radius:.5rem;color:inherit;white-space:nowrap;font-size:.9375rem}
nav a[aria-current]{font-weight:700;text-decoration:none;box-shadow:inset 0 0 0 2px #0b57d0}
.site a{display:inline-block;min-height:2.75rem;padding:.6rem 0;color:inherit;text-decoration:none}
main{padding-bottom:2.5rem}
h1{font-size:1.5rem;line-height:1.3;margin:1rem 0 .5rem}
h2{font-size:1.1875rem;line-height:1.3;margin:1.75rem 0 .5rem}
h3{font-size:1.0625rem;margin:0}
p{margin:.75rem 0}
a{color:#0b57d0}
code{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:.9em}
.lead{font-weight:700}
.small,.help{font-size:.9375rem}
.card{margin:1rem 0;padding:1rem;background:#fff;border:1px solid #d3d7de;border-radius:.75rem}
.card>:first-child{margin-top:0}.card>:last-child{margin-bottom:0}
.kicker+h2{margin-top:.25rem}
input+label,select+label,.help+label{margin-top:1rem}
.kicker{margin:0;font-size:.875rem;font-weight:700;color:#4a4f57;text-transform:uppercase;letter-spacing:.04em}
.notice{margin:1rem 0;padding:.75rem 1rem;border-left:.3rem solid #c5221f;background:rgba(197,34,31,.1)}
.done{margin:1rem 0;padding:.75rem 1rem;border-left:.3rem solid #137333;background:rgba(19,115,51,.1)}
form{margin:1.25rem 0}
.card form{margin:.75rem 0 0}
label{display:block;font-weight:700;margin-bottom:.35rem}
input,select{display:block;width:100%;min-height:3rem;padding:.6rem .8rem;font:inherit;font-size:1.125rem;color:#111;background:#fff;border:2px solid #6b6b6b;border-radius:.5rem}
input+.help,select+.help{margin:.35rem 0 0}
button{display:block;width:100%;min-height:3rem;margin-top:.75rem;padding:.6rem 1rem;font:inherit;font-weight:700;color:#0b57d0;background:#fff;border:2px solid #0b57d0;border-radius:.5rem;cursor:pointer}
button.primary{color:#fff;background:#0b57d0}
:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
ul.tickets,ul.seats{list-style:none;margin:0;padding:0}
ul.tickets li{margin:.5rem 0}
ul.tickets a{display:block;min-height:2.75rem;padding:.6rem .8rem;background:#fff;border:1px solid #d3d7de;border-radius:.5rem;font-weight:700}
.seat-head{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.25rem .75rem}
.seat-head a{display:inline-block;min-height:2.75rem;padding:.6rem 0;font-weight:700}
.state{display:inline-block;padding:.125rem .625rem;border-radius:1rem;font-size:.9375rem;font-weight:700}
.state.yours{color:#0842a0;background:#e8f0fe}
.state.pending{color:#6b3d00;background:#fef3d6}
.state.received{color:#0d5c2a;background:#e6f4ea}
.pass{text-align:center}
.pass .qr{display:block;width:min(100%,16rem);height:auto;margin:1rem auto;padding:.5rem;background:#fff;border-radius:.5rem}
.pass .seat{font-size:1.25rem;font-weight:700;margin:.25rem 0}
.verified{font-size:.9375rem;color:#0d5c2a}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d3d7de;border-radius:.5rem}
th,td{padding:.5rem .75rem;text-align:start;vertical-align:top;border-top:1px solid #e3e6ea}
.actions button{margin-top:.5rem}
@media (min-width:48rem){header,main{max-width:46rem}.shop{display:grid;grid-template-columns:1fr 1fr;gap:0 1.5rem;align-items:start}h1{font-size:1.75rem}}
"#;

/// `text` escaped for HTML text and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The language of a request: the one chosen (the `otp_lang` cookie, set
/// by a language link here or on the gate's pages), else `Accept-Language`,
/// else Japanese, as the gate's pages choose theirs.
pub(crate) fn locale(headers: &HeaderMap) -> Locale {
    let chosen = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LANG)
        .map(|(_, value)| value.to_owned());
    let accept = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Locale::negotiate(chosen.as_deref(), accept, &Locale::ALL, Locale::Ja)
}

/// A language link (`?otp_lang=ko` on a page) chooses that language: this
/// request is answered in it, and a cookie keeps it for the next ones (the
/// gate's pages read the same cookie).
pub(crate) async fn remember_language(mut request: Request, next: Next) -> Response {
    let chosen = request
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == LANG))
        .and_then(|(_, tag)| Locale::parse(&tag));
    let Some(locale) = chosen else {
        return next.run(request).await;
    };
    let pair = format!("{LANG}={}", locale.tag());
    let cookies = match request.headers().get(COOKIE).and_then(|v| v.to_str().ok()) {
        Some(cookies) => format!("{pair}; {cookies}"),
        None => pair.clone(),
    };
    if let Ok(value) = HeaderValue::from_str(&cookies) {
        request.headers_mut().insert(COOKIE, value);
    }
    let mut response = next.run(request).await;
    let cookie = format!("{pair}; Path=/; Max-Age=31536000; SameSite=Lax");
    response
        .headers_mut()
        .append(SET_COOKIE, HeaderValue::from_str(&cookie).expect("ascii"));
    response
}

/// The language links: each language by its own name, in it, the current
/// one marked.
fn languages(locale: Locale) -> String {
    let links: String = Locale::ALL
        .iter()
        .map(|l| {
            format!(
                "<li><a href=\"?{LANG}={tag}\" hreflang=\"{tag}\" lang=\"{tag}\"{current}>{name}</a></li>",
                tag = l.tag(),
                current = if *l == locale { " aria-current=\"true\"" } else { "" },
                name = esc(&Texts::for_locale(*l).language_name),
            )
        })
        .collect();
    format!(
        "<nav aria-label=\"{}\"><ul>{links}</ul></nav>",
        esc(&Texts::for_locale(locale).language_nav)
    )
}

/// A whole page: `main` (already HTML, its `h1` first) in the frame every
/// demo page shares, in `locale`, with the language links.
pub(crate) fn document(locale: Locale, title: &str, main: &str) -> String {
    frame(locale, title, &languages(locale), main)
}

/// [`document`] without the language links: the answer to a form, whose
/// URL a link cannot load again.
pub(crate) fn answer(locale: Locale, title: &str, main: &str) -> String {
    frame(locale, title, "", main)
}

fn frame(locale: Locale, title: &str, nav: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"same-origin\">\n<title>{title} · {SITE}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<header><p class=\"site\"><a href=\"/\">{SITE}</a></p>{nav}</header>\n\
         <main>\n{main}\n</main>\n</body>\n</html>\n",
        lang = locale.tag(),
        title = esc(title),
    )
}

/// `document` as a response with `status` and the headers of every demo page.
pub(crate) fn page(status: StatusCode, locale: Locale, title: &str, main: &str) -> Response {
    with_headers((status, Html(document(locale, title, main))).into_response())
}

/// The headers of every demo page: the CSP above, no referrer to other
/// sites (a ticket's URL is its bearer secret; `same-origin`, not
/// `no-referrer`, under which browsers send `Origin: null` with a form's
/// POST and the site could not tell its own forms), no sniffing, no framing.
pub(crate) fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Whether the client asked for JSON (`Accept: application/json`, and not
/// HTML): its refusals are answered as `{"error": code, "message": text}`.
pub(crate) fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// A refusal: [`message`]'s page, or for a client that asked for JSON its
/// stable `code` and the same text, with the same status.
pub(crate) fn refusal(
    headers: &HeaderMap,
    status: StatusCode,
    locale: Locale,
    code: &str,
    title: &str,
    text: &str,
    back: (&str, &str),
) -> Response {
    if wants_json(headers) {
        let body = serde_json::json!({ "error": code, "message": text });
        return with_headers((status, axum::Json(body)).into_response());
    }
    message(status, locale, title, text, back)
}

/// A page that says what went wrong, with a link back to `back`.
pub(crate) fn message(
    status: StatusCode,
    locale: Locale,
    title: &str,
    text: &str,
    back: (&str, &str),
) -> Response {
    let main = format!(
        "<h1>{title}</h1>\n<p class=\"notice\" role=\"alert\">{text}</p>\n<p><a href=\"{href}\">{label}</a></p>",
        title = esc(title),
        text = esc(text),
        href = esc(back.0),
        label = esc(back.1),
    );
    with_headers((status, Html(answer(locale, title, &main))).into_response())
}
