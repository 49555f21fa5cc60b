//! The built-in catalogs: one JSON file per language under `locales/`, with
//! the page strings (`"page"`, read by `pages::Texts`) and the mail strings
//! (`"mail"`, read by `mail::catalog`) together, embedded with `include_str!`.
//! Each reader parses its own half once, on first use.
//!
//! JSON because `serde_json` is already a dependency and parses strictly:
//! with `deny_unknown_fields` and no defaults, a catalog with a missing or an
//! unknown key does not load, and the tests below load every one. Adding a
//! language is adding its file and one line to [`SOURCES`] (and its
//! [`Locale`] variant).

use serde::de::DeserializeOwned;

use super::Locale;

/// Each built-in catalog's source, in [`Locale::ALL`] order.
const SOURCES: [(Locale, &str); 5] = [
    (Locale::Ja, include_str!("../../locales/ja.json")),
    (Locale::En, include_str!("../../locales/en.json")),
    (Locale::ZhHans, include_str!("../../locales/zh-Hans.json")),
    (Locale::ZhHant, include_str!("../../locales/zh-Hant.json")),
    (Locale::Ko, include_str!("../../locales/ko.json")),
];

/// The `half` (`"page"` or `"mail"`) of `locale`'s built-in catalog, as `T`
/// (which refuses a missing or an unknown key).
///
/// # Panics
/// When the file does not parse: the files are part of the crate and every
/// one is loaded by the tests, so this cannot happen in a released build.
pub(crate) fn half<T: DeserializeOwned>(locale: Locale, half: &str) -> T {
    let (_, source) = SOURCES[locale.index()];
    let mut whole: serde_json::Value = serde_json::from_str(source)
        .unwrap_or_else(|e| panic!("the built-in {} catalog is invalid: {e}", locale.tag()));
    serde_json::from_value(whole[half].take()).unwrap_or_else(|e| {
        panic!(
            "the built-in {} catalog's {half:?} is invalid: {e}",
            locale.tag()
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// The `{placeholders}` of a string.
    fn placeholders(s: &str) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            rest = &rest[open + 1..];
            if let Some(close) = rest.find('}') {
                let key = &rest[..close];
                if !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                {
                    out.insert(key);
                }
            }
        }
        out
    }

    /// Every difference between `theirs` and the reference catalog `ours`:
    /// a key missing or unknown, a value of another type, a placeholder
    /// missing or unknown.
    fn differences(path: &str, ours: &Value, theirs: &Value) -> Vec<String> {
        match (ours, theirs) {
            (Value::Object(a), Value::Object(b)) => {
                let mut out = Vec::new();
                for (key, value) in a {
                    match b.get(key) {
                        Some(other) => {
                            out.extend(differences(&format!("{path}.{key}"), value, other))
                        }
                        None => out.push(format!("{path}.{key}: missing")),
                    }
                }
                for key in b.keys().filter(|k| !a.contains_key(*k)) {
                    out.push(format!("{path}.{key}: unknown key"));
                }
                out
            }
            (Value::String(_), Value::String(b)) if path.ends_with(".time_format") => {
                // Each language writes dates its own way, from these parts.
                let parts = ["year", "month", "day", "month2", "day2", "hour2", "minute2"];
                let got = placeholders(b);
                let has = |any: &[&str]| any.iter().any(|p| got.contains(p));
                let known = got.iter().all(|p| parts.contains(p));
                let whole = has(&["year"]) && has(&["month", "month2"]) && has(&["day", "day2"]);
                if known && whole && has(&["hour2"]) && has(&["minute2"]) {
                    Vec::new()
                } else {
                    vec![format!(
                        "{path}: placeholders {got:?}, expected a date and time from {parts:?}"
                    )]
                }
            }
            (Value::String(a), Value::String(b)) => {
                let (want, got) = (placeholders(a), placeholders(b));
                let mut out = Vec::new();
                if want != got {
                    out.push(format!("{path}: placeholders {got:?}, expected {want:?}"));
                }
                if b.trim().is_empty() {
                    out.push(format!("{path}: empty"));
                }
                out
            }
            (Value::Number(_), Value::Number(_)) => Vec::new(),
            _ => vec![format!("{path}: not the same kind of value")],
        }
    }

    fn english() -> Value {
        serde_json::from_str(SOURCES[Locale::En.index()].1).unwrap()
    }

    #[test]
    fn every_catalog_has_every_key_and_placeholder_of_the_english_one() {
        let en = english();
        for (locale, source) in SOURCES {
            let theirs: Value = serde_json::from_str(source).unwrap();
            let diff = differences(locale.tag(), &en, &theirs);
            assert!(diff.is_empty(), "{}", diff.join("\n"));
        }
    }

    #[test]
    fn every_catalog_is_in_its_place_with_a_page_and_a_mail_half() {
        for (i, (locale, source)) in SOURCES.into_iter().enumerate() {
            assert_eq!(locale, Locale::ALL[i]);
            let whole: Value = serde_json::from_str(source).unwrap();
            let keys: Vec<&String> = whole.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["mail", "page"], "{}", locale.tag());
        }
    }

    #[test]
    fn the_check_finds_missing_unknown_and_misplaced() {
        let en = english();
        let mut broken = en.clone();
        let page = broken["page"].as_object_mut().unwrap();
        page.remove("title");
        page.insert("titel".into(), Value::String("x".into()));
        page.insert("send_wait".into(), Value::String("in {wiat}".into()));
        broken["mail"]["hours"] = Value::Bool(true);
        broken["mail"]["time_format"] = Value::String("{year}/{month}/{day} {hour}".into());
        let mut diff = differences("t", &en, &broken);
        diff.sort();
        assert_eq!(
            diff,
            [
                "t.mail.hours: not the same kind of value",
                "t.mail.time_format: placeholders {\"day\", \"hour\", \"month\", \"year\"}, expected a date and time from [\"year\", \"month\", \"day\", \"month2\", \"day2\", \"hour2\", \"minute2\"]",
                "t.page.send_wait: placeholders {\"wiat\"}, expected {\"wait\"}",
                "t.page.titel: unknown key",
                "t.page.title: missing",
            ],
            "{diff:#?}"
        );
    }
}
