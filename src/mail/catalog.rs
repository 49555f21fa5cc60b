//! The wording of the e-mails, per language.
//!
//! Every body names the site, and the code mail says how long the code is
//! valid, that it must never be shared or typed on another site, and that it
//! can be ignored if unrequested (checklist 0.5, 15.3).

use super::render::{Block, Site, civil};
use crate::clock::Timestamp;
use crate::locale::Locale;

/// One language's wording.
#[derive(Debug)]
pub(super) struct Texts {
    /// The `lang` of the HTML body.
    pub(super) lang: &'static str,
    /// Subject of the code mail, after `[site]`.
    pub(super) code_subject: &'static str,
    /// Subject of the new-device notice, after `[site]`.
    pub(super) notice_subject: &'static str,
    /// Body of the code mail: site, ticket hint, code, validity.
    pub(super) code_body: fn(&Site, Option<String>, &str, &str) -> Vec<Block>,
    /// Body of the new-device notice: site, ticket hint, time.
    pub(super) notice_body: fn(&Site, Option<String>, &str) -> Vec<Block>,
    /// A point in time, with its time zone.
    pub(super) format_time: fn(Timestamp) -> String,
    /// A number of hours.
    pub(super) hours: fn(u64) -> String,
    /// A number of minutes.
    pub(super) minutes: fn(u64) -> String,
    /// A number of seconds.
    pub(super) seconds: fn(u64) -> String,
}

pub(super) fn texts(locale: Locale) -> &'static Texts {
    match locale {
        Locale::Ja => &JA,
        _ => &EN,
    }
}

static EN: Texts = Texts {
    lang: "en",
    code_subject: "Your one-time password",
    notice_subject: "A new device was verified for your ticket",
    code_body: en_code,
    notice_body: en_notice,
    format_time: |at| {
        let (y, mo, d, h, mi) = civil(at, 0);
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
    },
    hours: |n| plural(n, "hour"),
    minutes: |n| plural(n, "minute"),
    seconds: |n| plural(n, "second"),
};

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn en_code(site: &Site, hint: Option<String>, code: &str, valid: &str) -> Vec<Block> {
    let mut blocks = vec![
        Block::Para(format!(
            "Your one-time password for {} is:",
            site.label(" (", ")")
        )),
        Block::Code(code.to_owned()),
    ];
    blocks.extend(hint.map(|h| Block::Field("Ticket: ", h)));
    blocks.extend([
        Block::Para(format!(
            "This password is valid for {valid}. Enter it on the page that asked for it."
        )),
        Block::Para(format!(
            "Never share this password with anyone, not even someone who says they are from {}. \
             Enter it only on {} and never type it on any other site.",
            site.name,
            site.label(" (", ")")
        )),
        Block::Para(
            "If you did not ask for this password, you can ignore this e-mail. \
             Without it, no other device can open your ticket."
                .to_owned(),
        ),
    ]);
    blocks
}

fn en_notice(site: &Site, hint: Option<String>, when: &str) -> Vec<Block> {
    let mut blocks = vec![Block::Para(format!(
        "A new device was verified for your ticket on {}.",
        site.label(" (", ")")
    ))];
    blocks.extend(hint.map(|h| Block::Field("Ticket: ", h)));
    blocks.extend([
        Block::Field("When: ", when.to_owned()),
        Block::Para("If this was you, there is nothing to do.".to_owned()),
        Block::Para(format!(
            "If this was not you, someone entered the one-time password sent to this address: \
             they may have access to your e-mail, or the password was passed on. Change the \
             password of your e-mail account, and contact {} to have the other device removed.",
            site.name
        )),
    ]);
    blocks
}

static JA: Texts = Texts {
    lang: "ja",
    code_subject: "ワンタイムパスワード",
    notice_subject: "新しい端末でチケットが確認されました",
    code_body: ja_code,
    notice_body: ja_notice,
    format_time: |at| {
        // Japan Standard Time (UTC+9, no daylight saving), labelled as such.
        let (y, mo, d, h, mi) = civil(at, 9 * 3600);
        format!("{y}年{mo}月{d}日 {h:02}:{mi:02}（日本時間）")
    },
    hours: |n| format!("{n}時間"),
    minutes: |n| format!("{n}分間"),
    seconds: |n| format!("{n}秒間"),
};

fn ja_code(site: &Site, hint: Option<String>, code: &str, valid: &str) -> Vec<Block> {
    let mut blocks = vec![
        Block::Para(format!(
            "{}のワンタイムパスワードをお知らせします。",
            site.label("（", "）")
        )),
        Block::Code(code.to_owned()),
    ];
    blocks.extend(hint.map(|h| Block::Field("チケット：", h)));
    blocks.extend([
        Block::Para(format!(
            "このワンタイムパスワードは発行から{valid}有効です。入力を求められた画面に入力してください。"
        )),
        Block::Para(format!(
            "このワンタイムパスワードは誰にも教えないでください。{}を名乗る相手から聞かれても教えないでください。\
             {}以外のサイトには入力しないでください。",
            site.name,
            site.label("（", "）")
        )),
        Block::Para(
            "お心当たりがない場合は、このメールを破棄してください。\
             ワンタイムパスワードが入力されない限り、ほかの端末でチケットが開かれることはありません。"
                .to_owned(),
        ),
    ]);
    blocks
}

fn ja_notice(site: &Site, hint: Option<String>, when: &str) -> Vec<Block> {
    let mut blocks = vec![Block::Para(format!(
        "{}で、あなたのチケットが新しい端末で確認されました。",
        site.label("（", "）")
    ))];
    blocks.extend(hint.map(|h| Block::Field("チケット：", h)));
    blocks.extend([
        Block::Field("日時：", when.to_owned()),
        Block::Para("ご本人による操作であれば、対応は不要です。".to_owned()),
        Block::Para(format!(
            "お心当たりがない場合は、このアドレスに送られたワンタイムパスワードをほかの人が入力しています。\
             メールアカウントに第三者がアクセスしているか、ワンタイムパスワードが伝わった可能性があります。\
             メールアカウントのパスワードを変更し、{}にお問い合わせのうえ、その端末の解除を依頼してください。",
            site.name
        )),
    ]);
    blocks
}
