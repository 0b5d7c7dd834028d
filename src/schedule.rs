//! `schedule.cron`: the timetable. Parsing with exact `file:line:column`
//! errors, session gates on the NYSE calendar, and next firings across DST.
//!
//! Times in the file are America/New_York wall-clock times. The `cron` crate
//! matches wall-clock fields well but handles the DST switches badly when
//! given a `chrono_tz` zone: on the fall-back night it yields a fixed 01:30
//! twice, its iterator interleaves the two copies of the repeated hour out of
//! real-time order, `after(t)` from inside the second copy returns instants
//! before `t`, and on the spring-forward night it silently drops a 02:30 job.
//! So the crate is only asked about wall-clock times (in a zone without DST),
//! and this module maps them to instants with Debian cron's rules.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use cron::Schedule;

use crate::calendar::{self, MARKET_TZ};
use crate::job::JobName;

/// How far ahead [`Line::next_gated_after`] looks for a firing its gate allows.
pub const GATED_SEARCH_DAYS: i64 = 15;

/// sec min hour dom mon dow.
const CRON_FIELDS: usize = 6;

/// Bounds the wall-clock candidates one `next_after` examines. Only an
/// every-second line inside the fall-back hour needs more than a handful
/// (about 3600), so hitting this means the expression never fires.
const MAX_CANDIDATES: usize = 100_000;

/// Bounds the gate windows one `next_gated_after` steps through; fifteen days
/// hold at most fifteen sessions.
const MAX_GATE_STEPS: usize = 200;

/// A timetable error, pointing at the offending token.
///
/// `line` and `column` are 1-based. Line 0 means the file as a whole (it
/// could not be read), and then the position is left out of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for ScheduleError {}

/// When a firing may run, on the NYSE calendar. A firing its gate refuses is
/// skipped silently: that is the schedule working, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionGate {
    /// Inside a regular session, `[open, close)`.
    Regular,
    /// Inside the extended hours of a trading day.
    Extended,
    /// On a trading date (ET), at any hour.
    TradingDay,
    /// Always.
    #[default]
    Any,
}

impl SessionGate {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionGate::Regular => "regular",
            SessionGate::Extended => "extended",
            SessionGate::TradingDay => "trading_day",
            SessionGate::Any => "any",
        }
    }

    pub fn allows(self, t: DateTime<Utc>) -> bool {
        match self {
            SessionGate::Regular => calendar::in_regular(t),
            SessionGate::Extended => calendar::in_extended(t),
            SessionGate::TradingDay => calendar::is_trading_day(calendar::trading_date(t)),
            SessionGate::Any => true,
        }
    }

    /// The earliest instant at or after `t` that this gate allows, so a search
    /// can jump over a closed market instead of stepping through every firing.
    fn opens_at_or_after(self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = calendar::trading_date(t);
        match self {
            SessionGate::Any => Some(t),
            SessionGate::TradingDay => {
                if calendar::is_trading_day(today) {
                    return Some(t);
                }
                let next = calendar::next_trading_day(today)?;
                calendar::et_midnight(next)
            }
            SessionGate::Regular | SessionGate::Extended => {
                let window = |date| match self {
                    SessionGate::Regular => calendar::session(date).map(|s| (s.open, s.close)),
                    _ => calendar::extended_hours(date),
                };
                if let Some((start, end)) = window(today) {
                    if t < end {
                        return Some(t.max(start));
                    }
                }
                window(calendar::next_trading_day(today)?).map(|(start, _)| start)
            }
        }
    }
}

impl fmt::Display for SessionGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionGate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "regular" => Ok(SessionGate::Regular),
            "extended" => Ok(SessionGate::Extended),
            "trading_day" => Ok(SessionGate::TradingDay),
            "any" => Ok(SessionGate::Any),
            _ => Err(format!("bad session `{s}` (expected regular, extended, trading_day or any)")),
        }
    }
}

/// One timetable line: when a job fires and on which session.
#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based line number in the file, for messages.
    pub line: usize,
    pub job: JobName,
    /// The six cron fields as written, single-spaced.
    pub expr: String,
    pub session: SessionGate,
    /// Symbols per firing for the round-robin bots; `None` leaves it to the bot.
    pub batch: Option<usize>,
    /// The hour field names hours (`1`, `9-15`) rather than starting with `*`.
    /// Such a line fires once on the fall-back night and catches up at the
    /// end of the spring-forward gap, as Debian's cron does.
    pub fixed_hour: bool,
    schedule: Schedule,
}

impl Line {
    /// The first firing strictly after `t`.
    ///
    /// Wall-clock times come from the cron expression; each maps to instants
    /// by Debian cron's rules. A time the fall-back night repeats fires at its
    /// first occurrence, and at the second too only for a wildcard-hour line
    /// (so `*/5` keeps its real-time cadence). A time the spring-forward gap
    /// skips fires at the end of the gap for a fixed-hour line and not at all
    /// for a wildcard-hour one.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // The crate looks strictly after its argument, one whole second on.
        let start = Utc.from_utc_datetime(&search_floor(t)?.checked_sub_signed(Duration::seconds(1))?);
        let mut best: Option<DateTime<Utc>> = None;
        for wall in self.schedule.after(&start).take(MAX_CANDIDATES) {
            let (first, firings) = self.firings(wall.naive_utc());
            for f in firings.into_iter().flatten() {
                if f > t && best.is_none_or(|b| f < b) {
                    best = Some(f);
                }
            }
            // The first instant of a wall-clock time never decreases as the
            // wall clock advances, so no later candidate can beat `best`.
            if best.is_some_and(|b| first >= b) {
                break;
            }
        }
        best
    }

    /// The first firing strictly after `t` that the line's session gate allows,
    /// looking at most [`GATED_SEARCH_DAYS`] ahead.
    pub fn next_gated_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = t.checked_add_signed(Duration::days(GATED_SEARCH_DAYS))?;
        let mut cursor = t;
        for _ in 0..MAX_GATE_STEPS {
            let firing = self.next_after(cursor)?;
            if firing > horizon {
                return None;
            }
            if self.session.allows(firing) {
                return Some(firing);
            }
            let opens = self.session.opens_at_or_after(firing)?;
            // Firings land on whole seconds, so a nanosecond before the window
            // opens lets its first instant through.
            cursor = opens.checked_sub_signed(Duration::nanoseconds(1)).map_or(firing, |c| c.max(firing));
        }
        None
    }

    /// The instants one wall-clock time fires at, and the first instant that
    /// wall-clock time maps to (the bound that ends the search).
    fn firings(&self, wall: NaiveDateTime) -> (DateTime<Utc>, [Option<DateTime<Utc>>; 2]) {
        match MARKET_TZ.from_local_datetime(&wall) {
            LocalResult::Single(d) => {
                let d = d.with_timezone(&Utc);
                (d, [Some(d), None])
            }
            LocalResult::Ambiguous(first, second) => {
                let (first, second) = (first.with_timezone(&Utc), second.with_timezone(&Utc));
                (first, [Some(first), (!self.fixed_hour).then_some(second)])
            }
            LocalResult::None => {
                let end = gap_end(wall);
                (end, [self.fixed_hour.then_some(end), None])
            }
        }
    }
}

/// A parsed `schedule.cron`.
#[derive(Debug, Clone)]
pub struct Timetable {
    pub path: String,
    pub lines: Vec<Line>,
}

impl Timetable {
    /// Parses timetable text; `path` only names the file in errors. Stops at
    /// the first error. A timetable without a job is an error: a service
    /// that runs idle looks healthy and does nothing.
    pub fn parse(path: &str, text: &str) -> Result<Timetable, ScheduleError> {
        let text = crate::config::without_bom(text);
        let mut lines = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            if let Some(line) = parse_line(path, index + 1, raw)? {
                lines.push(line);
            }
        }
        if lines.is_empty() {
            return Err(ScheduleError {
                path: path.to_owned(),
                line: 0,
                column: 0,
                message: "no jobs: every line is blank or a comment (a line is 6 cron fields and a job, e.g. \
                          `0 */5 * * * * heartbeat`)"
                    .to_owned(),
            });
        }
        Ok(Timetable { path: path.to_owned(), lines })
    }

    /// Reads and parses the timetable at `path`.
    pub fn load(path: &Path) -> Result<Timetable, ScheduleError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScheduleError {
            path: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the timetable: {e}"),
        })?;
        Timetable::parse(&name, &text)
    }

    /// The jobs that have at least one line: the enabled features.
    pub fn job_names(&self) -> BTreeSet<JobName> {
        self.lines.iter().map(|l| l.job).collect()
    }
}

fn parse_line(path: &str, line: usize, raw: &str) -> Result<Option<Line>, ScheduleError> {
    let content = raw.find('#').map_or(raw, |i| &raw[..i]);
    let tokens = tokenize(content);
    if tokens.is_empty() {
        return Ok(None);
    }
    let err = |column: usize, message: String| ScheduleError { path: path.to_owned(), line, column, message };

    let job_at = tokens.iter().position(|(_, tok)| tok.parse::<JobName>().is_ok());
    let field_count = job_at.unwrap_or(tokens.len()).min(CRON_FIELDS);
    for (index, &(column, tok)) in tokens[..field_count].iter().enumerate() {
        if let Some(message) = field_error(index, tok) {
            return Err(err(column, message));
        }
    }
    if let Some(at) = job_at {
        if at != CRON_FIELDS {
            let message = format!("expected 6 cron fields (sec min hour dom mon dow) before the job name, found {at}");
            // Too few fields: point at the job name; too many: at the first extra field.
            return Err(err(tokens[at.min(CRON_FIELDS)].0, message));
        }
    }
    if tokens.len() <= CRON_FIELDS {
        let column = content.trim_end().chars().count() + 2;
        let message = format!("missing job name (expected 6 cron fields, then a job name; found {})", tokens.len());
        return Err(err(column, message));
    }

    let fields: Vec<&str> = tokens[..CRON_FIELDS].iter().map(|(_, tok)| *tok).collect();
    let expr = fields.join(" ");
    let schedule = Schedule::from_str(&expr).map_err(|_| err(tokens[0].0, format!("bad cron expression `{expr}`")))?;

    let (job_column, job_token) = tokens[CRON_FIELDS];
    let job = job_token.parse::<JobName>().map_err(|message| err(job_column, message))?;

    let mut session = None;
    let mut batch = None;
    for &(column, option) in &tokens[CRON_FIELDS + 1..] {
        let (key, value) = match option.split_once('=') {
            Some((key, value)) if !key.is_empty() && !value.is_empty() => (key, value),
            _ => return Err(err(column, format!("malformed option `{option}` (expected key=value)"))),
        };
        match key {
            "session" if session.is_some() => return Err(err(column, "duplicate option `session`".to_owned())),
            "session" => session = Some(value.parse::<SessionGate>().map_err(|message| err(column, message))?),
            "batch" if batch.is_some() => return Err(err(column, "duplicate option `batch`".to_owned())),
            "batch" => match value.parse::<usize>() {
                Ok(n) if n > 0 => batch = Some(n),
                _ => return Err(err(column, format!("bad batch `{value}` (expected a positive integer)"))),
            },
            _ => return Err(err(column, format!("unknown option `{key}` (known: session, batch)"))),
        }
    }

    Ok(Some(Line {
        line,
        job,
        expr,
        session: session.unwrap_or_default(),
        batch,
        fixed_hour: !fields[2].starts_with('*'),
        schedule,
    }))
}

/// Whitespace-separated tokens with their 1-based character columns.
fn tokenize(s: &str) -> Vec<(usize, &str)> {
    let mut tokens = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    for (char_index, (byte, c)) in s.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (true, Some((from, column))) => {
                tokens.push((column, &s[from..byte]));
                start = None;
            }
            (false, None) => start = Some((byte, char_index + 1)),
            _ => {}
        }
    }
    if let Some((from, column)) = start {
        tokens.push((column, &s[from..]));
    }
    tokens
}

struct FieldKind {
    name: &'static str,
    min: u32,
    max: u32,
    takes_names: bool,
    allowed: &'static str,
}

const FIELD_KINDS: [FieldKind; CRON_FIELDS] = [
    FieldKind { name: "second", min: 0, max: 59, takes_names: false, allowed: "0-59" },
    FieldKind { name: "minute", min: 0, max: 59, takes_names: false, allowed: "0-59" },
    FieldKind { name: "hour", min: 0, max: 23, takes_names: false, allowed: "0-23" },
    FieldKind { name: "day-of-month", min: 1, max: 31, takes_names: false, allowed: "1-31" },
    FieldKind { name: "month", min: 1, max: 12, takes_names: true, allowed: "1-12 or Jan-Dec" },
    // The cron crate counts weekdays from 1 = Sunday, unlike crontab's 0.
    FieldKind { name: "day-of-week", min: 1, max: 7, takes_names: true, allowed: "1-7 (1 = Sunday) or Sun-Sat" },
];

/// Whether the crate accepts `text` as cron field `index` with every other
/// field `*`: judging one field at a time lets the error point at it.
fn cron_accepts(index: usize, text: &str) -> bool {
    let fields: Vec<&str> = (0..CRON_FIELDS).map(|i| if i == index { text } else { "*" }).collect();
    Schedule::from_str(&fields.join(" ")).is_ok()
}

/// `None` when field `index` is valid, else the message for it.
fn field_error(index: usize, token: &str) -> Option<String> {
    if cron_accepts(index, token) {
        return None;
    }
    let kind = FIELD_KINDS.get(index)?;
    Some(format!("bad {} field `{token}`: {}", kind.name, explain(index, kind, token)))
}

/// Says what is wrong with a field the crate refused, in the user's terms;
/// the crate's own messages are multi-line and off by one on ranges.
fn explain(index: usize, kind: &FieldKind, token: &str) -> String {
    for item in token.split(',') {
        if item.is_empty() {
            return "empty item in a list".to_owned();
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(0) => return "a step cannot be zero".to_owned(),
                Ok(n) if n > kind.max => return format!("step {n} is larger than {}", kind.max),
                Ok(_) => {}
                Err(_) => return format!("step `{step}` is not a number"),
            }
        }
        let mut numbers = Vec::new();
        for end in base.split('-') {
            if let Ok(n) = end.parse::<u32>() {
                if n < kind.min || n > kind.max {
                    return format!("{n} is out of range {}", kind.allowed);
                }
                numbers.push(n);
            } else if !end.is_empty() && end.chars().all(|c| c.is_ascii_alphabetic()) {
                if !kind.takes_names {
                    return format!("the {} field takes numbers, not names like `{end}`", kind.name);
                }
                if !cron_accepts(index, end) {
                    return format!("unknown {} name `{end}`", kind.name);
                }
            }
        }
        if let [from, to] = numbers[..] {
            if from > to {
                return format!("range {from}-{to} runs backwards");
            }
        }
    }
    format!("expected {}, `*`, a range `a-b`, a list `a,b` or a step `a/n`", kind.allowed)
}

/// The earliest wall-clock time that can fire after `t`. Usually `t`'s own
/// wall clock; but when the clock falls back within the next hour, times up
/// to an hour earlier recur after `t`, so the floor uses the westmost offset
/// in force over that hour.
fn search_floor(t: DateTime<Utc>) -> Option<NaiveDateTime> {
    let now = utc_offset_seconds(t);
    let soon = t.checked_add_signed(Duration::hours(1)).map_or(now, utc_offset_seconds);
    t.naive_utc().checked_add_signed(Duration::seconds(now.min(soon)))
}

/// New York's offset from UTC at `t`, in seconds (negative: west of UTC).
fn utc_offset_seconds(t: DateTime<Utc>) -> i64 {
    i64::from(MARKET_TZ.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc())
}

/// The instant a spring-forward gap containing the wall-clock time `wall`
/// ends: the first instant whose New York wall clock reads later than `wall`.
fn gap_end(wall: NaiveDateTime) -> DateTime<Utc> {
    // No zone is more than 26 hours from UTC, so the answer lies in between.
    let target = wall.and_utc().timestamp();
    let (mut before, mut after) = (target - 26 * 3600, target + 26 * 3600);
    let reads_later =
        |secs: i64| DateTime::from_timestamp(secs, 0).is_none_or(|d| d.with_timezone(&MARKET_TZ).naive_local() > wall);
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if reads_later(mid) {
            after = mid;
        } else {
            before = mid;
        }
    }
    DateTime::from_timestamp(after, 0).unwrap_or_else(|| wall.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example timetable of SPEC §3.
    const EXAMPLE: &str = "\
# orakl timetable. Times are America/New_York.
# sec        min  hour  dom mon dow      job            options
0,15,30,45   *    9-15  *   *   Mon-Fri  orakl_flow     session=regular
3,18,33,48   *    9-15  *   *   Mon-Fri  sweeps         session=regular
6,21,36,51   *    9-15  *   *   Mon-Fri  golden_sweeps  session=regular
9,24,39,54   *    9-15  *   *   Mon-Fri  bullseye       session=regular
12,27,42,57  *    9-15  *   *   Mon-Fri  scalps         session=regular
30           */5  4-19  *   *   Mon-Fri  darkpool       session=extended
45           */5  9-15  *   *   Mon-Fri  breakouts      session=regular
10           1    *     *   *   Mon-Fri  strat          session=extended
0            */30 9-16  *   *   Mon-Fri  outcomes       session=any
0            0    9     *   *   Mon-Fri  oi_confirm     session=trading_day
0            0    8     *   *   Mon      weekly_report  session=any
0            */5  *     *   *   *        heartbeat      session=any
0            30   3     *   *   *        prune          session=any
*/5          *    9-15  *   *   Mon-Fri  market_prints  session=regular
";

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("test instant").with_timezone(&Utc)
    }

    fn line(text: &str) -> Line {
        let mut table = Timetable::parse("test.cron", text).expect("test line parses");
        table.lines.pop().expect("one line")
    }

    fn example_line(job: &str) -> Line {
        let table = Timetable::parse("schedule.cron", EXAMPLE).expect("example parses");
        table.lines.into_iter().find(|l| l.job.as_str() == job).expect("job in example")
    }

    fn at(list: &[&str]) -> Vec<DateTime<Utc>> {
        list.iter().map(|s| utc(s)).collect()
    }

    /// `count` instants `step_minutes` apart from `start`.
    fn every(start: &str, step_minutes: i64, count: i64) -> Vec<DateTime<Utc>> {
        (0..count).map(|i| utc(start) + Duration::minutes(i * step_minutes)).collect()
    }

    /// All firings in `(from, to]`, walking `next_after`.
    fn firings_between(l: &Line, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut t = from;
        while let Some(next) = l.next_after(t) {
            assert!(next > t, "next_after({t}) = {next} is not later");
            if next > to {
                break;
            }
            out.push(next);
            t = next;
        }
        out
    }

    #[test]
    fn example_parses() {
        // (line, job, expr, session, fixed hour)
        fn check(l: &Line, expected: (usize, &str, &str, SessionGate, bool)) {
            let got = (l.line, l.job.as_str(), l.expr.as_str(), l.session, l.fixed_hour);
            assert_eq!(got, expected);
            assert_eq!(l.batch, None);
        }
        use SessionGate::*;
        let expected = [
            (3, "orakl_flow", "0,15,30,45 * 9-15 * * Mon-Fri", Regular, true),
            (4, "sweeps", "3,18,33,48 * 9-15 * * Mon-Fri", Regular, true),
            (5, "golden_sweeps", "6,21,36,51 * 9-15 * * Mon-Fri", Regular, true),
            (6, "bullseye", "9,24,39,54 * 9-15 * * Mon-Fri", Regular, true),
            (7, "scalps", "12,27,42,57 * 9-15 * * Mon-Fri", Regular, true),
            (8, "darkpool", "30 */5 4-19 * * Mon-Fri", Extended, true),
            (9, "breakouts", "45 */5 9-15 * * Mon-Fri", Regular, true),
            (10, "strat", "10 1 * * * Mon-Fri", Extended, false),
            (11, "outcomes", "0 */30 9-16 * * Mon-Fri", Any, true),
            (12, "oi_confirm", "0 0 9 * * Mon-Fri", TradingDay, true),
            (13, "weekly_report", "0 0 8 * * Mon", Any, true),
            (14, "heartbeat", "0 */5 * * * *", Any, false),
            (15, "prune", "0 30 3 * * *", Any, true),
            (16, "market_prints", "*/5 * 9-15 * * Mon-Fri", Regular, true),
        ];
        let table = Timetable::parse("schedule.cron", EXAMPLE).expect("example parses");
        assert_eq!(table.lines.len(), expected.len());
        for (l, e) in table.lines.iter().zip(expected) {
            check(l, e);
        }
        assert_eq!(table.job_names(), JobName::ALL.into_iter().collect());
    }

    #[test]
    fn shipped_timetable_parses() {
        let table = Timetable::parse("schedule.cron", include_str!("../schedule.cron")).expect("schedule.cron parses");
        assert_eq!(table.job_names(), JobName::ALL.into_iter().collect());
    }

    #[test]
    fn options() {
        // (line, session, batch)
        fn check(text: &str, expected: (SessionGate, Option<usize>)) {
            let l = line(text);
            assert_eq!((l.session, l.batch), expected, "{text}");
        }
        let cases = [
            ("0 * 9-15 * * Mon-Fri sweeps", (SessionGate::Any, None)),
            ("0 * 9-15 * * Mon-Fri sweeps batch=5 session=regular", (SessionGate::Regular, Some(5))),
            ("0 * 9-15 * * Mon-Fri sweeps session=trading_day # trailing comment", (SessionGate::TradingDay, None)),
            ("\u{feff}0 * 9-15 * * Mon-Fri sweeps session=extended#tight comment", (SessionGate::Extended, None)),
            ("\t0 * 9-15 * * Mon-Fri\tsweeps\tbatch=40\r", (SessionGate::Any, Some(40))),
        ];
        for (text, expected) in cases {
            check(text, expected);
        }
    }

    #[test]
    fn bad_lines() {
        fn check(text: &str, expected: &str) {
            let err = Timetable::parse("schedule.cron", text).expect_err(text);
            assert_eq!(err.to_string(), expected, "{text:?}");
        }
        let known = "(known: orakl_flow, sweeps, golden_sweeps, bullseye, scalps, darkpool, breakouts, strat, \
                     outcomes, oi_confirm, weekly_report, heartbeat, prune, market_prints)";
        let cases = [
            ("0 0 25 * * * heartbeat", "schedule.cron:1:5: bad hour field `25`: 25 is out of range 0-23".to_owned()),
            ("0 60 9 * * * heartbeat", "schedule.cron:1:3: bad minute field `60`: 60 is out of range 0-59".to_owned()),
            (
                "0 0 9 32 * * heartbeat",
                "schedule.cron:1:7: bad day-of-month field `32`: 32 is out of range 1-31".to_owned(),
            ),
            (
                "0 0 9 * 13 * heartbeat",
                "schedule.cron:1:9: bad month field `13`: 13 is out of range 1-12 or Jan-Dec".to_owned(),
            ),
            (
                "0 0 9 * * 0 heartbeat",
                "schedule.cron:1:11: bad day-of-week field `0`: 0 is out of range 1-7 (1 = Sunday) or Sun-Sat"
                    .to_owned(),
            ),
            (
                "0 0 9 * * Mon-Fry heartbeat",
                "schedule.cron:1:11: bad day-of-week field `Mon-Fry`: unknown day-of-week name `Fry`".to_owned(),
            ),
            (
                "0 0 9 * Foo * heartbeat",
                "schedule.cron:1:9: bad month field `Foo`: unknown month name `Foo`".to_owned(),
            ),
            (
                "0 0 x * * * heartbeat",
                "schedule.cron:1:5: bad hour field `x`: the hour field takes numbers, not names like `x`".to_owned(),
            ),
            ("0 */0 * * * * heartbeat", "schedule.cron:1:3: bad minute field `*/0`: a step cannot be zero".to_owned()),
            (
                "0 0 */24 * * * heartbeat",
                "schedule.cron:1:5: bad hour field `*/24`: step 24 is larger than 23".to_owned(),
            ),
            ("0 0 5-2 * * * heartbeat", "schedule.cron:1:5: bad hour field `5-2`: range 5-2 runs backwards".to_owned()),
            ("0 0 1,,2 * * * heartbeat", "schedule.cron:1:5: bad hour field `1,,2`: empty item in a list".to_owned()),
            (
                "0 0 1-3-4 * * * heartbeat",
                "schedule.cron:1:5: bad hour field `1-3-4`: expected 0-23, `*`, a range `a-b`, a list `a,b` or a step \
                 `a/n`"
                    .to_owned(),
            ),
            ("0 0 9 * * * heartbeet", format!("schedule.cron:1:13: unknown job `heartbeet` {known}")),
            (
                "0 0 9 * * heartbeat",
                "schedule.cron:1:11: expected 6 cron fields (sec min hour dom mon dow) before the job name, found 5"
                    .to_owned(),
            ),
            (
                "0 0 9 * * * 2026 heartbeat",
                "schedule.cron:1:13: expected 6 cron fields (sec min hour dom mon dow) before the job name, found 7"
                    .to_owned(),
            ),
            (
                "0 0 9 * * *   # no job",
                "schedule.cron:1:13: missing job name (expected 6 cron fields, then a job name; found 6)".to_owned(),
            ),
            (
                "0 0 9 * * * heartbeat session=weekly",
                "schedule.cron:1:23: bad session `weekly` (expected regular, extended, trading_day or any)".to_owned(),
            ),
            (
                "0 0 9 * * * heartbeat session=any session=regular",
                "schedule.cron:1:35: duplicate option `session`".to_owned(),
            ),
            (
                "0 0 9 * * * sweeps batch=0",
                "schedule.cron:1:20: bad batch `0` (expected a positive integer)".to_owned(),
            ),
            (
                "0 0 9 * * * sweeps batch=ten",
                "schedule.cron:1:20: bad batch `ten` (expected a positive integer)".to_owned(),
            ),
            ("0 0 9 * * * sweeps batch=1 batch=2", "schedule.cron:1:28: duplicate option `batch`".to_owned()),
            (
                "0 0 9 * * * sweeps color=red",
                "schedule.cron:1:20: unknown option `color` (known: session, batch)".to_owned(),
            ),
            (
                "0 0 9 * * * sweeps regular",
                "schedule.cron:1:20: malformed option `regular` (expected key=value)".to_owned(),
            ),
            ("0 0 9 * * * sweeps =x", "schedule.cron:1:20: malformed option `=x` (expected key=value)".to_owned()),
            (
                "0 0 9 * * * sweeps session=",
                "schedule.cron:1:20: malformed option `session=` (expected key=value)".to_owned(),
            ),
            // The first error wins, with its line number past comments and blanks.
            (
                "# header\n\n0 0 9 * * * heartbeat\n  0 0 99 * * * sweeps\n0 0 9 * * * nope",
                "schedule.cron:4:7: bad hour field `99`: 99 is out of range 0-23".to_owned(),
            ),
            // Nothing to run.
            (
                "\u{feff}# only comments\n\n   \n# 0 */5 * * * * heartbeat\n",
                "schedule.cron: no jobs: every line is blank or a comment (a line is 6 cron fields and a job, e.g. \
                 `0 */5 * * * * heartbeat`)"
                    .to_owned(),
            ),
            ("", "schedule.cron: no jobs: every line is blank or a comment (a line is 6 cron fields and a job, e.g. `0 */5 * * * * heartbeat`)".to_owned()),
        ];
        for (text, expected) in cases {
            check(text, &expected);
        }
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let err = Timetable::load(Path::new("/nonexistent/orakl/schedule.cron")).expect_err("missing file");
        assert_eq!((err.path.as_str(), err.line), ("/nonexistent/orakl/schedule.cron", 0));
        assert!(err.to_string().starts_with("/nonexistent/orakl/schedule.cron: cannot read the timetable: "), "{err}");
    }

    #[test]
    fn firings_across_dst() {
        // (line, from, to, firings in (from, to])
        fn check(text: &str, from: &str, to: &str, expected: Vec<DateTime<Utc>>) {
            assert_eq!(firings_between(&line(text), utc(from), utc(to)), expected, "{text} from {from}");
        }
        let cases: Vec<(&str, &str, &str, Vec<DateTime<Utc>>)> = vec![
            // An ordinary winter and summer bell.
            (
                "0,15,30,45 * 9-15 * * Mon-Fri orakl_flow",
                "2026-03-04T14:29:50Z",
                "2026-03-04T14:30:50Z",
                at(&["2026-03-04T14:30:00Z", "2026-03-04T14:30:15Z", "2026-03-04T14:30:30Z", "2026-03-04T14:30:45Z"]),
            ),
            (
                "0 30 9 * * Mon-Fri oi_confirm",
                "2026-06-10T13:29:59.999Z",
                "2026-06-10T23:00:00Z",
                at(&["2026-06-10T13:30:00Z"]),
            ),
            // The 09:30 bell on both sides of both switches.
            (
                "0 30 9 * * Mon-Fri oi_confirm",
                "2026-03-06T15:00:00Z",
                "2026-03-10T12:00:00Z",
                vec![utc("2026-03-09T13:30:00Z")],
            ),
            (
                "0 30 9 * * Mon-Fri oi_confirm",
                "2026-10-30T00:00:00Z",
                "2026-11-03T00:00:00Z",
                vec![utc("2026-10-30T13:30:00Z"), utc("2026-11-02T14:30:00Z")],
            ),
            // Fall back: a fixed 01:30 fires at the first 01:30 only.
            (
                "0 30 1 * * * heartbeat",
                "2026-11-01T00:00:00Z",
                "2026-11-02T12:00:00Z",
                vec![utc("2026-11-01T05:30:00Z"), utc("2026-11-02T06:30:00Z")],
            ),
            // ... even when asked from between the two copies.
            (
                "0 30 1 * * * heartbeat",
                "2026-11-01T06:00:00Z",
                "2026-11-02T12:00:00Z",
                vec![utc("2026-11-02T06:30:00Z")],
            ),
            // A fixed hour with a wildcard minute keeps to the first copy.
            (
                "0 */20 1 * * * heartbeat",
                "2026-11-01T04:00:00Z",
                "2026-11-01T08:00:00Z",
                every("2026-11-01T05:00:00Z", 20, 3),
            ),
            // Wildcard hours keep their real-time cadence through both copies.
            (
                "0 */5 * * * * heartbeat",
                "2026-11-01T04:59:59Z",
                "2026-11-01T06:59:59Z",
                every("2026-11-01T05:00:00Z", 5, 24),
            ),
            (
                "0 0 * * * * heartbeat",
                "2026-11-01T04:30:00Z",
                "2026-11-01T07:30:00Z",
                every("2026-11-01T05:00:00Z", 60, 3),
            ),
            // Asked from inside the second copy, the answer is still later.
            (
                "0 */20 * * * * heartbeat",
                "2026-11-01T06:10:00Z",
                "2026-11-01T07:10:00Z",
                every("2026-11-01T06:20:00Z", 20, 3),
            ),
            // Spring forward: a fixed 02:30 fires once when the gap ends.
            (
                "0 30 2 * * * heartbeat",
                "2026-03-08T00:00:00Z",
                "2026-03-09T12:00:00Z",
                vec![utc("2026-03-08T07:00:00Z"), utc("2026-03-09T06:30:00Z")],
            ),
            // Several skipped times, and 03:00 itself, collapse into one firing.
            (
                "0 */10 2-3 * * * heartbeat",
                "2026-03-08T06:00:00Z",
                "2026-03-08T07:25:00Z",
                every("2026-03-08T07:00:00Z", 10, 3),
            ),
            // Wildcard hours have nothing in the gap.
            (
                "0 */30 * * * * heartbeat",
                "2026-03-08T05:59:59Z",
                "2026-03-08T07:30:00Z",
                every("2026-03-08T06:00:00Z", 30, 4),
            ),
        ];
        for (text, from, to, expected) in cases {
            check(text, from, to, expected);
        }
    }

    #[test]
    fn example_first_firings() {
        // (job, from, next firing, next firing its session allows)
        fn check(job: &str, from: &str, expected: (&str, &str)) {
            let l = example_line(job);
            let got = (l.next_after(utc(from)), l.next_gated_after(utc(from)));
            assert_eq!(got, (Some(utc(expected.0)), Some(utc(expected.1))), "{job} from {from}");
        }
        let cases = [
            // An ordinary Wednesday, from midnight EST.
            ("orakl_flow", "2026-03-04T05:00:00Z", ("2026-03-04T14:00:00Z", "2026-03-04T14:30:00Z")),
            ("sweeps", "2026-03-04T05:00:00Z", ("2026-03-04T14:00:03Z", "2026-03-04T14:30:03Z")),
            ("golden_sweeps", "2026-03-04T05:00:00Z", ("2026-03-04T14:00:06Z", "2026-03-04T14:30:06Z")),
            ("bullseye", "2026-03-04T05:00:00Z", ("2026-03-04T14:00:09Z", "2026-03-04T14:30:09Z")),
            ("scalps", "2026-03-04T05:00:00Z", ("2026-03-04T14:00:12Z", "2026-03-04T14:30:12Z")),
            ("darkpool", "2026-03-04T05:00:00Z", ("2026-03-04T09:00:30Z", "2026-03-04T09:00:30Z")),
            ("breakouts", "2026-03-04T05:00:00Z", ("2026-03-04T14:00:45Z", "2026-03-04T14:30:45Z")),
            ("strat", "2026-03-04T05:00:00Z", ("2026-03-04T05:01:10Z", "2026-03-04T09:01:10Z")),
            ("outcomes", "2026-03-04T05:00:00Z", ("2026-03-04T14:00:00Z", "2026-03-04T14:00:00Z")),
            ("oi_confirm", "2026-03-04T05:00:00Z", ("2026-03-04T14:00:00Z", "2026-03-04T14:00:00Z")),
            ("weekly_report", "2026-03-04T05:00:00Z", ("2026-03-09T12:00:00Z", "2026-03-09T12:00:00Z")),
            ("heartbeat", "2026-03-04T05:00:00Z", ("2026-03-04T05:05:00Z", "2026-03-04T05:05:00Z")),
            // Spring forward, from 01:55 EST: the next wall clock reads 03:00 EDT.
            ("heartbeat", "2026-03-08T06:55:00Z", ("2026-03-08T07:00:00Z", "2026-03-08T07:00:00Z")),
            ("orakl_flow", "2026-03-08T06:55:00Z", ("2026-03-09T13:00:00Z", "2026-03-09T13:30:00Z")),
            ("darkpool", "2026-03-08T06:55:00Z", ("2026-03-09T08:00:30Z", "2026-03-09T08:00:30Z")),
            ("strat", "2026-03-08T06:55:00Z", ("2026-03-09T04:01:10Z", "2026-03-09T08:01:10Z")),
            ("weekly_report", "2026-03-08T06:55:00Z", ("2026-03-09T12:00:00Z", "2026-03-09T12:00:00Z")),
            // Fall back, from 01:55 EDT: the next wall clock reads 01:00 EST.
            ("heartbeat", "2026-11-01T05:55:00Z", ("2026-11-01T06:00:00Z", "2026-11-01T06:00:00Z")),
            ("orakl_flow", "2026-11-01T05:55:00Z", ("2026-11-02T14:00:00Z", "2026-11-02T14:30:00Z")),
            ("darkpool", "2026-11-01T05:55:00Z", ("2026-11-02T09:00:30Z", "2026-11-02T09:00:30Z")),
            ("strat", "2026-11-01T05:55:00Z", ("2026-11-02T05:01:10Z", "2026-11-02T09:01:10Z")),
            ("oi_confirm", "2026-11-01T05:55:00Z", ("2026-11-02T14:00:00Z", "2026-11-02T14:00:00Z")),
            ("weekly_report", "2026-11-01T05:55:00Z", ("2026-11-02T13:00:00Z", "2026-11-02T13:00:00Z")),
        ];
        for (job, from, expected) in cases {
            check(job, from, expected);
        }
    }

    /// A second, brute-force statement of the rules: walk every minute and
    /// decide from its wall clock whether the line fires then.
    fn brute_force(l: &Line, from: DateTime<Utc>, minutes: i64) -> Vec<DateTime<Utc>> {
        let hits = |wall: NaiveDateTime| l.schedule.includes(Utc.from_utc_datetime(&wall));
        let mut out = Vec::new();
        for i in 1..=minutes {
            let u = from + Duration::minutes(i);
            let wall = u.with_timezone(&MARKET_TZ).naive_local();
            let second_copy = matches!(
                MARKET_TZ.from_local_datetime(&wall),
                LocalResult::Ambiguous(first, _) if first.with_timezone(&Utc) != u
            );
            let previous = (u - Duration::minutes(1)).with_timezone(&MARKET_TZ).naive_local();
            let skipped = (1..).map(|k| previous + Duration::minutes(k)).take_while(|w| *w < wall).any(hits);
            let fires = (hits(wall) && !(second_copy && l.fixed_hour)) || (l.fixed_hour && skipped);
            if fires {
                out.push(u);
            }
        }
        out
    }

    #[test]
    fn next_after_agrees_with_brute_force() {
        fn check(text: &str, from: &str) {
            let l = line(text);
            let from = utc(from);
            let minutes = 3 * 24 * 60;
            let expected = brute_force(&l, from, minutes);
            assert_eq!(firings_between(&l, from, from + Duration::minutes(minutes)), expected, "{text}");
        }
        let lines = [
            "0 */5 * * * * heartbeat",
            "0 30 1 * * * heartbeat",
            "0 30 2 * * * heartbeat",
            "0 */7 1-3 * * * heartbeat",
            "0 0 * * * * heartbeat",
            "0 15 */2 * * Sun heartbeat",
            "0 30 9 * * Mon-Fri oi_confirm",
        ];
        for text in lines {
            check(text, "2026-03-07T00:00:00Z");
            check(text, "2026-10-31T00:00:00Z");
        }
    }

    #[test]
    fn gates() {
        fn check(gate: SessionGate, t: &str, expected: bool) {
            assert_eq!(gate.allows(utc(t)), expected, "{gate} at {t}");
        }
        use SessionGate::*;
        let cases = [
            (Regular, "2026-03-09T13:30:00Z", true),
            (Regular, "2026-03-09T13:29:59Z", false),
            (Regular, "2026-04-03T15:00:00Z", false),
            (Regular, "2026-11-27T17:59:59Z", true),
            (Regular, "2026-11-27T18:00:00Z", false),
            (Extended, "2026-11-27T21:59:59Z", true),
            (Extended, "2026-11-27T22:00:00Z", false),
            (Extended, "2026-03-09T08:00:00Z", true),
            (Extended, "2026-03-07T15:00:00Z", false),
            (TradingDay, "2026-03-09T04:00:00Z", true),
            (TradingDay, "2026-04-03T15:00:00Z", false),
            (Any, "2026-04-04T12:00:00Z", true),
        ];
        for (gate, t, expected) in cases {
            check(gate, t, expected);
        }
    }

    #[test]
    fn next_gated_firings() {
        fn check(l: &Line, from: &str, expected: Option<&str>) {
            assert_eq!(l.next_gated_after(utc(from)), expected.map(utc), "{} from {from}", l.expr);
        }
        let never = line("0 0 3 * * Sun heartbeat session=regular");
        let cases = [
            // Good Friday and the weekend are skipped; the Monday bell is not.
            (example_line("orakl_flow"), "2026-04-02T19:59:50Z", Some("2026-04-06T13:30:00Z")),
            (example_line("orakl_flow"), "2026-04-06T13:30:00Z", Some("2026-04-06T13:30:15Z")),
            // The early close at 13:00 ET on the day after Thanksgiving.
            (example_line("sweeps"), "2026-11-27T17:59:40Z", Some("2026-11-27T17:59:48Z")),
            (example_line("sweeps"), "2026-11-27T17:59:48Z", Some("2026-11-30T14:30:03Z")),
            (example_line("darkpool"), "2026-11-27T21:59:00Z", Some("2026-11-30T09:00:30Z")),
            (example_line("oi_confirm"), "2026-04-02T14:00:00Z", Some("2026-04-06T13:00:00Z")),
            (example_line("weekly_report"), "2026-04-01T00:00:00Z", Some("2026-04-06T12:00:00Z")),
            (example_line("heartbeat"), "2026-04-04T12:02:00Z", Some("2026-04-04T12:05:00Z")),
            (never, "2026-04-01T00:00:00Z", None),
        ];
        for (l, from, expected) in &cases {
            check(l, from, *expected);
        }
    }
}
