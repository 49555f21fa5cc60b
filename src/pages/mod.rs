//! The built-in challenge pages (Japanese and English), and the trait that
//! lets an application replace them.

use std::fmt;

use crate::flow::{Challenge, Rejection};
use crate::locale::Locale;

/// Which page to show.
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
}

/// What the last action produced, shown above the form.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Notice<'a> {
    /// An action was rejected.
    Rejected(&'a Rejection),
    /// The request was refused before any action ran.
    Problem(RequestProblem),
}

/// Everything a page needs. Strings in it are raw: the page escapes them.
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
pub trait Pages: Send + Sync + 'static {
    /// The full HTML document.
    fn render(&self, page: &PageContext<'_>) -> String;
}

/// The built-in pages (placeholder until the templates land).
#[derive(Clone, Default)]
pub struct DefaultPages {}

impl fmt::Debug for DefaultPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultPages").finish_non_exhaustive()
    }
}

impl Pages for DefaultPages {
    fn render(&self, page: &PageContext<'_>) -> String {
        let _ = page;
        String::from("<!doctype html><title>tower-otp</title>")
    }
}
