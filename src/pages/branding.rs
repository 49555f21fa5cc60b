//! Branding checks: colours that cannot break out of CSS, logos the CSP allows.

/// The longest logo URL accepted, in bytes: a `data:` URI is inlined in
/// every page, and pages stay small.
///
/// ```
/// use tower_otp::pages::{DefaultPages, MAX_LOGO_URL_BYTES};
///
/// let too_big = format!("data:image/png;base64,{}", "A".repeat(MAX_LOGO_URL_BYTES));
/// assert!(DefaultPages::new().with_logo_url(too_big).is_err());
/// ```
pub const MAX_LOGO_URL_BYTES: usize = 8 * 1024;

/// A branding value was refused by a [`DefaultPages`](super::DefaultPages) setter.
///
/// ```
/// use tower_otp::pages::{BrandingError, DefaultPages};
///
/// let err = DefaultPages::new().with_logo_url("https://cdn.example/logo.png").unwrap_err();
/// assert_eq!(err, BrandingError::InvalidLogoUrl);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrandingError {
    /// A colour is not `#rgb` or `#rrggbb`.
    #[error("invalid colour {0:?}: expected #rgb or #rrggbb")]
    InvalidColor(String),
    /// The logo is not a same-site path (`/...`, not `//...`) nor a
    /// `data:image/` URI, contains spaces, quotes, `<`, `>`, backslashes,
    /// control or non-ASCII characters, or is longer than [`MAX_LOGO_URL_BYTES`].
    #[error(
        "invalid logo URL: expected a same-site path starting with a single `/` \
         or a `data:image/` URI, printable ASCII, at most {MAX_LOGO_URL_BYTES} bytes"
    )]
    InvalidLogoUrl,
    /// [`DefaultPages::with_languages`](super::DefaultPages::with_languages)
    /// was given no language.
    #[error("no language: the pages need at least one")]
    NoLanguages,
}

/// The page colours, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Theme {
    pub(super) primary: String,
    /// Black or white, whichever reads better on `primary`.
    pub(super) on_primary: &'static str,
    pub(super) background: String,
    pub(super) text: String,
}

impl Default for Theme {
    fn default() -> Self {
        // Contrast (WCAG 2.1 AA, 4.5:1): white on #0b57d0 is 6.9:1, #1f1f1f on
        // #f6f7f9 is 15:1.
        Self::new("#0b57d0", "#f6f7f9", "#1f1f1f").expect("valid default colours")
    }
}

impl Theme {
    pub(super) fn new(primary: &str, background: &str, text: &str) -> Result<Self, BrandingError> {
        let (primary, rgb) = parse_color(primary)?;
        Ok(Self {
            on_primary: if luminance(rgb) > 0.179 {
                "#000"
            } else {
                "#fff"
            },
            primary,
            background: parse_color(background)?.0,
            text: parse_color(text)?.0,
        })
    }
}

/// `#rgb` or `#rrggbb`, lower-cased, with its channels.
fn parse_color(input: &str) -> Result<(String, [u8; 3]), BrandingError> {
    let invalid = || BrandingError::InvalidColor(input.chars().take(32).collect());
    let hex = input.strip_prefix('#').ok_or_else(invalid)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).unwrap_or(0);
    let rgb = match hex.len() {
        3 => [digit(0) * 17, digit(1) * 17, digit(2) * 17],
        6 => [
            digit(0) * 16 + digit(1),
            digit(2) * 16 + digit(3),
            digit(4) * 16 + digit(5),
        ],
        _ => return Err(invalid()),
    };
    Ok((input.to_ascii_lowercase(), rgb))
}

/// WCAG relative luminance.
fn luminance(rgb: [u8; 3]) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2])
}

/// A logo the CSP `img-src 'self' data:` allows, which cannot leave its attribute.
pub(super) fn check_logo_url(url: &str) -> Result<(), BrandingError> {
    let printable = url
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'"' | b'\'' | b'<' | b'>'));
    let same_site_path = url.starts_with('/') && !url.starts_with("//");
    let data_image = url
        .get(..11)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:image/"))
        && url.contains(',');
    if url.len() <= MAX_LOGO_URL_BYTES && printable && (same_site_path || data_image) {
        Ok(())
    } else {
        Err(BrandingError::InvalidLogoUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_table() {
        let cases = [
            ("#fff", true),
            ("#0B57D0", true),
            ("#abcdef", true),
            ("fff", false),
            ("#ffff", false),
            ("#gggggg", false),
            ("#fff;}body{", false),
            ("red", false),
            ("#ff\u{ff10}", false),
            ("", false),
            ("#", false),
        ];
        for (input, ok) in cases {
            assert_eq!(parse_color(input).is_ok(), ok, "{input:?}");
        }
        assert_eq!(parse_color("#0B57D0").unwrap().0, "#0b57d0");
        assert_eq!(parse_color("#fa0").unwrap().1, [255, 170, 0]);
    }

    #[test]
    fn text_on_primary_reads() {
        assert_eq!(
            Theme::new("#ffeb3b", "#fff", "#000").unwrap().on_primary,
            "#000"
        );
        assert_eq!(
            Theme::new("#0b57d0", "#fff", "#000").unwrap().on_primary,
            "#fff"
        );
        assert_eq!(Theme::default().on_primary, "#fff");
    }

    #[test]
    fn logo_urls_table() {
        let long = format!("data:image/png;base64,{}", "A".repeat(MAX_LOGO_URL_BYTES));
        let cases = [
            ("/logo.png", true),
            ("/static/brand/logo.svg?v=2", true),
            ("data:image/png;base64,iVBORw0KGgo=", true),
            ("DATA:IMAGE/svg+xml,%3Csvg%3E", true),
            ("//evil.example/logo.png", false),
            ("/\\evil.example/logo.png", false),
            ("https://cdn.example/logo.png", false),
            ("http://cdn.example/logo.png", false),
            ("javascript:alert(1)", false),
            ("data:text/html,<script>", false),
            ("data:image/png", false),
            ("logo.png", false),
            ("/logo.png\" onerror=\"x", false),
            ("/logo\n.png", false),
            ("/logo ロゴ.png", false),
            ("/logo.png\"onerror=\"x", false),
            ("", false),
            (long.as_str(), false),
        ];
        for (url, ok) in cases {
            assert_eq!(check_logo_url(url).is_ok(), ok, "{url:?}");
        }
    }
}
