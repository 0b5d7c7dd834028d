//! STRAT (`strat`): a Strat setup triggered on a closed 60m, 4h or daily bar
//! of a watched stock.
//!
//! Rule (SPEC §6): bar types with strict inequalities, the patterns 3-1-2,
//! 2-1-2, 3-2-2, 1-2-2 and 2-2 most specific first, on closed bars only;
//! entry at the setup bar's high (bull) or low (bear), stop at its other
//! extreme, one target at 2:1 (see `crate::strat`).
//!
//! Which bars: intraday frames (5m, 60m, 4h) are extended-session bars on the
//! ET clock, so the 4h bars are built from the 60m ones at 04/08/12/16 ET and
//! a setup that forms before the bell is seen; daily bars are
//! regular-session bars (SPEC §6). [`frame_bars`] builds all of them from one
//! fetch of 1-minute bars.
//!
//! Each pattern alerts once per timeframe and trigger bar: the alert id is
//! `strat:SYMBOL:FRAME:TRIGGER_START`, and the outbox drops an id it has
//! seen, so the hourly re-run that finds the same closed trigger again posts
//! nothing new.

use chrono::{DateTime, Utc};

use crate::alert::{Alert, Plan, Sentiment, Side};
use crate::bars::{self, Bar, Frame, Session};
use crate::bots::{Suppressed, alert_id, market_entry, time_key};
use crate::calendar::MARKET_TZ;
use crate::job::Bot;
use crate::strat::{self, Pattern, Setup};

/// `STRAT_TIMEFRAMES`, default `60m,4h,1d`, `STRAT_PATTERNS`, and the
/// reward:risk every published plan keeps (`MIN_REWARD_RISK`).
#[derive(Debug, Clone, PartialEq)]
pub struct StratConfig {
    /// The frames to evaluate, in the order given (alerts come out in it).
    pub timeframes: Vec<Frame>,
    /// The patterns that alert (`STRAT_PATTERNS`), in priority order.
    pub patterns: Vec<Pattern>,
    /// `STRAT_MIN_VOLUME_PACE`: the trigger bar's volume at least this many
    /// times the stock's usual volume for a bar that long (0 is off).
    pub min_volume_pace: f64,
    /// `MIN_REWARD_RISK`: a plan below it at the entry it publishes is not
    /// alerted.
    pub min_reward_risk: f64,
}

impl Default for StratConfig {
    fn default() -> Self {
        StratConfig {
            timeframes: vec![Frame::Min60, Frame::Hour4, Frame::Day],
            patterns: DEFAULT_PATTERNS.to_vec(),
            min_volume_pace: DEFAULT_MIN_VOLUME_PACE,
            min_reward_risk: 1.0,
        }
    }
}

/// `STRAT_PATTERNS` by default: every SPEC §6 pattern but the plain 2-2
/// reversal, which needs neither an inside nor an outside bar. On the
/// calibrated 200-symbol day, with every symbol looked at each hour, 2-2s
/// were 36 of STRAT's 60 alerts and none of the injected setups; setting
/// `STRAT_PATTERNS=3-1-2,2-1-2,3-2-2,1-2-2,2-2` brings them back.
pub const DEFAULT_PATTERNS: [Pattern; 4] =
    [Pattern::ThreeOneTwo, Pattern::TwoOneTwo, Pattern::ThreeTwoTwo, Pattern::RevStrat];

/// `STRAT_MIN_VOLUME_PACE` by default. A Strat trigger is a break of the
/// setup bar's range; one on ordinary volume is the market's everyday
/// back-and-forth (with every symbol looked at each hour, the 200-symbol
/// day's 60-minute triggers came to about one a symbol every four hours),
/// while a break that draws twice the usual volume is a move. The
/// simulated background's hourly bars trade 0.7–1.6× the stock's average
/// pace (the open's hour the most); the injected setups' trigger hours
/// about 2.8×.
pub const DEFAULT_MIN_VOLUME_PACE: f64 = 2.0;

/// Regular-session minutes a day: what the average daily volume is spread
/// over to give a bar's usual volume.
const SESSION_MINUTES: f64 = 390.0;

/// The trigger bar's volume against the stock's usual volume for a bar that
/// long: `adv` (the 20-session average daily volume) spread evenly over the
/// 390 minutes of a session. None without an average or a bar length.
pub fn volume_pace(trigger: &Bar, adv: Option<f64>) -> Option<f64> {
    let minutes = (trigger.end - trigger.start).num_seconds() as f64 / 60.0;
    bars::volume_pace(trigger.volume, adv?, minutes / SESSION_MINUTES)
}

/// The volume gate: passes a trigger whose pace reaches `min` (0 is off),
/// and one whose pace is unknown (no 20 sessions of history yet), as the
/// other relative gates do.
pub fn check_volume_pace(pace: Option<f64>, min: f64, setting: &str) -> Result<(), Suppressed> {
    match pace {
        Some(p) if min > 0.0 && p < min => Err(Suppressed::new(format!(
            "trigger bar volume {p:.2}x the usual pace, below min_volume_pace={min} ({setting})"
        ))),
        _ => Ok(()),
    }
}

/// Parses the comma list of `STRAT_PATTERNS` (`3-1-2,2-1-2`), any of the
/// five patterns.
pub fn parse_patterns(value: &str) -> Result<Vec<Pattern>, String> {
    strat::parse_patterns(value, &Pattern::PRIORITY)
}

impl StratConfig {
    /// Parses the comma list of `STRAT_TIMEFRAMES` (`60m,4h,1d`). A frame
    /// named twice is evaluated once; an empty list is an error, since it
    /// would silently turn the bot off (the timetable is the place for that).
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut timeframes = Vec::new();
        for part in value.split(',').filter(|p| !p.trim().is_empty()) {
            let frame: Frame = part.parse().map_err(|e| format!("STRAT_TIMEFRAMES: {e}"))?;
            if !timeframes.contains(&frame) {
                timeframes.push(frame);
            }
        }
        if timeframes.is_empty() {
            return Err("STRAT_TIMEFRAMES: no timeframe given (e.g. 60m,4h,1d)".to_string());
        }
        Ok(StratConfig { timeframes, ..StratConfig::default() })
    }
}

/// A triggered setup on one timeframe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StratHit {
    pub frame: Frame,
    pub setup: Setup,
}

/// The closed `frame` bars the bot reads, built from 1-minute bars (oldest
/// first): 5m and 60m on the extended session's ET clock, 4h from those 60m
/// bars, 1d from the regular session.
pub fn frame_bars(frame: Frame, minutes: &[Bar], now: DateTime<Utc>) -> Vec<Bar> {
    match frame {
        Frame::Min5 | Frame::Min60 => bars::aggregate(minutes, frame, Session::Extended, now),
        Frame::Hour4 => {
            let hours = bars::aggregate(minutes, Frame::Min60, Session::Extended, now);
            bars::aggregate_bars(&hours, Frame::Hour4, Session::Extended, now)
        }
        Frame::Day => bars::aggregate(minutes, Frame::Day, Session::Regular, now),
    }
}

/// The setup the last closed bar of `bars` (one symbol's `frame` bars,
/// oldest first) triggers, if any. Bars still open at `now` are dropped
/// first, so a bar that may yet change can never trigger.
pub fn evaluate(frame: Frame, bars: &[Bar], now: DateTime<Utc>, patterns: &[Pattern]) -> Option<StratHit> {
    strat::detect_among(&bars::closed(bars, now), patterns).map(|setup| StratHit { frame, setup })
}

/// The plan a triggered setup publishes, given the spot at the alert, or
/// why it publishes none.
///
/// The trigger bar has broken the setup's level by the time the alert goes
/// out, so the spot is usually past it and the 2:1 at the level is gone: at
/// the market the plan is worse (0.4–0.8 once the move has run). The market
/// entry is published only when it still keeps `min_rr`; otherwise the plan
/// is a limit order back at the level (a retest), which keeps the setup's
/// own reward:risk and which outcomes count only once a bar after the alert
/// touches it. A spot short of the level keeps the level as the entry (an
/// order resting there); a spot at the target or the stop leaves no trade
/// ([`market_entry`]). Returns the plan and, when the spot had passed the
/// level, what the entry note says.
pub fn plan_at(setup: &Setup, spot: Option<f64>, min_rr: f64) -> Result<(Plan, Option<String>), Suppressed> {
    let (entry, passed) = market_entry(setup.bullish, spot, setup.entry, setup.stop, setup.target)?;
    let at = |entry: f64| Plan { entry, stop: setup.stop, targets: vec![setup.target] };
    let rr = |p: &Plan| p.reward_risk().unwrap_or(0.0);
    let (plan, note) = match passed {
        None => (at(entry), None),
        Some(level) => {
            let market = at(entry);
            if market.meets(min_rr) {
                (market, Some(format!("at the market; the setup's level {level:.2} already broke")))
            } else {
                let note = format!(
                    "limit at the setup's level {level:.2} (retest): at the market {entry:.2} the plan is only {:.2}:1",
                    rr(&market)
                );
                (at(level), Some(note))
            }
        }
    };
    if !plan.meets(min_rr) {
        return Err(Suppressed::new(format!(
            "reward:risk {:.2} below min_reward_risk={min_rr} at entry {}",
            rr(&plan),
            plan.entry
        )));
    }
    Ok((plan, note))
}

/// The STRAT alert for `symbol`: the pattern with its direction and frame,
/// the plan in the stock's price ([`plan_at`]), and the trigger bar's time.
///
/// The sentiment is the pattern's own direction (a 2U trigger is bullish by
/// definition), unlike dark prints; there is no option trade, so the side is
/// unknown and there is no score.
pub fn build_alert(
    symbol: &str,
    hit: &StratHit,
    spot: Option<f64>,
    min_rr: f64,
    pace: Option<f64>,
    at: DateTime<Utc>,
) -> Result<Alert, Suppressed> {
    let StratHit { frame, setup } = *hit;
    let (plan, entry_note) = plan_at(&setup, spot, min_rr)?;
    let event = format!("{frame}:{}", time_key(setup.trigger_start));
    let mut a = Alert::new(alert_id(Bot::Strat, symbol, &event), Bot::Strat, at, symbol);
    a.spot = spot;
    a.side = Side::Unknown;
    a.sentiment = if setup.bullish { Sentiment::Bullish } else { Sentiment::Bearish };
    a.score = None;
    a.label = format!("STRAT {} ({frame})", setup.pattern);
    let direction = if setup.bullish { "bull" } else { "bear" };
    a.pattern = Some(format!("{} {direction} {frame}", setup.pattern));
    let trigger_et = setup.trigger_start.with_timezone(&MARKET_TZ).format("%Y-%m-%d %H:%M ET");
    a.details.notes.push(("trigger bar".to_string(), format!("{frame} bar from {trigger_et}")));
    if let Some(p) = pace {
        a.details.unusual.push(format!("trigger bar on {p:.1}× the usual volume for a {frame} bar"));
    }
    if let Some(note) = entry_note {
        a.details.notes.push(("entry".to_string(), note));
    }
    Ok(a.with_plan(&plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    use crate::bars::tests::et;
    use crate::strat::tests::hl_bars;

    #[test]
    fn timeframes_setting() {
        let cases = [
            ("60m,4h,1d", Ok(vec![Frame::Min60, Frame::Hour4, Frame::Day])),
            (" 1d , 4h ", Ok(vec![Frame::Day, Frame::Hour4])),
            ("60m,1h,60m", Ok(vec![Frame::Min60])),
            ("5m,", Ok(vec![Frame::Min5])),
            ("", Err("STRAT_TIMEFRAMES: no timeframe given (e.g. 60m,4h,1d)")),
            (" , ", Err("STRAT_TIMEFRAMES: no timeframe given (e.g. 60m,4h,1d)")),
            ("60m,2h", Err("STRAT_TIMEFRAMES: unknown timeframe `2h` (known: 5m, 60m, 4h, 1d)")),
        ];
        for (value, want) in cases {
            let got = StratConfig::parse(value).map(|c| c.timeframes);
            assert_eq!(got, want.map_err(str::to_string), "{value:?}");
        }
        assert_eq!(StratConfig::parse("60m,4h,1d"), Ok(StratConfig::default()));
    }

    #[test]
    fn patterns_setting() {
        let all = |names: &[&str]| names.iter().filter_map(|n| Pattern::from_name(n)).collect::<Vec<_>>();
        let cases = [
            ("3-1-2,2-1-2,3-2-2,1-2-2", Ok(DEFAULT_PATTERNS.to_vec())),
            // Priority order whatever the order given; a name twice once.
            (" 2-2 , 3-1-2,2-2", Ok(all(&["3-1-2", "2-2"]))),
            ("", Err("no pattern given (known: 3-1-2, 2-1-2, 3-2-2, 1-2-2, 2-2)")),
            ("3-1-2,2-2-2", Err("unknown pattern `2-2-2` (known: 3-1-2, 2-1-2, 3-2-2, 1-2-2, 2-2)")),
        ];
        for (value, want) in cases {
            assert_eq!(parse_patterns(value), want.map_err(str::to_string), "{value:?}");
        }
        assert!(!StratConfig::default().patterns.contains(&Pattern::TwoTwo));
    }

    #[test]
    fn the_trigger_bar_needs_twice_its_usual_volume() {
        // An hourly bar of 3.9M shares on a 10M-share day: 10M × 60 / 390
        // = 1.54M usual, a pace of 2.54.
        let mut bar = hl_bars(&[(101.0, 99.0)]).remove(0);
        bar.volume = 3_900_000.0;
        let pace = volume_pace(&bar, Some(10_000_000.0));
        assert!(pace.is_some_and(|p| (p - 2.535).abs() < 1e-9), "{pace:?}");
        assert_eq!(check_volume_pace(pace, 2.0, "STRAT_MIN_VOLUME_PACE"), Ok(()));
        assert_eq!(
            check_volume_pace(pace, 3.0, "STRAT_MIN_VOLUME_PACE").unwrap_err().reason,
            "trigger bar volume 2.54x the usual pace, below min_volume_pace=3 (STRAT_MIN_VOLUME_PACE)"
        );
        // Off, or no average to judge by: it passes.
        assert_eq!(check_volume_pace(pace, 0.0, "STRAT_MIN_VOLUME_PACE"), Ok(()));
        assert_eq!(volume_pace(&bar, None), None);
        assert_eq!(check_volume_pace(None, 2.0, "STRAT_MIN_VOLUME_PACE"), Ok(()));
        // The alert says it.
        let bull = evaluate(Frame::Min60, &hourly(), "2025-07-15T18:30:00Z".parse().expect("t"), &Pattern::PRIORITY)
            .expect("2-1-2 bull");
        let at = "2025-07-15T18:31:00Z".parse().expect("t");
        let a = build_alert("AAPL", &bull, None, 1.0, pace, at).expect("a plan");
        assert_eq!(a.details.unusual, vec!["trigger bar on 2.5× the usual volume for a 60m bar".to_string()]);
    }

    #[test]
    fn a_plain_two_two_alerts_only_when_allowed() {
        // 2U, 2D, 2U: a 2-2 bull reversal on the last bar (no inside or
        // outside bar anywhere), all closed by `now`.
        let bars = hl_bars(&[(100.0, 90.0), (101.0, 91.0), (100.0, 89.0), (102.0, 90.0)]);
        let now = "2026-03-09T18:30:00Z".parse().expect("test instant");
        assert_eq!(evaluate(Frame::Min60, &bars, now, &DEFAULT_PATTERNS), None);
        let hit = evaluate(Frame::Min60, &bars, now, &Pattern::PRIORITY).expect("2-2 when allowed");
        assert_eq!((hit.setup.pattern, hit.setup.bullish), ("2-2", true));
    }

    /// A 2-1-2 bull (2D, 1, 2U) on hourly bars starting 13:30 UTC, plus one
    /// more bar (index 4) that is still open until 18:30 UTC.
    fn hourly() -> Vec<Bar> {
        hl_bars(&[(100.0, 90.0), (99.0, 88.0), (98.0, 90.0), (99.0, 91.0), (97.0, 89.0)])
    }

    #[test]
    fn evaluates_closed_bars_only() {
        let bars = hourly();
        // (now, trigger bar index and direction)
        let cases = [
            // Bar 3 closed at 17:30; bar 4 (which would be a 2D) is still open.
            ("2025-07-15T17:30:00Z", Some((3, "2-1-2", true))),
            ("2025-07-15T18:29:59Z", Some((3, "2-1-2", true))),
            // Bar 4 has closed: 1, 2U, 2D is a RevStrat bear.
            ("2025-07-15T18:30:00Z", Some((4, "1-2-2", false))),
            // Bar 3 not closed yet: bar 2 is an inside bar, no trigger.
            ("2025-07-15T17:29:59Z", None),
            ("2025-07-15T13:00:00Z", None),
        ];
        for (now, want) in cases {
            let got = evaluate(Frame::Min60, &bars, now.parse().expect("test instant"), &Pattern::PRIORITY);
            let got = got.map(|h| (h.frame, h.setup.trigger_start, h.setup.pattern, h.setup.bullish));
            let want = want.map(|(i, p, bull): (usize, &str, bool)| (Frame::Min60, bars[i].start, p, bull));
            assert_eq!(got, want, "now={now}");
        }
    }

    #[test]
    fn alert_fields() {
        let bars = hourly();
        let at: DateTime<Utc> = "2025-07-15T17:31:10Z".parse().expect("test instant");
        let bull = evaluate(Frame::Hour4, &bars, at, &Pattern::PRIORITY).expect("2-1-2 bull");
        let a = build_alert("AAPL", &bull, Some(99.5), 1.0, None, at).expect("a plan");
        assert_eq!(a.id, "strat:AAPL:4h:20250715T163000Z");
        assert_eq!((a.bot, a.at, a.ticker.as_str(), a.spot), (Bot::Strat, at, "AAPL", Some(99.5)));
        assert_eq!((a.side, a.sentiment, a.score), (Side::Unknown, Sentiment::Bullish, None));
        assert_eq!((a.label.as_str(), a.pattern.as_deref()), ("STRAT 2-1-2 (4h)", Some("2-1-2 bull 4h")));
        // The spot (99.5) is past the setup's level (98): the plan enters there.
        assert_eq!((a.entry, a.stop, a.targets), (Some(99.5), Some(90.0), Some(vec![114.0])));
        assert_eq!(
            a.details.notes,
            vec![
                ("trigger bar".to_string(), "4h bar from 2025-07-15 12:30 ET".to_string()),
                ("entry".to_string(), "at the market; the setup's level 98.00 already broke".to_string())
            ]
        );
        let below = build_alert("AAPL", &bull, Some(97.0), 1.0, None, at).expect("a plan");
        assert_eq!(below.entry, Some(98.0), "a spot short of the level keeps the level");
        assert_eq!(
            build_alert("AAPL", &bull, Some(114.0), 1.0, None, at).unwrap_err().reason,
            "target 114 already reached (spot 114)"
        );
        assert_eq!(
            build_alert("AAPL", &bull, Some(90.0), 1.0, None, at).unwrap_err().reason,
            "stop 90 already hit (spot 90)"
        );
        assert_eq!((a.contract, a.premium), (None, None));

        let later: DateTime<Utc> = "2025-07-15T18:31:10Z".parse().expect("test instant");
        let bear = evaluate(Frame::Day, &bars, later, &Pattern::PRIORITY).expect("1-2-2 bear");
        let a = build_alert("AAPL", &bear, None, 1.0, None, later).expect("a plan");
        assert_eq!(a.id, "strat:AAPL:1d:20250715T173000Z");
        assert_eq!(
            (a.sentiment, a.label.as_str(), a.pattern.as_deref()),
            (Sentiment::Bearish, "STRAT 1-2-2 (1d)", Some("1-2-2 bear 1d"))
        );
        assert_eq!((a.entry, a.stop, a.targets), (Some(91.0), Some(99.0), Some(vec![75.0])));

        // The same trigger found again an hour later has the same id, so the
        // outbox posts it once; another frame is another alert.
        let again = build_alert(
            "AAPL",
            &evaluate(Frame::Day, &bars, later + Duration::hours(1), &Pattern::PRIORITY).expect("same"),
            None,
            1.0,
            None,
            at,
        )
        .expect("a plan");
        assert_eq!(again.id, a.id);
        let hourly_id =
            build_alert("AAPL", &StratHit { frame: Frame::Min60, ..bear }, None, 1.0, None, later).expect("a plan").id;
        assert_eq!(hourly_id, "strat:AAPL:60m:20250715T173000Z");
    }

    #[test]
    fn plans_keep_the_minimum_reward_risk() {
        let bars = hourly();
        let at: DateTime<Utc> = "2025-07-15T17:31:10Z".parse().expect("test instant");
        // 2-1-2 bull: level 98, stop 90, target 114 (2:1 at the level).
        let bull = evaluate(Frame::Min60, &bars, at, &Pattern::PRIORITY).expect("2-1-2 bull");
        // Spot 104: at the market (114 − 104) ÷ (104 − 90) = 10/14 = 0.71:1,
        // so the plan is a limit back at the level, 16/8 = 2:1.
        let a = build_alert("AAPL", &bull, Some(104.0), 1.0, None, at).expect("a limit plan");
        assert_eq!((a.entry, a.stop, a.targets.clone()), (Some(98.0), Some(90.0), Some(vec![114.0])));
        assert_eq!(
            a.details.notes[1],
            (
                "entry".to_string(),
                "limit at the setup's level 98.00 (retest): at the market 104.00 the plan is only 0.71:1".to_string()
            )
        );
        // Spot 100: (114 − 100) ÷ 10 = 1.4:1 keeps the market entry at 1R,
        // not at 1.5R, where the retest limit is published instead.
        assert_eq!(build_alert("AAPL", &bull, Some(100.0), 1.0, None, at).expect("market").entry, Some(100.0));
        assert_eq!(build_alert("AAPL", &bull, Some(100.0), 1.5, None, at).expect("limit").entry, Some(98.0));
        // Above the setup's own 2:1 there is no plan to publish.
        assert_eq!(
            build_alert("AAPL", &bull, Some(100.0), 2.5, None, at).unwrap_err().reason,
            "reward:risk 2.00 below min_reward_risk=2.5 at entry 98"
        );
    }

    /// Minute bars 04:00–20:00 ET of `date` whose high and low follow
    /// `hour_hl[i]` for the i-th hour after 04:00.
    fn minutes_with_hours(date: &str, hour_hl: &[(f64, f64)]) -> Vec<Bar> {
        let first = et(&format!("{date} 04:00"));
        let mut out = Vec::new();
        for (h, &(high, low)) in hour_hl.iter().enumerate() {
            for m in 0..60 {
                let start = first + Duration::minutes(h as i64 * 60 + m);
                let mid = (high + low) / 2.0;
                let bar = Bar {
                    start,
                    end: start + Duration::minutes(1),
                    open: mid,
                    high,
                    low,
                    close: mid,
                    volume: 1.0,
                    vwap: None,
                };
                out.push(bar);
            }
        }
        out
    }

    #[test]
    fn frames_from_minutes() {
        // Sixteen hours; hours 8–11 ET (indices 4–7) and 12–15 (8–11) make
        // the 4h bars 08:00 (2D vs 04:00), 12:00 (inside) and 16:00 (2U): a
        // 2-1-2 bull on 4h whose trigger starts 16:00 ET = 20:00 UTC in July.
        let mut hl = vec![(100.0, 90.0); 4];
        hl.extend([(99.0, 88.0); 4]);
        hl.extend([(98.0, 90.0); 4]);
        hl.extend([(99.0, 91.0); 4]);
        let minutes = minutes_with_hours("2025-07-15", &hl);
        let end_of_day = et("2025-07-15 20:00");
        // (frame, number of bars, first start and last end in ET)
        let cases = [
            (Frame::Min5, 192, "04:00", "20:00"),
            (Frame::Min60, 16, "04:00", "20:00"),
            (Frame::Hour4, 4, "04:00", "20:00"),
            (Frame::Day, 1, "09:30", "16:00"),
        ];
        let hm = |t: DateTime<Utc>| t.with_timezone(&MARKET_TZ).format("%H:%M").to_string();
        for (frame, count, first, last) in cases {
            let got = frame_bars(frame, &minutes, end_of_day);
            assert_eq!(
                (got.len(), hm(got[0].start), hm(got[got.len() - 1].end)),
                (count, first.into(), last.into()),
                "{frame}"
            );
        }
        let hit =
            evaluate(Frame::Hour4, &frame_bars(Frame::Hour4, &minutes, end_of_day), end_of_day, &Pattern::PRIORITY)
                .expect("4h setup");
        assert_eq!(
            (hit.setup.pattern, hit.setup.bullish, hit.setup.entry, hit.setup.stop),
            ("2-1-2", true, 98.0, 90.0)
        );
        assert_eq!(
            build_alert("SPY", &hit, None, 1.0, None, end_of_day).expect("a plan").id,
            "strat:SPY:4h:20250715T200000Z"
        );
        // One minute earlier the 16:00 bar is still open: no 4h trigger yet.
        let before = end_of_day - Duration::minutes(1);
        assert_eq!(
            evaluate(Frame::Hour4, &frame_bars(Frame::Hour4, &minutes, before), before, &Pattern::PRIORITY),
            None
        );
    }
}
