//! The wording of the e-mails, per language: the `"mail"` half of each
//! catalog file under `locales/` (see `locale/catalog.rs`), and how a body is
//! assembled from it.
//!
//! Every body names the site, and the code mail says how long the code is
//! valid, that it must never be shared or typed on another site, and that it
//! can be ignored if unrequested (checklist 0.5, 15.3). The code that
//! confirms a transfer says the same, and that it must not be entered
//! anywhere if the transfer was not asked for.

use std::sync::OnceLock;

use serde::Deserialize;

use super::blocks::{Block, Site};
use super::civil::civil;
use crate::clock::Timestamp;
use crate::locale::Locale;
use crate::locale::catalog;

/// One language's mail strings. `{name}` is the site name, `{site}` the site
/// as [`site_with_origin`](Self::site_with_origin) names it (or its name
/// alone), `{valid}` a duration, `{n}` a number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailTexts {
    /// Subject of the code mail, after `[site]`.
    code_subject: String,
    /// Subject of the new-device notice, after `[site]`.
    notice_subject: String,
    /// The site with its origin: `{name}`, `{origin}`.
    site_with_origin: String,
    /// The label before the ticket hint.
    ticket_label: String,
    /// The label before the time of the new-device notice.
    when_label: String,
    /// Code mail, before the code (`{site}`).
    code_intro: String,
    /// Code mail: how long it is valid (`{valid}`).
    code_validity: String,
    /// Code mail: never share it (`{name}`, `{site}`).
    code_never_share: String,
    /// Code mail: unrequested? Ignore it.
    code_ignore: String,
    /// Notice: what happened (`{site}`).
    notice_intro: String,
    /// Notice: if it was you.
    notice_if_you: String,
    /// Notice: if it was not (`{name}`).
    notice_if_not_you: String,
    /// Subject of the notice that the ticket was bound to another address, after `[site]`.
    rebound_subject: String,
    /// Rebound notice: what happened (`{site}`, `{name}`).
    rebound_intro: String,
    /// Rebound notice: if it was asked for.
    rebound_if_you: String,
    /// Rebound notice: if it was not (`{name}`).
    rebound_if_not_you: String,
    /// The label before the (masked) address a ticket is transferred to.
    transfer_to_label: String,
    /// Subject of the mail to a companion a ticket was handed over to, after `[site]`.
    handed_subject: String,
    /// Hand-over mail: what happened (`{site}`).
    handed_intro: String,
    /// Hand-over mail: open the link below on your own device; a one-time
    /// password will be sent to this address.
    handed_open: String,
    /// Hand-over mail: unexpected? Ignore it.
    handed_ignore: String,
    /// Subject of the mail to the recipient of a transfer, after `[site]`.
    offer_subject: String,
    /// Transfer offer: what is happening (`{site}`).
    offer_intro: String,
    /// Transfer offer: open the link below and confirm with a one-time
    /// password sent to this address to receive the ticket.
    offer_open: String,
    /// Transfer offer: unexpected? Ignore it.
    offer_ignore: String,
    /// Subject of the code that confirms a transfer, after `[site]`.
    transfer_code_subject: String,
    /// Transfer code: before the code (`{site}`). Its validity is `code_validity`.
    transfer_code_intro: String,
    /// Transfer code: never share it, not even with the recipient (`{name}`, `{site}`).
    transfer_code_never_share: String,
    /// Transfer code: not asked for? Enter it nowhere; the ticket stays yours.
    transfer_code_ignore: String,
    /// Subject of the notice that a ticket was transferred, after `[site]`.
    transferred_subject: String,
    /// Transfer notice: what happened (`{site}`).
    transferred_intro: String,
    /// Transfer notice: if it was expected.
    transferred_if_you: String,
    /// Transfer notice: if it was not (`{name}`).
    transferred_if_not_you: String,
    /// A point in time: `{year}`, `{month}`, `{day}`, and zero-padded
    /// `{month2}`, `{day2}`, `{hour2}`, `{minute2}`.
    time_format: String,
    /// The offset of the time zone `time_format` names, in minutes east of UTC.
    utc_offset_minutes: i32,
    /// One hour (`{n}`).
    hour_one: String,
    /// Several hours (`{n}`).
    hours: String,
    /// One minute (`{n}`).
    minute_one: String,
    /// Several minutes (`{n}`).
    minutes: String,
    /// One second (`{n}`).
    second_one: String,
    /// Several seconds (`{n}`).
    seconds: String,
}

/// The mail strings of `locale`.
pub(super) fn texts(locale: Locale) -> &'static MailTexts {
    static BUILT_IN: [OnceLock<MailTexts>; 5] = [const { OnceLock::new() }; 5];
    BUILT_IN[locale.index()].get_or_init(|| catalog::half(locale, "mail"))
}

/// Replaces each `{key}` of `template` with its value, in one pass (a value is
/// never scanned again); unknown keys stay as typed.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after
            .find('}')
            .and_then(|close| Some((close, values.iter().find(|(k, _)| *k == &after[..close])?)));
        match value {
            Some((close, (_, value))) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl MailTexts {
    pub(super) fn code_subject(&self) -> &str {
        &self.code_subject
    }

    pub(super) fn notice_subject(&self) -> &str {
        &self.notice_subject
    }

    pub(super) fn rebound_subject(&self) -> &str {
        &self.rebound_subject
    }

    pub(super) fn handed_subject(&self) -> &str {
        &self.handed_subject
    }

    pub(super) fn offer_subject(&self) -> &str {
        &self.offer_subject
    }

    pub(super) fn transfer_code_subject(&self) -> &str {
        &self.transfer_code_subject
    }

    pub(super) fn transferred_subject(&self) -> &str {
        &self.transferred_subject
    }

    fn site(&self, site: &Site) -> String {
        match &site.origin {
            Some(origin) => fill(
                &self.site_with_origin,
                &[("name", &site.name), ("origin", origin)],
            ),
            None => site.name.clone(),
        }
    }

    /// The body of the code mail.
    pub(super) fn code_body(
        &self,
        site: &Site,
        hint: Option<String>,
        code: &str,
        valid: &str,
    ) -> Vec<Block> {
        let label = self.site(site);
        let v = [
            ("site", label.as_str()),
            ("name", &site.name),
            ("valid", valid),
        ];
        let mut blocks = vec![
            Block::Para(fill(&self.code_intro, &v)),
            Block::Code(code.to_owned()),
        ];
        blocks.extend(hint.map(|h| Block::Field(self.ticket_label.clone(), h)));
        blocks.extend(
            [
                &self.code_validity,
                &self.code_never_share,
                &self.code_ignore,
            ]
            .map(|s| Block::Para(fill(s, &v))),
        );
        blocks
    }

    /// The body of the new-device notice.
    pub(super) fn notice_body(&self, site: &Site, hint: Option<String>, when: &str) -> Vec<Block> {
        let label = self.site(site);
        let v = [("site", label.as_str()), ("name", &site.name)];
        let mut blocks = vec![Block::Para(fill(&self.notice_intro, &v))];
        blocks.extend(hint.map(|h| Block::Field(self.ticket_label.clone(), h)));
        blocks.push(Block::Field(self.when_label.clone(), when.to_owned()));
        blocks.extend(
            [&self.notice_if_you, &self.notice_if_not_you].map(|s| Block::Para(fill(s, &v))),
        );
        blocks
    }

    /// The body of the notice that the ticket was bound to another address.
    pub(super) fn rebound_body(&self, site: &Site, hint: Option<String>, when: &str) -> Vec<Block> {
        let label = self.site(site);
        let v = [("site", label.as_str()), ("name", &site.name)];
        let mut blocks = vec![Block::Para(fill(&self.rebound_intro, &v))];
        blocks.extend(hint.map(|h| Block::Field(self.ticket_label.clone(), h)));
        blocks.push(Block::Field(self.when_label.clone(), when.to_owned()));
        blocks.extend(
            [&self.rebound_if_you, &self.rebound_if_not_you].map(|s| Block::Para(fill(s, &v))),
        );
        blocks
    }

    /// The body of the mail to a companion a ticket was handed over to:
    /// `link` (already checked) after the paragraph that asks to open it,
    /// and no link when it is `None`.
    pub(super) fn handed_body(
        &self,
        site: &Site,
        hint: Option<String>,
        link: Option<&str>,
    ) -> Vec<Block> {
        self.link_body(
            site,
            hint,
            link,
            [&self.handed_intro, &self.handed_open, &self.handed_ignore],
        )
    }

    /// The body of the mail to the recipient of a transfer, with `link` as
    /// in [`handed_body`](Self::handed_body).
    pub(super) fn offer_body(
        &self,
        site: &Site,
        hint: Option<String>,
        link: Option<&str>,
    ) -> Vec<Block> {
        self.link_body(
            site,
            hint,
            link,
            [&self.offer_intro, &self.offer_open, &self.offer_ignore],
        )
    }

    /// What happened, the hint, what to do with the link, the link, and
    /// what to do if it was unexpected.
    fn link_body(
        &self,
        site: &Site,
        hint: Option<String>,
        link: Option<&str>,
        [intro, open, ignore]: [&String; 3],
    ) -> Vec<Block> {
        let label = self.site(site);
        let v = [("site", label.as_str()), ("name", &site.name)];
        let mut blocks = vec![Block::Para(fill(intro, &v))];
        blocks.extend(hint.map(|h| Block::Field(self.ticket_label.clone(), h)));
        blocks.push(Block::Para(fill(open, &v)));
        blocks.extend(link.map(|l| Block::Link(l.to_owned())));
        blocks.push(Block::Para(fill(ignore, &v)));
        blocks
    }

    /// The body of the code that confirms giving the ticket to `to` (a
    /// masked address, on one line, left out when empty).
    pub(super) fn transfer_code_body(
        &self,
        site: &Site,
        hint: Option<String>,
        code: &str,
        valid: &str,
        to: Option<String>,
    ) -> Vec<Block> {
        let label = self.site(site);
        let v = [
            ("site", label.as_str()),
            ("name", &site.name),
            ("valid", valid),
        ];
        let mut blocks = vec![
            Block::Para(fill(&self.transfer_code_intro, &v)),
            Block::Code(code.to_owned()),
        ];
        blocks.extend(hint.map(|h| Block::Field(self.ticket_label.clone(), h)));
        blocks.extend(to.map(|to| Block::Field(self.transfer_to_label.clone(), to)));
        blocks.extend(
            [
                &self.code_validity,
                &self.transfer_code_never_share,
                &self.transfer_code_ignore,
            ]
            .map(|s| Block::Para(fill(s, &v))),
        );
        blocks
    }

    /// The body of the notice that the ticket was transferred to `to` (as in
    /// [`transfer_code_body`](Self::transfer_code_body)).
    pub(super) fn transferred_body(
        &self,
        site: &Site,
        hint: Option<String>,
        to: Option<String>,
        when: &str,
    ) -> Vec<Block> {
        let label = self.site(site);
        let v = [("site", label.as_str()), ("name", &site.name)];
        let mut blocks = vec![Block::Para(fill(&self.transferred_intro, &v))];
        blocks.extend(hint.map(|h| Block::Field(self.ticket_label.clone(), h)));
        blocks.extend(to.map(|to| Block::Field(self.transfer_to_label.clone(), to)));
        blocks.push(Block::Field(self.when_label.clone(), when.to_owned()));
        blocks.extend(
            [&self.transferred_if_you, &self.transferred_if_not_you]
                .map(|s| Block::Para(fill(s, &v))),
        );
        blocks
    }

    /// A point in time, in the catalog's time zone.
    pub(super) fn format_time(&self, at: Timestamp) -> String {
        let (y, mo, d, h, mi) = civil(at, i64::from(self.utc_offset_minutes) * 60);
        let (y, mo, d) = (y.to_string(), mo.to_string(), d.to_string());
        let pad = |n: &str| format!("{n:0>2}");
        let (mo2, d2, h2, mi2) = (pad(&mo), pad(&d), pad(&h.to_string()), pad(&mi.to_string()));
        fill(
            &self.time_format,
            &[
                ("year", &y),
                ("month", &mo),
                ("day", &d),
                ("month2", &mo2),
                ("day2", &d2),
                ("hour2", &h2),
                ("minute2", &mi2),
            ],
        )
    }

    fn count(&self, n: u64, one: &str, other: &str) -> String {
        fill(if n == 1 { one } else { other }, &[("n", &n.to_string())])
    }

    /// A number of hours.
    pub(super) fn hours(&self, n: u64) -> String {
        self.count(n, &self.hour_one, &self.hours)
    }

    /// A number of minutes.
    pub(super) fn minutes(&self, n: u64) -> String {
        self.count(n, &self.minute_one, &self.minutes)
    }

    /// A number of seconds.
    pub(super) fn seconds(&self, n: u64) -> String {
        self.count(n, &self.second_one, &self.seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_loads_its_mail_half() {
        for locale in Locale::ALL {
            assert!(!texts(locale).hours.is_empty(), "{}", locale.tag());
        }
    }

    #[test]
    fn a_mail_half_with_a_missing_or_unknown_key_does_not_load() {
        let whole: serde_json::Value =
            serde_json::from_str(include_str!("../../locales/en.json")).unwrap();
        let english = whole["mail"].clone();
        assert!(serde_json::from_value::<MailTexts>(english.clone()).is_ok());
        let mut missing = english.clone();
        missing.as_object_mut().unwrap().remove("hours");
        assert!(serde_json::from_value::<MailTexts>(missing).is_err());
        let mut unknown = english;
        unknown["extra"] = serde_json::Value::String("x".into());
        assert!(serde_json::from_value::<MailTexts>(unknown).is_err());
    }

    #[test]
    fn fill_replaces_known_keys_once() {
        let v = [("a", "{b}"), ("b", "B")];
        assert_eq!(fill("x{a}y{b}z{c}{", &v), "x{b}yBz{c}{");
        assert_eq!(fill("", &v), "");
        assert_eq!(fill("{a", &v), "{a");
    }
}
