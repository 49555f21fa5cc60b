//! Renders an [`OtpMail`] into subject, text and HTML, in the mail's language.
//!
//! Both bodies are built from one list of blocks, so they always say the same
//! thing, and every value is escaped in the HTML body. The subject holds fixed
//! words and the configured site name only: never the code (lock screens show
//! subjects) and nothing a visitor typed. Only the hand-over and transfer-offer
//! mails carry a link, the one the flow gave, and only an `http://` or
//! `https://` one; every code is typed on the page that asked for it.

use std::fmt::Write as _;
use std::time::Duration;

use super::blocks::{Block, Site};
use super::catalog::{self, MailTexts};
use super::{MailKind, OtpMail};

/// A message ready for a transport.
///
/// ```
/// use std::time::Duration;
/// use tower_otp::{EmailAddress, Locale};
/// use tower_otp::mail::{Code, MailKind, OtpMail};
///
/// let to = EmailAddress::parse("taro@example.com")?;
/// let kind = MailKind::Code { code: Code::generate(6), valid_for: Duration::from_secs(300) };
/// let mail = OtpMail::new(to, kind, Locale::Ja, "Example Tickets");
/// let rendered = mail.render();
/// assert_eq!(rendered.subject, "[Example Tickets] ワンタイムパスワード");
/// assert!(rendered.text.contains("5分間"));
/// assert!(rendered.html.starts_with("<!DOCTYPE html>"));
/// # Ok::<(), tower_otp::AddressError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RenderedMail {
    /// The subject: fixed text and the site name, never the code.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (a complete document, inline styles, no external resources).
    pub html: String,
}

pub(crate) fn render(mail: &OtpMail) -> RenderedMail {
    let texts = catalog::texts(mail.locale);
    let site = Site {
        name: one_line(&mail.site_name),
        origin: mail
            .site_origin
            .as_deref()
            .map(one_line)
            .filter(|o| !o.is_empty()),
    };
    let hint = mail
        .ticket_hint
        .as_deref()
        .map(one_line)
        .filter(|h| !h.is_empty());
    let (subject, blocks) = match &mail.kind {
        MailKind::Code { code, valid_for } => {
            let valid = duration(texts, *valid_for);
            (
                texts.code_subject(),
                texts.code_body(&site, hint, code.as_str(), &valid),
            )
        }
        MailKind::NewDevice { at } => {
            let when = texts.format_time(*at);
            (
                texts.notice_subject(),
                texts.notice_body(&site, hint, &when),
            )
        }
        MailKind::Rebound { at } => {
            let when = texts.format_time(*at);
            (
                texts.rebound_subject(),
                texts.rebound_body(&site, hint, &when),
            )
        }
        MailKind::HandedOver { link } => (
            texts.handed_subject(),
            texts.handed_body(&site, hint, checked_link(link)),
        ),
        MailKind::TransferOffered { link } => (
            texts.offer_subject(),
            texts.offer_body(&site, hint, checked_link(link)),
        ),
        MailKind::TransferCode {
            code,
            valid_for,
            to,
        } => {
            let valid = duration(texts, *valid_for);
            (
                texts.transfer_code_subject(),
                texts.transfer_code_body(&site, hint, code.as_str(), &valid, masked(to)),
            )
        }
        MailKind::Transferred { at, to } => {
            let when = texts.format_time(*at);
            (
                texts.transferred_subject(),
                texts.transferred_body(&site, hint, masked(to), &when),
            )
        }
    };
    let subject = format!("[{}] {subject}", site.name);
    RenderedMail {
        text: text(&blocks),
        html: html(mail.locale.tag(), &subject, &blocks),
        subject,
    }
}

/// Collapses control characters and line breaks into single spaces and trims,
/// so configured and application-given values stay on one line.
pub(crate) fn one_line(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value
        .split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The (masked) address a ticket goes to, on one line; `None` when empty.
fn masked(to: &str) -> Option<String> {
    Some(one_line(to)).filter(|to| !to.is_empty())
}

/// `link` when it may be shown: an `http://` or `https://` URL (the scheme
/// in any case) with something after the `//` that does not start another
/// `/`, and no whitespace or control character. Anything else is left out of
/// the message, with a warning that does not show it.
fn checked_link(link: &str) -> Option<&str> {
    let shown = link_to_show(link);
    if shown.is_none() {
        tracing::warn!(
            "a mail's link is not an http:// or https:// URL: the message goes without it"
        );
    }
    shown
}

/// `link` if [`checked_link`] would show it, without the warning.
pub(super) fn link_to_show(link: &str) -> Option<&str> {
    let after_scheme = ["https://", "http://"].into_iter().find_map(|scheme| {
        let head = link.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &link[scheme.len()..])
    })?;
    let whole = !after_scheme.is_empty() && !after_scheme.starts_with('/');
    let clean = !link.chars().any(|c| c.is_control() || c.is_whitespace());
    (whole && clean).then_some(link)
}

/// "5 minutes" / "5分間": whole hours, else whole minutes (rounded down, so
/// the message never promises more time than there is), else seconds.
fn duration(texts: &MailTexts, d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) {
        texts.hours(secs / 3600)
    } else if secs >= 60 {
        texts.minutes(secs / 60)
    } else {
        texts.seconds(secs)
    }
}

fn text(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Para(p) => out.push_str(p),
            Block::Field(label, value) => {
                let _ = write!(out, "{label}{value}");
            }
            Block::Code(code) => {
                let _ = write!(out, "    {code}");
            }
            Block::Link(link) => out.push_str(link),
        }
        out.push_str("\n\n");
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn html(lang: &str, title: &str, blocks: &[Block]) -> String {
    let mut out = String::with_capacity(2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n</head>\n\
         <body style=\"margin:0;padding:16px;font-family:sans-serif;font-size:16px;line-height:1.6;color:#222;background:#fff\">\n\
         <div style=\"max-width:560px;margin:0 auto\">\n",
        lang,
        escape(title)
    );
    for block in blocks {
        match block {
            Block::Para(p) => {
                let _ = writeln!(out, "<p style=\"margin:0 0 16px\">{}</p>", escape(p));
            }
            Block::Field(label, value) => {
                let _ = writeln!(
                    out,
                    "<p style=\"margin:0 0 16px\">{}<strong>{}</strong></p>",
                    escape(label),
                    escape(value)
                );
            }
            Block::Code(code) => {
                let _ = writeln!(
                    out,
                    "<p style=\"margin:0 0 16px;font-family:monospace;font-size:32px;font-weight:bold;letter-spacing:6px\">{}</p>",
                    escape(code)
                );
            }
            Block::Link(link) => {
                let link = escape(link);
                let _ = writeln!(
                    out,
                    "<p style=\"margin:0 0 16px;word-break:break-all\"><a href=\"{link}\" style=\"color:#0645ad\">{link}</a></p>"
                );
            }
        }
    }
    out.push_str("</div>\n</body>\n</html>\n");
    out
}

/// Escapes text for HTML element content and quoted attribute values.
pub(super) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Code;
    use crate::{EmailAddress, Locale, Timestamp};

    const CODE: &str = "493817";

    fn code_mail(locale: Locale) -> OtpMail {
        let to = EmailAddress::parse("taro@example.com").unwrap();
        let kind = MailKind::Code {
            code: Code::normalize(CODE, 6).unwrap(),
            valid_for: Duration::from_secs(300),
        };
        OtpMail::new(to, kind, locale, "Example Tickets")
            .with_site_origin(Some("https://tickets.example".into()))
            .with_ticket_hint(Some("Summer Live 2025, seat A-12".into()))
    }

    fn notice(locale: Locale) -> OtpMail {
        let to = EmailAddress::parse("taro@example.com").unwrap();
        // 2025-08-01 12:34:56 UTC
        let kind = MailKind::NewDevice {
            at: Timestamp::from_millis(1_754_051_696_000),
        };
        OtpMail::new(to, kind, locale, "Example Tickets")
            .with_site_origin(Some("https://tickets.example".into()))
            .with_ticket_hint(Some("Summer Live 2025, seat A-12".into()))
    }

    fn has_six_digit_run(s: &str) -> bool {
        let mut run = 0;
        for b in s.bytes() {
            run = if b.is_ascii_digit() { run + 1 } else { 0 };
            if run >= 6 {
                return true;
            }
        }
        false
    }

    #[test]
    fn code_mail_en() {
        let r = code_mail(Locale::En).render();
        assert_eq!(r.subject, "[Example Tickets] Your one-time password");
        for body in [&r.text, &r.html] {
            assert!(body.contains("Example Tickets"));
            assert!(body.contains("https://tickets.example"));
            assert!(body.contains("Summer Live 2025, seat A-12"));
            assert!(body.contains(CODE));
            assert!(body.contains("valid for 5 minutes"));
            assert!(body.contains("Never share this password"));
            assert!(body.contains("never type it on any other site"));
            assert!(body.contains("you can ignore this e-mail"));
        }
        assert!(r.text.contains(&format!("\n    {CODE}\n")), "{}", r.text);
        assert!(!r.html.contains("<a "), "no links");
        assert!(!r.html.contains("href"), "no links");
    }

    #[test]
    fn code_mail_ja() {
        let r = code_mail(Locale::Ja).render();
        assert_eq!(r.subject, "[Example Tickets] ワンタイムパスワード");
        for body in [&r.text, &r.html] {
            assert!(body.contains("Example Tickets（https://tickets.example）"));
            assert!(body.contains("Summer Live 2025, seat A-12"));
            assert!(body.contains("ワンタイムパスワード"));
            assert!(body.contains(CODE));
            assert!(body.contains("5分間"));
            assert!(body.contains("誰にも教えないでください"));
            assert!(body.contains("以外のサイトには入力しないでください"));
            assert!(body.contains("このメールを破棄してください"));
        }
        assert!(r.html.contains("<html lang=\"ja\">"));
        assert!(!r.html.contains("href"));
    }

    #[test]
    fn subject_never_holds_the_code_or_the_hint() {
        for locale in Locale::ALL {
            for mail in [
                code_mail(locale),
                notice(locale),
                handed(locale, LINK),
                offered(locale, LINK),
                transfer_code(locale),
                transferred(locale),
            ] {
                let r = mail.render();
                assert!(
                    !r.subject.chars().any(|c| c.is_ascii_digit()),
                    "{}",
                    r.subject
                );
                assert!(!r.subject.contains("Summer"));
                assert!(!r.subject.contains("tickets.example"));
            }
        }
    }

    #[test]
    fn without_origin_and_hint() {
        for locale in Locale::ALL {
            let mail = code_mail(locale)
                .with_site_origin(None)
                .with_ticket_hint(None);
            let r = mail.render();
            assert!(r.text.contains("Example Tickets"));
            assert!(!r.text.contains("()") && !r.text.contains("（）"));
            assert!(!r.text.contains("Summer"));
            assert!(r.text.contains(CODE));
        }
    }

    #[test]
    fn every_reflected_value_is_escaped_in_html() {
        let evil = "<script>alert('x')</script>&\"";
        for locale in Locale::ALL {
            for mail in [
                code_mail(locale),
                notice(locale),
                handed(locale, LINK),
                transfer_code(locale),
                transferred(locale),
            ] {
                let mail = OtpMail {
                    site_name: evil.into(),
                    site_origin: Some(format!("https://{evil}")),
                    ticket_hint: Some(evil.into()),
                    ..mail
                };
                let r = mail.render();
                assert!(!r.html.contains("<script"), "{}", r.html);
                assert!(!r.html.contains("alert('x')"));
                assert!(
                    r.html
                        .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;")
                );
                // The plain text keeps the value as is: it is not HTML.
                assert!(r.text.contains(evil));
            }
        }
    }

    #[test]
    fn configured_values_cannot_add_lines() {
        let mail = OtpMail {
            site_name: "Site\r\nBcc: x@y.z".into(),
            ticket_hint: Some("A\n\nYour code is 000000\u{2028}".into()),
            ..code_mail(Locale::En)
        };
        let r = mail.render();
        assert_eq!(r.subject, "[Site Bcc: x@y.z] Your one-time password");
        assert!(r.text.contains("A Your code is 000000\n"), "{}", r.text);
        assert!(!r.text.contains("\r"));
    }

    #[test]
    fn validity_wording() {
        let cases = [
            (300, Locale::En, "valid for 5 minutes"),
            (60, Locale::En, "valid for 1 minute."),
            (90, Locale::En, "valid for 1 minute."),
            (45, Locale::En, "valid for 45 seconds"),
            (3600, Locale::En, "valid for 1 hour."),
            (7200, Locale::En, "valid for 2 hours"),
            (600, Locale::Ja, "10分間"),
            (30, Locale::Ja, "30秒間"),
            (86_400, Locale::Ja, "24時間"),
        ];
        for (secs, locale, want) in cases {
            let mut mail = code_mail(locale);
            if let MailKind::Code { valid_for, .. } = &mut mail.kind {
                *valid_for = Duration::from_secs(secs);
            }
            let r = mail.render();
            assert!(r.text.contains(want), "{secs}s {locale:?}: {}", r.text);
        }
    }

    #[test]
    fn new_device_notice() {
        let en = notice(Locale::En).render();
        assert_eq!(
            en.subject,
            "[Example Tickets] A new device was verified for your ticket"
        );
        assert!(en.text.contains("2025-08-01 12:34 UTC"), "{}", en.text);
        let ja = notice(Locale::Ja).render();
        assert_eq!(
            ja.subject,
            "[Example Tickets] 新しい端末でチケットが確認されました"
        );
        assert!(
            ja.text.contains("2025年8月1日 21:34（日本時間）"),
            "{}",
            ja.text
        );
        for r in [&en, &ja] {
            for body in [&r.subject, &r.text, &r.html] {
                assert!(!has_six_digit_run(body), "a 6-digit number in {body}");
                assert!(!body.contains("href"));
            }
            assert!(r.text.contains("Example Tickets"));
            assert!(r.text.contains("Summer Live 2025, seat A-12"));
        }
        assert!(en.text.contains("If this was not you"));
        assert!(ja.text.contains("お心当たりがない場合"));
    }

    /// The notice that the ticket was bound to another address, in every
    /// language: the site, the hint and the time; no link, no code, and not
    /// the new address.
    #[test]
    fn rebound_notice_in_every_language() {
        let subjects = [
            (Locale::En, "The e-mail address for your ticket was changed"),
            (Locale::Ja, "チケットの登録メールアドレスが変更されました"),
            (Locale::ZhHans, "您门票的登记邮箱已更改"),
            (Locale::ZhHant, "您票券的登錄電子郵件地址已變更"),
            (Locale::Ko, "티켓에 등록된 이메일 주소가 변경되었습니다"),
        ];
        for (locale, subject) in subjects {
            let mut mail = notice(locale);
            mail.kind = MailKind::Rebound {
                at: Timestamp::from_millis(1_754_051_696_000),
            };
            let r = mail.render();
            assert_eq!(r.subject, format!("[Example Tickets] {subject}"));
            let when = notice(locale).render().text;
            let when = when
                .lines()
                .find(|l| l.contains("2025"))
                .expect("the notice's time line");
            for body in [&r.text, &r.html] {
                assert!(body.contains("Example Tickets"), "{locale:?}");
                assert!(body.contains("Summer Live 2025, seat A-12"), "{locale:?}");
                assert!(!has_six_digit_run(body) && !body.contains("href"));
            }
            assert!(r.text.contains(when), "{locale:?}: {}", r.text);
            assert!(
                r.html
                    .contains(&format!("<html lang=\"{}\">", locale.tag()))
            );
        }
    }

    #[test]
    fn chinese_and_korean_mails() {
        // (locale, subject, phrases of the code mail, the notice's time)
        let cases = [
            (
                Locale::ZhHant,
                "[Example Tickets] 您的驗證碼",
                [
                    "Example Tickets（https://tickets.example）",
                    "5 分鐘",
                    "請勿將此驗證碼告訴任何人",
                    "請忽略這封郵件",
                ],
                "2025年8月1日 20:34（UTC+8）",
            ),
            (
                Locale::ZhHans,
                "[Example Tickets] 您的验证码",
                [
                    "Example Tickets（https://tickets.example）",
                    "5 分钟内有效",
                    "请勿将验证码告诉任何人",
                    "请忽略此邮件",
                ],
                "2025年8月1日 20:34（北京时间）",
            ),
            (
                Locale::Ko,
                "[Example Tickets] 인증번호 안내",
                [
                    "Example Tickets(https://tickets.example)",
                    "5분 동안 유효",
                    "누구에게도 알려 주지 마세요",
                    "무시하셔도 됩니다",
                ],
                "2025년 8월 1일 21:34 (한국 시간)",
            ),
        ];
        for (locale, subject, phrases, when) in cases {
            let r = code_mail(locale).render();
            assert_eq!(r.subject, subject);
            for body in [&r.text, &r.html] {
                assert!(body.contains(CODE), "{locale:?}");
                assert!(body.contains("Summer Live 2025, seat A-12"), "{locale:?}");
                for phrase in phrases {
                    assert!(body.contains(phrase), "{locale:?}: {phrase}\n{body}");
                }
            }
            assert!(
                r.html
                    .contains(&format!("<html lang=\"{}\">", locale.tag()))
            );
            let n = notice(locale).render();
            assert!(n.text.contains(when), "{locale:?}: {}", n.text);
            assert!(!has_six_digit_run(&n.text));
        }
    }

    const LINK: &str = "https://tickets.example/claim/Zq8xT2?seat=A-13&lang=ja";
    const LINK_IN_HTML: &str = "https://tickets.example/claim/Zq8xT2?seat=A-13&amp;lang=ja";
    const MASKED: &str = "h***@example.com";

    fn with_kind(locale: Locale, kind: MailKind) -> OtpMail {
        OtpMail {
            kind,
            ..notice(locale)
        }
    }

    fn handed(locale: Locale, link: &str) -> OtpMail {
        with_kind(locale, MailKind::HandedOver { link: link.into() })
    }

    fn offered(locale: Locale, link: &str) -> OtpMail {
        with_kind(locale, MailKind::TransferOffered { link: link.into() })
    }

    fn transfer_code(locale: Locale) -> OtpMail {
        with_kind(
            locale,
            MailKind::TransferCode {
                code: Code::normalize(CODE, 6).unwrap(),
                valid_for: Duration::from_secs(300),
                to: MASKED.into(),
            },
        )
    }

    fn transferred(locale: Locale) -> OtpMail {
        with_kind(
            locale,
            MailKind::Transferred {
                at: Timestamp::from_millis(1_754_051_696_000),
                to: MASKED.into(),
            },
        )
    }

    /// Each new kind's subject in every language: [handed, offered,
    /// transfer code, transferred].
    const NEW_SUBJECTS: [(Locale, [&str; 4]); 5] = [
        (
            Locale::En,
            [
                "A ticket was handed over to you",
                "A ticket is being transferred to you",
                "Confirm the transfer of your ticket",
                "A ticket was transferred",
            ],
        ),
        (
            Locale::Ja,
            [
                "チケットが分配されました",
                "チケット譲渡のお知らせ",
                "チケット譲渡の確認",
                "チケットが譲渡されました",
            ],
        ),
        (
            Locale::ZhHans,
            [
                "您收到了一张门票",
                "有一张门票正在转让给您",
                "请确认门票转让",
                "门票已转让",
            ],
        ),
        (
            Locale::ZhHant,
            [
                "您收到了一張票券",
                "有一張票券正在轉讓給您",
                "請確認票券轉讓",
                "票券已完成轉讓",
            ],
        ),
        (
            Locale::Ko,
            [
                "티켓이 전달되었습니다",
                "티켓 양도 안내",
                "티켓 양도 확인",
                "티켓 양도가 완료되었습니다",
            ],
        ),
    ];

    /// The hand-over and the transfer offer, in every language: their
    /// subject (no link, no digit), the site and the hint, and the link on a
    /// line of its own in the text and escaped in one `<a href>` in the HTML.
    #[test]
    fn link_mails_in_every_language() {
        for (locale, [handed_subject, offered_subject, ..]) in NEW_SUBJECTS {
            for (mail, subject) in [
                (handed(locale, LINK), handed_subject),
                (offered(locale, LINK), offered_subject),
            ] {
                let r = mail.render();
                assert_eq!(r.subject, format!("[Example Tickets] {subject}"));
                assert!(!r.subject.chars().any(|c| c.is_ascii_digit()));
                assert!(!r.subject.contains("Zq8x") && !r.subject.contains("http"));
                for body in [&r.text, &r.html] {
                    assert!(body.contains("Example Tickets"), "{locale:?}");
                    assert!(body.contains("Summer Live 2025, seat A-12"), "{locale:?}");
                    assert!(!has_six_digit_run(body), "{locale:?}: {body}");
                }
                assert!(
                    r.text.contains(&format!("\n\n{LINK}\n\n")),
                    "{locale:?}: {}",
                    r.text
                );
                assert!(
                    r.html.contains(&format!(
                        "<a href=\"{LINK_IN_HTML}\" style=\"color:#0645ad\">{LINK_IN_HTML}</a>"
                    )),
                    "{locale:?}: {}",
                    r.html
                );
                assert_eq!(r.html.matches("<a ").count(), 1);
                assert!(!r.html.contains(LINK), "the link's & is escaped");
                assert!(
                    r.html
                        .contains(&format!("<html lang=\"{}\">", locale.tag()))
                );
            }
        }
    }

    #[test]
    fn link_mails_in_english_say_what_to_do() {
        let r = handed(Locale::En, LINK).render();
        assert!(r.text.contains("has been handed over to you"));
        assert!(r.text.contains("open the link below on your own device"));
        assert!(
            r.text
                .contains("one-time password, which will be sent to this address")
        );
        assert!(r.text.contains("you can ignore this e-mail"));
        let r = offered(Locale::En, LINK).render();
        assert!(r.text.contains("is being transferred to you"));
        assert!(r.text.contains("To receive it, open the link below"));
        assert!(r.text.contains("you can ignore this e-mail"));
    }

    /// A link that is not `http://` or `https://` (or is not one clean URL)
    /// is left out of both bodies; the rest of the message stays.
    #[test]
    fn only_http_links_are_shown() {
        let refused = [
            "javascript:alert(1)",
            "JavaScript://%0Aalert(1)",
            "data:text/html,<b>x</b>",
            "ftp://tickets.example/claim",
            "mailto:taro@example.com",
            "//tickets.example/claim",
            "/claim/Zq8x",
            "https://",
            "https:///claim",
            "https://tickets.example/claim Zq8x",
            "https://tickets.example/\nBcc: x@y.z",
            "\u{200b}https://tickets.example",
            " https://tickets.example",
            "",
        ];
        for link in refused {
            for locale in Locale::ALL {
                for mail in [handed(locale, link), offered(locale, link)] {
                    let r = mail.render();
                    assert!(
                        !r.html.contains("<a ") && !r.html.contains("href"),
                        "{link:?}"
                    );
                    // (The site's origin, https://tickets.example, stays.)
                    if !link.is_empty() && !"https://tickets.example".contains(link) {
                        assert!(!r.text.contains(link), "{link:?}: {}", r.text);
                        assert!(!r.html.contains(&escape(link)), "{link:?}");
                    }
                    assert!(
                        link.is_empty() || !r.text.contains(&format!("\n{link}\n")),
                        "{link:?}"
                    );
                    assert!(r.text.contains("Summer Live 2025, seat A-12"));
                    assert!(!r.text.contains("\n\n\n"), "{}", r.text);
                }
            }
            assert_eq!(link_to_show(link), None, "{link:?}");
        }
        for shown in [
            "http://localhost:3000/claim/Zq8x",
            "HTTPS://tickets.example/claim",
            "https://tickets.example",
        ] {
            assert_eq!(link_to_show(shown), Some(shown));
            let r = handed(Locale::En, shown).render();
            assert!(r.text.contains(&format!("\n{shown}\n")), "{}", r.text);
            assert!(r.html.contains(&format!("<a href=\"{shown}\"")));
        }
    }

    #[test]
    fn a_link_that_would_break_out_of_the_attribute_is_escaped() {
        let link = "https://tickets.example/\"><script>alert('x')</script>";
        let r = handed(Locale::En, link).render();
        assert!(!r.html.contains("<script"), "{}", r.html);
        assert!(r.html.contains(
            "<a href=\"https://tickets.example/&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\""
        ));
        assert!(r.text.contains(link), "the text body is not HTML");
    }

    /// The code that confirms a transfer, in every language: the subject
    /// holds no digit, the bodies the code, its validity, the masked address
    /// it would go to, and never the full one.
    #[test]
    fn transfer_code_in_every_language() {
        for (locale, [.., subject, _]) in NEW_SUBJECTS {
            let r = transfer_code(locale).render();
            assert_eq!(r.subject, format!("[Example Tickets] {subject}"));
            assert!(!r.subject.chars().any(|c| c.is_ascii_digit()));
            assert!(!r.subject.contains(MASKED));
            let five = duration(catalog::texts(locale), Duration::from_secs(300));
            let valid = code_mail(locale).render().text;
            let valid = valid
                .lines()
                .find(|l| l.contains(&five))
                .expect("the validity line");
            for body in [&r.text, &r.html] {
                assert!(body.contains(CODE), "{locale:?}");
                assert!(body.contains(MASKED), "{locale:?}");
                assert!(body.contains("Summer Live 2025, seat A-12"));
                assert!(
                    body.contains("Example Tickets（https://tickets.example）")
                        || body.contains("Example Tickets (https://tickets.example)")
                        || body.contains("Example Tickets(https://tickets.example)")
                );
                assert!(!body.contains("href") && !body.contains("taro@"));
            }
            assert!(r.text.contains(&format!("\n    {CODE}\n")), "{}", r.text);
            assert!(r.text.contains(valid), "{locale:?}: {}", r.text);
        }
        let en = transfer_code(Locale::En).render();
        assert!(
            en.text.contains("Transfer to: h***@example.com\n"),
            "{}",
            en.text
        );
        assert!(en.text.contains("Never share this password with anyone"));
        assert!(en.text.contains("not even the person receiving the ticket"));
        assert!(
            en.text
                .contains("do not enter this password anywhere: your ticket stays yours")
        );
        let ja = transfer_code(Locale::Ja).render();
        assert!(ja.text.contains("譲渡先：h***@example.com\n"));
        assert!(ja.text.contains("誰にも教えないでください"));
        assert!(ja.text.contains("どこにも入力しないでください"));
    }

    /// The transfer notice, in every language: the site, the hint, the masked
    /// address and the time as the new-device notice writes it.
    #[test]
    fn transferred_notice_in_every_language() {
        for (locale, [.., subject]) in NEW_SUBJECTS {
            let r = transferred(locale).render();
            assert_eq!(r.subject, format!("[Example Tickets] {subject}"));
            assert!(!r.subject.chars().any(|c| c.is_ascii_digit()));
            let when = notice(locale).render().text;
            let when = when
                .lines()
                .find(|l| l.contains("2025"))
                .expect("the notice's time line");
            assert!(r.text.contains(when), "{locale:?}: {}", r.text);
            for body in [&r.text, &r.html] {
                assert!(body.contains(MASKED), "{locale:?}");
                assert!(body.contains("Summer Live 2025, seat A-12"));
                assert!(body.contains("Example Tickets"));
                assert!(!has_six_digit_run(body) && !body.contains("href"));
            }
        }
        let en = transferred(Locale::En).render();
        assert!(
            en.text
                .contains("Transfer to: h***@example.com\n\nWhen: 2025-08-01 12:34 UTC")
        );
        assert!(en.text.contains("contact Example Tickets right away"));
    }

    /// The masked address comes from the flow: escaped in HTML, on one line,
    /// and left out when empty.
    #[test]
    fn the_masked_address_is_escaped_on_one_line_or_left_out() {
        for mut mail in [transfer_code(Locale::En), transferred(Locale::En)] {
            match &mut mail.kind {
                MailKind::TransferCode { to, .. } | MailKind::Transferred { to, .. } => {
                    *to = "<b>h***</b>@example.com\r\nBcc: x@y.z".into();
                }
                _ => unreachable!(),
            }
            let r = mail.render();
            assert!(
                r.html
                    .contains("&lt;b&gt;h***&lt;/b&gt;@example.com Bcc: x@y.z")
            );
            assert!(
                r.text
                    .contains("Transfer to: <b>h***</b>@example.com Bcc: x@y.z\n")
            );
            match &mut mail.kind {
                MailKind::TransferCode { to, .. } | MailKind::Transferred { to, .. } => {
                    *to = " \n ".into();
                }
                _ => unreachable!(),
            }
            let r = mail.render();
            assert!(!r.text.contains("Transfer to:"), "{}", r.text);
        }
    }

    #[test]
    fn debug_shows_no_code_link_or_address() {
        let kinds = [
            handed(Locale::En, LINK).kind,
            offered(Locale::En, LINK).kind,
            transfer_code(Locale::En).kind,
            transferred(Locale::En).kind,
        ];
        for kind in kinds {
            let debug = format!(
                "{kind:?} {:?}",
                OtpMail {
                    kind: kind.clone(),
                    ..notice(Locale::En)
                }
            );
            for secret in ["Zq8x", "claim", CODE, "h***"] {
                assert!(!debug.contains(secret), "{debug}");
            }
        }
        let code = format!("{:?}", transfer_code(Locale::En).kind);
        assert_eq!(
            code,
            "TransferCode { code: Code(REDACTED), valid_for: 300s, .. }"
        );
        assert_eq!(
            format!("{:?}", code_mail(Locale::En).kind),
            "Code { code: Code(REDACTED), valid_for: 300s }"
        );
    }

    #[test]
    fn escape_table() {
        assert_eq!(escape("a<b>&\"'c"), "a&lt;b&gt;&amp;&quot;&#39;c");
        assert_eq!(escape("日本語"), "日本語");
    }
}
