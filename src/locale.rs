//! The languages of pages and e-mails.

/// A language tower-otp speaks: Japanese or English.
///
/// ```
/// use tower_otp::Locale;
///
/// assert_eq!(Locale::from_accept_language("ja-JP,ja;q=0.9,en;q=0.8"), Locale::Ja);
/// assert_eq!(Locale::from_accept_language("fr-FR,en;q=0.5"), Locale::En);
/// assert_eq!(Locale::parse("ja"), Some(Locale::Ja));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Locale {
    /// Japanese (`ja`).
    Ja,
    /// English (`en`). The fallback.
    #[default]
    En,
}

impl Locale {
    /// Every locale, in the order the language switch shows them.
    pub const ALL: [Locale; 2] = [Locale::Ja, Locale::En];

    /// The BCP 47 tag: `ja` or `en`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::Ja => "ja",
            Locale::En => "en",
        }
    }

    /// The locale for a tag such as `ja`, `ja-JP` or `EN-us`.
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?;
        if primary.eq_ignore_ascii_case("ja") {
            Some(Locale::Ja)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Locale::En)
        } else {
            None
        }
    }

    /// The best locale for an `Accept-Language` header value (highest `q`
    /// first, earlier entries winning ties); English when nothing matches.
    pub fn from_accept_language(header: &str) -> Locale {
        let mut best: Option<(u16, Locale)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(locale) = parts.next().and_then(Locale::parse) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, |q| {
                    (q.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0) * 1000.0) as u16
                });
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, locale));
            }
        }
        best.map_or(Locale::En, |(_, l)| l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_table() {
        let cases = [
            ("", Locale::En),
            ("ja", Locale::Ja),
            ("en-US,en;q=0.9,ja;q=0.8", Locale::En),
            ("en;q=0.5,ja;q=0.6", Locale::Ja),
            ("ja;q=0", Locale::En),
            ("de,fr", Locale::En),
            ("*", Locale::En),
            ("JA-jp", Locale::Ja),
            ("ja;q=abc", Locale::En),
        ];
        for (header, want) in cases {
            assert_eq!(Locale::from_accept_language(header), want, "{header:?}");
        }
    }
}
