//! Every string of the built-in pages, per language.

use std::borrow::Cow;

use crate::locale::Locale;

/// Every string the built-in pages show, in one language.
///
/// Start from [`Texts::japanese`] or [`Texts::english`] and change what you
/// need with struct update syntax (always end with `..Texts::english()` or
/// similar: fields may be added in later versions). Strings are plain text;
/// the pages escape them, so HTML in them shows as typed.
///
/// Placeholders, replaced where a string uses them:
///
/// | placeholder | value |
/// |---|---|
/// | `{address}` | the masked address (`t***@e******.com`), shown in bold |
/// | `{wait}` | a duration: [`seconds`](Texts::seconds) or [`minutes`](Texts::minutes), counting down live when scripts run |
/// | `{attempts}` | wrong entries left |
/// | `{digits}` | the number of digits of a code |
/// | `{send}`, `{resend}`, `{confirm}`, `{restart}` | the label of that button |
///
/// An unknown placeholder is shown as typed.
///
/// ```
/// use tower_otp::Locale;
/// use tower_otp::pages::{DefaultPages, Texts};
///
/// let pages = DefaultPages::new().with_texts(
///     Locale::En,
///     Texts {
///         title: "Ticket check".into(),
///         confirm_button: "Check".into(),
///         ..Texts::english()
///     },
/// );
/// assert_eq!(pages.texts(Locale::En).title, "Ticket check");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    /// This language's own name in the language switch (`日本語`, `English`).
    pub language_name: Cow<'static, str>,
    /// The accessible name of the language switch.
    pub language_nav: Cow<'static, str>,
    /// The heading of the challenge pages.
    pub title: Cow<'static, str>,
    /// Why a code is asked for (challenge pages, above the form).
    pub intro: Cow<'static, str>,
    /// A duration in seconds; `{n}` is the number.
    pub seconds: Cow<'static, str>,
    /// A duration in minutes; `{n}` is the number.
    pub minutes: Cow<'static, str>,
    /// Replaces `{address}` when no masked address is known.
    pub address_fallback: Cow<'static, str>,

    /// Address entry: what to do.
    pub email_prompt: Cow<'static, str>,
    /// Address entry: the address is bound to the ticket for good once verified.
    pub email_binding: Cow<'static, str>,
    /// The label of the address field.
    pub email_label: Cow<'static, str>,
    /// The Send button.
    pub send_button: Cow<'static, str>,
    /// The Resend button.
    pub resend_button: Cow<'static, str>,
    /// The Confirm button (verifies the code).
    pub confirm_button: Cow<'static, str>,
    /// The button that drops an unverified address to start over.
    pub restart_button: Cow<'static, str>,
    /// Under a Send/Resend button that is not yet allowed (`{wait}`).
    pub send_wait: Cow<'static, str>,

    /// No live code, address bound: where the code will go (`{address}`).
    pub send_to_bound: Cow<'static, str>,
    /// No live code, address not yet bound: where the code will go (`{address}`).
    pub send_to_pending: Cow<'static, str>,
    /// The last code expired unused.
    pub expired_state: Cow<'static, str>,
    /// The round's wrong entries are spent: a new code is needed.
    pub exhausted_state: Cow<'static, str>,

    /// A code was sent (`{address}`).
    pub code_sent_to: Cow<'static, str>,
    /// What to do with the code.
    pub code_prompt: Cow<'static, str>,
    /// How long the newest code stays valid (`{wait}`).
    pub code_valid_for: Cow<'static, str>,
    /// Wrong entries left (`{attempts}`).
    pub attempts_left: Cow<'static, str>,
    /// The label of the code field.
    pub code_label: Cow<'static, str>,
    /// No mail: look in the spam folder.
    pub not_received: Cow<'static, str>,
    /// No mail and the address is not bound: it may be mistyped, start over.
    pub not_received_unbound: Cow<'static, str>,

    /// The in-app browser hint: its title (a `<summary>`).
    pub in_app_title: Cow<'static, str>,
    /// The in-app browser hint: its text.
    pub in_app_body: Cow<'static, str>,

    /// New devices are locked out (`{wait}`).
    pub locked_state: Cow<'static, str>,

    /// The first-device confirmation page: heading.
    pub first_device_title: Cow<'static, str>,
    /// The first-device confirmation page: text.
    pub first_device_body: Cow<'static, str>,
    /// The first-device confirmation page: button.
    pub first_device_button: Cow<'static, str>,

    /// The unavailable page: heading.
    pub unavailable_title: Cow<'static, str>,
    /// The unavailable page: text.
    pub unavailable_body: Cow<'static, str>,
    /// The unavailable page: the link that reloads.
    pub reload_link: Cow<'static, str>,

    /// Notice: the address is not valid.
    pub err_invalid_email: Cow<'static, str>,
    /// Notice: the address is too long.
    pub err_email_too_long: Cow<'static, str>,
    /// Notice: no address was entered.
    pub err_email_required: Cow<'static, str>,
    /// Notice: what was typed is not a code (`{digits}`).
    pub err_invalid_code: Cow<'static, str>,
    /// Notice: wrong code (`{attempts}`).
    pub err_wrong_code: Cow<'static, str>,
    /// Notice: wrong code, and no attempts are left.
    pub err_wrong_code_last: Cow<'static, str>,
    /// Notice: the code expired.
    pub err_expired: Cow<'static, str>,
    /// Notice: no code was sent yet.
    pub err_no_code: Cow<'static, str>,
    /// Notice: too many wrong entries; a new code is needed.
    pub err_too_many_attempts: Cow<'static, str>,
    /// Notice: a send limit (`{wait}`).
    pub err_throttled: Cow<'static, str>,
    /// Notice: new devices are locked out (`{wait}`).
    pub err_locked: Cow<'static, str>,
    /// Notice: the address is bound and cannot be changed.
    pub err_bound: Cow<'static, str>,
    /// Notice: the mail could not be delivered.
    pub err_mail_failed: Cow<'static, str>,
    /// Notice: the service failed; nothing changed.
    pub err_unavailable: Cow<'static, str>,
    /// Notice: the CSRF token was missing or stale.
    pub err_csrf: Cow<'static, str>,
    /// Notice: a cross-site request was refused.
    pub err_cross_site: Cow<'static, str>,
    /// Notice: the request body was too large.
    pub err_too_large: Cow<'static, str>,
    /// Notice: the request was malformed.
    pub err_bad_request: Cow<'static, str>,
    /// Notice: the content type is not accepted.
    pub err_unsupported_media_type: Cow<'static, str>,
}

macro_rules! texts {
    ($($field:ident: $value:expr,)*) => {
        Texts { $($field: Cow::Borrowed($value),)* }
    };
}

impl Texts {
    /// The Japanese strings.
    ///
    /// ```
    /// use tower_otp::pages::Texts;
    ///
    /// assert_eq!(Texts::japanese().title, "ワンタイムパスワード");
    /// ```
    pub fn japanese() -> Self {
        texts! {
            language_name: "日本語",
            language_nav: "言語",
            title: "ワンタイムパスワード",
            intro: "この端末でチケットを表示するには、メールで届くワンタイムパスワードによる確認が必要です。",
            seconds: "{n}秒",
            minutes: "{n}分",
            address_fallback: "ご登録のメールアドレス",

            email_prompt: "ワンタイムパスワードを受け取るメールアドレスを入力して、{send}ボタンを押してください。",
            email_binding: "ワンタイムパスワードの確認が済むと、このメールアドレスはこのチケットに登録され、以後のワンタイムパスワードはすべてこのアドレスに送信されます。登録後は変更できないため、必ずご自身のメールアドレスを入力してください。",
            email_label: "メールアドレス",
            send_button: "送信",
            resend_button: "再送信",
            confirm_button: "確認",
            restart_button: "別のメールアドレスを使う",
            send_wait: "{wait}後に送信できるようになります。",

            send_to_bound: "このチケットに登録されたメールアドレス {address} 宛にワンタイムパスワードを送信します。",
            send_to_pending: "{address} 宛にワンタイムパスワードを送信します。",
            expired_state: "ワンタイムパスワードの有効期限が切れました。{resend}ボタンを押して、新しいワンタイムパスワードを受け取ってください。",
            exhausted_state: "入力誤りが上限に達したため、送信済みのワンタイムパスワードは使えなくなりました。{resend}ボタンで新しいワンタイムパスワードを受け取ってください。",

            code_sent_to: "{address} 宛にワンタイムパスワードを送信しました。",
            code_prompt: "メールに記載されているワンタイムパスワードを入力して、{confirm}ボタンを押してください。",
            code_valid_for: "有効期限は残り{wait}です。",
            attempts_left: "残りの入力回数: {attempts}回",
            code_label: "ワンタイムパスワード",
            not_received: "メールが見当たらない場合は、迷惑メールフォルダもご確認ください。",
            not_received_unbound: "迷惑メールフォルダにもない場合は、メールアドレスが誤っている可能性があります。「{restart}」からやり直してください。",

            in_app_title: "メールアプリ内でこのページを開いている場合",
            in_app_body: "このページを閉じたり開き直したりしても、送信済みのワンタイムパスワードは無効になりません。メールアプリでワンタイムパスワードを確認してから、もう一度このリンクを開いて入力できます。リンクを長押しして「ブラウザで開く」を選ぶと、ブラウザで開くこともできます。",

            locked_state: "このチケットで入力誤りが続いたため、新しい端末からの確認を一時的に停止しています。{wait}後にもう一度お試しください。",

            first_device_title: "チケットを開く",
            first_device_body: "このチケットはまだどの端末でも開かれていません。下のボタンを押すと、この端末でチケットを表示し、以後この端末ではそのまま表示できます。ほかの端末で開くときは、メールで届くワンタイムパスワードによる確認が必要になります。",
            first_device_button: "この端末でチケットを開く",

            unavailable_title: "ただいま利用できません",
            unavailable_body: "一時的にサービスを利用できません。しばらく待ってから、もう一度お試しください。",
            reload_link: "再読み込み",

            err_invalid_email: "メールアドレスの形式が正しくありません。ご確認のうえ、もう一度入力してください。",
            err_email_too_long: "メールアドレスが長すぎます。",
            err_email_required: "ワンタイムパスワードを受け取るメールアドレスを入力してください。",
            err_invalid_code: "ワンタイムパスワードは{digits}桁の数字です。メールをご確認のうえ、もう一度入力してください。",
            err_wrong_code: "ワンタイムパスワードが正しくありません。残りの入力回数: {attempts}回",
            err_wrong_code_last: "ワンタイムパスワードが正しくありません。入力回数の上限に達したため、{resend}ボタンで新しいワンタイムパスワードを受け取ってください。",
            err_expired: "ワンタイムパスワードの有効期限が切れています。{resend}ボタンで新しいワンタイムパスワードを受け取ってください。",
            err_no_code: "ワンタイムパスワードはまだ送信されていません。先に{send}ボタンを押してください。",
            err_too_many_attempts: "入力誤りが上限に達したため、送信済みのワンタイムパスワードは使えません。{resend}ボタンで新しいワンタイムパスワードを受け取ってください。",
            err_throttled: "ワンタイムパスワードの送信回数が上限に達しました。{wait}後にもう一度お試しください。",
            err_locked: "入力誤りが続いたため、新しい端末からの確認を一時的に停止しています。{wait}後にもう一度お試しください。",
            err_bound: "このチケットのメールアドレスは登録済みのため、変更できません。",
            err_mail_failed: "メールを送信できなかったため、ワンタイムパスワードは発行されていません。メールアドレスをご確認のうえ、時間をおいてもう一度お試しください。",
            err_unavailable: "一時的にサービスを利用できないため、処理できませんでした(変更はありません)。しばらく待ってから、もう一度お試しください。",
            err_csrf: "ページの有効期限が切れました。ページを再読み込みして、もう一度お試しください。",
            err_cross_site: "別のサイトからの送信のため、受け付けられませんでした。チケットのリンクを開き直してください。",
            err_too_large: "入力内容が長すぎます。",
            err_bad_request: "送信内容を処理できませんでした。ページを再読み込みして、もう一度お試しください。",
            err_unsupported_media_type: "対応していない形式で送信されました。ページを再読み込みして、もう一度お試しください。",
        }
    }

    /// The English strings.
    ///
    /// ```
    /// use tower_otp::pages::Texts;
    ///
    /// assert_eq!(Texts::english().title, "One-time password");
    /// ```
    pub fn english() -> Self {
        texts! {
            language_name: "English",
            language_nav: "Language",
            title: "One-time password",
            intro: "To show this ticket on this device, confirm it with a one-time password sent to you by e-mail.",
            seconds: "{n} s",
            minutes: "{n} min",
            address_fallback: "your registered address",

            email_prompt: "Enter the e-mail address that should receive the one-time password, then press {send}.",
            email_binding: "Once the one-time password is confirmed, this address is bound to this ticket for good: every later one-time password goes to it, and it cannot be changed. Please enter your own address.",
            email_label: "E-mail address",
            send_button: "Send",
            resend_button: "Resend",
            confirm_button: "Confirm",
            restart_button: "Use a different address",
            send_wait: "You can send a new one in {wait}.",

            send_to_bound: "A one-time password will be sent to {address}, the address registered for this ticket.",
            send_to_pending: "A one-time password will be sent to {address}.",
            expired_state: "The one-time password has expired. Press {resend} to get a new one.",
            exhausted_state: "Too many wrong entries: the one-time passwords sent so far no longer work. Press {resend} to get a new one.",

            code_sent_to: "We sent a one-time password to {address}.",
            code_prompt: "Enter the one-time password from the e-mail and press {confirm}.",
            code_valid_for: "It is valid for another {wait}.",
            attempts_left: "Attempts left: {attempts}",
            code_label: "One-time password",
            not_received: "No e-mail? Check your spam folder.",
            not_received_unbound: "If it is not there either, the address may be mistyped: choose \u{201c}{restart}\u{201d} and start over.",

            in_app_title: "Opened this page inside your mail app?",
            in_app_body: "Closing or reopening this page never cancels a one-time password already sent. You can switch to your mail app, copy the code, then open this link again and enter it. Or long-press the link and choose \u{201c}Open in browser\u{201d}.",

            locked_state: "Too many wrong one-time passwords were entered for this ticket, so new devices cannot be confirmed for now. Please try again in {wait}.",

            first_device_title: "Open this ticket",
            first_device_body: "This ticket has not been opened on any device yet. Press the button to show it on this device; this device will then open it directly from now on. Other devices will need a one-time password sent by e-mail.",
            first_device_button: "Open this ticket on this device",

            unavailable_title: "Temporarily unavailable",
            unavailable_body: "The service is temporarily unavailable. Please wait a moment and try again.",
            reload_link: "Try again",

            err_invalid_email: "That is not a valid e-mail address. Check it and try again.",
            err_email_too_long: "That e-mail address is too long.",
            err_email_required: "Enter the e-mail address that should receive the one-time password.",
            err_invalid_code: "A one-time password is {digits} digits. Check the e-mail and enter it again.",
            err_wrong_code: "That one-time password is not correct. Attempts left: {attempts}",
            err_wrong_code_last: "That one-time password is not correct, and no attempts are left. Press {resend} to get a new one.",
            err_expired: "That one-time password has expired. Press {resend} to get a new one.",
            err_no_code: "No one-time password has been sent yet. Press {send} first.",
            err_too_many_attempts: "Too many wrong entries: the one-time passwords sent so far no longer work. Press {resend} to get a new one.",
            err_throttled: "Too many one-time passwords were requested. You can request another in {wait}.",
            err_locked: "Too many wrong one-time passwords were entered for this ticket, so new devices cannot be confirmed for now. Please try again in {wait}.",
            err_bound: "This ticket's e-mail address is already registered and cannot be changed.",
            err_mail_failed: "The e-mail could not be sent, so no one-time password was issued. Check the address, or try again later.",
            err_unavailable: "The service is temporarily unavailable and nothing was changed. Please try again in a moment.",
            err_csrf: "This page has expired. Reload the page and try again.",
            err_cross_site: "The request came from another site and was refused. Open the ticket link again.",
            err_too_large: "What you entered is too long.",
            err_bad_request: "The request could not be processed. Reload the page and try again.",
            err_unsupported_media_type: "The request was sent in an unsupported format. Reload the page and try again.",
        }
    }

    /// The built-in strings for `locale`.
    ///
    /// ```
    /// use tower_otp::Locale;
    /// use tower_otp::pages::Texts;
    ///
    /// assert_eq!(Texts::for_locale(Locale::Ja), Texts::japanese());
    /// ```
    pub fn for_locale(locale: Locale) -> Self {
        match locale {
            Locale::Ja => Self::japanese(),
            Locale::En => Self::english(),
        }
    }
}
