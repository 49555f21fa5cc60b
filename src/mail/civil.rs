//! Civil dates and times, for the times a message shows.

use crate::clock::Timestamp;

/// The civil date and time of a timestamp shifted by `offset_secs`:
/// (year, month, day, hour, minute). Howard Hinnant's `civil_from_days`.
pub(super) fn civil(at: Timestamp, offset_secs: i64) -> (i64, u32, u32, u32, u32) {
    let secs = i64::try_from(at.as_secs()).unwrap_or(i64::MAX - offset_secs) + offset_secs;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        let cases = [
            (0, (1970, 1, 1, 0, 0)),
            (951_782_400, (2000, 2, 29, 0, 0)),
            (1_754_051_696, (2025, 8, 1, 12, 34)),
            (4_102_444_799, (2099, 12, 31, 23, 59)),
        ];
        for (secs, want) in cases {
            assert_eq!(civil(Timestamp::from_millis(secs * 1000), 0), want);
        }
        assert_eq!(
            civil(Timestamp::from_millis(1_754_064_000_000), 9 * 3600),
            (2025, 8, 2, 1, 0)
        );
    }
}
