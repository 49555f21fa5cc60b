//! Every string of the built-in pages, per language (the `"page"` half of
//! each catalog file under `locales/`).

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::locale::Locale;
use crate::locale::catalog;

/// Every string the built-in pages show, in one language.
///
/// Start from [`Texts::for_locale`] (or [`Texts::japanese`],
/// [`Texts::english`]) and change what you need with struct update syntax
/// (always end with `..Texts::english()` or similar: fields may be added in
/// later versions). Strings are plain text; the pages escape them, so HTML in
/// them shows as typed.
///
/// The built-in strings are data: `locales/{tag}.json` in this crate, one
/// file per language. `Texts` deserializes from the `"page"` object of such a
/// file (every field required, unknown fields refused), so an application can
/// keep its own wording in the same form.
///
/// Placeholders, replaced where a string uses them:
///
/// | placeholder | value |
/// |---|---|
/// | `{address}` | the masked address (`t***@e***.com`), shown in bold |
/// | `{wait}` | a duration: [`seconds`](Texts::seconds) or [`minutes`](Texts::minutes), counting down live when scripts run |
/// | `{attempts}` | wrong entries left |
/// | `{digits}` | the number of digits of a code |
/// | `{send}`, `{resend}`, `{confirm}`, `{restart}` | the label of that button |
///
/// An unknown placeholder is shown as typed.
///
/// ```
/// use tower_otp::Locale;
/// use tower_otp::pages::{DefaultPages, Texts};
///
/// let pages = DefaultPages::new().with_texts(
///     Locale::En,
///     Texts {
///         title: "Ticket check".into(),
///         confirm_button: "Check".into(),
///         ..Texts::english()
///     },
/// );
/// assert_eq!(pages.texts(Locale::En).title, "Ticket check");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    /// This language's own name in the language switch (`日本語`, `English`,
    /// `简体中文`, `繁體中文`, `한국어`).
    pub language_name: Cow<'static, str>,
    /// The accessible name of the language switch.
    pub language_nav: Cow<'static, str>,
    /// The heading of the challenge pages.
    pub title: Cow<'static, str>,
    /// Why a code is asked for (challenge pages, above the form).
    pub intro: Cow<'static, str>,
    /// A duration in seconds; `{n}` is the number.
    pub seconds: Cow<'static, str>,
    /// A duration in minutes; `{n}` is the number.
    pub minutes: Cow<'static, str>,
    /// Replaces `{address}` when no masked address is known.
    pub address_fallback: Cow<'static, str>,

    /// Address entry: what to do.
    pub email_prompt: Cow<'static, str>,
    /// Address entry: the address is bound to the ticket for good once verified.
    pub email_binding: Cow<'static, str>,
    /// The label of the address field.
    pub email_label: Cow<'static, str>,
    /// The Send button.
    pub send_button: Cow<'static, str>,
    /// The Resend button.
    pub resend_button: Cow<'static, str>,
    /// The Confirm button (verifies the code).
    pub confirm_button: Cow<'static, str>,
    /// The button that drops an unverified address to start over.
    pub restart_button: Cow<'static, str>,
    /// Under a Send/Resend button that is not yet allowed (`{wait}`).
    pub send_wait: Cow<'static, str>,

    /// No live code, address bound: where the code will go (`{address}`).
    pub send_to_bound: Cow<'static, str>,
    /// No live code, address not yet bound: where the code will go (`{address}`).
    pub send_to_pending: Cow<'static, str>,
    /// The last code expired unused.
    pub expired_state: Cow<'static, str>,
    /// The round's wrong entries are spent: a new code is needed.
    pub exhausted_state: Cow<'static, str>,

    /// A code was sent (`{address}`).
    pub code_sent_to: Cow<'static, str>,
    /// What to do with the code.
    pub code_prompt: Cow<'static, str>,
    /// How long the newest code stays valid (`{wait}`).
    pub code_valid_for: Cow<'static, str>,
    /// Wrong entries left (`{attempts}`).
    pub attempts_left: Cow<'static, str>,
    /// The label of the code field.
    pub code_label: Cow<'static, str>,
    /// No mail: look in the spam folder.
    pub not_received: Cow<'static, str>,
    /// No mail and the address is not bound: it may be mistyped, start over.
    pub not_received_unbound: Cow<'static, str>,

    /// The in-app browser hint: its title (a `<summary>`).
    pub in_app_title: Cow<'static, str>,
    /// The in-app browser hint: its text.
    pub in_app_body: Cow<'static, str>,

    /// New devices are locked out (`{wait}`).
    pub locked_state: Cow<'static, str>,
    /// The ticket has no address, and only the seller can bind one
    /// ([`Flow::with_require_prebound`](crate::Flow::with_require_prebound)):
    /// where to open it instead.
    pub not_prebound_state: Cow<'static, str>,

    /// The first-device confirmation page: heading.
    pub first_device_title: Cow<'static, str>,
    /// The first-device confirmation page: text.
    pub first_device_body: Cow<'static, str>,
    /// The first-device confirmation page: button.
    pub first_device_button: Cow<'static, str>,

    /// The unavailable page: heading.
    pub unavailable_title: Cow<'static, str>,
    /// The unavailable page: text.
    pub unavailable_body: Cow<'static, str>,
    /// The unavailable page: the link that reloads.
    pub reload_link: Cow<'static, str>,

    /// Notice: the address is not valid.
    pub err_invalid_email: Cow<'static, str>,
    /// Notice: the address is too long.
    pub err_email_too_long: Cow<'static, str>,
    /// Notice: no address was entered.
    pub err_email_required: Cow<'static, str>,
    /// Notice: what was typed is not a code (`{digits}`).
    pub err_invalid_code: Cow<'static, str>,
    /// Notice: wrong code (`{attempts}`).
    pub err_wrong_code: Cow<'static, str>,
    /// Notice: wrong code, and no attempts are left.
    pub err_wrong_code_last: Cow<'static, str>,
    /// Notice: the code expired.
    pub err_expired: Cow<'static, str>,
    /// Notice: no code was sent yet.
    pub err_no_code: Cow<'static, str>,
    /// Notice: too many wrong entries; a new code is needed.
    pub err_too_many_attempts: Cow<'static, str>,
    /// Notice: a send limit (`{wait}`).
    pub err_throttled: Cow<'static, str>,
    /// Notice: new devices are locked out (`{wait}`).
    pub err_locked: Cow<'static, str>,
    /// Notice: the address is bound and cannot be changed.
    pub err_bound: Cow<'static, str>,
    /// Notice: the ticket has no address and none can be typed here
    /// ([`Flow::with_require_prebound`](crate::Flow::with_require_prebound)).
    pub err_not_prebound: Cow<'static, str>,
    /// Notice: the mail could not be delivered.
    pub err_mail_failed: Cow<'static, str>,
    /// Notice: the mail server refused the mail for good (SMTP `5xx`); no
    /// code was issued.
    pub err_mail_refused: Cow<'static, str>,
    /// Notice: the outbox is full; no code was issued (`{wait}`).
    pub err_outbox_full: Cow<'static, str>,
    /// The code mail waits in the outbox (`{address}`, `{wait}`: the
    /// expected wait until it leaves).
    pub delivery_queued: Cow<'static, str>,
    /// The code mail is being handed to the mail server (`{address}`).
    pub delivery_sending: Cow<'static, str>,
    /// The mail server refused the latest code mail; its code was withdrawn
    /// (`{address}`).
    pub delivery_refused: Cow<'static, str>,
    /// The latest code mail failed every try; its code was withdrawn
    /// (`{address}`).
    pub delivery_failed: Cow<'static, str>,
    /// Notice: the service failed; nothing changed.
    pub err_unavailable: Cow<'static, str>,
    /// Notice: the CSRF token was missing or stale.
    pub err_csrf: Cow<'static, str>,
    /// Notice: a cross-site request was refused.
    pub err_cross_site: Cow<'static, str>,
    /// Notice: the request body was too large.
    pub err_too_large: Cow<'static, str>,
    /// Notice: the request was malformed.
    pub err_bad_request: Cow<'static, str>,
    /// Notice: the content type is not accepted.
    pub err_unsupported_media_type: Cow<'static, str>,
    /// Notice: the browser did not return the first-device cookie (it
    /// refuses cookies), so it cannot be remembered.
    pub err_cookies_required: Cow<'static, str>,
}

impl Texts {
    /// The Japanese strings.
    ///
    /// ```
    /// use tower_otp::pages::Texts;
    ///
    /// assert_eq!(Texts::japanese().title, "ワンタイムパスワード");
    /// ```
    pub fn japanese() -> Self {
        Self::for_locale(Locale::Ja)
    }

    /// The English strings.
    ///
    /// ```
    /// use tower_otp::pages::Texts;
    ///
    /// assert_eq!(Texts::english().title, "One-time password");
    /// ```
    pub fn english() -> Self {
        Self::for_locale(Locale::En)
    }

    /// The built-in strings for `locale`.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::Texts;
    ///
    /// assert_eq!(Texts::for_locale(Locale::Ja), Texts::japanese());
    /// assert_eq!(Texts::for_locale(Locale::ZhHant).language_name, "繁體中文");
    /// assert_eq!(Texts::for_locale(Locale::Ko).confirm_button, "확인");
    /// ```
    pub fn for_locale(locale: Locale) -> Self {
        static BUILT_IN: [OnceLock<Texts>; 5] = [const { OnceLock::new() }; 5];
        BUILT_IN[locale.index()]
            .get_or_init(|| catalog::half(locale, "page"))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_loads_its_page_half() {
        let names: Vec<_> = Locale::ALL
            .iter()
            .map(|l| Texts::for_locale(*l).language_name)
            .collect();
        assert_eq!(
            names,
            ["日本語", "English", "简体中文", "繁體中文", "한국어"]
        );
    }

    #[test]
    fn a_page_half_with_a_missing_or_unknown_key_does_not_load() {
        let whole: serde_json::Value =
            serde_json::from_str(include_str!("../../locales/en.json")).unwrap();
        let english = whole["page"].clone();
        assert!(serde_json::from_value::<Texts>(english.clone()).is_ok());
        let mut missing = english.clone();
        missing.as_object_mut().unwrap().remove("title");
        assert!(serde_json::from_value::<Texts>(missing).is_err());
        let mut unknown = english;
        unknown["extra"] = serde_json::Value::String("x".into());
        assert!(serde_json::from_value::<Texts>(unknown).is_err());
    }
}
