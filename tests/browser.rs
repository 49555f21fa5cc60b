//! The pages in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, from Rust with `fantoccini`) against the demo's router
//! (`examples/support/demo_app.rs`) served on 127.0.0.1, with a manual clock
//! (expiry is reached by moving it, never by waiting) and a capturing mailer
//! (the test reads the codes the demo would mail).
//!
//! Needs `chromedriver` and `chromium`: from `CHROMEDRIVER` / `CHROME_BIN`,
//! else from `PATH`. Without them the tests print why and are skipped, except
//! under CI (`CI=true`, see `tests/needs`; `.ci/run` installs Debian's
//! `chromium`, `chromium-driver` and `fonts-noto-cjk`), where they fail. The
//! accessibility
//! audit needs axe-core (`OTP_AXE_JS`, default
//! `target/browser-tools/node_modules/axe-core/axe.min.js`, installed by
//! `.ci/run` with npm).
//!
//! The demo's own pages (the shop, an order, its seats, a hand-off, the
//! operator page) go through the same checks in every language.
//!
//! ```text
//! cargo test --test browser                          # the scenarios and the audit
//! cargo test --test browser -- --ignored screenshots # writes docs/screenshots/*.png
//! ```

#[path = "../examples/support/admin.rs"]
mod admin;
#[path = "../examples/support/demo_app.rs"]
mod demo_app;
mod needs;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tower_otp::pages::Texts;
use tower_otp::{
    EmailAddress, FirstDevice, Flow, Limits, Locale, MemoryStore, OtpLayer, Secret, Timestamp,
    testing::CapturingMailer, testing::ManualClock,
};

/// New devices are locked out after this many wrong codes (the default is
/// 20; fewer keeps the locked state a few clicks away).
const LOCKOUT_AFTER: u32 = 4;
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 900);
/// The operator page's token in these tests.
const ADMIN_TOKEN: &str = "3f9c2a7e5b1d4086c9e2f7a1b3d5c8e0";

// ---------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_device_japanese_full_width_and_a_fresh_profile() {
    let Some(env) = Env::start().await else {
        return;
    };
    for size in [PHONE, DESKTOP] {
        let tag = format!("{}x{}", size.0, size.1);
        // 1. Profile A opens a ticket: the first device sees it.
        let a = env.profile("en", size, true).await;
        let t1 = format!("/tickets/first-{tag}");
        a.open(&t1).await;
        assert!(a.is_ticket().await, "A sees the ticket at {tag}");
        a.no_console_errors().await;

        // 2. Profile B, in Japanese: address, send, the code in full-width digits.
        let b = env.profile("ja,en;q=0.5", size, true).await;
        b.open(&t1).await;
        assert_eq!(b.lang().await, "ja");
        assert_eq!(b.heading().await, Texts::japanese().title);
        b.type_in("#otp-email", "hanako@example.com").await;
        b.press("send").await;
        let code = env.code_for("hanako@example.com");
        b.type_in("#otp-code", &full_width(&code)).await;
        b.press("verify").await;
        assert!(b.is_ticket().await, "B sees the ticket at {tag}");
        b.no_console_errors().await;

        // 3. Profile C (a fresh profile, as when a mail app reopens its
        //    in-app browser) while B's code is pending: no new code, and the
        //    pending code works in C.
        let t2 = format!("/tickets/pending-{tag}");
        a.open(&t2).await;
        assert!(a.is_ticket().await);
        b.open(&t2).await;
        b.type_in("#otp-email", "hanako@example.com").await;
        b.press("send").await;
        let pending = env.code_for("hanako@example.com");
        let mails = env.mailer.count();
        let c = env.profile("ja", size, true).await;
        c.open(&t2).await;
        assert!(
            c.exists("#otp-code").await,
            "C is asked for the pending code"
        );
        assert!(c.source().await.contains("h***@e***.com"));
        assert_eq!(env.mailer.count(), mails, "opening the link sent nothing");
        c.type_in("#otp-code", &pending).await;
        c.press("verify").await;
        assert!(c.is_ticket().await, "the pending code works in C at {tag}");
        assert_eq!(env.mailer.count(), mails);
        c.no_console_errors().await;
        for p in [a, b, c] {
            p.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_and_state_with_the_audit() {
    let Some(env) = Env::start().await else {
        return;
    };
    for size in [PHONE, DESKTOP] {
        let audit = walk_states(&env, size, None).await;
        println!("axe-core at {}x{}:", size.0, size.1);
        print_audit(&audit);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_device_confirmation_in_every_language() {
    let Some(env) = Env::start_with(FirstDevice::Confirm).await else {
        return;
    };
    let audit = confirm_pages(&env, None).await;
    println!("axe-core, first-device confirmation at 390x844:");
    print_audit(&audit);
}

/// The first-device confirmation page (`FirstDevice::Confirm`) in every
/// language at the phone size: language, heading, console, audit; one tap
/// opens the ticket.
async fn confirm_pages(env: &Env, shots: Option<&Path>) -> Audit {
    let mut audit = Audit::new();
    for locale in Locale::ALL {
        let t = Texts::for_locale(locale);
        let p = env.profile(locale.tag(), PHONE, true).await;
        p.open(&format!("/tickets/confirm-{}", locale.tag())).await;
        assert_eq!(p.lang().await, locale.tag());
        assert_eq!(p.heading().await, t.first_device_title);
        p.no_console_errors().await;
        if let Some(violations) = p.axe(&env.axe).await {
            assert!(
                !violations
                    .iter()
                    .any(|(_, i, _)| i == "serious" || i == "critical"),
                "confirm {}: {violations:?}",
                locale.tag()
            );
            audit.insert(("0-confirm".to_owned(), locale.tag()), violations);
        }
        if let Some(dir) = shots {
            let png = p.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("0-confirm.{}.png", locale.tag())), png).unwrap();
        }
        p.press("confirm").await;
        assert!(p.is_ticket().await, "one tap opens it");
        p.close().await;
    }
    audit
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_switch_and_its_memory() {
    let Some(env) = Env::start().await else {
        return;
    };
    let a = env.profile("en", PHONE, true).await;
    let t = "/tickets/switch";
    a.open(t).await;
    let p = env.profile("ko-KR,ko;q=0.9", PHONE, true).await;
    p.open(t).await;
    assert_eq!(p.lang().await, "ko");
    // Every language by its own name, in order, each marked with its language.
    let names = p
        .all_text("nav a")
        .await
        .into_iter()
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(names, "日本語 English 简体中文 繁體中文 한국어");
    for locale in Locale::ALL {
        let link = p
            .find(&format!("nav a[hreflang=\"{}\"]", locale.tag()))
            .await;
        assert_eq!(
            link.attr("lang").await.unwrap().as_deref(),
            Some(locale.tag())
        );
    }
    assert_eq!(
        p.find("nav a[aria-current]")
            .await
            .attr("hreflang")
            .await
            .unwrap()
            .as_deref(),
        Some("ko")
    );
    p.click_and_wait("nav a[hreflang=\"zh-Hant\"]").await;
    assert_eq!(p.lang().await, "zh-Hant");
    assert_eq!(p.heading().await, Texts::for_locale(Locale::ZhHant).title);
    // Remembered: the bare link again, still Traditional Chinese despite `ko`.
    p.open(t).await;
    assert_eq!(p.lang().await, "zh-Hant");
    p.no_console_errors().await;
    a.close().await;
    p.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_javascript_the_whole_flow_works() {
    let Some(env) = Env::start().await else {
        return;
    };
    for size in [PHONE, DESKTOP] {
        let t = format!("/tickets/nojs-{}", size.0);
        let a = env.profile("en", size, false).await;
        a.open(&t).await;
        assert!(a.is_ticket().await, "the first device, without scripts");
        let n = env.profile("en", size, false).await;
        n.open(&t).await;
        n.type_in("#otp-email", "nojs@example.com").await;
        n.press("send").await;
        let code = env.code_for("nojs@example.com");
        // During the cooldown Resend stays usable without scripts...
        let resend = n.find("#otp-send").await;
        assert!(resend.is_enabled().await.unwrap(), "no script disabled it");
        assert!(
            n.visible_text()
                .await
                .contains("You can send a new one in 60")
        );
        // ...and a press says how long to wait, sending nothing.
        let mails = env.mailer.count();
        env.clock.advance(Duration::from_secs(15));
        n.press("resend").await;
        let text = n.visible_text().await;
        assert!(text.contains("You can request another in 45"), "{text}");
        assert_eq!(env.mailer.count(), mails);
        n.type_in("#otp-code", &code).await;
        n.press("verify").await;
        assert!(n.is_ticket().await, "verified without scripts");
        a.close().await;
        n.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_check_and_the_audit_can_fail() {
    // The console check must be able to fail: a script injected without the
    // nonce is refused by the page's CSP, and the check sees it. Likewise an
    // image without a text alternative is an axe violation.
    let Some(env) = Env::start().await else {
        return;
    };
    let a = env.profile("en", PHONE, true).await;
    a.open("/tickets/csp").await;
    let p = env.profile("en", PHONE, true).await;
    p.open("/tickets/csp").await;
    p.client
        .execute(
            "var s = document.createElement('script'); s.textContent = 'window.x = 1';\
             document.body.appendChild(s); return window.x === undefined;",
            vec![],
        )
        .await
        .map(|blocked| assert_eq!(blocked, json!(true), "the CSP refused it"))
        .unwrap();
    let errors = p.console_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("Content Security Policy")),
        "{errors:?}"
    );
    if env.axe.is_some() {
        assert_eq!(
            p.axe(&env.axe).await,
            Some(vec![]),
            "the page itself is clean"
        );
        p.client
            .execute(
                "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"data:,\">')",
                vec![],
            )
            .await
            .unwrap();
        let violations = p.axe(&env.axe).await.unwrap();
        assert!(
            violations
                .iter()
                .any(|(rule, impact, _)| rule == "image-alt" && impact == "critical"),
            "{violations:?}"
        );
    }
    a.close().await;
    p.close().await;
}

/// Writes the phone screenshots of every state in every language to
/// `docs/screenshots/` (run on demand; see the file's docs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/screenshots/; run with --ignored screenshots"]
async fn screenshots() {
    let Some(env) = Env::start().await else {
        panic!("screenshots need chromium and chromedriver");
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    walk_states(&env, PHONE, Some(&dir)).await;
    let confirm = Env::start_with(FirstDevice::Confirm).await.unwrap();
    confirm_pages(&confirm, Some(&dir)).await;
    demo_pages(&env, PHONE, Some(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_pages_in_every_language_with_the_audit() {
    let Some(env) = Env::start().await else {
        return;
    };
    for size in [PHONE, DESKTOP] {
        let audit = demo_pages(&env, size, None).await;
        println!("axe-core, the demo's pages at {}x{}:", size.0, size.1);
        print_audit(&audit);
    }
}

// ---------------------------------------------------------------------------
// The demo's own pages, along a buyer's journey, in every language.

/// The journey through the demo's pages in every language at `size`: the
/// shop, an order of three seats (the gate's challenge, then the order),
/// a seat, a seat handed to a companion, the companion's challenge and
/// seat; then a cancelled hand-off, the order transferred (its code, the
/// recipient's acceptance), a refused form, a ticket, and the operator page. Each page: its language, its heading,
/// the console, the axe audit (no serious or critical violation); the
/// journey's pages saved as `journey-*.{lang}.png` into `shots` when given.
async fn demo_pages(env: &Env, size: (u32, u32), shots: Option<&Path>) -> Audit {
    let mut audit = Audit::new();
    for locale in Locale::ALL {
        let d = demo_app::texts::DemoTexts::for_locale(locale);
        let t = Texts::for_locale(locale);
        let mut check = async |page: &str, p: &Profile, heading: &str| {
            assert_eq!(p.lang().await, locale.tag(), "{page}");
            assert_eq!(p.heading().await, heading, "{page} {}", locale.tag());
            p.no_console_errors().await;
            if let Some(violations) = p.axe(&env.axe).await {
                let bad: Vec<_> = violations
                    .iter()
                    .filter(|(_, impact, _)| impact == "serious" || impact == "critical")
                    .collect();
                assert!(bad.is_empty(), "{page} {}: axe {bad:?}", locale.tag());
                audit.insert((page.to_owned(), locale.tag()), violations);
            }
            if let Some(dir) = shots.filter(|_| page.starts_with("journey")) {
                let png = p.client.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{page}.{}.png", locale.tag())), png).unwrap();
            }
        };

        // The shop: three seats for this address.
        let p = env.profile(locale.tag(), size, true).await;
        p.open("/").await;
        check("journey-1-shop", &p, d.shop_title).await;
        let names = p.all_text("nav a").await.join(" ");
        assert_eq!(
            names, "日本語 English 简体中文 繁體中文 한국어",
            "the language links"
        );
        let buyer = format!("buyer-{}-{}@example.com", locale.tag(), size.0);
        p.type_in("#email", &buyer).await;
        p.find("#seats").await.select_by_value("3").await.unwrap();
        p.click_and_wait("form[action=\"/buy\"] button").await;

        // The order, pre-bound: the gate asks for the code sent to the buyer.
        let order_path = p.client.current_url().await.unwrap().path().to_owned();
        assert!(
            order_path.starts_with("/orders/"),
            "{order_path}: {}",
            p.source().await
        );
        check("journey-2-order-challenge", &p, &t.title).await;
        p.click_and_wait("#otp-send").await;
        let code = env.code_for(&buyer);
        p.type_in("#otp-code", &code).await;
        p.press("verify").await;
        check("journey-3-order", &p, d.order_title).await;
        assert_eq!(p.all_text("ul.seats h3").await.len(), 3);

        // A seat: no new code.
        p.click_and_wait("a[href$=\"/seats/1\"]").await;
        assert!(p.is_ticket().await, "seat 1 opens with the order's code");
        check("journey-4-seat", &p, demo_app::SHOP_EVENT).await;

        // Seat 2 to a companion.
        p.open(&order_path).await;
        let friend = format!("friend-{}-{}@example.com", locale.tag(), size.0);
        p.type_in("#companion-2", &friend).await;
        p.click_and_wait("form[action$=\"/seats/2/companion\"] button")
            .await;
        assert!(p.exists("p.done").await, "the hand-off is confirmed");
        check("journey-5-handed-off", &p, d.order_title).await;

        // The companion opens the link mailed to them.
        let link = env.mailer.link_for(&friend).expect("the companion's link");
        let q = env.profile(locale.tag(), size, true).await;
        q.client.goto(&link).await.unwrap();
        check("journey-6-companion-challenge", &q, &t.title).await;
        q.click_and_wait("#otp-send").await;
        let code = env.code_for(&friend);
        q.type_in("#otp-code", &code).await;
        q.press("verify").await;
        assert!(q.is_ticket().await, "the companion's seat");
        check("journey-7-companion-seat", &q, demo_app::SHOP_EVENT).await;
        q.close().await;

        // Seat 3 handed over, then taken back.
        p.open(&order_path).await;
        p.type_in("#companion-3", &friend).await;
        p.click_and_wait("form[action$=\"/seats/3/companion\"] button")
            .await;
        p.click_and_wait("form[action$=\"/cancel\"] button").await;
        assert!(p.exists("p.done").await, "the cancellation is confirmed");
        check("order-cancelled", &p, d.order_title).await;

        // The order transferred: a code to the order's address confirms it,
        // the recipient accepts it on their own device.
        let recipient = format!("new-owner-{}-{}@example.com", locale.tag(), size.0);
        p.type_in("#transfer", &recipient).await;
        p.click_and_wait("form[action$=\"/transfer\"] button").await;
        p.client
            .execute(
                "document.getElementById('transfer-code').scrollIntoView({block: 'center'})",
                vec![],
            )
            .await
            .unwrap();
        check("journey-8-transfer-code", &p, d.order_title).await;
        let code = env.code_for(&buyer);
        p.type_in("#transfer-code", &code).await;
        p.click_and_wait("form[action$=\"/transfer/confirm\"] button")
            .await;
        check("transfer-offered", &p, d.order_title).await;
        let link = env
            .mailer
            .link_for(&recipient)
            .expect("the recipient's link");
        let r = env.profile(locale.tag(), size, true).await;
        r.client.goto(&link).await.unwrap();
        r.click_and_wait("#otp-send").await;
        let code = env.code_for(&recipient);
        r.type_in("#otp-code", &code).await;
        r.press("verify").await;
        check("journey-9-transfer-accept", &r, d.accept_title).await;
        r.click_and_wait("form[action$=\"/accept\"] button").await;
        // The order now asks the new owner's code (after the resend cooldown).
        env.clock.advance(Duration::from_secs(61));
        r.open(&format!("{order_path}?done=accepted")).await;
        r.click_and_wait("#otp-send").await;
        let code = env.code_for(&recipient);
        r.type_in("#otp-code", &code).await;
        r.press("verify").await;
        assert!(r.exists("p.done").await, "the order is the recipient's");
        check("transfer-accepted", &r, d.order_title).await;
        r.close().await;

        // Seats the shop does not sell (a page that changed its own form).
        p.open("/").await;
        p.type_in("#email", &buyer).await;
        p.client
            .execute(
                "document.getElementById('seats').innerHTML = '<option value=\"9\">9</option>'",
                vec![],
            )
            .await
            .unwrap();
        p.click_and_wait("form[action=\"/buy\"] button").await;
        assert!(p.visible_text().await.contains(d.bad_seats));
        check("bad-seats", &p, d.error_title).await;
        p.open(&format!("/tickets/demo-{}-{}", locale.tag(), size.0))
            .await;
        assert!(p.is_ticket().await, "the first device");
        check("ticket", &p, d.demo_event).await;

        // The operator page, signed out then looking up the order.
        p.open("/admin").await;
        check("admin-sign-in", &p, d.admin_title).await;
        p.type_in("#token", ADMIN_TOKEN).await;
        p.click_and_wait("form[action=\"/admin/login\"] button")
            .await;
        p.type_in("#ticket", order_path.trim_start_matches("/orders/"))
            .await;
        p.click_and_wait("form[action=\"/admin\"] button").await;
        let source = p.source().await;
        assert_eq!(
            source.matches("<table>").count(),
            2,
            "the order's report and its seats"
        );
        assert!(source.contains("f***@e***.com"), "seat 2, received");
        check("admin-ticket", &p, d.admin_title).await;
        p.close().await;
    }
    audit
}

// ---------------------------------------------------------------------------
// Every state in every language.

/// Axe's violations, by state and language: `(rule, impact, nodes)`.
type Audit = BTreeMap<(String, &'static str), Vec<(String, String, u64)>>;

/// Walks every state in every language at `size`: checks the language, the
/// heading, the console, and the axe audit (no serious or critical
/// violation); saves a screenshot of each into `shots` when given.
async fn walk_states(env: &Env, size: (u32, u32), shots: Option<&Path>) -> Audit {
    let mut audit = Audit::new();
    let owner = env.profile("en", size, true).await;
    for locale in Locale::ALL {
        let t = Texts::for_locale(locale);
        let ticket = format!("/tickets/states-{}-{}", locale.tag(), size.0);
        owner.open(&ticket).await;
        assert!(owner.is_ticket().await);
        let p = env.profile(locale.tag(), size, true).await;
        let mut check = async |state: &str, p: &Profile| {
            assert_eq!(p.lang().await, locale.tag(), "{state}");
            p.no_console_errors().await;
            if let Some(violations) = p.axe(&env.axe).await {
                let bad: Vec<_> = violations
                    .iter()
                    .filter(|(_, impact, _)| impact == "serious" || impact == "critical")
                    .collect();
                assert!(bad.is_empty(), "{state} {}: axe {bad:?}", locale.tag());
                audit.insert((state.to_owned(), locale.tag()), violations);
            }
            if let Some(dir) = shots {
                let png = p.client.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{state}.{}.png", locale.tag())), png).unwrap();
            }
        };

        p.open(&ticket).await;
        assert_eq!(p.heading().await, t.title);
        check("1-address", &p).await;

        let email = format!("visitor-{}@example.com", locale.tag());
        p.type_in("#otp-email", &email).await;
        p.press("send").await;
        let code = env.code_for(&email);
        // With scripts, Resend is disabled while it counts down.
        assert!(!p.find("#otp-send").await.is_enabled().await.unwrap());
        check("2-code-sent", &p).await;

        let wrong = if code == "000000" { "111111" } else { "000000" };
        p.type_in("#otp-code", wrong).await;
        p.press("verify").await;
        assert!(
            p.visible_text()
                .await
                .contains(first_words(&t.err_wrong_code))
        );
        check("3-wrong-code", &p).await;

        // A press during the cooldown, as a page without scripts allows.
        p.client
            .execute(
                "document.getElementById('otp-send').disabled = false",
                vec![],
            )
            .await
            .unwrap();
        p.press("resend").await;
        assert!(
            p.visible_text()
                .await
                .contains(first_words(&t.err_throttled))
        );
        check("4-throttled", &p).await;

        env.clock.advance(Duration::from_secs(301));
        p.open(&ticket).await;
        assert!(
            p.visible_text()
                .await
                .contains(first_words(&t.expired_state))
        );
        check("5-expired", &p).await;

        p.press("resend").await;
        for _ in 1..LOCKOUT_AFTER {
            p.type_in("#otp-code", wrong).await;
            p.press("verify").await;
        }
        assert!(p.visible_text().await.contains(first_words(&t.err_locked)));
        check("6-locked", &p).await;
        // The lockout ends on its own (the clock moves on for the next language).
        env.clock.advance(Duration::from_secs(3601));
        p.close().await;
    }
    owner.close().await;
    audit
}

/// The text of a catalog string before its first placeholder.
fn first_words(s: &str) -> &str {
    s.split('{').next().unwrap().trim()
}

fn print_audit(audit: &Audit) {
    if audit.is_empty() {
        println!("axe: not run (no axe-core)");
    }
    for ((state, lang), violations) in audit {
        println!("axe {state:<14} {lang:<8} {violations:?}");
    }
}

fn full_width(code: &str) -> String {
    code.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0xFF10 + d).unwrap(),
            None => c,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The environment: the demo on 127.0.0.1, chromedriver, a profile per browser.

struct Env {
    base: String,
    driver_url: String,
    chrome: PathBuf,
    axe: Option<String>,
    clock: ManualClock,
    mailer: CapturingMailer,
    profiles: PathBuf,
    driver: Child,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

/// An executable named by `var`, else the first of `names` on `PATH`.
fn executable(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Env {
    /// The demo and chromedriver, or `None` (with a message) without a browser.
    async fn start() -> Option<Env> {
        Env::start_with(FirstDevice::Trust).await
    }

    /// The same, with another first-device mode than the demo's default.
    async fn start_with(first_device: FirstDevice) -> Option<Env> {
        let driver = executable("CHROMEDRIVER", &["chromedriver"]);
        let chrome = executable(
            "CHROME_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let (Some(driver), Some(chrome)) = (driver, chrome) else {
            needs::missing(
                "a browser: chromedriver or chromium not found (set CHROMEDRIVER and \
                 CHROME_BIN, or put them on PATH; .ci/run installs Debian's chromium \
                 and chromium-driver)",
            );
            return None;
        };
        let axe_path = std::env::var_os("OTP_AXE_JS").map_or_else(
            || {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/browser-tools/node_modules/axe-core/axe.min.js")
            },
            PathBuf::from,
        );
        let axe = std::fs::read_to_string(&axe_path).ok();
        if axe.is_none() {
            needs::missing(&format!(
                "the axe audit: no axe-core at {} (OTP_AXE_JS)",
                axe_path.display()
            ));
        }

        // The demo's site, with a clock the test moves and a mailer it reads.
        let clock = ManualClock::new(Timestamp::from_millis(1_800_000_000_000));
        let mailer = CapturingMailer::new();
        let limits = Limits::default()
            .with_lockout(LOCKOUT_AFTER, Duration::from_secs(3600))
            .unwrap();
        let flow = Flow::new(&Secret::random(), MemoryStore::new(), mailer.clone());
        let flow = demo_app::configure_flow(flow)
            .with_clock(clock.clone())
            .with_limits(limits);
        let otp = demo_app::configure(OtpLayer::new(flow.clone()))
            .with_first_device(first_device)
            .with_cookie_secure(false);
        let app = demo_app::router(otp).merge(admin::router(flow, ADMIN_TOKEN, false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });

        // A free port for chromedriver; another test's chromedriver may take
        // the same one first (it was free for both): this one then exits,
        // and is started again on another port, never left talking to the
        // other's.
        let (port, child) = 'started: {
            for _ in 0..5 {
                let port = free_port();
                let mut child = Command::new(&driver)
                    .arg(format!("--port={port}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
                let driver_addr = SocketAddr::from(([127, 0, 0, 1], port));
                let started = Instant::now();
                loop {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    if TcpStream::connect(driver_addr).is_ok() {
                        // Ours, if it is still running once it answers.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if child.try_wait().unwrap().is_none() {
                            break 'started (port, child);
                        }
                        break;
                    }
                    assert!(
                        started.elapsed() < Duration::from_secs(20),
                        "chromedriver did not start"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            panic!("chromedriver did not start on a free port in 5 tries");
        };
        let driver_addr = SocketAddr::from(([127, 0, 0, 1], port));
        static ENVS: AtomicU64 = AtomicU64::new(0);
        let n = ENVS.fetch_add(1, Ordering::Relaxed);
        let profiles =
            std::env::temp_dir().join(format!("tower-otp-browser-{}-{n}", std::process::id()));
        Some(Env {
            base: format!("http://{addr}"),
            driver_url: format!("http://{driver_addr}"),
            chrome,
            axe,
            clock,
            mailer,
            profiles,
            driver: child,
        })
    }

    /// A new browser with its own fresh profile directory.
    async fn profile(&self, accept_language: &str, size: (u32, u32), js: bool) -> Profile {
        // A directory of its own: a profile reused by a later browser would
        // bring the earlier one's languages and cookies with it.
        static PROFILES: AtomicU64 = AtomicU64::new(0);
        let n = PROFILES.fetch_add(1, Ordering::Relaxed);
        let dir = self.profiles.join(format!("p{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", dir.display()),
            format!("--lang={}", accept_language.split(',').next().unwrap()),
        ];
        let mut options = json!({
            "binary": self.chrome,
            "args": args,
            "prefs": { "intl.accept_languages": accept_language },
        });
        if !js {
            // The content setting a person changes ("Don't allow sites to use
            // JavaScript"); WebDriver's own commands still run.
            options["prefs"]["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        if size == PHONE {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": size.0, "height": size.1, "pixelRatio": 1.0, "touch": true },
            });
        } else {
            options["args"]
                .as_array_mut()
                .unwrap()
                .push(json!(format!("--window-size={},{}", size.0, size.1)));
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.driver_url)
            .await
            .expect("a chromedriver session");
        Profile {
            client,
            base: self.base.clone(),
            js,
        }
    }

    fn code_for(&self, address: &str) -> String {
        self.mailer
            .last_code_for(&EmailAddress::parse(address).unwrap())
            .expect("a code was mailed")
    }
}

/// One browser profile.
struct Profile {
    client: Client,
    base: String,
    js: bool,
}

/// Chromedriver's browser log (its `se/log` endpoint): console messages,
/// CSP violations included.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

impl Profile {
    async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("{css}: {e}\n{}", self.source().await),
        }
    }

    async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    async fn all_text(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(e.text().await.unwrap());
        }
        out
    }

    async fn visible_text(&self) -> String {
        self.find("body").await.text().await.unwrap()
    }

    async fn heading(&self) -> String {
        self.find("h1").await.text().await.unwrap()
    }

    async fn lang(&self) -> String {
        self.find("html")
            .await
            .attr("lang")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// The demo's ticket (or seat) page, in any language.
    async fn is_ticket(&self) -> bool {
        self.exists("[data-verified]").await
    }

    async fn type_in(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Presses the gate button `action` and waits for the next page.
    async fn press(&self, action: &str) {
        self.click_and_wait(&format!("button[name=action][value={action}]"))
            .await;
    }

    /// Clicks and waits until another document is loaded. Without scripts
    /// the source tells (each gate page has a fresh nonce, so even the same
    /// state reloaded differs). With scripts it does not: the page's own
    /// script changes the source (the resend countdown), so a changed source
    /// could still be the old document, whose elements go stale when the new
    /// one arrives. There a mark set on the old document's `window` tells.
    async fn click_and_wait(&self, css: &str) {
        const MARK: &str = "window.__otpOldDocument = true";
        const MARKED: &str = "return window.__otpOldDocument === true";
        let before = self.source().await;
        let target = self.find(css).await;
        if self.js {
            self.client.execute(MARK, vec![]).await.unwrap();
            target.click().await.unwrap();
        } else {
            // Chromedriver's click hangs when the page may not run scripts;
            // Enter on the focused control is the keyboard's press.
            target.send_keys("\u{E007}").await.unwrap();
        }
        let started = Instant::now();
        loop {
            // (chromedriver waits for a pending navigation before answering.)
            let loaded = if self.js {
                let marked = self.client.execute(MARKED, vec![]).await.unwrap();
                marked != Value::Bool(true)
            } else {
                self.source().await != before
            };
            if loaded {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no new page after clicking {css}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Console errors since the last call, without the expected statuses of
    /// the gate's own documents (401 challenge, 422 wrong code, 429
    /// throttled) and the
    /// favicon the demo does not have.
    async fn console_errors(&self) -> Vec<String> {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .filter(|m| {
                let status =
                    m.contains("Failed to load resource: the server responded with a status of");
                let expected = [
                    "status of 400",
                    "status of 401",
                    "status of 422",
                    "status of 429",
                    "favicon.ico",
                ]
                .iter()
                .any(|s| m.contains(s));
                !(status && m.contains(&self.base) && expected)
            })
            .collect()
    }

    async fn no_console_errors(&self) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "console errors: {errors:#?}");
    }

    /// Runs axe-core on the page: its violations as `(rule, impact, nodes)`,
    /// or `None` without axe-core. WebDriver runs the script outside the
    /// page's CSP (which stays as it is: no `unsafe-inline`, no `unsafe-eval`).
    async fn axe(&self, source: &Option<String>) -> Option<Vec<(String, String, u64)>> {
        let source = source.as_ref()?;
        self.client.execute(source, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "var done = arguments[arguments.length - 1];\
                 axe.run(document, { resultTypes: ['violations'] })\
                   .then(function (r) { done(r.violations.map(function (v) {\
                     return [v.id, v.impact || '', v.nodes.length]; })); })\
                   .catch(function (e) { done('axe failed: ' + e); });",
                vec![],
            )
            .await
            .unwrap();
        let list = result.as_array().unwrap_or_else(|| panic!("axe: {result}"));
        Some(
            list.iter()
                .map(|v| {
                    (
                        v[0].as_str().unwrap().to_owned(),
                        v[1].as_str().unwrap().to_owned(),
                        v[2].as_u64().unwrap(),
                    )
                })
                .collect(),
        )
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}
