//! Tests of the built-in pages: every state × locale × notice against the
//! HTML contract, escaping, size and CSP rules.

use std::time::Duration;

use super::*;
use crate::clock::Timestamp;
use crate::code::CodeFormatError;
use crate::email::AddressError;
use crate::flow::ChallengeState;
use crate::mail::MailError;
use crate::store::StoreError;

const ACTION: &str = "/tickets/A7x9Qz?seat=12&row=3";
const CSRF: &str = "csrf-token-123";
const NONCE: &str = "bm9uY2U";
const MAX_PAGE_BYTES: usize = 20 * 1024;

const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A challenge in `state` with nothing special about it.
fn challenge(state: ChallengeState) -> Challenge {
    Challenge {
        state,
        bound: false,
        masked_address: None,
        expires_at: None,
        resend_at: None,
        attempts_left: 5,
        locked_until: None,
        exhausted: false,
        expired: false,
        claimable: false,
        now: NOW,
    }
}

/// Every state a page can show, named.
fn challenges() -> Vec<(&'static str, Challenge)> {
    let address = Some("t***@e***.com".to_owned());
    let pending = Challenge {
        masked_address: address.clone(),
        ..challenge(ChallengeState::SendRequired)
    };
    let bound = Challenge {
        bound: true,
        ..pending.clone()
    };
    let sent = Challenge {
        masked_address: address.clone(),
        expires_at: Some(NOW + secs(299)),
        resend_at: Some(NOW + secs(45)),
        attempts_left: 3,
        ..challenge(ChallengeState::CodeSent)
    };
    vec![
        ("email_required", challenge(ChallengeState::EmailRequired)),
        (
            "email_required_cooldown",
            Challenge {
                resend_at: Some(NOW + secs(30)),
                ..challenge(ChallengeState::EmailRequired)
            },
        ),
        ("send_required_pending", pending.clone()),
        ("send_required_bound", bound.clone()),
        (
            "send_required_expired",
            Challenge {
                expired: true,
                ..pending.clone()
            },
        ),
        (
            "send_required_exhausted_bound",
            Challenge {
                exhausted: true,
                attempts_left: 0,
                resend_at: Some(NOW + secs(100)),
                ..bound.clone()
            },
        ),
        ("code_sent_pending_cooldown", sent.clone()),
        (
            "code_sent_bound_ready",
            Challenge {
                bound: true,
                resend_at: None,
                ..sent.clone()
            },
        ),
        (
            "code_sent_hourly_cap",
            Challenge {
                resend_at: Some(NOW + secs(3000)),
                ..sent.clone()
            },
        ),
        (
            "locked",
            Challenge {
                locked_until: Some(NOW + secs(3600)),
                bound: true,
                masked_address: address,
                ..challenge(ChallengeState::Locked)
            },
        ),
        ("not_prebound", challenge(ChallengeState::NotPrebound)),
    ]
}

/// Every rejection, named.
fn rejections() -> Vec<(&'static str, Rejection)> {
    vec![
        (
            "invalid_email",
            Rejection::InvalidAddress(AddressError::Invalid),
        ),
        (
            "empty_email",
            Rejection::InvalidAddress(AddressError::Empty),
        ),
        (
            "long_email",
            Rejection::InvalidAddress(AddressError::TooLong),
        ),
        (
            "control_email",
            Rejection::InvalidAddress(AddressError::ControlCharacter),
        ),
        ("email_required", Rejection::AddressRequired),
        (
            "invalid_code",
            Rejection::InvalidCode(CodeFormatError { expected_digits: 6 }),
        ),
        ("wrong_code", Rejection::WrongCode { attempts_left: 2 }),
        ("wrong_code_last", Rejection::WrongCode { attempts_left: 0 }),
        ("expired", Rejection::Expired),
        ("no_code", Rejection::NoCode),
        ("too_many_attempts", Rejection::TooManyAttempts),
        (
            "throttled",
            Rejection::Throttled {
                retry_after: secs(42),
            },
        ),
        (
            "locked",
            Rejection::Locked {
                until: NOW + secs(1800),
                retry_after: secs(1800),
            },
        ),
        ("bound", Rejection::Bound),
        ("not_prebound", Rejection::NotPrebound),
        (
            "mail_failed",
            Rejection::MailFailed(MailError::new("smtp down")),
        ),
        (
            "unavailable",
            Rejection::Unavailable(StoreError::msg("store down")),
        ),
    ]
}

const PROBLEMS: [RequestProblem; 6] = [
    RequestProblem::Csrf,
    RequestProblem::CrossSite,
    RequestProblem::TooLarge,
    RequestProblem::BadRequest,
    RequestProblem::UnsupportedMediaType,
    RequestProblem::CookiesRequired,
];

/// Every notice (and none), named.
fn notices<'a>(rejections: &'a [(&'static str, Rejection)]) -> Vec<(String, Option<Notice<'a>>)> {
    let mut out = vec![("none".to_owned(), None)];
    out.extend(
        rejections
            .iter()
            .map(|(name, r)| ((*name).to_owned(), Some(Notice::Rejected(r)))),
    );
    out.extend(
        PROBLEMS
            .iter()
            .map(|p| (format!("{p:?}"), Some(Notice::Problem(*p)))),
    );
    out
}

/// A tag, as far as these tests care.
#[derive(Debug)]
struct Tag {
    name: String,
    closing: bool,
    attrs: Vec<(String, Option<String>)>,
    /// The text up to the next tag.
    text: String,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    fn has(&self, name: &str) -> bool {
        self.attrs.iter().any(|(n, _)| n == name)
    }
}

/// A small tokenizer: enough for pages whose attribute values and text are
/// escaped (no raw `<` or `"` inside them).
fn tags(html: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    for chunk in html.split('<').skip(1) {
        let (inside, text) = chunk.split_once('>').expect("every tag closes");
        if inside.starts_with('!') {
            continue;
        }
        let closing = inside.starts_with('/');
        let inside = inside.trim_start_matches('/');
        let name_end = inside
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inside.len());
        let name = inside[..name_end].to_ascii_lowercase();
        let mut rest = inside[name_end..].trim_start();
        let mut attrs = Vec::new();
        while !rest.is_empty() {
            let end = rest
                .find(|c: char| c == '=' || c.is_whitespace())
                .unwrap_or(rest.len());
            let attr = rest[..end].to_ascii_lowercase();
            rest = &rest[end..];
            if let Some(after) = rest.strip_prefix('=') {
                let after = after
                    .strip_prefix('"')
                    .unwrap_or_else(|| panic!("unquoted attribute {attr} in <{inside}>"));
                let close = after.find('"').expect("attribute closes");
                attrs.push((attr, Some(unescape(&after[..close]))));
                rest = after[close + 1..].trim_start();
            } else {
                attrs.push((attr, None));
                rest = rest.trim_start();
            }
        }
        out.push(Tag {
            name,
            closing,
            attrs,
            text: text.to_owned(),
        });
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

fn escape(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
}

/// A form and what it holds.
#[derive(Debug, Default)]
struct Form {
    method: String,
    action: String,
    csrf: Vec<String>,
    /// `(name, type)` of the visible inputs.
    inputs: Vec<Tag>,
    /// `(value, label, disabled)` of the buttons.
    buttons: Vec<(String, String, bool)>,
}

fn forms(tags: &[Tag]) -> Vec<Form> {
    let mut out = Vec::new();
    let mut current: Option<Form> = None;
    for tag in tags {
        match (tag.name.as_str(), tag.closing) {
            ("form", false) => {
                assert!(current.is_none(), "nested form");
                current = Some(Form {
                    method: tag.attr("method").unwrap_or_default().to_owned(),
                    action: tag.attr("action").unwrap_or_default().to_owned(),
                    ..Form::default()
                });
            }
            ("form", true) => out.push(current.take().expect("form was open")),
            ("input", false) => {
                let form = current.as_mut().expect("inputs sit in forms");
                if tag.attr("type") == Some("hidden") {
                    assert_eq!(
                        tag.attr("name"),
                        Some("csrf_token"),
                        "only the CSRF field is hidden"
                    );
                    form.csrf
                        .push(tag.attr("value").unwrap_or_default().to_owned());
                } else {
                    form.inputs.push(Tag {
                        name: tag.name.clone(),
                        closing: false,
                        attrs: tag.attrs.clone(),
                        text: String::new(),
                    });
                }
            }
            ("button", false) => {
                let form = current.as_mut().expect("buttons sit in forms");
                assert_eq!(tag.attr("name"), Some("action"), "{tag:?}");
                assert_eq!(tag.attr("type"), Some("submit"), "{tag:?}");
                form.buttons.push((
                    tag.attr("value").unwrap_or_default().to_owned(),
                    unescape(&tag.text),
                    tag.has("disabled"),
                ));
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "unclosed form");
    out
}

/// What one rendered page must satisfy whatever it shows.
struct Expect<'a> {
    html: &'a str,
    locale: Locale,
    action_url: &'a str,
    csrf: &'a str,
    nonce: &'a str,
    notice: bool,
}

const ALLOWED_TAGS: [&str; 26] = [
    "html", "head", "meta", "title", "style", "body", "header", "p", "img", "nav", "ul", "li", "a",
    "main", "h1", "div", "span", "strong", "form", "input", "label", "button", "details",
    "summary", "script", "em",
];

/// The rules every page obeys; returns its forms.
fn check_common(e: &Expect<'_>) -> Vec<Form> {
    let html = e.html;
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(
        html.contains(&format!(r#"<html lang="{}">"#, e.locale.tag())),
        "lang"
    );
    assert!(html.contains(r#"name="viewport""#), "viewport meta");
    assert!(html.len() <= MAX_PAGE_BYTES, "{} bytes", html.len());
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower.contains("http://") && !lower.contains("https://"),
        "external URL"
    );
    assert!(!lower.contains("url("), "no CSS fetches");
    assert!(!lower.contains("@import"), "no CSS fetches");

    let tags = tags(html);
    for tag in &tags {
        assert!(
            ALLOWED_TAGS.contains(&tag.name.as_str()),
            "unexpected <{}>",
            tag.name
        );
        for (name, _) in &tag.attrs {
            assert_ne!(name, "style", "style attribute in {tag:?}");
            assert!(!name.starts_with("on"), "event handler in {tag:?}");
        }
        if !tag.closing && (tag.name == "style" || tag.name == "script") {
            assert_eq!(tag.attr("nonce"), Some(e.nonce), "{tag:?}");
            assert!(!tag.has("src"), "external script");
        }
        if !tag.closing && tag.name == "a" {
            let href = tag.attr("href").expect("links have href");
            assert!(href.starts_with('/'), "same-site link {href}");
        }
    }
    let opened = |name: &str| tags.iter().filter(|t| t.name == name && !t.closing).count();
    assert_eq!(opened("style"), 1);
    assert!(opened("script") <= 1);
    assert_eq!(opened("h1"), 1);

    // Every visible input has a label.
    for input in tags
        .iter()
        .filter(|t| t.name == "input" && t.attr("type") != Some("hidden"))
    {
        let id = input.attr("id").expect("inputs have ids");
        assert!(
            tags.iter().any(|t| t.name == "label"
                && t.attr("for") == Some(id)
                && !t.text.trim().is_empty()),
            "no label for {id}"
        );
    }
    // Errors are announced.
    let alerts = tags
        .iter()
        .filter(|t| t.attr("role") == Some("alert"))
        .count();
    assert_eq!(alerts, usize::from(e.notice), "role=alert");

    let forms = forms(&tags);
    for form in &forms {
        assert_eq!(form.method, "post");
        assert_eq!(form.action, e.action_url);
        assert_eq!(form.csrf, [e.csrf], "one csrf_token per form");
        assert!(!form.buttons.is_empty());
    }
    // Language switch: every link, the current one marked.
    let current: Vec<_> = tags
        .iter()
        .filter(|t| t.name == "a" && t.has("aria-current"))
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].attr("hreflang"), Some(e.locale.tag()));
    // Each language by its own name, marked as that language.
    for (tag, name) in [
        ("ja", "日本語"),
        ("en", "English"),
        ("zh-Hans", "简体中文"),
        ("zh-Hant", "繁體中文"),
        ("ko", "한국어"),
    ] {
        assert!(
            html.contains(&format!(r#"hreflang="{tag}" lang="{tag}""#))
                && html.contains(&format!(">{name}</a>")),
            "switch to {tag}"
        );
    }
    forms
}

fn buttons(forms: &[Form]) -> Vec<(&str, &str, bool)> {
    forms
        .iter()
        .flat_map(|f| &f.buttons)
        .map(|(v, l, d)| (v.as_str(), l.as_str(), *d))
        .collect()
}

fn render(pages: &DefaultPages, page: &PageContext<'_>) -> String {
    pages.render(page)
}

fn links() -> [(Locale, &'static str); 5] {
    [
        (Locale::Ja, "/tickets/A7x9Qz?otp_lang=ja"),
        (Locale::En, "/tickets/A7x9Qz?otp_lang=en"),
        (Locale::ZhHans, "/tickets/A7x9Qz?otp_lang=zh-Hans"),
        (Locale::ZhHant, "/tickets/A7x9Qz?otp_lang=zh-Hant"),
        (Locale::Ko, "/tickets/A7x9Qz?otp_lang=ko"),
    ]
}

#[test]
fn every_state_locale_and_notice_keeps_the_contract() {
    let pages = DefaultPages::new().with_site_name("Example Tickets");
    let links = links();
    let rejections = rejections();
    let notices = notices(&rejections);
    let mut rendered = 0;
    for locale in Locale::ALL {
        let t = pages.texts(locale);
        for (state_name, c) in challenges() {
            for (notice_name, notice) in &notices {
                let mut page = PageContext::new(PageKind::Challenge, locale, ACTION, CSRF, NONCE)
                    .with_challenge(&c)
                    .with_language_links(&links)
                    .with_ticket_hint(Some("Summer Live 2025"));
                page.notice = *notice;
                let html = render(&pages, &page);
                let ctx = format!("{state_name} / {notice_name} / {locale:?}");
                let forms = check_common(&Expect {
                    html: &html,
                    locale,
                    action_url: ACTION,
                    csrf: CSRF,
                    nonce: NONCE,
                    notice: notice.is_some(),
                });
                check_challenge(&html, &forms, &c, t, locale, &ctx);
                rendered += 1;
            }
        }
    }
    assert_eq!(rendered, Locale::ALL.len() * 11 * 24);
}

fn check_challenge(
    html: &str,
    forms: &[Form],
    c: &Challenge,
    t: &Texts,
    locale: Locale,
    ctx: &str,
) {
    let lang = format!("<html lang=\"{}\">", locale.tag());
    assert!(html.contains(&lang), "{ctx}");
    assert!(
        html.contains(&format!("<h1>{}</h1>", escape(&t.title))),
        "{ctx}"
    );
    assert!(html.contains("Summer Live 2025"), "{ctx}");
    let buttons = buttons(forms);
    let inputs: Vec<&Tag> = forms.iter().flat_map(|f| &f.inputs).collect();
    let cooling = c.resend_in() > Duration::ZERO;
    // Progressive enhancement: Send/Resend is never `disabled` in the HTML;
    // the script disables it while it counts down.
    let disabled = false;
    let restart = ("restart", t.restart_button.as_ref(), false);
    match c.state {
        ChallengeState::EmailRequired => {
            assert_eq!(inputs.len(), 1, "{ctx}");
            let email = inputs[0];
            assert_eq!(email.attr("type"), Some("email"), "{ctx}");
            assert_eq!(email.attr("name"), Some("email"), "{ctx}");
            assert_eq!(email.attr("autocomplete"), Some("email"), "{ctx}");
            assert_eq!(
                buttons,
                [("send", t.send_button.as_ref(), disabled)],
                "{ctx}"
            );
            assert_eq!(forms.len(), 1, "{ctx}");
            assert!(html.contains(&escape(&t.email_binding)), "{ctx}");
        }
        ChallengeState::SendRequired => {
            assert!(inputs.is_empty(), "{ctx}");
            let again = c.expired || c.exhausted;
            let send = if again {
                ("resend", t.resend_button.as_ref(), disabled)
            } else {
                ("send", t.send_button.as_ref(), disabled)
            };
            if c.bound {
                assert_eq!(buttons, [send], "{ctx}");
            } else {
                assert_eq!(buttons, [send, restart], "{ctx}");
            }
            assert!(html.contains("<strong>t***@e***.com</strong>"), "{ctx}");
        }
        ChallengeState::CodeSent => {
            assert_eq!(inputs.len(), 1, "{ctx}");
            let code = inputs[0];
            assert_eq!(code.attr("name"), Some("code"), "{ctx}");
            assert_eq!(code.attr("autocomplete"), Some("one-time-code"), "{ctx}");
            assert_eq!(code.attr("inputmode"), Some("numeric"), "{ctx}");
            assert!(code.has("autofocus"), "{ctx}");
            let mut want = vec![
                ("verify", t.confirm_button.as_ref(), false),
                ("resend", t.resend_button.as_ref(), disabled),
            ];
            if !c.bound {
                want.push(restart);
            }
            assert_eq!(buttons, want, "{ctx}");
            assert!(html.contains("<strong>t***@e***.com</strong>"), "{ctx}");
            // The attempts left, from the page or from a wrong-code notice.
            assert!(html.contains(attempts_prefix(t)), "{ctx}");
        }
        ChallengeState::Locked => {
            assert!(forms.is_empty(), "{ctx}");
        }
        ChallengeState::NotPrebound => {
            // Nothing to type, nothing to send: where to open the ticket
            // instead, once (from the state, or from the notice that says it).
            assert!(forms.is_empty(), "{ctx}");
            let said = [&t.not_prebound_state, &t.err_not_prebound]
                .iter()
                .filter(|text| html.contains(&escape(text)))
                .count();
            assert_eq!(said, 1, "{ctx}");
            assert!(!html.contains("<details"), "{ctx}: no in-app hint");
        }
    }
    if cooling
        && !matches!(
            c.state,
            ChallengeState::Locked | ChallengeState::NotPrebound
        )
    {
        // Works without scripts: the wait is written out and the button
        // stays usable (a press then answers "throttled, N s"); the script
        // (with the nonce) disables it and counts down.
        assert!(html.contains(r#"id="otp-send-wait""#), "{ctx}");
        assert!(html.contains(r#"data-enables="otp-send""#), "{ctx}");
        assert!(
            html.contains(&format!("<script nonce=\"{NONCE}\">")),
            "{ctx}"
        );
    }
}

/// "Attempts left: " in the page's language.
fn attempts_prefix(t: &Texts) -> &str {
    t.attempts_left.split("{attempts}").next().unwrap()
}

#[test]
fn confirm_and_unavailable_pages_keep_the_contract() {
    let pages = DefaultPages::new();
    let links = links();
    let rejections = rejections();
    for locale in Locale::ALL {
        let t = pages.texts(locale);
        for (name, notice) in notices(&rejections) {
            for kind in [PageKind::Confirm, PageKind::Unavailable] {
                let mut page =
                    PageContext::new(kind, locale, ACTION, CSRF, NONCE).with_language_links(&links);
                page.notice = notice;
                let html = render(&pages, &page);
                let forms = check_common(&Expect {
                    html: &html,
                    locale,
                    action_url: ACTION,
                    csrf: CSRF,
                    nonce: NONCE,
                    notice: notice.is_some(),
                });
                match kind {
                    PageKind::Confirm => {
                        assert_eq!(
                            buttons(&forms),
                            [("confirm", t.first_device_button.as_ref(), false)],
                            "{name}"
                        );
                        assert!(forms[0].inputs.is_empty());
                    }
                    _ => {
                        assert!(forms.is_empty(), "{name}");
                        assert!(html.contains(&escape(&t.unavailable_body)));
                        assert!(html.contains(&format!(r#"<a href="{}">"#, escape(ACTION))));
                    }
                }
            }
        }
    }
}

#[test]
fn a_challenge_page_without_a_challenge_says_unavailable() {
    let pages = DefaultPages::new();
    let html = render(
        &pages,
        &PageContext::new(PageKind::Challenge, Locale::En, ACTION, CSRF, NONCE),
    );
    assert!(html.contains(&escape(&Texts::english().unavailable_body)));
    assert!(!html.contains("<form"));
}

#[test]
fn japanese_wording_follows_the_seed() {
    let t = Texts::japanese();
    assert_eq!(t.title, "ワンタイムパスワード");
    assert_eq!(t.send_button, "送信");
    assert_eq!(t.resend_button, "再送信");
    assert_eq!(t.confirm_button, "確認");
    let pages = DefaultPages::new();
    let sent = Challenge {
        masked_address: Some("t***@e***.com".into()),
        expires_at: Some(NOW + secs(300)),
        ..challenge(ChallengeState::CodeSent)
    };
    let html = render(
        &pages,
        &PageContext::new(PageKind::Challenge, Locale::Ja, ACTION, CSRF, NONCE)
            .with_challenge(&sent),
    );
    for word in [
        "ワンタイムパスワード",
        ">再送信</button>",
        ">確認</button>",
        "5</span>分",
    ] {
        assert!(html.contains(word), "{word}");
    }
    let email = Challenge {
        ..challenge(ChallengeState::EmailRequired)
    };
    let html = render(
        &pages,
        &PageContext::new(PageKind::Challenge, Locale::Ja, ACTION, CSRF, NONCE)
            .with_challenge(&email),
    );
    assert!(html.contains(">送信</button>"));
    assert!(html.contains("変更できない"), "the binding is for good");
}

#[test]
fn every_notice_has_its_own_wording() {
    let rejections = rejections();
    for locale in Locale::ALL {
        let t = Texts::for_locale(locale);
        let mut seen = std::collections::HashMap::new();
        for (name, notice) in notices(&rejections).into_iter().skip(1) {
            let (text, _) = super::view::notice_text_for_tests(&t, notice.unwrap());
            // Address errors other than "empty"/"too long" share one wording.
            let key = if name == "control_email" {
                "invalid_email".into()
            } else {
                name.clone()
            };
            let key = if key == "empty_email" {
                "email_required".into()
            } else {
                key
            };
            if let Some(other) = seen.insert(text.clone(), key.clone()) {
                assert_eq!(
                    other, key,
                    "{locale:?}: {name} and {other} read the same: {text}"
                );
            }
        }
        let invalid_code = Rejection::InvalidCode(CodeFormatError { expected_digits: 8 });
        let (text, _) = super::view::notice_text_for_tests(&t, Notice::Rejected(&invalid_code));
        assert!(text.contains('8'), "{text}");
        let wrong = Rejection::WrongCode { attempts_left: 2 };
        let (text, _) = super::view::notice_text_for_tests(&t, Notice::Rejected(&wrong));
        assert!(text.contains('2'), "{text}");
        let throttled = Rejection::Throttled {
            retry_after: secs(42),
        };
        let (text, _) = super::view::notice_text_for_tests(&t, Notice::Rejected(&throttled));
        assert!(text.contains("42"), "{text}");
        let locked = Rejection::Locked {
            until: NOW + secs(1800),
            retry_after: secs(1800),
        };
        let (text, _) = super::view::notice_text_for_tests(&t, Notice::Rejected(&locked));
        assert!(text.contains("30"), "{text}");
    }
}

#[test]
fn states_have_their_own_wording() {
    let pages = DefaultPages::new();
    let t = Texts::english();
    let find = |name: &str| {
        challenges()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c)
            .unwrap()
    };
    let html_of = |c: &Challenge| {
        render(
            &pages,
            &PageContext::new(PageKind::Challenge, Locale::En, ACTION, CSRF, NONCE)
                .with_challenge(c),
        )
    };
    let cases: [(&str, &[&str], &[&str]); 8] = [
        (
            "email_required",
            &["enter your own address", "bound to this ticket for good"],
            &["otp-send-wait"],
        ),
        (
            "send_required_pending",
            &["will be sent to <strong>t***@e***.com</strong>."],
            &["registered for this ticket", "has expired"],
        ),
        (
            "send_required_bound",
            &["the address registered for this ticket"],
            &["Use a different address"],
        ),
        ("send_required_expired", &["has expired. Press Resend"], &[]),
        (
            "send_required_exhausted_bound",
            &["Too many wrong entries", "You can send a new one in"],
            &[],
        ),
        (
            "code_sent_pending_cooldown",
            &[
                "We sent a one-time password to",
                "valid for another <span class=\"count\" data-left=\"299\" data-unit=\"m\">5</span> min",
                "Attempts left: 3",
                "You can send a new one in <span class=\"count\" data-left=\"45\" data-unit=\"s\" data-enables=\"otp-send\">45</span> s",
                "spam folder",
                "address may be mistyped",
                "Opened this page inside your mail app?",
            ],
            &[],
        ),
        (
            "locked",
            &[
                "try again in <span class=\"count\" data-left=\"3600\" data-unit=\"m\">60</span> min",
            ],
            &["<form", "<details"],
        ),
        (
            "not_prebound",
            &[
                "This ticket has no e-mail address yet, so it cannot be confirmed on this device.",
                "Open it from the link in your purchase e-mail, or ask the seller.",
            ],
            &["<form", "<details", "<input", "<button"],
        ),
    ];
    for (name, has, lacks) in cases {
        let html = html_of(&find(name));
        for s in has {
            assert!(
                html.contains(&s.replace('\'', "&#39;")),
                "{name}: missing {s}\n{html}"
            );
        }
        for s in lacks {
            assert!(!html.contains(s), "{name}: has {s}");
        }
    }
    let bound_sent = html_of(&find("code_sent_bound_ready"));
    assert!(!bound_sent.contains("mistyped") && !bound_sent.contains("otp-send-wait"));
    assert!(bound_sent.contains("<script"), "the validity counts down");
    let _ = t;
}

#[test]
fn notices_mark_the_field_they_are_about() {
    let pages = DefaultPages::new();
    let sent = Challenge {
        masked_address: Some("t***@e***.com".into()),
        expires_at: Some(NOW + secs(100)),
        ..challenge(ChallengeState::CodeSent)
    };
    let wrong = Rejection::WrongCode { attempts_left: 2 };
    let html = render(
        &pages,
        &PageContext::new(PageKind::Challenge, Locale::En, ACTION, CSRF, NONCE)
            .with_challenge(&sent)
            .with_notice(Notice::Rejected(&wrong)),
    );
    let code = tags(&html)
        .into_iter()
        .find(|t| t.attr("name") == Some("code"))
        .unwrap();
    assert_eq!(code.attr("aria-invalid"), Some("true"));
    assert_eq!(code.attr("aria-describedby"), Some("otp-notice"));
    assert!(html.contains(r#"id="otp-notice" role="alert""#));

    let email = challenge(ChallengeState::EmailRequired);
    let bad = Rejection::InvalidAddress(AddressError::Invalid);
    let html = render(
        &pages,
        &PageContext::new(PageKind::Challenge, Locale::En, ACTION, CSRF, NONCE)
            .with_challenge(&email)
            .with_notice(Notice::Rejected(&bad)),
    );
    let input = tags(&html)
        .into_iter()
        .find(|t| t.attr("name") == Some("email"))
        .unwrap();
    assert_eq!(input.attr("aria-invalid"), Some("true"));
}

#[test]
fn reflected_values_are_escaped() {
    let payloads = [
        r#"<script>alert(1)</script>"#,
        r#""><img src=x onerror=alert(1)>"#,
        r#"'><svg onload=alert(1)>"#,
    ];
    let rejections = rejections();
    for payload in payloads {
        let action = format!("/tickets/{payload}?a=1&b={payload}");
        let hrefs = Locale::ALL.map(|l| format!("/t/{payload}?otp_lang={}", l.tag()));
        let links: Vec<(Locale, &str)> = Locale::ALL
            .iter()
            .zip(&hrefs)
            .map(|(l, h)| (*l, h.as_str()))
            .collect();
        let pages = DefaultPages::new().with_site_name(payload.to_owned());
        let masked = format!("{payload}@a.b");
        let csrf = format!("tok{payload}");
        for (state_name, c) in challenges() {
            let c = Challenge {
                masked_address: c.masked_address.as_ref().map(|_| masked.clone()),
                ..c
            };
            for kind in [
                PageKind::Challenge,
                PageKind::Confirm,
                PageKind::Unavailable,
            ] {
                for (_, notice) in notices(&rejections).into_iter().take(3) {
                    for locale in Locale::ALL {
                        let mut page = PageContext::new(kind, locale, &action, &csrf, NONCE)
                            .with_challenge(&c)
                            .with_language_links(&links)
                            .with_ticket_hint(Some(payload));
                        page.notice = notice;
                        let html = render(&pages, &page);
                        let ctx = format!("{payload} {state_name} {kind:?}");
                        // Tags and attributes are checked by `check_common`
                        // (allow-list, no `on*`); the payload shows escaped.
                        for raw in ["<script>alert", "<img", "<svg"] {
                            assert!(!html.contains(raw), "{ctx}: raw {raw}\n{html}");
                        }
                        assert!(
                            html.contains(&escape(payload)),
                            "{ctx}: escaped entities appear"
                        );
                        check_common(&Expect {
                            html: &html,
                            locale,
                            action_url: &action,
                            csrf: &csrf,
                            nonce: NONCE,
                            notice: notice.is_some(),
                        });
                    }
                }
            }
        }
    }
}

#[test]
fn texts_placeholders_cannot_inject_markup() {
    let pages = DefaultPages::new().with_texts(
        Locale::En,
        Texts {
            title: "<b>Check</b>".into(),
            intro: "{address} <i>{wait}</i> {unknown}".into(),
            ..Texts::english()
        },
    );
    let c = Challenge {
        masked_address: Some("<{wait}>@x.y".into()),
        ..challenge(ChallengeState::SendRequired)
    };
    let html = render(
        &pages,
        &PageContext::new(PageKind::Challenge, Locale::En, ACTION, CSRF, NONCE).with_challenge(&c),
    );
    assert!(html.contains("<h1>&#60;b&#62;Check&#60;/b&#62;</h1>"));
    assert!(
        html.contains(
            "<strong>&#60;{wait}&#62;@x.y</strong> &#60;i&#62;{wait}&#60;/i&#62; {unknown}"
        )
    );
}

#[test]
fn a_non_path_action_url_is_not_used() {
    let pages = DefaultPages::new();
    for url in [
        "javascript:alert(1)",
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil",
    ] {
        let html = render(
            &pages,
            &PageContext::new(PageKind::Confirm, Locale::En, url, CSRF, NONCE),
        );
        assert!(html.contains(r#"<form method="post" action="">"#), "{url}");
        assert!(
            !html.contains("evil") && !html.contains("javascript"),
            "{url}"
        );
    }
}

#[test]
fn branding_is_applied_and_validated() {
    let pages = DefaultPages::new()
        .with_site_name("Example Tickets")
        .with_logo_url("/static/logo.svg")
        .unwrap()
        .with_colors("#FFEB3B", "#101010", "#eeeeee")
        .unwrap();
    let html = render(
        &pages,
        &PageContext::new(PageKind::Confirm, Locale::En, ACTION, CSRF, NONCE),
    );
    assert!(html.contains(r#"<img class="logo" src="/static/logo.svg" alt="Example Tickets">"#));
    assert!(html.contains("<title>Open this ticket | Example Tickets</title>"));
    assert!(html.contains("background:#101010;color:#eeeeee"));
    assert!(html.contains("button.primary{color:#000;background:#ffeb3b}"));

    assert!(
        DefaultPages::new()
            .with_colors("#fff", "#fff;}*{x:y", "#000")
            .is_err()
    );
    assert!(
        DefaultPages::new()
            .with_colors("#fff", "#fff", "</style>")
            .is_err()
    );
    assert!(
        DefaultPages::new()
            .with_logo_url("https://cdn.example/l.png")
            .is_err()
    );
}

#[test]
fn pages_stay_small_even_with_the_largest_logo() {
    let logo = format!(
        "data:image/png;base64,{}",
        "A".repeat(MAX_LOGO_URL_BYTES - "data:image/png;base64,".len())
    );
    let pages = DefaultPages::new()
        .with_site_name("Example Tickets International Festival Ticketing")
        .with_logo_url(logo)
        .unwrap();
    let links = links();
    let locked = Rejection::Locked {
        until: NOW + secs(1800),
        retry_after: secs(1800),
    };
    for locale in Locale::ALL {
        for (name, c) in challenges() {
            let html = render(
                &pages,
                &PageContext::new(PageKind::Challenge, locale, ACTION, CSRF, NONCE)
                    .with_challenge(&c)
                    .with_language_links(&links)
                    .with_ticket_hint(Some("Summer Live 2025 — Tokyo Dome, Gate 3, Block C"))
                    .with_notice(Notice::Rejected(&locked)),
            );
            assert!(
                html.len() <= MAX_PAGE_BYTES,
                "{name} {locale:?}: {} bytes",
                html.len()
            );
        }
    }
}

/// The largest each page may be, in any language, in bytes: its size in
/// the largest language when the budget was set (in the comment; Japanese
/// for every page), plus about 20 %, rounded up to 100 bytes. A page that
/// grows past it is a change to look at; raise the budget on purpose, and
/// give a new page one (`--nocapture` prints the sizes).
const PAGE_BUDGETS: &[(&str, usize)] = &[
    ("email_required", 6_200),                // 5,092
    ("email_required_cooldown", 7_000),       // 5,818
    ("send_required_pending", 5_800),         // 4,793
    ("send_required_bound", 5_600),           // 4,602
    ("send_required_expired", 6_000),         // 4,977
    ("send_required_exhausted_bound", 6_700), // 5,556
    ("code_sent_pending_cooldown", 7_800),    // 6,418
    ("code_sent_bound_ready", 6_900),         // 5,750
    ("code_sent_hourly_cap", 7_800),          // 6,420
    ("locked", 5_300),                        // 4,345
    ("not_prebound", 4_700),                  // 3,825
    ("Confirm", 5_000),                       // 4,150
    ("Unavailable", 4_600),                   // 3,788
];

/// Each page within its budget, in every language (run with `--nocapture`
/// to see the sizes).
#[test]
fn page_sizes() {
    let pages = DefaultPages::new().with_site_name("Example Tickets");
    let links = links();
    let mut measured = Vec::new();
    for locale in Locale::ALL {
        for (name, c) in challenges() {
            let html = render(
                &pages,
                &PageContext::new(PageKind::Challenge, locale, ACTION, CSRF, NONCE)
                    .with_challenge(&c)
                    .with_language_links(&links),
            );
            measured.push((locale, name.to_owned(), html.len()));
        }
        for kind in [PageKind::Confirm, PageKind::Unavailable] {
            let html = render(
                &pages,
                &PageContext::new(kind, locale, ACTION, CSRF, NONCE).with_language_links(&links),
            );
            measured.push((locale, format!("{kind:?}"), html.len()));
        }
    }
    let mut over = Vec::new();
    for (locale, name, bytes) in &measured {
        println!("{locale:?} {name}: {bytes} bytes");
        let budget = PAGE_BUDGETS
            .iter()
            .find(|(page, _)| page == name)
            .unwrap_or_else(|| panic!("{name}: a page without a budget in PAGE_BUDGETS"))
            .1;
        if *bytes > budget {
            over.push(format!("{locale:?} {name}: {bytes} bytes > {budget}"));
        }
    }
    assert!(
        over.is_empty(),
        "pages over their budget:\n{}",
        over.join("\n")
    );
    for (page, _) in PAGE_BUDGETS {
        assert!(
            measured.iter().any(|(_, name, _)| name == page),
            "{page}: a budget for a page that is not rendered"
        );
    }
    assert_eq!(measured.len(), Locale::ALL.len() * PAGE_BUDGETS.len());
}

#[test]
fn closures_are_pages() {
    let pages: Box<dyn Pages> =
        Box::new(|page: &PageContext<'_>| format!("<p>{}</p>", page.locale.tag()));
    let html = pages.render(&PageContext::new(
        PageKind::Confirm,
        Locale::Ja,
        ACTION,
        CSRF,
        NONCE,
    ));
    assert_eq!(html, "<p>ja</p>");
}
