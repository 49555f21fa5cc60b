//! What each page shows, computed from a [`PageContext`], and the askama
//! templates that render it (`templates/pages/`).

use std::time::Duration;

use askama::Template;

use super::branding::Theme;
use super::rich::{Rich, Seg, Values};
use super::texts::Texts;
use super::{DefaultPages, Notice, PageContext, PageKind, RequestProblem};
use crate::email::AddressError;
use crate::flow::{Challenge, ChallengeState, Rejection};
use crate::mail::outbox::Delivery;

/// The id of the Send/Resend button (its wait text is `{id}-wait`).
const SEND_ID: &str = "otp-send";

/// The frame every page shares.
pub(super) struct Layout<'a> {
    lang: &'static str,
    title: String,
    heading: &'a str,
    nonce: &'a str,
    theme: &'a Theme,
    site_name: Option<&'a str>,
    logo_url: Option<&'a str>,
    languages: Vec<LanguageLink<'a>>,
    ticket_hint: Option<&'a str>,
    notice: Option<Rich>,
    script: bool,
    action_url: &'a str,
    csrf_token: &'a str,
    t: &'a Texts,
}

struct LanguageLink<'a> {
    tag: &'static str,
    label: &'a str,
    href: &'a str,
    current: bool,
}

/// The field a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    Email,
    Code,
}

struct SendButton<'a> {
    value: &'static str,
    label: &'a str,
    primary: bool,
    /// Present while sending is not yet allowed: the wait under the button
    /// (the page's script disables the button until it is over).
    wait: Option<Rich>,
}

struct ChallengeBody<'a> {
    lines: Vec<Rich>,
    warning: Option<Rich>,
    email_form: bool,
    code_form: bool,
    invalid: Field,
    send: Option<SendButton<'a>>,
    help: Vec<Rich>,
    restart: bool,
    in_app_hint: bool,
}

#[derive(Template)]
#[template(path = "pages/challenge.html", whitespace = "minimize")]
struct ChallengePage<'a> {
    layout: Layout<'a>,
    body: ChallengeBody<'a>,
}

#[derive(Template)]
#[template(path = "pages/confirm.html", whitespace = "minimize")]
struct ConfirmPage<'a> {
    layout: Layout<'a>,
}

#[derive(Template)]
#[template(path = "pages/unavailable.html", whitespace = "minimize")]
struct UnavailablePage<'a> {
    layout: Layout<'a>,
}

/// Renders `page` with `pages`' branding and texts.
pub(super) fn render(pages: &DefaultPages, page: &PageContext<'_>) -> String {
    let t = pages.texts(page.locale);
    let (notice, invalid) = match page.notice {
        Some(notice) => {
            let (rich, field) = notice_text(t, notice);
            (Some(rich), field)
        }
        None => (None, Field::None),
    };
    let challenge = page.challenge.filter(|_| page.kind == PageKind::Challenge);
    let heading: &str = match (page.kind, challenge) {
        (PageKind::Confirm, _) => &t.first_device_title,
        (PageKind::Challenge, Some(_)) => &t.title,
        _ => &t.unavailable_title,
    };
    let mut layout = Layout {
        lang: page.locale.tag(),
        title: match pages.site_name().or(page.site_name) {
            Some(site) => format!("{heading} | {site}"),
            None => heading.to_owned(),
        },
        heading,
        nonce: page.nonce,
        theme: &pages.theme,
        site_name: pages.site_name().or(page.site_name),
        logo_url: pages.logo_url(),
        languages: page
            .language_links
            .iter()
            .map(|(locale, href)| LanguageLink {
                tag: locale.tag(),
                label: &pages.texts(*locale).language_name,
                href,
                current: *locale == page.locale,
            })
            .collect(),
        ticket_hint: page.ticket_hint,
        notice,
        script: false,
        action_url: safe_path(page.action_url),
        csrf_token: page.csrf_token,
        t,
    };
    let result = match (page.kind, challenge) {
        (PageKind::Challenge, Some(challenge)) => {
            let body = challenge_body(t, challenge, page.notice, invalid, page.delivery);
            layout.script = layout.notice.as_ref().is_some_and(Rich::has_count)
                || body.lines.iter().any(Rich::has_count)
                || body.send.as_ref().is_some_and(|s| s.wait.is_some());
            ChallengePage { layout, body }.render()
        }
        (PageKind::Confirm, _) => ConfirmPage { layout }.render(),
        _ => {
            layout.script = layout.notice.as_ref().is_some_and(Rich::has_count);
            UnavailablePage { layout }.render()
        }
    };
    result.unwrap_or_else(|error| {
        tracing::error!(%error, "rendering a built-in page failed");
        String::from("<!doctype html><title>503</title><p>Service unavailable.")
    })
}

/// The action URL if it is a path (`/...`, not `//...`): anything else could
/// point a form elsewhere, so the form posts to the page's own URL instead.
fn safe_path(url: &str) -> &str {
    let path = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
    if path { url } else { "" }
}

fn challenge_body<'a>(
    t: &'a Texts,
    c: &Challenge,
    notice: Option<Notice<'_>>,
    invalid: Field,
    delivery: Option<Delivery>,
) -> ChallengeBody<'a> {
    let address = c.masked_address.as_deref();
    let v = Values {
        address,
        attempts: Some(c.attempts_left),
        ..Values::new(t)
    };
    let fill = |s: &str| Rich::fill(s, &v);
    let rejected = |f: fn(&Rejection) -> bool| match notice {
        Some(Notice::Rejected(r)) => f(r),
        _ => false,
    };
    let send_wait = (c.resend_in() > Duration::ZERO).then(|| {
        let v = Values {
            wait: Some(c.resend_in()),
            enables: Some(SEND_ID),
            ..v
        };
        Rich::fill(&t.send_wait, &v)
    });
    let mut body = ChallengeBody {
        lines: Vec::new(),
        warning: None,
        email_form: false,
        code_form: false,
        invalid,
        send: None,
        help: Vec::new(),
        restart: false,
        in_app_hint: true,
    };
    match c.state {
        ChallengeState::EmailRequired => {
            body.lines = vec![fill(&t.intro), fill(&t.email_prompt)];
            body.warning = Some(fill(&t.email_binding));
            body.email_form = true;
            body.send = Some(SendButton {
                value: "send",
                label: &t.send_button,
                primary: true,
                wait: send_wait,
            });
        }
        ChallengeState::SendRequired => {
            let again = c.expired || c.exhausted;
            body.lines.push(fill(&t.intro));
            if c.exhausted {
                if !rejected(|r| {
                    matches!(
                        r,
                        Rejection::TooManyAttempts | Rejection::WrongCode { attempts_left: 0 }
                    )
                }) {
                    body.lines.push(fill(&t.exhausted_state));
                }
            } else if c.expired && !rejected(|r| matches!(r, Rejection::Expired)) {
                body.lines.push(fill(&t.expired_state));
            }
            body.lines.push(fill(if c.bound {
                &t.send_to_bound
            } else {
                &t.send_to_pending
            }));
            body.send = Some(SendButton {
                value: if again { "resend" } else { "send" },
                label: if again {
                    &t.resend_button
                } else {
                    &t.send_button
                },
                primary: true,
                wait: send_wait,
            });
            body.restart = !c.bound;
        }
        ChallengeState::CodeSent => {
            let valid = Values {
                wait: Some(c.expires_in()),
                ..v
            };
            // Said as it stands: waiting (with the wait), leaving, or sent.
            let sent = match delivery {
                Some(Delivery::Queued { eta }) => {
                    let v = Values {
                        wait: Some(eta.max(Duration::from_secs(1))),
                        ..v
                    };
                    Rich::fill(&t.delivery_queued, &v)
                }
                Some(Delivery::Sending) => fill(&t.delivery_sending),
                _ => fill(&t.code_sent_to),
            };
            body.lines = vec![
                sent,
                fill(&t.code_prompt),
                Rich::fill(&t.code_valid_for, &valid),
            ];
            // A wrong-code notice already says how many are left.
            if !rejected(
                |r| matches!(r, Rejection::WrongCode { attempts_left } if *attempts_left > 0),
            ) {
                body.lines.push(fill(&t.attempts_left));
            }
            body.code_form = true;
            body.send = Some(SendButton {
                value: "resend",
                label: &t.resend_button,
                primary: false,
                wait: send_wait,
            });
            body.help.push(fill(&t.not_received));
            if !c.bound {
                body.help.push(fill(&t.not_received_unbound));
            }
            body.restart = !c.bound;
        }
        ChallengeState::Locked => {
            if !rejected(|r| matches!(r, Rejection::Locked { .. })) {
                let wait = c
                    .locked_until
                    .map_or(Duration::ZERO, |until| until.saturating_since(c.now));
                let v = Values {
                    wait: Some(wait),
                    ..v
                };
                body.lines.push(Rich::fill(&t.locked_state, &v));
            }
            body.in_app_hint = false;
        }
        ChallengeState::NotPrebound => {
            // No form: no address can be typed here, and no code sent.
            if !rejected(|r| matches!(r, Rejection::NotPrebound)) {
                body.lines.push(fill(&t.not_prebound_state));
            }
            body.in_app_hint = false;
        }
    }
    // The latest mail was refused or failed, its code withdrawn: said where
    // a code would be asked for or sent again.
    let undelivered = match delivery {
        Some(Delivery::Refused) => Some(&t.delivery_refused),
        Some(Delivery::Failed) => Some(&t.delivery_failed),
        _ => None,
    };
    if let Some(text) = undelivered {
        match c.state {
            ChallengeState::CodeSent => body.lines.insert(0, fill(text)),
            ChallengeState::SendRequired => body.lines.insert(1, fill(text)),
            _ => {}
        }
    }
    body
}

/// The notice's plain text (for tests).
#[cfg(test)]
pub(super) fn notice_text_for_tests(t: &Texts, notice: Notice<'_>) -> (String, ()) {
    (notice_text(t, notice).0.plain(), ())
}

/// The notice's text, and the field it is about.
fn notice_text(t: &Texts, notice: Notice<'_>) -> (Rich, Field) {
    let v = Values::new(t);
    let fill = |s: &str| Rich::fill(s, &v);
    let (text, field) = match notice {
        Notice::Problem(problem) => {
            let text = match problem {
                RequestProblem::Csrf => &t.err_csrf,
                RequestProblem::CrossSite => &t.err_cross_site,
                RequestProblem::TooLarge => &t.err_too_large,
                RequestProblem::BadRequest => &t.err_bad_request,
                RequestProblem::UnsupportedMediaType => &t.err_unsupported_media_type,
                RequestProblem::CookiesRequired => &t.err_cookies_required,
            };
            (fill(text), Field::None)
        }
        Notice::Rejected(rejection) => match rejection {
            Rejection::InvalidAddress(AddressError::Empty) | Rejection::AddressRequired => {
                (fill(&t.err_email_required), Field::Email)
            }
            Rejection::InvalidAddress(AddressError::TooLong) => {
                (fill(&t.err_email_too_long), Field::Email)
            }
            Rejection::InvalidAddress(_) => (fill(&t.err_invalid_email), Field::Email),
            Rejection::InvalidCode(e) => {
                let v = Values {
                    digits: Some(e.expected_digits),
                    ..v
                };
                (Rich::fill(&t.err_invalid_code, &v), Field::Code)
            }
            Rejection::WrongCode { attempts_left: 0 } => {
                (fill(&t.err_wrong_code_last), Field::None)
            }
            Rejection::WrongCode { attempts_left } => {
                let v = Values {
                    attempts: Some(*attempts_left),
                    ..v
                };
                (Rich::fill(&t.err_wrong_code, &v), Field::Code)
            }
            Rejection::Expired => (fill(&t.err_expired), Field::None),
            Rejection::NoCode => (fill(&t.err_no_code), Field::None),
            Rejection::TooManyAttempts => (fill(&t.err_too_many_attempts), Field::None),
            Rejection::Throttled { retry_after } => {
                let v = Values {
                    wait: Some(*retry_after),
                    ..v
                };
                (Rich::fill(&t.err_throttled, &v), Field::None)
            }
            Rejection::Locked { retry_after, .. } => {
                let v = Values {
                    wait: Some(*retry_after),
                    ..v
                };
                (Rich::fill(&t.err_locked, &v), Field::None)
            }
            Rejection::Bound => (fill(&t.err_bound), Field::None),
            Rejection::NotPrebound => (fill(&t.err_not_prebound), Field::None),
            Rejection::MailFailed(error) if error.is_permanent() => {
                (fill(&t.err_mail_refused), Field::None)
            }
            Rejection::MailFailed(_) => (fill(&t.err_mail_failed), Field::None),
            Rejection::OutboxFull { retry_after } => {
                let v = Values {
                    wait: Some(*retry_after),
                    ..v
                };
                (Rich::fill(&t.err_outbox_full, &v), Field::None)
            }
            Rejection::Unavailable(_) => (fill(&t.err_unavailable), Field::None),
        },
    };
    (text, field)
}
