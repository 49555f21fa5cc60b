//! The pages' languages through the real layer: negotiation, the switch, the
//! application's set, the code mail in the page's language, and the resend
//! cooldown without scripts (progressive enhancement).

mod common;

use std::time::Duration;

use axum::body::Body;
use common::{Browser, Harness};
use http::{Method, StatusCode};
use tower_otp::pages::DefaultPages;
use tower_otp::{Locale, MemoryStore, Secret};

const T: &str = "/tickets/lang-1";

/// A second device on a claimed ticket, with these request headers.
async fn challenged(h: &Harness, headers: &[(&str, &str)]) -> (Browser, String) {
    assert!(h.browser().open(T).await.is_ticket(), "the first device");
    let mut b = h.browser();
    let mut request = Browser::request(Method::GET, T);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let page = b.send(request.body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    (b, page.body)
}

/// A harness whose flow falls back to Japanese.
fn japanese_by_default(configure: impl FnOnce(common::Layer) -> common::Layer) -> Harness {
    Harness::build_with_flow(
        &Secret::random(),
        MemoryStore::new(),
        |flow| flow.with_default_locale(Locale::Ja),
        configure,
    )
}

fn lang_of(page: &str) -> &str {
    let at = page.find("<html lang=\"").expect("an html element") + 12;
    &page[at..at + page[at..].find('"').unwrap()]
}

#[tokio::test]
async fn accept_language_picks_the_page_language() {
    let cases = [
        ("zh-TW,zh;q=0.9,en;q=0.8", "zh-Hant", "驗證碼"),
        ("zh-HK", "zh-Hant", "驗證碼"),
        ("zh-CN,zh;q=0.9", "zh-Hans", "验证码"),
        ("zh", "zh-Hans", "验证码"),
        ("ko-KR,ko;q=0.9", "ko", "인증번호"),
        ("ja-JP", "ja", "ワンタイムパスワード"),
        ("en-GB,en;q=0.9", "en", "one-time password"),
        ("fr-FR", "ja", "ワンタイムパスワード"),
    ];
    for (header, lang, word) in cases {
        let h = japanese_by_default(|l| l);
        let (_, page) = challenged(&h, &[("accept-language", header)]).await;
        assert_eq!(lang_of(&page), lang, "{header}");
        assert!(page.contains(word), "{header}: {word}");
    }
}

#[tokio::test]
async fn the_switch_lists_every_language_and_its_choice_is_remembered() {
    let h = Harness::new();
    let (mut b, page) = challenged(&h, &[("accept-language", "ko")]).await;
    let names = ["日本語", "English", "简体中文", "繁體中文", "한국어"];
    let at: Vec<usize> = names
        .iter()
        .map(|n| page.find(&format!(">{n}</a>")).expect(n))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "in order: {at:?}");
    assert!(page.contains(r#"href="/tickets/lang-1?otp_lang=zh-Hant""#));
    // Choosing 繁體中文 beats Accept-Language, now and on later requests.
    let chosen = b.get(&format!("{T}?otp_lang=zh-Hant")).await;
    assert_eq!(chosen.status, StatusCode::UNAUTHORIZED);
    assert_eq!(lang_of(&chosen.body), "zh-Hant");
    let mut request = Browser::request(Method::GET, T).header("accept-language", "ko");
    request = request.header("accept", "text/html");
    let later = b.send(request.body(Body::empty()).unwrap()).await;
    assert_eq!(later.status, StatusCode::UNAUTHORIZED);
    assert_eq!(lang_of(&later.body), "zh-Hant");
}

#[tokio::test]
async fn an_application_restricts_and_reorders_the_languages() {
    let pages = DefaultPages::new()
        .with_languages([Locale::En, Locale::Ko])
        .unwrap();
    let h = japanese_by_default(|l| l.with_pages(pages));
    let (mut b, page) = challenged(&h, &[("accept-language", "zh-TW,ja;q=0.5")]).await;
    // Neither zh-Hant nor ja is offered, nor the default: the first enabled.
    assert_eq!(lang_of(&page), "en");
    let en = page.find(">English</a>").unwrap();
    let ko = page.find(">한국어</a>").unwrap();
    assert!(en < ko);
    assert!(!page.contains("日本語") && !page.contains("繁體中文"));
    // A choice outside the set is ignored.
    let chosen = b.get(&format!("{T}?otp_lang=ja")).await;
    assert_eq!(chosen.status, StatusCode::UNAUTHORIZED);
    assert_eq!(lang_of(&chosen.body), "en");
}

#[tokio::test]
async fn the_code_mail_speaks_the_language_of_the_page_that_asked() {
    for (header, lang, subject) in [
        ("zh-TW", Locale::ZhHant, "您的驗證碼"),
        ("zh-CN", Locale::ZhHans, "您的验证码"),
        ("ko", Locale::Ko, "인증번호 안내"),
    ] {
        let h = Harness::new();
        let (mut b, _) = challenged(&h, &[("accept-language", header)]).await;
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("action", "send")
            .append_pair("email", "visitor@example.com")
            .append_pair("csrf_token", b.csrf.as_deref().unwrap());
        let request = Browser::request(Method::POST, T)
            .header("accept-language", header)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(form.finish()))
            .unwrap();
        let reply = b.send(request).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert_eq!(h.mailer.count(), 1, "{header}");
        let mail = h.mailer.last().unwrap();
        assert_eq!(mail.locale, lang);
        let rendered = mail.render();
        assert!(rendered.subject.ends_with(subject), "{}", rendered.subject);
        assert!(
            rendered
                .html
                .contains(&format!("<html lang=\"{}\">", lang.tag())),
            "{header}"
        );
    }
}

#[tokio::test]
async fn during_the_cooldown_send_stays_usable_and_a_press_says_how_long() {
    let h = Harness::new();
    h.claim("lang-1").await;
    let (mut b, _) = h.sent("lang-1", "visitor@example.com").await;
    let page = b.get(T).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    // Rendered enabled; the wait is written out for a page without scripts.
    let button = page
        .body
        .split("<button")
        .find(|b| b.contains(r#"value="resend""#))
        .expect("a resend button");
    let button = &button[..button.find('>').unwrap()];
    assert!(!button.contains("disabled"), "{button}");
    assert!(page.body.contains(r#"id="otp-send-wait""#));
    // A press anyway (no script to stop it): the throttled state, with its time.
    h.advance(Duration::from_secs(20));
    let reply = b.post_form(T, &[("action", "resend")]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.header("retry-after"), Some("40"));
    assert!(
        reply
            .body
            .contains(r#"You can request another in <span class="count" data-left="40""#),
        "{}",
        reply.body
    );
    assert_eq!(h.mailer.count(), 1, "no second mail");
}

/// The new-device notice goes out in the language the bound address last
/// used. Bound on a Korean page, then a new device verifies from an
/// English page: the owner's notice is in Korean (not the default Japanese,
/// not the new device's English); the next one is in English.
#[tokio::test]
async fn the_new_device_notice_speaks_the_owners_language() {
    use tower_otp::mail::MailKind;

    const OWNER: &str = "minji@example.com";
    let h = Harness::build_with_flow(
        &Secret::random(),
        MemoryStore::new(),
        |flow| {
            flow.with_default_locale(Locale::Ja)
                .with_new_device_notice(true)
        },
        |layer| layer,
    );
    let path = common::ticket_path("lang-notice");
    let verify_from = |lang: &'static str| {
        let h = &h;
        let path = path.clone();
        async move {
            let mut b = h.browser();
            b.set_cookie("otp_lang", lang);
            b.get(&path).await;
            let reply = b
                .post_form(&path, &[("action", "send"), ("email", OWNER)])
                .await;
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "send: {}", reply.body);
            b.get(&path).await;
            let code = h.last_code_for(OWNER);
            let reply = b
                .post_form(&path, &[("action", "verify"), ("code", &code)])
                .await;
            assert_eq!(
                reply.status,
                StatusCode::SEE_OTHER,
                "verify: {}",
                reply.body
            );
            assert!(b.get(&path).await.is_ticket());
            h.layer.flow().settled().await;
        }
    };
    // The first device is claimed, so the binding device is already news-free
    // only for itself.
    assert!(
        h.browser().open(&path).await.is_ticket(),
        "the first device"
    );
    verify_from("ko").await;
    let codes = h.mailer.messages();
    assert_eq!(
        codes.last().unwrap().locale,
        Locale::Ko,
        "the code: the page's"
    );
    let notices = || {
        h.mailer
            .messages()
            .into_iter()
            .filter(|m| matches!(m.kind, MailKind::NewDevice { .. }))
            .collect::<Vec<_>>()
    };
    assert!(notices().is_empty(), "binding is not news");

    h.advance(Duration::from_secs(120));
    verify_from("en").await;
    let sent = notices();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].locale, Locale::Ko, "the owner's last language");
    assert!(sent[0].render().subject.contains("새 기기"));

    h.advance(Duration::from_secs(300));
    verify_from("zh-Hant").await;
    let sent = notices();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1].locale,
        Locale::En,
        "the language of the last verification"
    );
}

/// With `Flow::with_require_prebound(true)`, a second device on an unbound
/// ticket is told in its own language where to open the ticket instead:
/// 403, the text of `Texts::err_not_prebound`, no form.
#[tokio::test]
async fn the_not_prebound_page_speaks_every_language() {
    for locale in Locale::ALL {
        let h = Harness::build_with_flow(
            &Secret::random(),
            MemoryStore::new(),
            |flow| flow.with_require_prebound(true),
            |layer| layer,
        );
        h.browser().open(T).await;
        let mut b = h.browser();
        let request = Browser::request(Method::GET, T)
            .header("accept-language", locale.tag())
            .body(Body::empty())
            .unwrap();
        let page = b.send(request).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{locale:?}");
        assert_eq!(lang_of(&page.body), locale.tag());
        let says = tower_otp::pages::Texts::for_locale(locale).err_not_prebound;
        assert!(
            page.body.contains(says.as_ref()),
            "{locale:?}\n{}",
            page.body
        );
        assert!(!page.body.contains("<form"), "{locale:?}: nothing to type");
        assert_eq!(h.mailer.count(), 0);
    }
}
