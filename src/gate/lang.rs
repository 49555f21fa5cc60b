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

/// The language for a request: query, then the remembered cookie, then `Accept-Language`.
pub(crate) fn negotiate(query: Option<&str>, cookie: Option<&str>, headers: &HeaderMap) -> Locale {
    from_query(query)
        .or_else(|| cookie.and_then(Locale::parse))
        .unwrap_or_else(|| {
            headers
                .get(ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map_or(Locale::default(), Locale::from_accept_language)
        })
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
        assert_eq!(negotiate(None, None, &headers), Locale::Ja);
        assert_eq!(negotiate(None, Some("en"), &headers), Locale::En);
        assert_eq!(
            negotiate(Some("otp_lang=ja"), Some("en"), &headers),
            Locale::Ja
        );
        assert_eq!(
            negotiate(Some("otp_lang=xx"), Some("en"), &headers),
            Locale::En
        );
        assert_eq!(negotiate(None, None, &HeaderMap::new()), Locale::En);
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
