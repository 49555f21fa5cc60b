//! What each [`HandOffRefusal`] tells the holder, in each language.

use super::HandOffRefusal;
use crate::locale::Locale;

/// The message of `refusal` in `locale`.
pub(super) fn refusal(refusal: HandOffRefusal, locale: Locale) -> &'static str {
    use HandOffRefusal as R;
    let [en, ja, zh_hans, zh_hant, ko] = match refusal {
        R::NotInFamily => [
            "This ticket cannot be handed over.",
            "このチケットは分配できません。",
            "此门票无法分配。",
            "此票券無法分配。",
            "이 티켓은 양도할 수 없습니다.",
        ],
        R::NotTheHolder => [
            "Only the holder's verified devices can hand over seats of this order.",
            "この注文の座席を分配できるのは、購入者の確認済みの端末だけです。",
            "只有购票人已验证的设备才能分配此订单的座位。",
            "只有購票人已驗證的裝置才能分配此訂單的座位。",
            "이 주문의 좌석은 구매자의 인증된 기기에서만 양도할 수 있습니다.",
        ],
        R::OwnSeat => [
            "Your own seat stays with you: it cannot be handed over.",
            "ご自身の座席は分配できません。",
            "您本人的座位无法分配。",
            "您本人的座位無法分配。",
            "본인 좌석은 양도할 수 없습니다.",
        ],
        R::ReceivedSeat => [
            "A seat handed to you cannot be handed on.",
            "分配を受けた座席を、さらに分配することはできません。",
            "分配给您的座位不能再分配给他人。",
            "分配給您的座位不能再分配給他人。",
            "양도받은 좌석은 다시 양도할 수 없습니다.",
        ],
        R::AlreadyHandedOver => [
            "This seat has already been handed to a companion.",
            "この座席はすでに同行者に分配されています。",
            "此座位已分配给同行者。",
            "此座位已分配給同行者。",
            "이 좌석은 이미 동행자에게 양도되었습니다.",
        ],
        R::NotHandedOver => [
            "This seat has not been handed over: there is nothing to cancel.",
            "この座席は分配されていないため、取り消すものはありません。",
            "此座位尚未分配，无需取消。",
            "此座位尚未分配，無需取消。",
            "이 좌석은 양도되지 않았으므로 취소할 것이 없습니다.",
        ],
        R::AlreadyReceived => [
            "Your companion has already received this seat: the hand-off can no longer be cancelled.",
            "同行者がすでに座席を受け取ったため、分配を取り消すことはできません。",
            "同行者已领取此座位，无法再取消分配。",
            "同行者已領取此座位，無法再取消分配。",
            "동행자가 이미 좌석을 받았으므로 양도를 취소할 수 없습니다.",
        ],
        R::TooManyCancellations => [
            "This seat's hand-off has been cancelled too many times.",
            "この座席の分配は、取り消しの上限に達しました。",
            "此座位的分配取消次数已达上限。",
            "此座位的分配取消次數已達上限。",
            "이 좌석의 양도 취소 횟수가 한도에 도달했습니다.",
        ],
        R::Closed => [
            "Seats of this order can no longer be handed over or cancelled.",
            "この注文の座席の分配・取り消しの受付は終了しました。",
            "此订单座位的分配和取消已截止。",
            "此訂單座位的分配和取消已截止。",
            "이 주문의 좌석 양도 및 취소 접수가 마감되었습니다.",
        ],
        R::RefusedBySite => [
            "This seat cannot be handed over.",
            "この座席は分配できません。",
            "此座位无法分配。",
            "此座位無法分配。",
            "이 좌석은 양도할 수 없습니다.",
        ],
        R::BadLink => [
            "The seat's link is not valid.",
            "座席のリンクが正しくありません。",
            "座位链接无效。",
            "座位連結無效。",
            "좌석 링크가 올바르지 않습니다.",
        ],
    };
    // In the order of `Locale::ALL`.
    [ja, en, zh_hans, zh_hant, ko][locale.index()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_its_own_words_in_every_language() {
        for locale in Locale::ALL {
            let mut seen = std::collections::HashSet::new();
            for refusal in HandOffRefusal::ALL {
                let text = refusal.message(locale);
                assert!(!text.is_empty());
                // Two refusals may share words only where the holder can do
                // nothing different about them.
                if !matches!(
                    refusal,
                    HandOffRefusal::RefusedBySite | HandOffRefusal::NotInFamily
                ) {
                    assert!(seen.insert(text), "{refusal:?} in {locale:?}");
                }
            }
        }
        let codes: std::collections::HashSet<_> =
            HandOffRefusal::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), HandOffRefusal::ALL.len());
    }
}
