//! Where the ticket comes from in a request.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::request::Parts;

use super::TicketId;
use super::id::valid_id;
use crate::error::ConfigError;

/// A ticket found in a request, with the URL path that scopes its cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketMatch {
    /// The ticket id.
    pub id: TicketId,
    scope: Scope,
}

/// Where the ticket's cookies apply; a prefix of the request path is kept as
/// a length or a segment count, so the verified path allocates nothing for
/// it and walks no path (only the gate sets cookies).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Root,
    RequestPrefix(usize),
    /// The request path through its `n`th `/`-separated piece (the leading
    /// empty one is piece 0), the piece that names the ticket ([`PathParam`]).
    #[cfg(feature = "axum")]
    ThroughPiece(usize),
    Path(String),
    /// A family's cookie path where it covers the request, else the
    /// member's own scope.
    Family(String, Box<Scope>),
}

impl TicketMatch {
    /// A match whose cookies are scoped to `cookie_path` (the path prefix that
    /// covers the ticket's pages, such as `/tickets/abc`).
    pub fn new(id: TicketId, cookie_path: impl Into<String>) -> Self {
        Self {
            id,
            scope: Scope::Path(cookie_path.into()),
        }
    }

    /// A match whose cookies apply to the whole site (`Path=/`).
    pub fn at_root(id: TicketId) -> Self {
        Self {
            id,
            scope: Scope::Root,
        }
    }

    /// A match whose cookies are scoped to the first `len` bytes of the request path.
    pub(crate) fn at_request_prefix(id: TicketId, len: usize) -> Self {
        Self {
            id,
            scope: Scope::RequestPrefix(len),
        }
    }

    /// A match whose cookies are scoped to the request path through its
    /// `piece`th `/`-separated piece (`/tickets/abc/pdf` through piece 2 is
    /// `/tickets/abc`).
    #[cfg(feature = "axum")]
    fn through_piece(id: TicketId, piece: usize) -> Self {
        Self {
            id,
            scope: Scope::ThroughPiece(piece),
        }
    }

    /// The same ticket gated as a member of a family whose cookies are
    /// scoped to `cookie_path` where that path covers the request.
    pub(crate) fn in_family(self, cookie_path: &str) -> Self {
        Self {
            id: self.id,
            scope: Scope::Family(cookie_path.to_owned(), Box::new(self.scope)),
        }
    }

    /// The device cookie's `Path` for a request to `request_path` (the whole
    /// path, as the browser asked for it).
    ///
    /// ```
    /// use tower_otp::TicketId;
    /// use tower_otp::ticket::TicketMatch;
    ///
    /// let found = TicketMatch::new(TicketId::new("abc"), "/tickets/abc");
    /// assert_eq!(found.cookie_path("/tickets/abc/pdf"), "/tickets/abc");
    /// assert_eq!(TicketMatch::at_root(TicketId::new("abc")).cookie_path("/x"), "/");
    /// ```
    pub fn cookie_path<'a>(&'a self, request_path: &'a str) -> &'a str {
        self.cookie_path_in(request_path, request_path)
    }

    /// The cookies' `Path` for a request the browser sent to `asked` and the
    /// layer saw at `seen`, its end (a router in front, such as axum's
    /// `nest`, may have stripped the start): always a path the browser
    /// asked for.
    pub(crate) fn cookie_path_in<'a>(&'a self, asked: &'a str, seen: &str) -> &'a str {
        scope_path(&self.scope, asked, seen)
    }
}

/// The cookies' `Path` of `scope` for a request the browser sent to
/// `asked`, seen by the layer at `seen` ([`TicketMatch::cookie_path_in`]).
fn scope_path<'a>(scope: &'a Scope, asked: &'a str, seen: &str) -> &'a str {
    match scope {
        Scope::Root => "/",
        // A prefix of what the layer saw, behind what was stripped.
        Scope::RequestPrefix(len) => match seen.get(..*len) {
            Some(prefix) if prefix.starts_with('/') => {
                let stripped = asked.len().saturating_sub(seen.len());
                asked.get(..stripped + len).unwrap_or("/")
            }
            _ => "/",
        },
        // A route's pieces count from the path the browser asked for, as
        // `MatchedPath` gives them.
        #[cfg(feature = "axum")]
        Scope::ThroughPiece(piece) => {
            let end = asked
                .match_indices('/')
                .nth(*piece)
                .map_or(asked.len(), |(at, _)| at);
            Some(&asked[..end])
                .filter(|p| p.starts_with('/'))
                .unwrap_or("/")
        }
        Scope::Path(path) => path,
        Scope::Family(path, _) if covers(path, asked) => path,
        Scope::Family(path, own) => {
            warn_uncovered(path);
            scope_path(own, asked, seen)
        }
    }
}

/// Whether a cookie with `Path=path` is sent with a request to `asked`
/// (RFC 6265, 5.1.4).
fn covers(path: &str, asked: &str) -> bool {
    asked == path
        || (asked.starts_with(path)
            && (path.ends_with('/') || asked[path.len()..].starts_with('/')))
}

/// A family whose cookie path does not cover one of its members' URLs
/// gets the member's own scope there (a cookie the browser would never
/// send back is no use); the first time is logged at WARN.
fn warn_uncovered(path: &str) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            cookie_path = path,
            "tower-otp: a ticket family's cookie path does not cover a member's URL: that \
             member's cookies are scoped to its own URL instead (give Membership::new a path \
             that prefixes every member's URL)"
        );
    }
}

/// What a [`TicketSource`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Found {
    /// The request names no ticket: it passes untouched.
    None,
    /// The request names this ticket.
    Ticket(TicketMatch),
    /// The request is on a ticket route but its ticket part is malformed
    /// (empty, not UTF-8...): the gate answers 404, the inner service never sees it.
    Malformed,
    /// The source cannot work where the layer was put (for example a
    /// [`PathParam`] on a route without that parameter): the gate answers
    /// 500 and logs this text, which should name the fix.
    Misconfigured(Cow<'static, str>),
}

/// Finds the ticket a request names.
///
/// Implemented by [`PathParam`] (feature `axum`: the matched route's
/// parameter, for `route_layer`; the first choice), [`PathPattern`] (a path
/// pattern such as `/tickets/{ticket}`) and closures
/// `Fn(&Parts) -> Option<TicketId>` (cookies then scoped to `/`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a ticket source: the layer does not know where the ticket is",
    label = "not a ticket source",
    note = "name the ticket: `.with_ticket_param(\"ticket\")` with `Router::route_layer`, or `.with_ticket_path(\"/tickets/{{ticket}}\")?`",
    note = "a source of your own given to `.with_ticket_source(..)` implements `TicketSource`, or is a closure `Fn(&Parts) -> Option<TicketId> + Clone + Send + Sync + 'static`"
)]
pub trait TicketSource: Clone + Send + Sync + 'static {
    /// Looks at the request head. (`&mut` only because axum's extractors take
    /// it; a source must not change the request.)
    fn find(&self, parts: &mut Parts) -> Found;

    /// The cookie scope of a ticket that [`find`](Self::find) returned,
    /// asked only when the layer is about to answer (it may set cookies
    /// then); the verified path sets none, so it never asks. A source whose
    /// scope costs work on every request can leave it to this. The default
    /// keeps what `find` returned.
    ///
    /// ```
    /// use tower_otp::ticket::TicketMatch;
    /// use tower_otp::{TicketId, TicketSource};
    ///
    /// let source = |_: &http::request::Parts| Some(TicketId::new("abc"));
    /// let (parts, ()) = http::Request::new(()).into_parts();
    /// let found = TicketMatch::at_root(TicketId::new("abc"));
    /// assert_eq!(source.scope(&parts, found.clone()), found);
    /// ```
    fn scope(&self, parts: &Parts, found: TicketMatch) -> TicketMatch {
        let _ = parts;
        found
    }
}

// `do_not_recommend`: without it rustc reports a type that is no source
// (such as `NoTicketSource`) by this impl's bound, "expected an `Fn(&Parts)`
// closure", and the trait's message, which names the fix, never shows.
#[diagnostic::do_not_recommend]
impl<F> TicketSource for F
where
    F: Fn(&Parts) -> Option<TicketId> + Clone + Send + Sync + 'static,
{
    fn find(&self, parts: &mut Parts) -> Found {
        match self(parts) {
            Some(id) if valid_id(id.as_str()) => Found::Ticket(TicketMatch::at_root(id)),
            Some(_) => Found::Malformed,
            None => Found::None,
        }
    }
}

/// The source of an [`OtpLayer`](crate::OtpLayer) that has not been told
/// where the ticket is. It is not a [`TicketSource`], so such a layer cannot
/// wrap a service: a route can never be served unchecked because the layer
/// looked for its ticket in the wrong place by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoTicketSource;

/// A path pattern such as `/tickets/{ticket}`: literal segments, one
/// `{name}` segment that is the ticket, and any further segments (so
/// `/tickets/{ticket}` also covers `/tickets/abc/pdf`).
///
/// The ticket segment is percent-decoded the way axum decodes path
/// parameters, so `/tickets/%61bc` is ticket `abc` both here and in the
/// handler. A request under the literal prefix whose ticket segment is empty
/// (`/tickets//abc`) or not UTF-8 is [`Found::Malformed`]: never passed on.
///
/// ```
/// use tower_otp::PathPattern;
///
/// let pattern = PathPattern::new("/tickets/{ticket}")?;
/// assert_eq!(pattern.to_string(), "/tickets/{ticket}");
/// assert!(PathPattern::new("/tickets").is_err());
/// # Ok::<(), tower_otp::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PathPattern {
    // Shared: the service (and so the source) is cloned for every request.
    prefix: Arc<[Box<str>]>,
    source: Arc<str>,
}

impl PathPattern {
    /// Parses a pattern: starts with `/`, one `{name}` segment that is the
    /// last segment of the pattern, literal segments before it.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`](crate::ConfigError::OutOfRange) when the pattern does not have that form.
    pub fn new(pattern: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::OutOfRange {
            setting: "ticket path pattern",
            range: "of the form /literal/.../{ticket}",
        };
        let rest = pattern.strip_prefix('/').ok_or_else(bad)?;
        let segments: Vec<&str> = rest.split('/').collect();
        let (last, literals) = segments.split_last().ok_or_else(bad)?;
        let is_param = |s: &str| s.len() > 2 && s.starts_with('{') && s.ends_with('}');
        if !is_param(last)
            || literals
                .iter()
                .any(|s| s.is_empty() || s.contains(['{', '}', '%']))
        {
            return Err(bad());
        }
        Ok(Self {
            prefix: literals.iter().map(|s| Box::from(*s)).collect(),
            source: Arc::from(pattern),
        })
    }

    /// Finds the ticket in a path.
    pub fn find_in_path(&self, path: &str) -> Found {
        let Some(mut rest) = path.strip_prefix('/') else {
            return Found::None;
        };
        let mut consumed = 1;
        for literal in self.prefix.iter() {
            let Some(after) = rest.strip_prefix(&**literal) else {
                return Found::None;
            };
            let Some(after) = after.strip_prefix('/') else {
                return Found::None;
            };
            consumed += literal.len() + 1;
            rest = after;
        }
        let segment = rest.split('/').next().unwrap_or("");
        // Most ids have nothing to decode: skip the decoder's byte loop.
        let decoded: Cow<'_, str> = if memchr::memchr(b'%', segment.as_bytes()).is_none() {
            Cow::Borrowed(segment)
        } else {
            match percent_encoding::percent_decode_str(segment).decode_utf8() {
                Ok(decoded) => decoded,
                Err(_) => return Found::Malformed,
            }
        };
        if !valid_id(&decoded) {
            return Found::Malformed;
        }
        let id = TicketId::new(decoded);
        Found::Ticket(TicketMatch::at_request_prefix(id, consumed + segment.len()))
    }
}

impl TicketSource for PathPattern {
    fn find(&self, parts: &mut Parts) -> Found {
        self.find_in_path(parts.uri.path())
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathPattern({:?})", self.source)
    }
}

/// The named path parameter of the route axum matched (feature `axum`), for
/// `Router::route_layer`: the gate sees exactly the ticket the handler's
/// `Path` extractor sees.
///
/// It fails closed: every request it sees must be on a matched route with
/// that parameter. A route without it (a misspelled name, or a route that
/// is not a ticket route in the same `route_layer` group), a request that
/// matched no route (a fallback, a nested service), or a layer wrapped
/// around a whole router from outside (no path parameters at all) answers
/// 500 and logs an error naming the fix; the handler never runs.
///
/// ```
/// use tower_otp::PathParam;
///
/// let source = PathParam::new("ticket");
/// assert_eq!(source.name(), "ticket");
/// ```
#[cfg(feature = "axum")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParam {
    // Shared: the service (and so the source) is cloned for every request.
    name: Arc<str>,
}

#[cfg(feature = "axum")]
impl PathParam {
    /// The parameter `name` (as in `/tickets/{name}`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Arc::from(name.into()),
        }
    }

    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(feature = "axum")]
const OUTSIDE_ROUTING: &str = "PathParam found no path parameters: the layer wraps the router \
    from outside (or is not in an axum Router). Apply it with Router::route_layer on the ticket \
    routes, or use with_ticket_path(\"/tickets/{ticket}\") to match the request path instead";

#[cfg(feature = "axum")]
const UNREADABLE: &str = "PathParam could not read the path parameters: axum's Path extractor \
    refused them in a way this version of tower-otp does not know; check that tower-otp and axum \
    are versions that go together";

#[cfg(feature = "axum")]
const NO_ROUTE: &str = "PathParam: the request matched no route of this router (a fallback, or a \
    nested service whose routes the layer cannot see). Apply the layer with Router::route_layer \
    on the ticket routes themselves, not with Router::layer or around a fallback";

#[cfg(feature = "axum")]
impl PathParam {
    /// A route that lacks the parameter (never on the verified path).
    #[cold]
    #[inline(never)]
    fn missing(&self, parts: &mut Parts) -> Found {
        use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
        use futures_util::FutureExt as _;

        Found::Misconfigured(match parts.extensions.get::<MatchedPath>().cloned() {
            // A fallback, or a nested service whose routes are out of sight.
            None => Cow::Borrowed(NO_ROUTE),
            Some(route) => {
                let names = match RawPathParams::from_request_parts(parts, &()).now_or_never() {
                    Some(Ok(params)) => params.iter().map(|(k, _)| k.to_owned()).collect(),
                    _ => Vec::new(),
                };
                Cow::Owned(self.missing_on(route.as_str(), &names))
            }
        })
    }

    /// The error for a route that lacks the parameter.
    fn missing_on(&self, route: &str, names: &[String]) -> String {
        let fix = match names {
            [] => format!(
                "route `{route}` has no path parameter, so it names no ticket: move it out of the \
                 Router::route_layer group that PathParam(\"{name}\") protects",
                name = self.name
            ),
            [only] => format!(
                "route `{route}` has no `{{{name}}}` parameter (it has `{{{only}}}`): use \
                 with_ticket_param(\"{only}\"), or move the route out of the route_layer group",
                name = self.name
            ),
            _ => format!(
                "route `{route}` has no `{{{name}}}` parameter (it has {names:?}): name the one \
                 that is the ticket in with_ticket_param, or move the route out of the \
                 route_layer group",
                name = self.name
            ),
        };
        format!("PathParam: {fix}")
    }
}

#[cfg(feature = "axum")]
impl TicketSource for PathParam {
    fn find(&self, parts: &mut Parts) -> Found {
        use super::param::{self, Param};

        let id = match param::read(parts, &self.name) {
            Param::Id(id) => id,
            Param::Invalid | Param::InvalidUtf8 => return Found::Malformed,
            Param::Missing => return self.missing(parts),
            Param::OutsideRouting => return Found::Misconfigured(Cow::Borrowed(OUTSIDE_ROUTING)),
            Param::Unreadable => return Found::Misconfigured(Cow::Borrowed(UNREADABLE)),
        };
        // Scoped to `/` until the gate asks for `scope`: the verified path
        // sets no cookie, so it skips the route search.
        Found::Ticket(TicketMatch::at_root(id))
    }

    /// Cookies scoped to the raw path through the parameter's piece.
    fn scope(&self, parts: &Parts, found: TicketMatch) -> TicketMatch {
        let piece = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .and_then(|matched| piece_named(matched.as_str(), &self.name));
        match piece {
            Some(piece) => TicketMatch::through_piece(found.id, piece),
            None => found,
        }
    }
}

/// The index of the `/`-separated piece of `route` that is exactly
/// `{name}`.
#[cfg(feature = "axum")]
fn piece_named(route: &str, name: &str) -> Option<usize> {
    route
        .split('/')
        .position(|piece| piece.strip_prefix('{').and_then(|p| p.strip_suffix('}')) == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "axum")]
    #[test]
    fn the_ticket_piece_scopes_the_cookies() {
        let cases = [
            ("/tickets/{ticket}", "/tickets/abc", Some(2), "/tickets/abc"),
            (
                "/tickets/{ticket}",
                "/tickets/abc/",
                Some(2),
                "/tickets/abc",
            ),
            ("/t/{ticket}/{*rest}", "/t/abc/x/y", Some(2), "/t/abc"),
            ("/{ticket}", "/abc", Some(1), "/abc"),
            (
                "/a/{id}/b/{ticket}",
                "/a/1/b/%61bc/c",
                Some(4),
                "/a/1/b/%61bc",
            ),
            ("/tickets/{ticket}x", "/tickets/abcx", None, "/"),
            ("/tickets/{{ticket}}", "/tickets/abc", None, "/"),
            ("/tickets/{tick}", "/tickets/abc", None, "/"),
        ];
        for (route, path, want, cookie_path) in cases {
            let piece = piece_named(route, "ticket");
            assert_eq!(piece, want, "{route}");
            let found = match piece {
                Some(piece) => TicketMatch::through_piece(TicketId::new("abc"), piece),
                None => TicketMatch::at_root(TicketId::new("abc")),
            };
            assert_eq!(found.cookie_path(path), cookie_path, "{route} {path}");
        }
    }

    #[test]
    fn a_family_scopes_cookies_to_its_path_where_it_covers_the_request() {
        let seat =
            TicketMatch::new(TicketId::new("o1-2"), "/elsewhere/o1-2").in_family("/orders/o1");
        for (asked, want) in [
            ("/orders/o1", "/orders/o1"),
            ("/orders/o1/seats/2", "/orders/o1"),
            // Not a path-prefix: the member's own scope.
            ("/orders/o10/seats/2", "/elsewhere/o1-2"),
            ("/tickets/o1-2", "/elsewhere/o1-2"),
        ] {
            assert_eq!(seat.cookie_path(asked), want, "{asked}");
        }
        let seat = TicketMatch::at_root(TicketId::new("o1-2")).in_family("/");
        assert_eq!(seat.cookie_path("/anything/at/all"), "/");
        assert!(covers("/a/", "/a/b") && covers("/a", "/a") && !covers("/a", "/ab"));
    }

    #[test]
    fn valid_id_table() {
        let long = "a".repeat(256);
        let too_long = "a".repeat(257);
        let cases = [
            ("abc", true),
            ("A7x9Qz-2026-LIVE", true),
            ("チケット", true),
            ("a b", true),
            (long.as_str(), true),
            ("", false),
            (too_long.as_str(), false),
            ("a\nb", false),
            ("a\tb", false),
            ("\0", false),
            ("a\u{7f}", false),
            // C1 controls are not ASCII: the character check finds them.
            ("a\u{85}b", false),
            ("チ\u{9f}", false),
        ];
        for (id, want) in cases {
            assert_eq!(valid_id(id), want, "{id:?}");
        }
    }

    #[test]
    fn pattern_table() {
        let p = PathPattern::new("/tickets/{ticket}").unwrap();
        let t = |id: &str, path: &str| {
            Found::Ticket(TicketMatch::at_request_prefix(
                TicketId::new(id),
                path.len(),
            ))
        };
        let cases = [
            ("/", Found::None),
            ("/tickets", Found::None),
            ("/ticketsabc", Found::None),
            ("/other/abc", Found::None),
            ("/tickets/abc", t("abc", "/tickets/abc")),
            ("/tickets/abc/", t("abc", "/tickets/abc")),
            ("/tickets/abc/pdf", t("abc", "/tickets/abc")),
            ("/tickets/%61bc", t("abc", "/tickets/%61bc")),
            ("/tickets/ABC", t("ABC", "/tickets/ABC")),
            ("/tickets/abc%2f..", t("abc/..", "/tickets/abc%2f..")),
            ("/tickets/", Found::Malformed),
            ("/tickets//abc", Found::Malformed),
            ("/tickets/%ff", Found::Malformed),
            ("/tickets/%0a", Found::Malformed),
        ];
        for (path, want) in cases {
            assert_eq!(p.find_in_path(path), want, "{path}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "",
            "tickets/{t}",
            "/tickets",
            "/{t}/x",
            "/a//{t}",
            "/a/{}",
            "/a/%7b/{t}",
        ] {
            assert!(PathPattern::new(bad).is_err(), "{bad}");
        }
        assert!(PathPattern::new("/{ticket}").is_ok());
        assert!(PathPattern::new("/e/tickets/{id}").is_ok());
    }

    #[test]
    fn closures_are_sources() {
        let source = |parts: &Parts| {
            parts
                .headers
                .get("x-ticket")
                .and_then(|v| v.to_str().ok())
                .map(TicketId::from)
        };
        let (mut parts, ()) = http::Request::builder()
            .header("x-ticket", "abc")
            .body(())
            .unwrap()
            .into_parts();
        let found = TicketMatch::at_root(TicketId::new("abc"));
        assert_eq!(source.find(&mut parts), Found::Ticket(found.clone()));
        // The default scope keeps what `find` returned.
        assert_eq!(source.scope(&parts, found.clone()), found);
        let pattern = PathPattern::new("/t/{ticket}").unwrap();
        let prefix = TicketMatch::at_request_prefix(TicketId::new("abc"), 6);
        assert_eq!(pattern.scope(&parts, prefix.clone()), prefix);
    }
}
