//! The Strat (Rob Smith's bar-type method): each bar is classified against
//! the one before it, and a few sequences of types are setups with a defined
//! entry, stop and target. Used by the STRAT bot on 60m/4h/1d bars and by
//! Scalps on 5-minute bars.
//!
//! Bar types, with strict inequalities (SPEC §6): touching the previous
//! bar's high or low is not a break, so an equal high is not a higher high.
//!
//! | type | higher high (`h > prev h`) | lower low (`l < prev l`) |
//! |---|---|---|
//! | 1 inside | no | no |
//! | 2U | yes | no |
//! | 2D | no | yes |
//! | 3 outside | yes | yes |
//!
//! A pattern is named by the types of its last bars; the last bar is the
//! *trigger*, the one before it the *setup bar*. The trigger must be a 2: it
//! is bullish when 2U and bearish when 2D (an outside trigger broke both
//! ways and says nothing). The trigger broke the setup bar's high (2U) or
//! low (2D), so that level is the entry; the setup bar's other extreme is the
//! stop, and the target is twice the risk beyond the entry (2:1).
//!
//! Everything here reads closed bars only; callers filter with
//! `bars::closed` so a bar still forming can never be a trigger.

use chrono::{DateTime, Utc};

use crate::bars::Bar;

/// A bar's type relative to the bar before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarType {
    /// 1: inside the previous bar's range (equal extremes included).
    Inside,
    /// 2U: a higher high and no lower low.
    Up,
    /// 2D: a lower low and no higher high.
    Down,
    /// 3: both a higher high and a lower low.
    Outside,
}

impl BarType {
    /// Classifies `cur` against `prev`. A NaN price breaks nothing (every
    /// comparison with it is false), so it can never fake a trigger.
    pub fn classify(prev: &Bar, cur: &Bar) -> BarType {
        match (cur.high > prev.high, cur.low < prev.low) {
            (false, false) => BarType::Inside,
            (true, false) => BarType::Up,
            (false, true) => BarType::Down,
            (true, true) => BarType::Outside,
        }
    }

    /// The Strat's own notation: `1`, `2U`, `2D`, `3`.
    pub fn as_str(self) -> &'static str {
        match self {
            BarType::Inside => "1",
            BarType::Up => "2U",
            BarType::Down => "2D",
            BarType::Outside => "3",
        }
    }

    fn is_directional(self) -> bool {
        matches!(self, BarType::Up | BarType::Down)
    }

    fn opposite(self, other: BarType) -> bool {
        matches!((self, other), (BarType::Up, BarType::Down) | (BarType::Down, BarType::Up))
    }
}

/// The setups, written as the types of the last three bars `first-setup-trigger`
/// (the trigger is 2U or 2D in every one; "2" below means 2U or 2D).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// 3-1-2: an outside bar, an inside bar, then a break of the inside bar.
    ThreeOneTwo,
    /// 2-1-2: a directional bar, an inside bar, then a break of the inside
    /// bar either way (continuation when the 2s agree, reversal otherwise).
    TwoOneTwo,
    /// 3-2-2: an outside bar, a 2 one way, then a 2 the other way (the first
    /// move out of the outside bar failed and reversed).
    ThreeTwoTwo,
    /// 1-2-2 (RevStrat): an inside bar, a 2 one way, then a 2 the other way.
    RevStrat,
    /// 2-2 reversal: a 2 one way, then a 2 the other way (2D then 2U is
    /// bullish, 2U then 2D bearish). Two 2s the same way are a trend, not a
    /// setup. Needs only two classified bars.
    TwoTwo,
}

impl Pattern {
    /// Most specific first (SPEC §6). 3-2-2 and 1-2-2 end in a 2-2 reversal,
    /// so they must be tried before it; 3-1-2 and 2-1-2 exclude each other.
    pub const PRIORITY: [Pattern; 5] =
        [Pattern::ThreeOneTwo, Pattern::TwoOneTwo, Pattern::ThreeTwoTwo, Pattern::RevStrat, Pattern::TwoTwo];

    /// The triggers Scalps accepts (SPEC §6), in the same priority order.
    /// A 3-2-2 is not among them but still counts there as the 2-2 it ends in.
    pub const SCALPS: [Pattern; 4] = [Pattern::ThreeOneTwo, Pattern::TwoOneTwo, Pattern::RevStrat, Pattern::TwoTwo];

    /// The pattern named `name` (`3-1-2`, `2-1-2`, `3-2-2`, `1-2-2`, `2-2`).
    pub fn from_name(name: &str) -> Option<Pattern> {
        Pattern::PRIORITY.into_iter().find(|p| p.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::ThreeOneTwo => "3-1-2",
            Pattern::TwoOneTwo => "2-1-2",
            Pattern::ThreeTwoTwo => "3-2-2",
            Pattern::RevStrat => "1-2-2",
            Pattern::TwoTwo => "2-2",
        }
    }

    /// Whether the types `first` (if there is a bar before the setup bar's
    /// predecessor), `setup` and the directional `trigger` form this pattern.
    fn matches(self, first: Option<BarType>, setup: BarType, trigger: BarType) -> bool {
        match self {
            Pattern::ThreeOneTwo => first == Some(BarType::Outside) && setup == BarType::Inside,
            Pattern::TwoOneTwo => first.is_some_and(BarType::is_directional) && setup == BarType::Inside,
            Pattern::ThreeTwoTwo => first == Some(BarType::Outside) && setup.opposite(trigger),
            Pattern::RevStrat => first == Some(BarType::Inside) && setup.opposite(trigger),
            Pattern::TwoTwo => setup.opposite(trigger),
        }
    }
}

/// A triggered setup and its plan, in the underlying's price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setup {
    /// The pattern, typed: what rules compare.
    pub kind: Pattern,
    /// `kind`'s name (`3-1-2`, `2-1-2`, `3-2-2`, `1-2-2` or `2-2`), for text.
    pub pattern: &'static str,
    /// The trigger bar was 2U (else 2D).
    pub bullish: bool,
    /// The trigger bar's start: with the timeframe, it names the event.
    pub trigger_start: DateTime<Utc>,
    /// The trigger bar's close: when the setup became known (Scalps
    /// measures how fresh a trigger is from it).
    pub trigger_end: DateTime<Utc>,
    /// The setup bar's high (bull) or low (bear): the level the trigger broke.
    pub entry: f64,
    /// The setup bar's other extreme.
    pub stop: f64,
    /// Entry ± 2 × |entry − stop|.
    pub target: f64,
}

/// The highest-priority pattern among `allowed` whose trigger is the last
/// bar of `bars`, if any.
///
/// A setup bar without range (high = low) gives no risk to size a target by,
/// so it is no setup; the same goes for non-finite prices.
fn setup_at(bars: &[Bar], allowed: &[Pattern]) -> Option<Setup> {
    let n = bars.len();
    if n < 3 {
        return None;
    }
    let (trigger_bar, setup_bar) = (&bars[n - 1], &bars[n - 2]);
    let trigger = BarType::classify(setup_bar, trigger_bar);
    if !trigger.is_directional() {
        return None;
    }
    let setup = BarType::classify(&bars[n - 3], setup_bar);
    let first = (n >= 4).then(|| BarType::classify(&bars[n - 4], &bars[n - 3]));
    let pattern = allowed.iter().find(|p| p.matches(first, setup, trigger))?;

    let bullish = trigger == BarType::Up;
    let (entry, stop) = if bullish { (setup_bar.high, setup_bar.low) } else { (setup_bar.low, setup_bar.high) };
    let risk = (entry - stop).abs();
    if !risk.is_finite() || risk <= 0.0 {
        return None;
    }
    let target = if bullish { entry + 2.0 * risk } else { entry - 2.0 * risk };
    Some(Setup {
        kind: *pattern,
        pattern: pattern.as_str(),
        bullish,
        trigger_start: trigger_bar.start,
        trigger_end: trigger_bar.end,
        entry,
        stop,
        target,
    })
}

/// Parses a comma list of pattern names (`STRAT_PATTERNS`,
/// `SCALPS_PATTERNS`) among `known`, into priority order. A name given twice
/// counts once; an empty list is an error, since it would silently turn the
/// bot off (the timetable is the place for that).
pub fn parse_patterns(value: &str, known: &[Pattern]) -> Result<Vec<Pattern>, String> {
    let names = || known.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
    let mut given = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match Pattern::from_name(part).filter(|p| known.contains(p)) {
            Some(p) => given.push(p),
            None => return Err(format!("unknown pattern `{part}` (known: {})", names())),
        }
    }
    if given.is_empty() {
        return Err(format!("no pattern given (known: {})", names()));
    }
    Ok(Pattern::PRIORITY.into_iter().filter(|p| given.contains(p)).collect())
}

/// The setup triggered by the last of `bars` (closed bars, oldest first),
/// trying the patterns of `allowed` most specific first (priority order
/// whatever order it is given in): a 3-2-2 or 1-2-2 is still found when the
/// plain 2-2 it ends in is not allowed. Needs three bars for a 2-2 and four
/// for the others.
pub fn detect_among(bars: &[Bar], allowed: &[Pattern]) -> Option<Setup> {
    let ordered: Vec<Pattern> = Pattern::PRIORITY.into_iter().filter(|p| allowed.contains(p)).collect();
    setup_at(bars, &ordered)
}

/// For Scalps: the most recent setup in the trade's direction (`bullish` for
/// calls) whose trigger is one of the last `lookback` closed bars, among
/// `allowed` (tried in [`Pattern::PRIORITY`] order whatever order they are
/// given in). A bar whose trigger is not allowed does not hide an allowed
/// one before it.
pub fn recent_trigger(bars: &[Bar], lookback: usize, bullish: bool, allowed: &[Pattern]) -> Option<Setup> {
    let allowed: Vec<Pattern> = Pattern::PRIORITY.into_iter().filter(|p| allowed.contains(p)).collect();
    (0..lookback.min(bars.len()))
        .filter_map(|back| setup_at(&bars[..bars.len() - back], &allowed))
        .find(|s| s.bullish == bullish)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The types of `bars[1..]`: element k classifies `bars[k + 1]` against
    /// `bars[k]` (the first bar has nothing to be compared with).
    fn bar_types(bars: &[Bar]) -> Vec<BarType> {
        bars.windows(2).map(|w| BarType::classify(&w[0], &w[1])).collect()
    }
    use chrono::Duration;

    /// Hourly bars from `(high, low)` pairs; open and close sit mid-range
    /// because the Strat never reads them.
    pub(crate) fn hl_bars(hl: &[(f64, f64)]) -> Vec<Bar> {
        let t0: DateTime<Utc> = "2025-07-15T13:30:00Z".parse().expect("test instant");
        hl.iter()
            .enumerate()
            .map(|(i, &(high, low))| {
                let start = t0 + Duration::hours(i as i64);
                let mid = (high + low) / 2.0;
                Bar {
                    start,
                    end: start + Duration::hours(1),
                    open: mid,
                    high,
                    low,
                    close: mid,
                    volume: 1.0,
                    vwap: None,
                }
            })
            .collect()
    }

    fn types(hl: &[(f64, f64)]) -> String {
        bar_types(&hl_bars(hl)).iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn bar_type_edges() {
        // (previous bar, bar, type): equal highs and lows are not breaks.
        let cases = [
            ((10.0, 5.0), (9.0, 6.0), "1"),
            ((10.0, 5.0), (10.0, 5.0), "1"),
            ((10.0, 5.0), (10.0, 6.0), "1"),
            ((10.0, 5.0), (9.0, 5.0), "1"),
            ((10.0, 5.0), (11.0, 6.0), "2U"),
            ((10.0, 5.0), (11.0, 5.0), "2U"),
            ((10.0, 5.0), (9.0, 4.0), "2D"),
            ((10.0, 5.0), (10.0, 4.0), "2D"),
            ((10.0, 5.0), (11.0, 4.0), "3"),
            ((10.0, 5.0), (10.000_001, 4.999_999), "3"),
            ((10.0, 5.0), (f64::NAN, f64::NAN), "1"),
        ];
        for (prev, cur, want) in cases {
            assert_eq!(types(&[prev, cur]), want, "{prev:?} -> {cur:?}");
        }
    }

    /// (pattern, bullish, entry, stop, target) of the setup the last bar triggers.
    type Want = Option<(&'static str, bool, f64, f64, f64)>;

    /// (bars as high/low, their types after the first, the setup)
    type Case<'a> = (&'a [(f64, f64)], &'a str, Want);

    fn check(hl: &[(f64, f64)], want_types: &str, want: Want) {
        assert_eq!(types(hl), want_types, "types of {hl:?}");
        let bars = hl_bars(hl);
        let got = detect_among(&bars, &Pattern::PRIORITY);
        assert_eq!(got.map(|s| (s.pattern, s.bullish, s.entry, s.stop, s.target)), want, "{want_types}");
        if let Some(s) = got {
            let last = &bars[bars.len() - 1];
            assert_eq!((s.trigger_start, s.trigger_end), (last.start, last.end));
        }
    }

    #[test]
    fn every_pattern_both_ways() {
        let a = (100.0, 90.0);
        let cases: [Case; 14] = [
            (&[a, (102.0, 88.0), (100.0, 92.0), (101.0, 93.0)], "3 1 2U", Some(("3-1-2", true, 100.0, 92.0, 116.0))),
            (&[a, (102.0, 88.0), (100.0, 92.0), (99.0, 91.0)], "3 1 2D", Some(("3-1-2", false, 92.0, 100.0, 76.0))),
            (&[a, (99.0, 88.0), (98.0, 90.0), (99.0, 91.0)], "2D 1 2U", Some(("2-1-2", true, 98.0, 90.0, 114.0))),
            (&[a, (99.0, 88.0), (98.0, 90.0), (97.0, 89.0)], "2D 1 2D", Some(("2-1-2", false, 90.0, 98.0, 74.0))),
            (&[a, (102.0, 91.0), (101.0, 92.0), (103.0, 93.0)], "2U 1 2U", Some(("2-1-2", true, 101.0, 92.0, 119.0))),
            (&[a, (102.0, 91.0), (101.0, 92.0), (100.0, 91.0)], "2U 1 2D", Some(("2-1-2", false, 92.0, 101.0, 74.0))),
            (&[a, (102.0, 88.0), (101.0, 87.0), (102.0, 88.0)], "3 2D 2U", Some(("3-2-2", true, 101.0, 87.0, 129.0))),
            (&[a, (102.0, 88.0), (103.0, 89.0), (102.0, 88.0)], "3 2U 2D", Some(("3-2-2", false, 89.0, 103.0, 61.0))),
            (&[a, (99.0, 91.0), (98.0, 89.0), (99.0, 90.0)], "1 2D 2U", Some(("1-2-2", true, 98.0, 89.0, 116.0))),
            (&[a, (99.0, 91.0), (100.0, 92.0), (99.0, 91.0)], "1 2U 2D", Some(("1-2-2", false, 92.0, 100.0, 76.0))),
            (&[a, (101.0, 91.0), (100.0, 89.0), (101.0, 90.0)], "2U 2D 2U", Some(("2-2", true, 100.0, 89.0, 122.0))),
            (&[a, (99.0, 89.0), (100.0, 90.0), (99.0, 89.0)], "2D 2U 2D", Some(("2-2", false, 90.0, 100.0, 70.0))),
            // Three bars are enough for a 2-2.
            (&[a, (99.0, 88.0), (100.0, 89.0)], "2D 2U", Some(("2-2", true, 99.0, 88.0, 121.0))),
            (&[a, (101.0, 91.0), (100.0, 90.0)], "2U 2D", Some(("2-2", false, 91.0, 101.0, 71.0))),
        ];
        for (hl, want_types, want) in cases {
            check(hl, want_types, want);
        }
    }

    #[test]
    fn edges_and_non_patterns() {
        let a = (100.0, 90.0);
        let cases: [Case; 12] = [
            // A bar equal to the previous one is an inside bar, so this is a RevStrat.
            (&[a, (100.0, 90.0), (100.0, 89.0), (101.0, 90.0)], "1 2D 2U", Some(("1-2-2", true, 100.0, 89.0, 122.0))),
            // Touching the inside bar's high is not a break: the trigger is 2D.
            (&[a, (99.0, 88.0), (98.0, 90.0), (98.0, 89.0)], "2D 1 2D", Some(("2-1-2", false, 90.0, 98.0, 74.0))),
            // Touching its low is not a break either: 2U.
            (&[a, (99.0, 88.0), (98.0, 90.0), (99.0, 90.0)], "2D 1 2U", Some(("2-1-2", true, 98.0, 90.0, 114.0))),
            // Two 2s the same way are a trend, not a setup.
            (&[a, (101.0, 91.0), (102.0, 92.0)], "2U 2U", None),
            (&[a, (101.0, 91.0), (102.0, 92.0), (103.0, 93.0)], "2U 2U 2U", None),
            (&[a, (99.0, 89.0), (98.0, 88.0), (97.0, 87.0)], "2D 2D 2D", None),
            // The trigger must be a 2.
            (&[a, (102.0, 88.0), (100.0, 92.0), (99.0, 93.0)], "3 1 1", None),
            (&[a, (102.0, 88.0), (100.0, 92.0), (101.0, 91.0)], "3 1 3", None),
            // 1-1-2 and 3-3-2 are not setups.
            (&[a, (99.0, 91.0), (98.0, 92.0), (99.0, 93.0)], "1 1 2U", None),
            (&[a, (102.0, 88.0), (103.0, 87.0), (104.0, 88.0)], "3 3 2U", None),
            // A setup bar without range has no risk to size the target by.
            (&[a, (102.0, 88.0), (95.0, 95.0), (96.0, 95.5)], "3 1 2U", None),
            // Two bars classify only the trigger.
            (&[a, (101.0, 91.0)], "2U", None),
        ];
        for (hl, want_types, want) in cases {
            check(hl, want_types, want);
        }
        assert_eq!(detect_among(&[], &Pattern::PRIORITY), None);
    }

    #[test]
    fn recent_trigger_window() {
        // 2-2 bull triggered by bar 3, then inside bars 4–6 (no trigger).
        let hl =
            [(100.0, 90.0), (101.0, 91.0), (100.0, 89.0), (101.0, 90.0), (100.5, 90.5), (100.4, 90.6), (100.3, 90.7)];
        let bars = hl_bars(&hl);
        // (bars used, lookback, bullish, index of the trigger bar found)
        let cases = [
            (4, 3, true, Some(3)),
            (5, 3, true, Some(3)),
            (6, 3, true, Some(3)),
            (7, 3, true, None),
            (7, 4, true, Some(3)),
            // Looking back, bar 2 (2D after the 2U bar 1) is a 2-2 bear.
            (4, 3, false, Some(2)),
            (4, 1, false, None),
            (4, 0, true, None),
            (4, 99, true, Some(3)),
        ];
        for (used, lookback, bullish, want) in cases {
            let got = recent_trigger(&bars[..used], lookback, bullish, &Pattern::SCALPS).map(|s| s.trigger_start);
            assert_eq!(got, want.map(|i: usize| bars[i].start), "{used} bars, lookback {lookback}, bullish {bullish}");
        }

        // A bear trigger (bar 4, 2D) then a bull one (bar 5, 2U): each direction
        // finds its own, and the most recent wins.
        let hl = [(100.0, 90.0), (101.0, 91.0), (100.0, 89.0), (101.0, 90.0), (100.5, 89.0), (101.0, 89.5)];
        assert_eq!(types(&hl), "2U 2D 2U 2D 2U");
        let bars = hl_bars(&hl);
        let plan = |s: Setup| (s.pattern, s.trigger_start, s.entry, s.stop, s.target);
        assert_eq!(
            recent_trigger(&bars, 3, true, &Pattern::SCALPS).map(plan),
            Some(("2-2", bars[5].start, 100.5, 89.0, 123.5))
        );
        assert_eq!(
            recent_trigger(&bars, 3, false, &Pattern::SCALPS).map(plan),
            Some(("2-2", bars[4].start, 90.0, 101.0, 68.0))
        );

        // Scalps does not list 3-2-2; the 2-2 it ends in still counts.
        let three_two_two = hl_bars(&[(100.0, 90.0), (102.0, 88.0), (101.0, 87.0), (102.0, 88.0)]);
        assert_eq!(detect_among(&three_two_two, &Pattern::PRIORITY).map(|s| s.pattern), Some("3-2-2"));
        assert_eq!(
            recent_trigger(&three_two_two, 3, true, &Pattern::SCALPS).map(plan),
            Some(("2-2", three_two_two[3].start, 101.0, 87.0, 129.0))
        );

        // Only the allowed patterns: a newer 2-2 does not hide an older
        // 3-1-2, and the order the patterns are given in does not matter.
        // Bars: 3, 1, 2U (a 3-1-2 bull at bar 4), then 2D, 2U (a 2-2 bull at bar 6).
        let hl = [(100.0, 90.0), (102.0, 88.0), (100.0, 92.0), (101.0, 93.0), (100.5, 92.5), (101.5, 93.0)];
        assert_eq!(types(&hl), "3 1 2U 2D 2U");
        let bars = hl_bars(&hl);
        let found = |allowed: &[Pattern]| recent_trigger(&bars, 3, true, allowed).map(|s| (s.pattern, s.trigger_start));
        assert_eq!(found(&Pattern::SCALPS), Some(("2-2", bars[5].start)));
        assert_eq!(found(&[Pattern::ThreeOneTwo]), Some(("3-1-2", bars[3].start)));
        assert_eq!(found(&[Pattern::TwoTwo, Pattern::ThreeOneTwo]), Some(("2-2", bars[5].start)));
        assert_eq!(found(&[Pattern::TwoOneTwo]), None);
        assert_eq!(found(&[]), None);
        assert_eq!(Pattern::from_name("1-2-2"), Some(Pattern::RevStrat));
        assert_eq!(Pattern::from_name("3-1-3"), None);
    }
}
