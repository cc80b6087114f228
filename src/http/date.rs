//! HTTP dates (RFC 9110 §5.6.7), parsed and formatted by the `httpdate` crate: IMF-fixdate
//! out; IMF-fixdate, RFC 850 and asctime in. What stays ours is the per-thread, per-second
//! cache of the `Date` value every response carries, and RFC 3339 for log lines. Only whole
//! seconds matter to HTTP validators.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpdate::HttpDate;

/// The last second an HTTP date can show, 9999-12-31 23:59:59 (four year digits).
const LAST_SECOND: u64 = 253_402_300_799;

/// Seconds since the epoch, floored; times before 1970 count as 0.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `t` as an HTTP date can show it: whole seconds, from 1970 to 9999. `httpdate` panics
/// outside that range, and a file's modification time can be anything.
fn showable(t: SystemTime) -> HttpDate {
    HttpDate::from(UNIX_EPOCH + Duration::from_secs(unix_seconds(t).min(LAST_SECOND)))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`; before 1970 is the epoch, after 9999 its last second.
pub fn format(t: SystemTime) -> String {
    showable(t).to_string()
}

/// The `Date` field value for a response sent now (RFC 9110 §6.6.1). Each thread formats it
/// at most once per second and reuses it in between: a response costs a clock read (vDSO)
/// and a comparison, not a formatting.
pub fn now() -> [u8; 29] {
    use std::cell::Cell;
    thread_local! {
        static CACHED: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
    }
    // the format has four year digits: a clock past 9999 stays at its last second
    let secs = unix_seconds(SystemTime::now()).min(LAST_SECOND);
    CACHED.with(|cached| {
        let (at, text) = cached.get();
        if at == secs {
            return text;
        }
        let mut text = [0u8; 29];
        write!(
            &mut text[..],
            "{}",
            showable(UNIX_EPOCH + Duration::from_secs(secs))
        )
        .expect("an IMF-fixdate is 29 bytes");
        cached.set((secs, text));
        text
    })
}

/// `2026-11-25T09:05:38Z`, for log lines: RFC 3339 in UTC, whole seconds. Written digit by
/// digit into an array: log formatting runs on every connection thread, and the deepest stack
/// page it touches stays resident in each of them.
pub fn rfc3339(t: SystemTime) -> [u8; 20] {
    let secs = unix_seconds(t);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut out = *b"0000-00-00T00:00:00Z";
    let fields = [
        (0, 4, y.clamp(0, 9999) as u64),
        (5, 2, u64::from(m)),
        (8, 2, u64::from(d)),
        (11, 2, rem / 3600),
        (14, 2, rem / 60 % 60),
        (17, 2, rem % 60),
    ];
    for (at, width, mut value) in fields {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    out
}

/// Parses any of the three HTTP date formats; `None` for anything else (callers then ignore
/// the field, as RFC 9110 §13.1.3 says). The weekday must match the date.
pub fn parse(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s).ok()
}

// Howard Hinnant's civil calendar algorithms (days since 1970-01-01 <-> proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leap_day() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(951_782_400)
    }

    #[test]
    fn round_trip_and_formats() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(format(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(format(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&rfc3339(t), b"1994-11-06T08:49:37Z");
        assert_eq!(&rfc3339(leap_day()), b"2000-02-29T00:00:00Z");
        let now = std::str::from_utf8(&super::now()).unwrap().to_owned();
        let parsed = unix_seconds(parse(&now).unwrap());
        assert!(
            parsed.abs_diff(unix_seconds(SystemTime::now())) <= 1,
            "{now}"
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(format(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(parse(&format(leap)), Some(leap));
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        // outside what four year digits show, the nearest date, never a panic
        assert_eq!(
            format(UNIX_EPOCH - Duration::from_secs(1)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            format(UNIX_EPOCH + Duration::from_secs(LAST_SECOND + 86_400)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }
}
