//! What each [`TransferRefusal`] tells the person, in each language.

use super::TransferRefusal;
use crate::locale::Locale;

/// The message of `refusal` in `locale`.
pub(super) fn refusal(refusal: TransferRefusal, locale: Locale) -> &'static str {
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
    match locale {
        Locale::En => en,
        Locale::Ja => ja,
        Locale::ZhHans => zh_hans,
        Locale::ZhHant => zh_hant,
        Locale::Ko => ko,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
