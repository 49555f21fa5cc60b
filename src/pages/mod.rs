//! The built-in challenge pages (Japanese, English, Simplified and
//! Traditional Chinese, Korean), and the trait that lets an application
//! replace them.
//!
//! [`DefaultPages`] renders askama templates (`templates/pages/`, escaped
//! HTML) with strings from [`Texts`]; an application brands it, overrides any
//! string, or implements [`Pages`] itself.

use std::borrow::Cow;
use std::fmt;

use crate::flow::{Challenge, Rejection};
use crate::locale::Locale;
use crate::mail::outbox::Delivery;

mod branding;
mod rich;
mod texts;
mod view;

#[cfg(test)]
mod tests;

pub use self::branding::{BrandingError, MAX_LOGO_URL_BYTES};
pub use self::texts::Texts;

/// Which page to show.
///
/// ```
/// use tower_otp::Locale;
/// use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
///
/// let html = DefaultPages::new()
///     .render(&PageContext::new(PageKind::Unavailable, Locale::En, "/t/1", "c", "n"));
/// assert!(html.contains("Temporarily unavailable"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PageKind {
    /// The challenge: address entry, code entry, throttled, locked... by the challenge's state.
    Challenge,
    /// First-device confirmation (mode `confirm`): one button that POSTs `action=confirm`.
    Confirm,
    /// The service is unavailable (store down) and no challenge could be read.
    Unavailable,
}

/// A problem with the request itself, before any action ran.
///
/// ```
/// use tower_otp::Locale;
/// use tower_otp::pages::{DefaultPages, Notice, PageContext, PageKind, Pages, RequestProblem};
///
/// let page = PageContext::new(PageKind::Confirm, Locale::En, "/t/1", "c", "n")
///     .with_notice(Notice::Problem(RequestProblem::Csrf));
/// assert!(DefaultPages::new().render(&page).contains("This page has expired."));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestProblem {
    /// The CSRF token was missing or wrong (403).
    Csrf,
    /// A cross-site POST (403).
    CrossSite,
    /// The body was larger than allowed (413).
    TooLarge,
    /// The form was malformed or named no known action (400).
    BadRequest,
    /// The content type is not accepted (415).
    UnsupportedMediaType,
    /// The browser came back from the first-device round trip without its
    /// cookie: it refuses cookies (400).
    CookiesRequired,
}

/// What the last action produced, shown above the form.
///
/// ```
/// use tower_otp::{Locale, flow::Rejection};
/// use tower_otp::pages::{DefaultPages, Notice, PageContext, PageKind, Pages};
///
/// let rejection = Rejection::NoCode;
/// let page = PageContext::new(PageKind::Unavailable, Locale::Ja, "/t/1", "c", "n")
///     .with_notice(Notice::Rejected(&rejection));
/// assert!(DefaultPages::new().render(&page).contains("まだ送信されていません"));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Notice<'a> {
    /// An action was rejected.
    Rejected(&'a Rejection),
    /// The request was refused before any action ran.
    Problem(RequestProblem),
}

/// Everything a page needs. Strings in it are raw: the page escapes them.
///
/// ```
/// use tower_otp::Locale;
/// use tower_otp::pages::{PageContext, PageKind};
///
/// let page = PageContext::new(PageKind::Confirm, Locale::En, "/t/1", "csrf", "nonce");
/// assert_eq!(page.action_url, "/t/1");
/// assert!(page.challenge.is_none());
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PageContext<'a> {
    /// Which page.
    pub kind: PageKind,
    /// The language to render in.
    pub locale: Locale,
    /// The challenge (absent on [`PageKind::Unavailable`] and [`PageKind::Confirm`]).
    pub challenge: Option<&'a Challenge>,
    /// The result of the action just tried, if it failed.
    pub notice: Option<Notice<'a>>,
    /// The form's action URL: the request's own path and query (already safe
    /// to put in an attribute once escaped).
    pub action_url: &'a str,
    /// The value of the hidden CSRF field (`name="csrf_token"`).
    pub csrf_token: &'a str,
    /// The language switch: a link per locale (the same URL with `otp_lang=xx`).
    pub language_links: &'a [(Locale, &'a str)],
    /// A per-response CSP nonce for the page's `<style>` and `<script>` elements.
    pub nonce: &'a str,
    /// The application's ticket hint (event name...), if any.
    pub ticket_hint: Option<&'a str>,
    /// The site name configured on the layer, if any (a name set on
    /// [`DefaultPages::with_site_name`] takes precedence).
    pub site_name: Option<&'a str>,
    /// Where the ticket's latest code mail stands, when the flow queues
    /// mail ([`Flow::with_outbox`](crate::Flow::with_outbox)): waiting (and
    /// for how long), being sent, or refused or failed (its code withdrawn).
    pub delivery: Option<Delivery>,
}

impl<'a> PageContext<'a> {
    /// A context with no challenge, no notice, no language links and no
    /// ticket hint. The layer builds these; this is for testing a [`Pages`]
    /// implementation.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
    ///
    /// let page = PageContext::new(PageKind::Confirm, Locale::En, "/tickets/A7x9Qz", "csrf123", "n0nce");
    /// let html = DefaultPages::new().render(&page);
    /// assert!(html.contains(r#"<button name="action" value="confirm""#));
    /// ```
    pub fn new(
        kind: PageKind,
        locale: Locale,
        action_url: &'a str,
        csrf_token: &'a str,
        nonce: &'a str,
    ) -> Self {
        Self {
            kind,
            locale,
            challenge: None,
            notice: None,
            action_url,
            csrf_token,
            language_links: &[],
            nonce,
            ticket_hint: None,
            site_name: None,
            delivery: None,
        }
    }

    /// Sets where the ticket's latest code mail stands.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_otp::mail::outbox::Delivery;
    /// use tower_otp::pages::{PageContext, PageKind};
    /// use tower_otp::Locale;
    ///
    /// let page = PageContext::new(PageKind::Challenge, Locale::En, "/t/1", "csrf", "nonce")
    ///     .with_delivery(Some(Delivery::Queued { eta: Duration::from_secs(12) }));
    /// assert_eq!(page.delivery.and_then(Delivery::eta), Some(Duration::from_secs(12)));
    /// ```
    pub fn with_delivery(mut self, delivery: Option<Delivery>) -> Self {
        self.delivery = delivery;
        self
    }

    /// Sets the challenge.
    ///
    /// ```
    /// # use tower_otp::{flow::Challenge, Locale};
    /// # use tower_otp::pages::{PageContext, PageKind};
    /// fn page<'a>(challenge: &'a Challenge) -> PageContext<'a> {
    ///     PageContext::new(PageKind::Challenge, Locale::Ja, "/t/1", "csrf", "nonce")
    ///         .with_challenge(challenge)
    /// }
    /// ```
    pub fn with_challenge(mut self, challenge: &'a Challenge) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// Sets the notice.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, Notice, PageContext, PageKind, Pages, RequestProblem};
    ///
    /// let page = PageContext::new(PageKind::Unavailable, Locale::En, "/t/1", "csrf", "nonce")
    ///     .with_notice(Notice::Problem(RequestProblem::Csrf));
    /// assert!(DefaultPages::new().render(&page).contains(r#"role="alert""#));
    /// ```
    pub fn with_notice(mut self, notice: Notice<'a>) -> Self {
        self.notice = Some(notice);
        self
    }

    /// Sets the language switch's links.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
    ///
    /// let links = [(Locale::Ja, "/t/1?otp_lang=ja"), (Locale::En, "/t/1?otp_lang=en")];
    /// let page = PageContext::new(PageKind::Unavailable, Locale::Ja, "/t/1", "csrf", "nonce")
    ///     .with_language_links(&links);
    /// assert!(DefaultPages::new().render(&page).contains("日本語"));
    /// ```
    pub fn with_language_links(mut self, links: &'a [(Locale, &'a str)]) -> Self {
        self.language_links = links;
        self
    }

    /// Sets the site name.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
    ///
    /// let page = PageContext::new(PageKind::Unavailable, Locale::En, "/t/1", "csrf", "nonce")
    ///     .with_site_name(Some("Demo Tickets"));
    /// assert!(DefaultPages::new().render(&page).contains("Demo Tickets"));
    /// ```
    pub fn with_site_name(mut self, name: Option<&'a str>) -> Self {
        self.site_name = name;
        self
    }

    /// Sets the ticket hint.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
    ///
    /// let page = PageContext::new(PageKind::Confirm, Locale::En, "/t/1", "csrf", "nonce")
    ///     .with_ticket_hint(Some("Summer Live 2025"));
    /// assert!(DefaultPages::new().render(&page).contains("Summer Live 2025"));
    /// ```
    pub fn with_ticket_hint(mut self, hint: Option<&'a str>) -> Self {
        self.ticket_hint = hint;
        self
    }
}

/// Renders the gate's HTML pages. Implement it to replace the built-in pages
/// entirely; [`DefaultPages`] is the built-in implementation.
///
/// The HTML contract the layer relies on: forms `method="post"` to
/// `action_url`, a hidden `csrf_token` field, submit buttons
/// `<button name="action" value="send|resend|verify|restart|confirm">`, the
/// address field `<input type="email" name="email">`, the code field
/// `<input name="code" autocomplete="one-time-code" inputmode="numeric">`.
/// Inline `<style>`/`<script>` must carry `nonce="{nonce}"` (the CSP allows
/// nothing else).
///
/// A closure `Fn(&PageContext<'_>) -> String` is a `Pages` too:
///
/// ```
/// use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
///
/// let defaults = DefaultPages::new();
/// let pages = move |page: &PageContext<'_>| match page.kind {
///     PageKind::Unavailable => String::from("<!doctype html><title>Back soon</title>"),
///     _ => defaults.render(page),
/// };
/// fn uses(_: impl Pages) {}
/// uses(pages);
/// ```
pub trait Pages: Send + Sync + 'static {
    /// The full HTML document.
    fn render(&self, page: &PageContext<'_>) -> String;

    /// The languages these pages speak, in the order the language switch
    /// lists them. The layer negotiates only among these (see
    /// [`Locale::negotiate`]) and links each from the switch. Default: every
    /// [`Locale`], in [`Locale::ALL`] order.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{PageContext, Pages};
    ///
    /// struct JapaneseOnly;
    /// impl Pages for JapaneseOnly {
    ///     fn render(&self, _: &PageContext<'_>) -> String {
    ///         String::from("<!doctype html><html lang=\"ja\"><title>確認</title></html>")
    ///     }
    ///     fn languages(&self) -> &[Locale] {
    ///         &[Locale::Ja]
    ///     }
    /// }
    /// assert_eq!(JapaneseOnly.languages(), [Locale::Ja]);
    /// ```
    fn languages(&self) -> &[Locale] {
        &Locale::ALL
    }
}

impl<F> Pages for F
where
    F: Fn(&PageContext<'_>) -> String + Send + Sync + 'static,
{
    fn render(&self, page: &PageContext<'_>) -> String {
        self(page)
    }
}

/// The built-in pages: Japanese, English, Simplified Chinese, Traditional
/// Chinese and Korean (see [`DefaultPages::with_languages`]), mobile first, accessible,
/// self-contained (one inline `<style>` and, on pages that count down, one
/// inline `<script>`, both with the CSP nonce), about 5 KB each.
///
/// Every state has its own wording (see [`Texts`]); everything reflected is
/// HTML-escaped. Pages work without scripts (progressive enhancement): a
/// Send/Resend that is not yet allowed renders enabled, with "you can send a
/// new one in N s" under it; the script disables it and counts down, and a
/// press without the script answers with the throttled notice and its time.
/// Times are shown relative ("in 4 min"), so no time zone is needed.
///
/// Defaults: no site name, no logo, a blue theme (`#0b57d0` on `#f6f7f9`,
/// text `#1f1f1f`), every language with its built-in [`Texts`].
///
/// ```
/// use tower_otp::Locale;
/// use tower_otp::pages::{DefaultPages, Texts};
///
/// let pages = DefaultPages::new()
///     .with_site_name("Example Tickets")
///     .with_logo_url("/static/logo.svg")?
///     .with_colors("#c2185b", "#ffffff", "#212121")?
///     .with_texts(Locale::En, Texts { title: "Verify this device".into(), ..Texts::english() });
/// # Ok::<(), tower_otp::pages::BrandingError>(())
/// ```
#[derive(Clone)]
pub struct DefaultPages {
    site_name: Option<Cow<'static, str>>,
    logo_url: Option<Cow<'static, str>>,
    theme: branding::Theme,
    /// Per locale, in [`Locale::ALL`] order.
    texts: [Texts; Locale::ALL.len()],
    /// The enabled languages, in switch order (never empty).
    languages: Vec<Locale>,
}

impl Default for DefaultPages {
    fn default() -> Self {
        Self {
            site_name: None,
            logo_url: None,
            theme: branding::Theme::default(),
            texts: Locale::ALL.map(Texts::for_locale),
            languages: Locale::ALL.to_vec(),
        }
    }
}

impl DefaultPages {
    /// The built-in pages with the defaults above.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
    ///
    /// let html = DefaultPages::new()
    ///     .render(&PageContext::new(PageKind::Unavailable, Locale::Ja, "/t/1", "c", "n"));
    /// assert!(html.starts_with("<!doctype html>"));
    /// assert!(html.contains(r#"<html lang="ja">"#));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The site name, shown at the top of every page and in the title.
    /// Default: none.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, PageContext, PageKind, Pages};
    ///
    /// let pages = DefaultPages::new().with_site_name("Example <Tickets>");
    /// let html = pages.render(&PageContext::new(PageKind::Unavailable, Locale::En, "/t/1", "c", "n"));
    /// assert!(html.contains("Example &#60;Tickets&#62;"));
    /// ```
    pub fn with_site_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.site_name = Some(name.into());
        self
    }

    /// A logo shown at the top of every page (with the site name as its
    /// `alt` text). Default: none.
    ///
    /// Only what the gate's CSP (`img-src 'self' data:`) allows: a same-site
    /// path starting with a single `/`, or a `data:image/...` URI; printable
    /// ASCII without quotes, `<`, `>` or backslashes; at most
    /// [`MAX_LOGO_URL_BYTES`] (a `data:` URI is inlined in every page).
    ///
    /// # Errors
    /// [`BrandingError::InvalidLogoUrl`] for anything else (an absolute
    /// `https://` URL included): refused loudly rather than ignored.
    ///
    /// ```
    /// use tower_otp::pages::DefaultPages;
    ///
    /// assert!(DefaultPages::new().with_logo_url("/logo.png").is_ok());
    /// assert!(DefaultPages::new().with_logo_url("data:image/png;base64,iVBORw0KGgo=").is_ok());
    /// assert!(DefaultPages::new().with_logo_url("//cdn.example/logo.png").is_err());
    /// ```
    pub fn with_logo_url(
        mut self,
        url: impl Into<Cow<'static, str>>,
    ) -> Result<Self, BrandingError> {
        let url = url.into();
        branding::check_logo_url(&url)?;
        self.logo_url = Some(url);
        Ok(self)
    }

    /// The colours: `primary` (buttons, focus rings, the current language),
    /// the page `background`, and the `text`. Each is `#rgb` or `#rrggbb`;
    /// button text is black or white, whichever reads better on `primary`.
    /// Default: `#0b57d0`, `#f6f7f9`, `#1f1f1f`. Check the contrast of your
    /// choice (WCAG AA asks 4.5:1).
    ///
    /// # Errors
    /// [`BrandingError::InvalidColor`] naming the first invalid colour.
    ///
    /// ```
    /// use tower_otp::pages::{BrandingError, DefaultPages};
    ///
    /// assert!(DefaultPages::new().with_colors("#c2185b", "#fff", "#212121").is_ok());
    /// assert_eq!(
    ///     DefaultPages::new().with_colors("red", "#fff", "#000").unwrap_err(),
    ///     BrandingError::InvalidColor("red".into()),
    /// );
    /// ```
    pub fn with_colors(
        mut self,
        primary: &str,
        background: &str,
        text: &str,
    ) -> Result<Self, BrandingError> {
        self.theme = branding::Theme::new(primary, background, text)?;
        Ok(self)
    }

    /// Replaces every string of one language. Default: the built-in
    /// [`Texts::for_locale`].
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, Texts};
    ///
    /// let pages = DefaultPages::new()
    ///     .with_texts(Locale::Ja, Texts { send_button: "送信する".into(), ..Texts::japanese() });
    /// assert_eq!(pages.texts(Locale::Ja).send_button, "送信する");
    /// ```
    pub fn with_texts(mut self, locale: Locale, texts: Texts) -> Self {
        self.texts[locale.index()] = texts;
        self
    }

    /// The languages offered, in the order the language switch lists them:
    /// requests are answered only in these (the first is the fallback when
    /// the layer's default locale is not among them), and the switch links
    /// each by its own name. Duplicates are dropped. Default: [`Locale::ALL`]
    /// (日本語, English, 简体中文, 繁體中文, 한국어).
    ///
    /// # Errors
    /// [`BrandingError::NoLanguages`] for an empty list.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::{DefaultPages, Pages};
    ///
    /// let pages = DefaultPages::new().with_languages([Locale::En, Locale::Ja, Locale::Ko])?;
    /// assert_eq!(pages.languages(), [Locale::En, Locale::Ja, Locale::Ko]);
    /// assert!(DefaultPages::new().with_languages([]).is_err());
    /// # Ok::<(), tower_otp::pages::BrandingError>(())
    /// ```
    pub fn with_languages(
        mut self,
        languages: impl IntoIterator<Item = Locale>,
    ) -> Result<Self, BrandingError> {
        let mut list = Vec::new();
        for locale in languages {
            if !list.contains(&locale) {
                list.push(locale);
            }
        }
        if list.is_empty() {
            return Err(BrandingError::NoLanguages);
        }
        self.languages = list;
        Ok(self)
    }

    /// The strings used for `locale`.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::DefaultPages;
    ///
    /// assert_eq!(DefaultPages::new().texts(Locale::Ja).confirm_button, "確認");
    /// ```
    pub fn texts(&self, locale: Locale) -> &Texts {
        &self.texts[locale.index()]
    }

    fn site_name(&self) -> Option<&str> {
        self.site_name.as_deref()
    }

    fn logo_url(&self) -> Option<&str> {
        self.logo_url.as_deref()
    }
}

impl fmt::Debug for DefaultPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultPages")
            .field("site_name", &self.site_name)
            .field(
                "logo_url",
                &self.logo_url.as_deref().map(|u| u.get(..48).unwrap_or(u)),
            )
            .field("theme", &self.theme)
            .field("languages", &self.languages)
            .finish_non_exhaustive()
    }
}

impl Pages for DefaultPages {
    fn render(&self, page: &PageContext<'_>) -> String {
        view::render(self, page)
    }

    fn languages(&self) -> &[Locale] {
        &self.languages
    }
}
