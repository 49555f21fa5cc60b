//! What transfers are made of: their rules, refusals, errors and states
//! (re-exported as [`crate::transfer`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::email::EmailAddress;
use crate::flow::Rejection;
use crate::locale::Locale;
use crate::store::StoreError;
use crate::ticket::TicketId;

/// What a transfer asks, as the application's check sees it
/// ([`TransferRules::with_check`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct TransferAsk<'a> {
    /// The ticket (a family's own id for a family).
    pub ticket: &'a TicketId,
    /// The recipient.
    pub to: &'a EmailAddress,
}

type Check = Arc<dyn Fn(&TransferAsk<'_>) -> bool + Send + Sync>;

/// What transfers may do: how many times a ticket may change hands (one
/// by default), and the application's own check.
///
/// ```
/// use tower_otp::transfer::TransferRules;
///
/// let rules = TransferRules::default()
///     .with_cap(2)
///     // Tickets bought on resale are not transferred again.
///     .with_check(|ask| !ask.ticket.as_str().starts_with("resale-"));
/// assert_eq!(rules.cap(), 2);
/// ```
#[derive(Clone)]
pub struct TransferRules {
    cap: u32,
    check: Option<Check>,
}

impl Default for TransferRules {
    fn default() -> Self {
        Self {
            cap: 1,
            check: None,
        }
    }
}

impl fmt::Debug for TransferRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransferRules")
            .field("cap", &self.cap)
            .field("check", &self.check.is_some())
            .finish()
    }
}

impl TransferRules {
    /// How many transfers a ticket may have in all (`0`: none).
    pub fn with_cap(mut self, cap: u32) -> Self {
        self.cap = cap;
        self
    }

    /// The application's own check of each transfer: `false` refuses it
    /// ([`TransferRefusal::RefusedBySite`]).
    pub fn with_check(
        mut self,
        check: impl Fn(&TransferAsk<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(check));
        self
    }

    /// How many transfers a ticket may have in all.
    pub fn cap(&self) -> u32 {
        self.cap
    }

    pub(crate) fn allows(&self, ask: &TransferAsk<'_>) -> bool {
        self.check.as_ref().is_none_or(|check| check(ask))
    }
}

/// Why a step of a transfer was refused, with a stable
/// [`code`](Self::code), an HTTP [`status`](Self::status) and a
/// [`message`](Self::message) in each language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferRefusal {
    /// The device was not verified on this ticket (or its family).
    NotTheOwner,
    /// The ticket has no bound address to confirm the transfer with.
    NotBound,
    /// The recipient is the ticket's own address.
    SameAddress,
    /// The ticket was transferred as often as the rules allow.
    TooManyTransfers,
    /// The application's check refused it.
    RefusedBySite,
    /// A transfer of this ticket is under way: cancel it first.
    AlreadyUnderWay,
    /// No transfer of this ticket is under way (never started, cancelled,
    /// or accepted already).
    NoTransfer,
    /// The owner has not confirmed the transfer yet.
    NotConfirmed,
    /// The device was not verified as the transfer's recipient.
    NotTheRecipient,
    /// The acceptance link is not an absolute `http(s)` URL on the site.
    BadLink,
}

impl TransferRefusal {
    /// Every refusal, for tests and catalogs.
    pub const ALL: [TransferRefusal; 10] = [
        Self::NotTheOwner,
        Self::NotBound,
        Self::SameAddress,
        Self::TooManyTransfers,
        Self::RefusedBySite,
        Self::AlreadyUnderWay,
        Self::NoTransfer,
        Self::NotConfirmed,
        Self::NotTheRecipient,
        Self::BadLink,
    ];

    /// A stable snake_case code, for JSON answers and logs.
    ///
    /// ```
    /// use tower_otp::transfer::TransferRefusal;
    ///
    /// assert_eq!(TransferRefusal::TooManyTransfers.code(), "too_many_transfers");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotTheOwner => "not_the_owner",
            Self::NotBound => "not_bound",
            Self::SameAddress => "same_address",
            Self::TooManyTransfers => "too_many_transfers",
            Self::RefusedBySite => "refused_by_site",
            Self::AlreadyUnderWay => "already_under_way",
            Self::NoTransfer => "no_transfer",
            Self::NotConfirmed => "not_confirmed",
            Self::NotTheRecipient => "not_the_recipient",
            Self::BadLink => "bad_link",
        }
    }

    /// The HTTP status that answers it.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::NotTheOwner | Self::NotTheRecipient | Self::RefusedBySite => {
                StatusCode::FORBIDDEN
            }
            Self::SameAddress | Self::BadLink => StatusCode::BAD_REQUEST,
            Self::NotBound
            | Self::TooManyTransfers
            | Self::AlreadyUnderWay
            | Self::NoTransfer
            | Self::NotConfirmed => StatusCode::CONFLICT,
        }
    }

    /// What to tell the person, in `locale`.
    ///
    /// ```
    /// use tower_otp::{Locale, transfer::TransferRefusal};
    ///
    /// assert_eq!(TransferRefusal::NoTransfer.message(Locale::En), "No transfer of this ticket is under way.");
    /// ```
    pub fn message(&self, locale: crate::locale::Locale) -> &'static str {
        refusal_text(*self, locale)
    }
}

impl fmt::Display for TransferRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message(crate::locale::Locale::En))
    }
}

/// Why a step of a transfer did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// A rule refused it.
    #[error("{0}")]
    Refused(TransferRefusal),
    /// The confirmation code was not sent or not accepted: wrong, expired,
    /// throttled, locked, the mail failed… as for any code
    /// ([`Rejection`]'s texts and statuses apply).
    #[error(transparent)]
    Code(Rejection),
    /// The store failed: the step did not happen (try again).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TransferRefusal> for TransferError {
    fn from(refusal: TransferRefusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<Rejection> for TransferError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Unavailable(error) => Self::Store(error),
            other => Self::Code(other),
        }
    }
}

/// Where a ticket's transfers stand ([`Flow::transfer_status`](crate::Flow::transfer_status)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferStatus {
    /// The transfer under way, if any.
    pub pending: Option<PendingTransfer>,
    /// Transfers of this ticket so far.
    pub done: u32,
    /// Transfers allowed in all ([`TransferRules::with_cap`]).
    pub cap: u32,
}

/// A transfer under way.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingTransfer {
    /// The recipient, masked.
    pub to: String,
    /// The owner confirmed it with the code: the recipient was mailed.
    pub confirmed: bool,
}

/// What [`Flow::start_transfer`](crate::Flow::start_transfer) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferStarted {
    /// The recipient, masked.
    pub to: String,
    /// Where the confirmation code went (the bound address), masked.
    pub code_to: String,
    /// How long the code is valid.
    pub valid_for: Duration,
}

/// What [`Flow::accept_transfer`](crate::Flow::accept_transfer) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transferred {
    /// The ticket's new generation: every earlier device is refused.
    pub generation: u64,
    /// The previous owner, masked.
    pub from: String,
}

/// The message of `refusal` in `locale`.
fn refusal_text(refusal: TransferRefusal, locale: Locale) -> &'static str {
    use TransferRefusal as R;
    let [en, ja, zh_hans, zh_hant, ko] = match refusal {
        R::NotTheOwner => [
            "Only the ticket holder's verified devices can transfer this ticket.",
            "このチケットを譲渡できるのは、名義人の確認済みの端末だけです。",
            "只有持票人已验证的设备才能转让此门票。",
            "只有持票人已驗證的裝置才能轉讓此票券。",
            "이 티켓은 소유자의 인증된 기기에서만 양도할 수 있습니다.",
        ],
        R::NotBound => [
            "This ticket has no registered address to confirm a transfer with.",
            "このチケットには、譲渡を確認するための登録メールアドレスがありません。",
            "此门票没有可用于确认转让的登记邮箱。",
            "此票券沒有可用於確認轉讓的登記電子郵件。",
            "이 티켓에는 양도를 확인할 등록된 이메일 주소가 없습니다.",
        ],
        R::SameAddress => [
            "This ticket is already registered to that address.",
            "このチケットはすでにそのメールアドレスで登録されています。",
            "此门票已登记在该邮箱下。",
            "此票券已登記在該電子郵件下。",
            "이 티켓은 이미 그 이메일 주소로 등록되어 있습니다.",
        ],
        R::TooManyTransfers => [
            "This ticket cannot be transferred again.",
            "このチケットはこれ以上譲渡できません。",
            "此门票无法再次转让。",
            "此票券無法再次轉讓。",
            "이 티켓은 더 이상 양도할 수 없습니다.",
        ],
        R::RefusedBySite => [
            "This ticket cannot be transferred.",
            "このチケットは譲渡できません。",
            "此门票无法转让。",
            "此票券無法轉讓。",
            "이 티켓은 양도할 수 없습니다.",
        ],
        R::AlreadyUnderWay => [
            "A transfer of this ticket is already under way: cancel it first.",
            "このチケットはすでに譲渡の手続き中です。先に取り消してください。",
            "此门票的转让正在进行中，请先取消。",
            "此票券的轉讓正在進行中，請先取消。",
            "이 티켓은 이미 양도 진행 중입니다. 먼저 취소해 주세요.",
        ],
        R::NoTransfer => [
            "No transfer of this ticket is under way.",
            "このチケットの譲渡手続きはありません。",
            "此门票没有进行中的转让。",
            "此票券沒有進行中的轉讓。",
            "이 티켓에 진행 중인 양도가 없습니다.",
        ],
        R::NotConfirmed => [
            "The holder has not confirmed this transfer yet.",
            "名義人がまだこの譲渡を確認していません。",
            "持票人尚未确认此转让。",
            "持票人尚未確認此轉讓。",
            "소유자가 아직 이 양도를 확인하지 않았습니다.",
        ],
        R::NotTheRecipient => [
            "Only the recipient of this transfer can accept it.",
            "この譲渡を受け取れるのは、譲渡先の方だけです。",
            "只有此转让的接收人才能接受。",
            "只有此轉讓的接收人才能接受。",
            "이 양도는 받는 분만 수락할 수 있습니다.",
        ],
        R::BadLink => [
            "The transfer's link is not valid.",
            "譲渡のリンクが正しくありません。",
            "转让链接无效。",
            "轉讓連結無效。",
            "양도 링크가 올바르지 않습니다.",
        ],
    };
    // In the order of `Locale::ALL`.
    [ja, en, zh_hans, zh_hant, ko][locale.index()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locale::Locale;

    #[test]
    fn every_refusal_has_its_own_words_in_every_language() {
        for locale in Locale::ALL {
            let texts: std::collections::HashSet<_> = TransferRefusal::ALL
                .iter()
                .map(|r| r.message(locale))
                .collect();
            assert_eq!(texts.len(), TransferRefusal::ALL.len(), "{locale:?}");
        }
        let codes: std::collections::HashSet<_> =
            TransferRefusal::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), TransferRefusal::ALL.len());
    }
}
