//! Which language a gate response speaks: `otp_lang` query, then cookie, then `Accept-Language`.

use http::HeaderMap;
use http::header::ACCEPT_LANGUAGE;

use crate::locale::Locale;

/// The query parameter (and cookie) that selects the language.
pub(crate) const LANG_PARAM: &str = "otp_lang";

/// The language asked for in the query string, if any.
pub(crate) fn from_query(query: Option<&str>) -> Option<Locale> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == LANG_PARAM)
        .and_then(|(_, v)| Locale::parse(&v))
}

/// The language for a request among `enabled`: the query's choice, then the
/// remembered cookie, then `Accept-Language`, then `default` ([`Locale::negotiate`]).
pub(crate) fn negotiate(
    query: Option<&str>,
    cookie: Option<&str>,
    headers: &HeaderMap,
    enabled: &[Locale],
    default: Locale,
) -> Locale {
    let chosen = from_query(query)
        .filter(|l| enabled.contains(l))
        .map(Locale::tag)
        .or(cookie);
    let accept = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Locale::negotiate(chosen, accept, enabled, default)
}

/// `path?query` with `otp_lang` set to `locale` (other parameters kept).
pub(crate) fn switch_url(path: &str, query: Option<&str>, locale: Locale) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    if let Some(query) = query {
        for (k, v) in form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != LANG_PARAM) {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair(LANG_PARAM, locale.tag());
    format!("{path}?{}", out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_order() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, "ja".parse().unwrap());
        let all = &Locale::ALL;
        let n = |q, c, h: &HeaderMap| negotiate(q, c, h, all, Locale::En);
        assert_eq!(n(None, None, &headers), Locale::Ja);
        assert_eq!(n(None, Some("en"), &headers), Locale::En);
        assert_eq!(n(Some("otp_lang=ja"), Some("en"), &headers), Locale::Ja);
        assert_eq!(n(Some("otp_lang=xx"), Some("en"), &headers), Locale::En);
        assert_eq!(n(None, None, &HeaderMap::new()), Locale::En);
        assert_eq!(
            n(Some("otp_lang=zh-Hant"), None, &HeaderMap::new()),
            Locale::ZhHant
        );
        // A choice of a disabled language falls back to the cookie's.
        let some = [Locale::Ja, Locale::Ko];
        assert_eq!(
            negotiate(Some("otp_lang=en"), Some("ko"), &headers, &some, Locale::Ja),
            Locale::Ko
        );
        assert_eq!(
            negotiate(None, None, &HeaderMap::new(), &some, Locale::En),
            Locale::Ja
        );
    }

    #[test]
    fn switch_url_keeps_other_parameters() {
        assert_eq!(switch_url("/t/a", None, Locale::Ja), "/t/a?otp_lang=ja");
        assert_eq!(
            switch_url("/t/a", Some("x=1&otp_lang=en"), Locale::Ja),
            "/t/a?x=1&otp_lang=ja"
        );
    }
}
