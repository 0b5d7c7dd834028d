//! The NYSE calendar, derived from rules so that every year works without a
//! hand-typed table: full holidays, 13:00 early closes, and the few one-off
//! closures no rule can predict. All market logic is America/New_York; the
//! instants handed out are UTC.
//!
//! The rules are today's NYSE rules applied to every year. Older history that
//! differs (MLK Day before 1998, Saturday sessions, closures before 2001) is
//! not modelled; nothing in orakl looks that far back.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use chrono_tz::Tz;

/// The market's time zone: every trading date and session time is local to it.
pub const MARKET_TZ: Tz = New_York;

const REGULAR_OPEN: (u32, u32) = (9, 30);
const REGULAR_CLOSE: (u32, u32) = (16, 0);
const EARLY_CLOSE: (u32, u32) = (13, 0);
const EXTENDED_OPEN: (u32, u32) = (4, 0);
const EXTENDED_CLOSE: (u32, u32) = (20, 0);
/// On early-close days the post-market ends four hours after the bell too.
const EXTENDED_EARLY_CLOSE: (u32, u32) = (17, 0);

/// The longest run of consecutive non-trading days we step over when looking
/// for a neighbouring session. The worst real case is September 2001 (six
/// days); the bound only exists so the search always ends.
const MAX_CLOSED_RUN_DAYS: u32 = 31;

/// Closures announced ad hoc (mourning, disasters), with their reasons.
/// Add new ones here when the exchange announces them.
const ONE_OFF_CLOSURES: [((i32, u32, u32), &str); 10] = [
    ((2001, 9, 11), "September 11 attacks"),
    ((2001, 9, 12), "September 11 attacks"),
    ((2001, 9, 13), "September 11 attacks"),
    ((2001, 9, 14), "September 11 attacks"),
    ((2004, 6, 11), "national day of mourning for Ronald Reagan"),
    ((2007, 1, 2), "national day of mourning for Gerald Ford"),
    ((2012, 10, 29), "Hurricane Sandy"),
    ((2012, 10, 30), "Hurricane Sandy"),
    ((2018, 12, 5), "national day of mourning for George H. W. Bush"),
    ((2025, 1, 9), "national day of mourning for Jimmy Carter"),
];

/// One regular trading session, with its bell times as UTC instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The trading date (an America/New_York calendar date).
    pub date: NaiveDate,
    /// The opening bell, 09:30 ET.
    pub open: DateTime<Utc>,
    /// The closing bell, 16:00 ET or 13:00 ET on early-close days.
    pub close: DateTime<Utc>,
    pub early_close: bool,
}

/// The holiday or one-off closure that shuts the market on `date`, if any.
///
/// This is the observed closure: Independence Day falling on a Saturday names
/// the Friday before, and the Saturday itself returns `None` (weekends are
/// closed without a reason).
pub fn holiday(date: NaiveDate) -> Option<&'static str> {
    let one_off =
        ONE_OFF_CLOSURES.iter().find(|((y, m, d), _)| (date.year(), date.month(), date.day()) == (*y, *m, *d));
    if let Some((_, reason)) = one_off {
        return Some(reason);
    }
    rule_holidays(date.year()).into_iter().flatten().find(|(d, _)| *d == date).map(|(_, name)| name)
}

/// True when the exchange holds a regular session on `date`.
pub fn is_trading_day(date: NaiveDate) -> bool {
    !is_weekend(date) && holiday(date).is_none()
}

/// True when `date` is a trading day whose regular session ends at 13:00 ET.
pub fn is_early_close(date: NaiveDate) -> bool {
    if !is_trading_day(date) {
        return false;
    }
    let year = date.year();
    let day_after_thanksgiving = thanksgiving(year).and_then(|d| d.succ_opt());
    Some(date) == ymd(year, 7, 3) || Some(date) == day_after_thanksgiving || Some(date) == ymd(year, 12, 24)
}

/// The regular session on `date`, or `None` when the market is closed.
pub fn session(date: NaiveDate) -> Option<Session> {
    if !is_trading_day(date) {
        return None;
    }
    let early_close = is_early_close(date);
    let close = if early_close { EARLY_CLOSE } else { REGULAR_CLOSE };
    Some(Session { date, open: et_instant(date, REGULAR_OPEN)?, close: et_instant(date, close)?, early_close })
}

/// The extended-hours window `[start, end)` of a trading date: 04:00–20:00 ET,
/// or 04:00–17:00 ET on early-close days.
pub fn extended_hours(date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if !is_trading_day(date) {
        return None;
    }
    let end = if is_early_close(date) { EXTENDED_EARLY_CLOSE } else { EXTENDED_CLOSE };
    Some((et_instant(date, EXTENDED_OPEN)?, et_instant(date, end)?))
}

/// Every regular session of `year`, in date order.
pub fn sessions_in_year(year: i32) -> Vec<Session> {
    let Some(first) = ymd(year, 1, 1) else {
        return Vec::new();
    };
    first.iter_days().take_while(|d| d.year() == year).filter_map(session).collect()
}

/// The trading date of an instant: its America/New_York calendar date.
pub fn trading_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&MARKET_TZ).date_naive()
}

/// True when `t` falls inside a regular session, `[open, close)`.
pub fn in_regular(t: DateTime<Utc>) -> bool {
    session(trading_date(t)).is_some_and(|s| s.open <= t && t < s.close)
}

/// True when `t` falls inside the extended hours of a trading day.
pub fn in_extended(t: DateTime<Utc>) -> bool {
    extended_hours(trading_date(t)).is_some_and(|(start, end)| start <= t && t < end)
}

/// The last trading day strictly before `date`.
pub fn previous_trading_day(date: NaiveDate) -> Option<NaiveDate> {
    let mut d = date;
    for _ in 0..MAX_CLOSED_RUN_DAYS {
        d = d.pred_opt()?;
        if is_trading_day(d) {
            return Some(d);
        }
    }
    None
}

/// The first trading day strictly after `date`.
pub fn next_trading_day(date: NaiveDate) -> Option<NaiveDate> {
    let mut d = date;
    for _ in 0..MAX_CLOSED_RUN_DAYS {
        d = d.succ_opt()?;
        if is_trading_day(d) {
            return Some(d);
        }
    }
    None
}

/// The output of `orakl calendar YEAR`: one `YYYY-MM-DD HH:MM HH:MM` line per
/// session, open and close in ET.
pub fn format_year(year: i32) -> String {
    let mut out = String::new();
    for s in sessions_in_year(year) {
        let open = s.open.with_timezone(&MARKET_TZ).format("%H:%M");
        let close = s.close.with_timezone(&MARKET_TZ).format("%H:%M");
        out.push_str(&format!("{} {open} {close}\n", s.date.format("%Y-%m-%d")));
    }
    out
}

/// The instant of a wall-clock time on a date in New York. Session times sit
/// far from the 02:00 DST switch, so the earliest reading is the only one.
pub fn et_instant(date: NaiveDate, (hour, minute): (u32, u32)) -> Option<DateTime<Utc>> {
    let local = date.and_hms_opt(hour, minute, 0)?;
    MARKET_TZ.from_local_datetime(&local).earliest().map(|t| t.with_timezone(&Utc))
}

/// The first instant of a trading date: midnight in New York (never inside
/// a DST switch, which happens at 02:00).
pub fn et_midnight(date: NaiveDate) -> Option<DateTime<Utc>> {
    et_instant(date, (0, 0))
}

fn ymd(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day)
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The rule-based full holidays of `year` on the dates they are observed.
fn rule_holidays(year: i32) -> [Option<(NaiveDate, &'static str)>; 10] {
    let named = |date: Option<NaiveDate>, name: &'static str| date.map(|d| (d, name));
    [
        named(new_years_day(year), "New Year's Day"),
        named(NaiveDate::from_weekday_of_month_opt(year, 1, Weekday::Mon, 3), "Martin Luther King Jr. Day"),
        named(NaiveDate::from_weekday_of_month_opt(year, 2, Weekday::Mon, 3), "Presidents' Day"),
        named(easter_sunday(year).and_then(|e| e.checked_sub_signed(Duration::days(2))), "Good Friday"),
        named(last_weekday_of_month(year, 5, Weekday::Mon), "Memorial Day"),
        named(if year >= 2022 { observed(ymd(year, 6, 19)) } else { None }, "Juneteenth"),
        named(observed(ymd(year, 7, 4)), "Independence Day"),
        named(NaiveDate::from_weekday_of_month_opt(year, 9, Weekday::Mon, 1), "Labor Day"),
        named(thanksgiving(year), "Thanksgiving Day"),
        named(observed(ymd(year, 12, 25)), "Christmas Day"),
    ]
}

/// A Saturday New Year's Day is not moved to Friday December 31: NYSE keeps
/// the last session of the year open to close the books.
fn new_years_day(year: i32) -> Option<NaiveDate> {
    let day = ymd(year, 1, 1)?;
    if day.weekday() == Weekday::Sat { None } else { observed(Some(day)) }
}

/// Saturday holidays close the Friday before, Sunday holidays the Monday after.
fn observed(date: Option<NaiveDate>) -> Option<NaiveDate> {
    let date = date?;
    match date.weekday() {
        Weekday::Sat => date.pred_opt(),
        Weekday::Sun => date.succ_opt(),
        _ => Some(date),
    }
}

fn thanksgiving(year: i32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Thu, 4)
}

fn last_weekday_of_month(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
        .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, weekday, 4))
}

/// Western (Gregorian) Easter by the anonymous Gregorian computus
/// (Meeus/Jones/Butcher). Euclidean division keeps it total for any year.
fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    ymd(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("test instant").with_timezone(&Utc)
    }

    fn dates(list: &[&str]) -> Vec<NaiveDate> {
        list.iter().map(|s| date(s)).collect()
    }

    /// Published NYSE holidays and early closes, per year.
    const YEARS: [(i32, &[&str], &[&str]); 4] = [
        (
            2024,
            &[
                "2024-01-01",
                "2024-01-15",
                "2024-02-19",
                "2024-03-29",
                "2024-05-27",
                "2024-06-19",
                "2024-07-04",
                "2024-09-02",
                "2024-11-28",
                "2024-12-25",
            ],
            &["2024-07-03", "2024-11-29", "2024-12-24"],
        ),
        (
            2025,
            &[
                "2025-01-01",
                "2025-01-09",
                "2025-01-20",
                "2025-02-17",
                "2025-04-18",
                "2025-05-26",
                "2025-06-19",
                "2025-07-04",
                "2025-09-01",
                "2025-11-27",
                "2025-12-25",
            ],
            &["2025-07-03", "2025-11-28", "2025-12-24"],
        ),
        (
            2026,
            &[
                "2026-01-01",
                "2026-01-19",
                "2026-02-16",
                "2026-04-03",
                "2026-05-25",
                "2026-06-19",
                "2026-07-03",
                "2026-09-07",
                "2026-11-26",
                "2026-12-25",
            ],
            &["2026-11-27", "2026-12-24"],
        ),
        (
            2027,
            &[
                "2027-01-01",
                "2027-01-18",
                "2027-02-15",
                "2027-03-26",
                "2027-05-31",
                "2027-06-18",
                "2027-07-05",
                "2027-09-06",
                "2027-11-25",
                "2027-12-24",
            ],
            &["2027-11-26"],
        ),
    ];

    #[test]
    fn holidays_and_early_closes_match_published_years() {
        fn check(year: i32, holidays: &[&str], early: &[&str]) {
            let days: Vec<NaiveDate> =
                ymd(year, 1, 1).expect("year").iter_days().take_while(|d| d.year() == year).collect();
            let got_holidays: Vec<NaiveDate> =
                days.iter().copied().filter(|d| !is_weekend(*d) && holiday(*d).is_some()).collect();
            let got_early: Vec<NaiveDate> = days.iter().copied().filter(|d| is_early_close(*d)).collect();
            assert_eq!(got_holidays, dates(holidays), "holidays {year}");
            assert_eq!(got_early, dates(early), "early closes {year}");
        }
        for (year, holidays, early) in YEARS {
            check(year, holidays, early);
        }
    }

    #[test]
    fn session_counts() {
        // Weekdays minus weekday holidays: 2024 has 262 weekdays and 10
        // holidays, 2025 261 and 11, 2026 261 and 10, 2027 261 and 10.
        fn check(year: i32, expected: usize) {
            assert_eq!(sessions_in_year(year).len(), expected, "{year}");
        }
        for (year, expected) in [(2024, 252), (2025, 250), (2026, 251), (2027, 251)] {
            check(year, expected);
        }
    }

    #[test]
    fn trading_days() {
        fn check(day: &str, expected: bool) {
            assert_eq!(is_trading_day(date(day)), expected, "{day}");
        }
        let cases = [
            // New Year 2028 and 2022 fall on Saturdays: the Friday before trades.
            ("2027-12-31", true),
            ("2021-12-31", true),
            // Sunday holidays move to Monday.
            ("2023-01-02", false),
            ("2022-06-20", false),
            ("2022-12-26", false),
            ("2021-07-05", false),
            // Juneteenth only from 2022; a Saturday Christmas closes the Friday.
            ("2021-06-18", true),
            ("2021-12-24", false),
            // One-off closures.
            ("2001-09-10", true),
            ("2001-09-11", false),
            ("2001-09-14", false),
            ("2001-09-17", true),
            ("2004-06-11", false),
            ("2007-01-02", false),
            ("2012-10-29", false),
            ("2012-10-30", false),
            ("2012-10-31", true),
            ("2018-12-05", false),
            ("2025-01-09", false),
            // Weekends, and an ordinary day.
            ("2026-04-04", false),
            ("2026-04-05", false),
            ("2026-04-06", true),
        ];
        for (day, expected) in cases {
            check(day, expected);
        }
    }

    #[test]
    fn holiday_names() {
        fn check(day: &str, expected: Option<&str>) {
            assert_eq!(holiday(date(day)), expected, "{day}");
        }
        let cases = [
            ("2026-07-03", Some("Independence Day")),
            ("2026-07-04", None),
            ("2026-04-03", Some("Good Friday")),
            ("2025-01-09", Some("national day of mourning for Jimmy Carter")),
            ("2012-10-30", Some("Hurricane Sandy")),
            ("2027-06-18", Some("Juneteenth")),
            ("2026-11-27", None),
        ];
        for (day, expected) in cases {
            check(day, expected);
        }
    }

    #[test]
    fn easter() {
        fn check(year: i32, expected: &str) {
            assert_eq!(easter_sunday(year), Some(date(expected)), "{year}");
        }
        let cases = [
            (1818, "1818-03-22"),
            (1943, "1943-04-25"),
            (2000, "2000-04-23"),
            (2008, "2008-03-23"),
            (2011, "2011-04-24"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ];
        for (year, expected) in cases {
            check(year, expected);
        }
    }

    #[test]
    fn sessions_in_utc_across_dst_and_early_closes() {
        fn check(day: &str, expected: Option<(&str, &str, bool)>) {
            let got = session(date(day)).map(|s| (s.open, s.close, s.early_close));
            let expected = expected.map(|(open, close, early)| (utc(open), utc(close), early));
            assert_eq!(got, expected, "{day}");
        }
        let cases = [
            ("2026-03-06", Some(("2026-03-06T14:30:00Z", "2026-03-06T21:00:00Z", false))),
            ("2026-03-09", Some(("2026-03-09T13:30:00Z", "2026-03-09T20:00:00Z", false))),
            ("2026-10-30", Some(("2026-10-30T13:30:00Z", "2026-10-30T20:00:00Z", false))),
            ("2026-11-02", Some(("2026-11-02T14:30:00Z", "2026-11-02T21:00:00Z", false))),
            ("2026-11-27", Some(("2026-11-27T14:30:00Z", "2026-11-27T18:00:00Z", true))),
            ("2026-12-24", Some(("2026-12-24T14:30:00Z", "2026-12-24T18:00:00Z", true))),
            ("2025-07-03", Some(("2025-07-03T13:30:00Z", "2025-07-03T17:00:00Z", true))),
            ("2026-07-03", None),
            ("2026-03-08", None),
        ];
        for (day, expected) in cases {
            check(day, expected);
        }
    }

    #[test]
    fn extended_windows() {
        fn check(day: &str, expected: Option<(&str, &str)>) {
            let expected = expected.map(|(start, end)| (utc(start), utc(end)));
            assert_eq!(extended_hours(date(day)), expected, "{day}");
        }
        let cases = [
            ("2026-03-09", Some(("2026-03-09T08:00:00Z", "2026-03-10T00:00:00Z"))),
            ("2026-11-02", Some(("2026-11-02T09:00:00Z", "2026-11-03T01:00:00Z"))),
            ("2026-11-27", Some(("2026-11-27T09:00:00Z", "2026-11-27T22:00:00Z"))),
            ("2026-11-26", None),
        ];
        for (day, expected) in cases {
            check(day, expected);
        }
    }

    #[test]
    fn instants() {
        // (instant, trading date, in regular, in extended)
        fn check(t: &str, expected: (&str, bool, bool)) {
            let t = utc(t);
            let got = (trading_date(t), in_regular(t), in_extended(t));
            assert_eq!(got, (date(expected.0), expected.1, expected.2), "{t}");
        }
        let cases = [
            ("2026-03-09T13:29:59Z", ("2026-03-09", false, true)),
            ("2026-03-09T13:30:00Z", ("2026-03-09", true, true)),
            ("2026-03-09T19:59:59Z", ("2026-03-09", true, true)),
            ("2026-03-09T20:00:00Z", ("2026-03-09", false, true)),
            ("2026-03-10T00:00:00Z", ("2026-03-09", false, false)),
            ("2026-03-09T07:59:59Z", ("2026-03-09", false, false)),
            ("2026-03-09T03:00:00Z", ("2026-03-08", false, false)),
            ("2026-11-27T17:59:59Z", ("2026-11-27", true, true)),
            ("2026-11-27T18:00:00Z", ("2026-11-27", false, true)),
            ("2026-11-27T22:00:00Z", ("2026-11-27", false, false)),
            ("2026-04-03T15:00:00Z", ("2026-04-03", false, false)),
        ];
        for (t, expected) in cases {
            check(t, expected);
        }
    }

    #[test]
    fn neighbouring_trading_days() {
        // (day, previous, next)
        fn check(day: &str, expected: (&str, &str)) {
            let got = (previous_trading_day(date(day)), next_trading_day(date(day)));
            assert_eq!(got, (Some(date(expected.0)), Some(date(expected.1))), "{day}");
        }
        let cases = [
            ("2026-04-06", ("2026-04-02", "2026-04-07")),
            ("2026-04-03", ("2026-04-02", "2026-04-06")),
            ("2001-09-11", ("2001-09-10", "2001-09-17")),
            ("2027-12-31", ("2027-12-30", "2028-01-03")),
            ("2026-11-25", ("2026-11-24", "2026-11-27")),
        ];
        for (day, expected) in cases {
            check(day, expected);
        }
    }

    #[test]
    fn formatted_year() {
        fn check(year: i32, expected_lines: usize, first: &str, contains: &[&str]) {
            let out = format_year(year);
            assert_eq!(out.lines().count(), expected_lines, "{year}");
            assert!(out.starts_with(first), "{year}: {out}");
            assert!(out.ends_with('\n'));
            for line in contains {
                assert!(out.contains(line), "{year}: missing {line:?}");
            }
        }
        check(
            2026,
            251,
            "2026-01-02 09:30 16:00\n2026-01-05 09:30 16:00\n",
            &["\n2026-11-27 09:30 13:00\n", "\n2026-12-24 09:30 13:00\n", "\n2026-03-09 09:30 16:00\n"],
        );
        check(2027, 251, "2027-01-04 09:30 16:00\n", &["\n2027-12-31 09:30 16:00\n"]);
    }

    /// Every "ET midnight" and "trading date" in orakl (replay's calendar
    /// bars, the schedule's next trading day, status's "alerts today", the
    /// simulator's daily bars) goes through these two, so their DST edges
    /// are pinned here once.
    #[test]
    fn et_midnight_and_trading_date_across_dst() {
        // EST (UTC-5) before 2026-03-08, EDT (UTC-4) from that day's 02:00.
        assert_eq!(et_midnight(date("2026-03-08")), Some(utc("2026-03-08T05:00:00Z")));
        assert_eq!(et_midnight(date("2026-03-09")), Some(utc("2026-03-09T04:00:00Z")));
        assert_eq!(et_midnight(date("2026-11-01")), Some(utc("2026-11-01T04:00:00Z")));
        assert_eq!(et_midnight(date("2026-11-02")), Some(utc("2026-11-02T05:00:00Z")));
        // The last instant before an ET midnight still belongs to the day before.
        assert_eq!(trading_date(utc("2026-03-09T03:59:59Z")), date("2026-03-08"));
        assert_eq!(trading_date(utc("2026-03-09T04:00:00Z")), date("2026-03-09"));
        assert_eq!(trading_date(utc("2026-11-02T04:59:59Z")), date("2026-11-01"));
        for d in ["2026-03-08", "2026-03-09", "2026-11-01", "2026-11-02", "2026-12-31"] {
            let midnight = et_midnight(date(d)).expect("midnight exists");
            assert_eq!(trading_date(midnight), date(d));
            assert_eq!(trading_date(midnight - Duration::seconds(1)), date(d).pred_opt().expect("day before"));
        }
    }
}
