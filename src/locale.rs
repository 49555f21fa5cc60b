//! The languages of pages and e-mails, and how a request picks one.
//!
//! Every language's words are data: one catalog file per language under
//! `locales/` (`ja.json`, `en.json`, `zh-Hans.json`, `zh-Hant.json`,
//! `ko.json`), holding the page strings and the mail strings together,
//! embedded in the binary and parsed once (see `catalog.rs`).

pub(crate) mod catalog;

/// A language tower-otp speaks.
///
/// ```
/// use tower_otp::Locale;
///
/// assert_eq!(Locale::from_accept_language("ja-JP,ja;q=0.9,en;q=0.8"), Locale::Ja);
/// assert_eq!(Locale::from_accept_language("zh-TW,zh;q=0.9"), Locale::ZhHant);
/// assert_eq!(Locale::from_accept_language("fr-FR,en;q=0.5"), Locale::En);
/// assert_eq!(Locale::parse("ko-KR"), Some(Locale::Ko));
/// assert_eq!(Locale::ZhHans.tag(), "zh-Hans");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Locale {
    /// Japanese (`ja`).
    Ja,
    /// English (`en`). The fallback when no default is configured.
    #[default]
    En,
    /// Simplified Chinese (`zh-Hans`): mainland China, Singapore.
    ZhHans,
    /// Traditional Chinese (`zh-Hant`): Taiwan, Hong Kong, Macau.
    ZhHant,
    /// Korean (`ko`).
    Ko,
}

impl Locale {
    /// Every locale, in the order the language switch shows them by default.
    pub const ALL: [Locale; 5] = [
        Locale::Ja,
        Locale::En,
        Locale::ZhHans,
        Locale::ZhHant,
        Locale::Ko,
    ];

    /// The BCP 47 tag, as `<html lang>` wants it: `ja`, `en`, `zh-Hans`,
    /// `zh-Hant` or `ko`.
    ///
    /// ```
    /// use tower_otp::Locale;
    ///
    /// let tags: Vec<_> = Locale::ALL.iter().map(|l| l.tag()).collect();
    /// assert_eq!(tags, ["ja", "en", "zh-Hans", "zh-Hant", "ko"]);
    /// ```
    pub fn tag(self) -> &'static str {
        match self {
            Locale::Ja => "ja",
            Locale::En => "en",
            Locale::ZhHans => "zh-Hans",
            Locale::ZhHant => "zh-Hant",
            Locale::Ko => "ko",
        }
    }

    /// The position in [`Locale::ALL`].
    pub(crate) fn index(self) -> usize {
        match self {
            Locale::Ja => 0,
            Locale::En => 1,
            Locale::ZhHans => 2,
            Locale::ZhHant => 3,
            Locale::Ko => 4,
        }
    }

    /// The locale for a language tag such as `ja`, `ja-JP`, `EN-us`,
    /// `zh-Hant-TW` or `ko_KR`. Chinese goes by its script subtag when there
    /// is one, else by region: `zh-TW`, `zh-HK` and `zh-MO` are Traditional;
    /// `zh`, `zh-CN`, `zh-SG` and any other region are Simplified.
    ///
    /// ```
    /// use tower_otp::Locale;
    ///
    /// assert_eq!(Locale::parse("zh-HK"), Some(Locale::ZhHant));
    /// assert_eq!(Locale::parse("zh-Hans-HK"), Some(Locale::ZhHans));
    /// assert_eq!(Locale::parse("zh"), Some(Locale::ZhHans));
    /// assert_eq!(Locale::parse("fr"), None);
    /// ```
    pub fn parse(tag: &str) -> Option<Locale> {
        let mut subtags = tag.trim().split(['-', '_']);
        let primary = subtags.next()?;
        let is = |s: &str, want: &str| s.eq_ignore_ascii_case(want);
        if is(primary, "ja") {
            Some(Locale::Ja)
        } else if is(primary, "en") {
            Some(Locale::En)
        } else if is(primary, "ko") {
            Some(Locale::Ko)
        } else if is(primary, "zh") {
            let mut traditional = false;
            for sub in subtags {
                if is(sub, "hant") {
                    return Some(Locale::ZhHant);
                }
                if is(sub, "hans") {
                    return Some(Locale::ZhHans);
                }
                traditional |= ["tw", "hk", "mo"].iter().any(|r| is(sub, r));
            }
            Some(if traditional {
                Locale::ZhHant
            } else {
                Locale::ZhHans
            })
        } else {
            None
        }
    }

    /// The best locale for an `Accept-Language` header value among all
    /// locales, English when nothing matches: [`Locale::negotiate`] with no
    /// choice, every locale enabled and English as the default.
    ///
    /// ```
    /// use tower_otp::Locale;
    ///
    /// assert_eq!(Locale::from_accept_language("ko;q=0.4, zh-HK;q=0.8"), Locale::ZhHant);
    /// ```
    pub fn from_accept_language(header: &str) -> Locale {
        Locale::negotiate(None, Some(header), &Locale::ALL, Locale::En)
    }

    /// The language of a response, in this order:
    ///
    /// 1. `chosen`: an explicit choice (the page's language switch, kept in a
    ///    cookie), if it names an enabled locale;
    /// 2. `accept_language`: the browser's preferences, highest `q` first
    ///    (earlier entries win ties; `q=0` means "not this one"), the first
    ///    that maps to an enabled locale (`zh-TW`/`zh-HK` → `zh-Hant`,
    ///    `zh`/`zh-CN`/`zh-SG` → `zh-Hans`, see [`Locale::parse`]); `*`
    ///    stands for `default`;
    /// 3. `default`, if enabled;
    /// 4. the first enabled locale.
    ///
    /// `enabled` is the application's set (an empty one means every locale).
    /// An explicit choice comes before the header because every browser sends
    /// one: a remembered choice that lost to it would never be honoured.
    ///
    /// ```
    /// use tower_otp::Locale;
    ///
    /// let all = Locale::ALL;
    /// let header = Some("zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7");
    /// assert_eq!(Locale::negotiate(None, header, &all, Locale::Ja), Locale::ZhHant);
    /// assert_eq!(Locale::negotiate(Some("ko"), header, &all, Locale::Ja), Locale::Ko);
    /// // An application that only speaks Japanese and English:
    /// let some = [Locale::Ja, Locale::En];
    /// assert_eq!(Locale::negotiate(None, header, &some, Locale::Ja), Locale::En);
    /// assert_eq!(Locale::negotiate(Some("ko"), Some("fr"), &some, Locale::Ja), Locale::Ja);
    /// ```
    pub fn negotiate(
        chosen: Option<&str>,
        accept_language: Option<&str>,
        enabled: &[Locale],
        default: Locale,
    ) -> Locale {
        let enabled = if enabled.is_empty() {
            &Locale::ALL[..]
        } else {
            enabled
        };
        let ok = |l: &Locale| enabled.contains(l);
        if let Some(locale) = chosen.and_then(Locale::parse).filter(ok) {
            return locale;
        }
        let mut best: Option<(u16, Locale)> = None;
        for item in accept_language.unwrap_or("").split(',').take(32) {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim();
            let locale = if range == "*" {
                Some(default)
            } else {
                Locale::parse(range)
            };
            let Some(locale) = locale.filter(ok) else {
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
        match best {
            Some((_, locale)) => locale,
            None if ok(&default) => default,
            None => enabled[0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_table() {
        use Locale::*;
        let cases = [
            ("", En),
            ("ja", Ja),
            ("en-US,en;q=0.9,ja;q=0.8", En),
            ("en;q=0.5,ja;q=0.6", Ja),
            ("ja;q=0", En),
            ("de,fr", En),
            ("*", En),
            ("JA-jp", Ja),
            ("ja;q=abc", En),
            ("zh-TW", ZhHant),
            ("zh-HK,zh;q=0.9,en;q=0.8", ZhHant),
            ("zh-MO", ZhHant),
            ("zh-Hant", ZhHant),
            ("zh-Hant-TW", ZhHant),
            ("zh", ZhHans),
            ("zh-CN,zh;q=0.9", ZhHans),
            ("zh-SG", ZhHans),
            ("zh-Hans-HK", ZhHans),
            ("zh_TW", ZhHant),
            ("ko-KR,ko;q=0.9,en-US;q=0.8", Ko),
            ("en;q=0.8, ko", Ko),
            ("fr, zh-tw;q=0.2, ja;q=0.1", ZhHant),
        ];
        for (header, want) in cases {
            assert_eq!(Locale::from_accept_language(header), want, "{header:?}");
        }
    }

    #[test]
    fn negotiation_table() {
        use Locale::*;
        let all = &Locale::ALL[..];
        let ja_en = &[Ja, En][..];
        let ko_first = &[Ko, Ja][..];
        /// (chosen, accept-language, enabled, default, expected, why)
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            &'a [Locale],
            Locale,
            Locale,
            &'a str,
        );
        let cases: [Case<'_>; 14] = [
            (None, None, all, Ja, Ja, "nothing asked: the default"),
            (
                None,
                Some("fr"),
                all,
                Ja,
                Ja,
                "nothing matches: the default",
            ),
            (
                None,
                Some("fr"),
                all,
                En,
                En,
                "the default is the application's",
            ),
            (
                Some("zh-Hant"),
                Some("ja"),
                all,
                Ja,
                ZhHant,
                "the choice wins over the header",
            ),
            (
                Some("xx"),
                Some("ko"),
                all,
                Ja,
                Ko,
                "an unknown choice is ignored",
            ),
            (
                Some("ko"),
                Some("zh-TW"),
                ja_en,
                Ja,
                Ja,
                "a disabled choice is ignored",
            ),
            (
                None,
                Some("zh-TW,en;q=0.5"),
                ja_en,
                Ja,
                En,
                "disabled languages are skipped",
            ),
            (None, Some("zh-TW"), ja_en, Ja, Ja, "then the default"),
            (
                None,
                Some("fr"),
                ko_first,
                En,
                Ko,
                "default disabled: the first enabled",
            ),
            (None, Some("*"), all, Ko, Ko, "* is the default"),
            (
                None,
                Some("fr, *;q=0.5, en;q=0.4"),
                all,
                Ja,
                Ja,
                "* by its q",
            ),
            (
                None,
                Some("zh-CN;q=0.9, zh-TW;q=0.9"),
                all,
                Ja,
                ZhHans,
                "ties: the earlier",
            ),
            (None, Some("ja;q=0, en;q=0.1"), all, Ja, En, "q=0 excludes"),
            (None, Some("ko"), &[], Ja, Ko, "empty set: every locale"),
        ];
        for (chosen, header, enabled, default, want, why) in cases {
            assert_eq!(
                Locale::negotiate(chosen, header, enabled, default),
                want,
                "{why}: {chosen:?} {header:?} {enabled:?} {default:?}"
            );
        }
    }

    #[test]
    fn tags_round_trip() {
        for (i, locale) in Locale::ALL.into_iter().enumerate() {
            assert_eq!(Locale::parse(locale.tag()), Some(locale));
            assert_eq!(locale.index(), i);
        }
    }
}
