//! Page text with placeholders, filled in one pass into segments the
//! templates escape (a value is never scanned for placeholders again).

use std::time::Duration;

use super::texts::Texts;

/// Above this, waits are shown in minutes rather than seconds.
const SECONDS_UP_TO: u64 = 120;

/// A sentence ready for a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rich {
    pub(super) segs: Vec<Seg>,
}

/// A piece of a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    /// Plain text.
    Text(String),
    /// Emphasised text (the masked address).
    Strong(String),
    /// A number that counts down in the browser when scripts run.
    Count(Count),
}

/// A countdown: `value` in `unit` now, `left` seconds in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Count {
    pub(super) value: u64,
    /// `s` or `m`.
    pub(super) unit: &'static str,
    pub(super) left: u64,
    /// The id of a button to enable when it reaches zero.
    pub(super) enables: Option<&'static str>,
}

/// The values a sentence may use.
#[derive(Debug, Clone, Copy)]
pub(super) struct Values<'a> {
    pub(super) texts: &'a Texts,
    pub(super) address: Option<&'a str>,
    pub(super) attempts: Option<u32>,
    pub(super) digits: Option<u8>,
    pub(super) wait: Option<Duration>,
    pub(super) enables: Option<&'static str>,
}

impl<'a> Values<'a> {
    pub(super) fn new(texts: &'a Texts) -> Self {
        Self {
            texts,
            address: None,
            attempts: None,
            digits: None,
            wait: None,
            enables: None,
        }
    }
}

impl Rich {
    /// Fills `template` with `values`.
    pub(super) fn fill(template: &str, values: &Values<'_>) -> Rich {
        let mut out = Builder::default();
        scan(template, &mut out, |key, out| match key {
            "address" => {
                let address = values.address.unwrap_or(&values.texts.address_fallback);
                out.push(Seg::Strong(address.to_owned()));
                true
            }
            "attempts" => push_number(out, values.attempts.map(u64::from)),
            "digits" => push_number(out, values.digits.map(u64::from)),
            "send" => out.text(&values.texts.send_button),
            "resend" => out.text(&values.texts.resend_button),
            "confirm" => out.text(&values.texts.confirm_button),
            "restart" => out.text(&values.texts.restart_button),
            "wait" => match values.wait {
                Some(wait) => {
                    push_wait(out, values.texts, wait, values.enables);
                    true
                }
                None => false,
            },
            _ => false,
        });
        Rich { segs: out.segs }
    }

    /// Whether a part counts down (the page then needs its script).
    pub(super) fn has_count(&self) -> bool {
        self.segs.iter().any(|s| matches!(s, Seg::Count(_)))
    }

    /// The text without markup, for tests and titles.
    #[cfg(test)]
    pub(super) fn plain(&self) -> String {
        self.segs
            .iter()
            .map(|s| match s {
                Seg::Text(t) | Seg::Strong(t) => t.clone(),
                Seg::Count(c) => c.value.to_string(),
            })
            .collect()
    }
}

#[derive(Default)]
struct Builder {
    segs: Vec<Seg>,
}

impl Builder {
    fn push(&mut self, seg: Seg) {
        if let (Seg::Text(add), Some(Seg::Text(last))) = (&seg, self.segs.last_mut()) {
            last.push_str(add);
            return;
        }
        self.segs.push(seg);
    }

    fn text(&mut self, text: &str) -> bool {
        if !text.is_empty() {
            self.push(Seg::Text(text.to_owned()));
        }
        true
    }
}

/// Copies `template` into `out`, calling `value` for each `{key}`; a key it
/// does not know (returns `false`) is kept as typed.
fn scan(template: &str, out: &mut Builder, mut value: impl FnMut(&str, &mut Builder) -> bool) {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.text(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_key(&after[..close]) => {
                let key = &after[..close];
                if !value(key, out) {
                    out.text(&rest[open..open + close + 2]);
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.text("{");
                rest = after;
            }
        }
    }
    out.text(rest);
}

fn is_key(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

fn push_number(out: &mut Builder, n: Option<u64>) -> bool {
    match n {
        Some(n) => out.text(&n.to_string()),
        None => false,
    }
}

fn push_wait(out: &mut Builder, texts: &Texts, wait: Duration, enables: Option<&'static str>) {
    let left = u64::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u64::MAX);
    let (format, value, unit) = if left <= SECONDS_UP_TO {
        (&texts.seconds, left, "s")
    } else {
        (&texts.minutes, left.div_ceil(60), "m")
    };
    let count = Count {
        value,
        unit,
        left,
        enables,
    };
    let mut count = Some(count);
    scan(format, out, |key, out| match (key, count.take()) {
        ("n", Some(c)) => {
            out.push(Seg::Count(c));
            true
        }
        _ => false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en() -> Texts {
        Texts::english()
    }

    #[test]
    fn fills_known_keys_once_and_keeps_unknown_ones() {
        let t = en();
        let v = Values {
            address: Some("{wait}<b>"),
            attempts: Some(3),
            ..Values::new(&t)
        };
        let r = Rich::fill("To {address}: {attempts} left {unknown} {wait} { {", &v);
        assert_eq!(r.plain(), "To {wait}<b>: 3 left {unknown} {wait} { {");
        assert_eq!(r.segs[1], Seg::Strong("{wait}<b>".into()));
        assert!(!r.has_count());
    }

    #[test]
    fn waits_in_seconds_then_minutes() {
        let t = en();
        let fill = |secs: u64| {
            let v = Values {
                wait: Some(Duration::from_millis(secs)),
                enables: Some("x"),
                ..Values::new(&t)
            };
            Rich::fill("in {wait}.", &v)
        };
        let r = fill(45_000);
        assert_eq!(r.plain(), "in 45 s.");
        assert_eq!(
            r.segs[1],
            Seg::Count(Count {
                value: 45,
                unit: "s",
                left: 45,
                enables: Some("x")
            })
        );
        assert_eq!(fill(120_000).plain(), "in 120 s.");
        assert_eq!(fill(120_001).plain(), "in 3 min.");
        assert_eq!(fill(3_600_000).plain(), "in 60 min.");
        assert_eq!(fill(1).plain(), "in 1 s.");
        assert!(fill(10_000).has_count());
    }

    #[test]
    fn japanese_units() {
        let t = Texts::japanese();
        let v = Values {
            wait: Some(Duration::from_secs(300)),
            ..Values::new(&t)
        };
        assert_eq!(
            Rich::fill(&t.code_valid_for, &v).plain(),
            "有効期限は残り5分です。"
        );
    }
}
