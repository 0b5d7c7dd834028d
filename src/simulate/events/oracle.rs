//! The rule oracle: which bots an injected event should fire, decided by
//! applying each rule of SPEC §6 with its default thresholds to what the
//! tape shows once the event has printed (the flow the bots measure on the
//! contract, background included; the underlying's bars, RSI and momentum;
//! the dark-pool cooldown a background block may hold).

use super::super::chain::Chain;
use super::super::market::{Block, OPEN_ET_SECONDS, StoryFacts, StoryKind, market_bars};
use super::truth::TruthEvent;
use super::{Fill, OptionPlan, World};
use crate::alert::ContractType;
use crate::bars;
use crate::bots::strat as strat_bot;
use crate::flow::prob_itm;
use crate::indicators::rsi_wilder;
use crate::job::Bot;
use crate::strat;
use crate::unusual;

/// The default thresholds of SPEC §6 the oracle applies.
pub(super) mod rule {
    pub const FLOW_MIN_PREMIUM: f64 = 10_000.0;
    pub const FLOW_DTE: (i64, i64) = (1, 45);
    pub const FLOW_REPEATS: usize = 3;
    pub const FLOW_WINDOW_S: u32 = 30 * 60;
    pub const FLOW_MIN_ITM: f64 = 0.5;
    /// `ORAKL_FLOW_MIN_VOLUME_MULTIPLE`: each repeat unusual for its contract.
    pub const FLOW_MIN_VOLUME_MULTIPLE: f64 = 30.0;
    /// `ORAKL_FLOW_MIN_DELTA_VOI`: each repeat adds to the open position.
    pub const FLOW_MIN_DELTA_VOI: f64 = 0.01;
    /// `SCALPS_MIN_VOLUME_MULTIPLE`: only the bottom of the flow is cut.
    pub const SCALPS_MIN_VOLUME_MULTIPLE: f64 = 0.25;
    pub const SWEEPS_MIN_PREMIUM: f64 = 50_000.0;
    pub const SWEEPS_DTE: (i64, i64) = (1, 90);
    pub const SWEEPS_MIN_SCORE: f64 = 60.0;
    /// `SWEEPS_MIN_EXCHANGES`: a sweep's ISO prints reach this many venues;
    /// with `SWEEPS_REQUIRE_ISO` Sweeps and Golden Sweeps post only sweeps.
    pub const SWEEPS_MIN_EXCHANGES: usize = 2;
    pub const GOLDEN_MIN_PREMIUM: f64 = 1_000_000.0;
    pub const GOLDEN_DTE: (i64, i64) = (1, 180);
    pub const GOLDEN_MAX_DISTANCE: f64 = 0.05;
    pub const BULLSEYE_MIN_PREMIUM: f64 = 5_000.0;
    pub const BULLSEYE_DTE: (i64, i64) = (1, 5);
    pub const BULLSEYE_DELTA: (f64, f64) = (0.4, 0.6);
    pub const BULLSEYE_MIN_VOI: f64 = 3.0;
    /// `BULLSEYE_MIN_VOLUME_MULTIPLE`: the buy unusual for its contract.
    pub const BULLSEYE_MIN_VOLUME_MULTIPLE: f64 = 4.0;
    pub const BULLSEYE_EOD_ET_S: u32 = 15 * 3600;
    pub const BULLSEYE_MOMENTUM_S: u32 = 30 * 60;
    pub const SCALPS_MIN_PREMIUM: f64 = 2_000.0;
    pub const SCALPS_DTE: (i64, i64) = (0, 7);
    pub const SCALPS_MAX_DISTANCE: f64 = 0.03;
    pub const SCALPS_MAX_TRIGGER_AGE_S: i64 = 300;
    pub const SCALPS_PATTERNS: [crate::strat::Pattern; 1] = crate::bots::scalps::DEFAULT_PATTERNS;
    pub const DARKPOOL_MIN_SIZE: f64 = 10_000.0;
    pub const DARKPOOL_EXCLUDED: [i32; 19] = [2, 7, 10, 12, 13, 15, 16, 20, 21, 22, 29, 30, 31, 32, 33, 35, 37, 52, 53];
    pub const BREAKOUT_SURGE: f64 = 1.5;
    pub const MAX_SPREAD_PCT: f64 = 0.25;
}

/// Whether a quote is two-sided with a spread of at most `max_pct` of its
/// midpoint (the planner's liquidity filters and the bots' spread rule).
pub(super) fn spread_ok(bid: f64, ask: f64, max_pct: f64) -> bool {
    let mid = (bid + ask) / 2.0;
    bid > 0.0 && mid > 0.0 && (ask - bid) / mid <= max_pct
}

pub(super) fn sweeps_premium_part(premium: f64) -> f64 {
    (10.0 + 10.0 * (premium / rule::SWEEPS_MIN_PREMIUM).log2()).min(40.0)
}

/// The Sweeps score of SPEC §6 (premium, Δvol/OI, side, ISO).
pub fn sweeps_score(premium: f64, volume_delta: f64, oi: f64, fill: Fill, iso: bool) -> f64 {
    let voi = if oi > 0.0 { (25.0 * volume_delta / oi).min(25.0) } else { 25.0 };
    let side = if fill == Fill::Ask { 20.0 } else { 8.0 };
    sweeps_premium_part(premium) + voi + side + if iso { 15.0 } else { 0.0 }
}

/// The Strat line of a story: the hourly 3-1-2 (or its near-miss) at the
/// close of hour C, as the strat job sees it at HH:01:10.
pub(super) fn strat_truth(w: &World, sym: usize, facts: &StoryFacts) -> Option<TruthEvent> {
    let story = facts.story;
    let c_end = story.c_start_s() + 3600;
    if c_end < i64::from(w.start_s) || c_end + 70 > i64::from(w.end_s) {
        return None;
    }
    // What the Strat bot detects once hour C has closed: its last closed
    // 60m bar must be hour C itself.
    let c_close = w.day.instant(c_end);
    let hours = market_bars(&w.minutes[sym], w.day, bars::Frame::Min60, c_close);
    if hours.last()?.end != c_close {
        return None;
    }
    let found = strat::detect_among(&hours, &strat_bot::DEFAULT_PATTERNS).map(|s| (s.pattern, s.bullish));
    // The bot's volume gate, against the same 20 sessions it averages.
    let adv = average_daily_volume(w, sym);
    let pace = hours.last().and_then(|b| strat_bot::volume_pace(b, adv));
    let heavy = strat_bot::check_volume_pace(pace, strat_bot::DEFAULT_MIN_VOLUME_PACE, "").is_ok();
    let bullish = story.kind != StoryKind::Bear;
    let hit = found == Some(("3-1-2", bullish)) && heavy;
    let near = story.kind == StoryKind::Fake;
    let why = if near {
        "60m bars 3-1 then a bar whose high only equals the inside bar's high (equal is not a break): no 3-1-2"
            .to_string()
    } else if hit {
        format!(
            "60m 3-1-2 {} (outside, inside, break {})",
            if bullish { "bullish" } else { "bearish" },
            if bullish { "up" } else { "down" }
        )
    } else {
        format!("planned 60m 3-1-2 came out as {found:?}")
    };
    let pace_words = pace.map_or_else(String::new, |p| format!(", trigger bar on {p:.1}x the usual volume"));
    let why = format!("{why}{pace_words}");
    Some(TruthEvent::about(c_close, "strat", &w.symbols[sym], Bot::Strat, found.is_some() && heavy, near, why))
}

/// The breakout line of a story: the first breakouts firing (every 30 s, at
/// :20 and :50, the shipped timetable) that sees the last price beyond the 20-day extreme and,
/// for a hit, today's volume at 1.5× the 20-day pace.
pub(super) fn breakout_truth(w: &World, sym: usize, facts: &StoryFacts) -> Option<TruthEvent> {
    let dir = facts.story.kind.dir();
    let minutes = &w.minutes[sym];
    let hist = &w.history[sym];
    let recent = &hist[hist.len().saturating_sub(20)..];
    let avg = recent.iter().map(|b| b.v).sum::<f64>() / recent.len().max(1) as f64;
    let session = f64::from(w.day.session_s);
    let mut first_beyond: Option<u32> = None;
    let mut first_hit: Option<(u32, f64)> = None;
    let mut s = 20;
    while s <= w.end_s {
        if s >= w.start_s {
            let closed = (s / 60) as usize;
            if let Some(last) = closed.checked_sub(1).and_then(|k| minutes.get(k)) {
                let beyond = if dir > 0.0 { last.c > facts.level } else { last.c < facts.level };
                let volume: f64 = minutes[..closed].iter().map(|b| b.v).sum();
                let pace = volume / (avg * f64::from(s) / session);
                if beyond {
                    first_beyond.get_or_insert(s);
                    if pace >= rule::BREAKOUT_SURGE && first_hit.is_none() {
                        first_hit = Some((s, pace));
                    }
                }
            }
        }
        s += 30;
    }
    let near = facts.story.kind == StoryKind::Fake;
    let at = first_hit.map(|(s, _)| s).or(first_beyond)?;
    let name = if dir > 0.0 { "high" } else { "low" };
    let why = match first_hit {
        Some((_, pace)) => {
            format!("last price beyond the 20-day {name} {:.2} with volume at {pace:.2}x the 20-day pace", facts.level)
        }
        None => format!(
            "last price beyond the 20-day {name} {:.2} on ordinary volume, under BREAKOUT_MIN_VOLUME_SURGE (1.5x pace)",
            facts.level
        ),
    };
    let hit = first_hit.is_some();
    Some(TruthEvent::about(w.day.at(at), "breakout", &w.symbols[sym], Bot::Breakouts, hit, near, why))
}

/// What the tape shows about an injected option event once it has printed.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub call: bool,
    pub fill: Fill,
    pub premium: f64,
    pub volume_delta: f64,
    /// The contract's day volume at the previous snapshot, `interval_s`
    /// seconds earlier (what the volume multiple is measured against).
    pub previous_volume: f64,
    pub interval_s: u32,
    pub day_volume: f64,
    pub open_interest: f64,
    pub dte: i64,
    pub strike: f64,
    pub spot: f64,
    pub iv: f64,
    pub delta: f64,
    pub bid: f64,
    pub ask: f64,
    /// Distinct exchanges the injected ISO prints reached (0: none were ISO).
    pub iso_exchanges: usize,
    /// Seconds since the bell.
    pub at: u32,
    /// Qualifying ORAKL Flow events on this contract in the last 30 minutes,
    /// this one included.
    pub repeats: usize,
}

/// Whether the injected prints are a sweep as the bots confirm one: ISO
/// prints on at least `SWEEPS_MIN_EXCHANGES` distinct exchanges.
pub fn is_sweep(o: &Observed) -> bool {
    o.iso_exchanges >= rule::SWEEPS_MIN_EXCHANGES
}

/// The bots whose default rule holds for an observed option event.
pub fn expected_bots(w: &World, sym: usize, o: &Observed) -> Vec<Bot> {
    let mut out = Vec::new();
    if !spread_ok(o.bid, o.ask, rule::MAX_SPREAD_PCT) {
        return out;
    }
    let in_dte = |(lo, hi): (i64, i64)| (lo..=hi).contains(&o.dte);
    let distance = (o.strike - o.spot).abs() / o.spot;
    if qualifies_for_flow(o) && o.repeats >= rule::FLOW_REPEATS {
        out.push(Bot::OraklFlow);
    }
    // Sweeps and Golden Sweeps post confirmed sweeps only (the defaults
    // SWEEPS_REQUIRE_ISO, SWEEPS_MIN_EXCHANGES): a large buy without ISO
    // prints on several exchanges is neither family's, whatever its score.
    let sweep = is_sweep(o);
    let score = sweeps_score(o.premium, o.volume_delta, o.open_interest, o.fill, sweep);
    if sweep && o.premium >= rule::SWEEPS_MIN_PREMIUM && in_dte(rule::SWEEPS_DTE) && score >= rule::SWEEPS_MIN_SCORE {
        out.push(Bot::Sweeps);
    }
    if sweep
        && o.premium >= rule::GOLDEN_MIN_PREMIUM
        && in_dte(rule::GOLDEN_DTE)
        && distance <= rule::GOLDEN_MAX_DISTANCE
    {
        out.push(Bot::GoldenSweeps);
    }
    // Direction exists only for a trade at the ask (the injected ones are
    // buys): calls bullish, puts bearish.
    let bullish = o.call;
    let directional = o.fill == Fill::Ask;
    let et = OPEN_ET_SECONDS + o.at;
    if o.premium >= rule::BULLSEYE_MIN_PREMIUM
        && in_dte(rule::BULLSEYE_DTE)
        && (rule::BULLSEYE_DELTA.0..=rule::BULLSEYE_DELTA.1).contains(&o.delta.abs())
        && o.open_interest >= 1.0
        && o.day_volume / o.open_interest >= rule::BULLSEYE_MIN_VOI
        && volume_multiple(o) >= rule::BULLSEYE_MIN_VOLUME_MULTIPLE
        && et < rule::BULLSEYE_EOD_ET_S
        && directional
        && momentum_agrees(w, sym, o.at, bullish)
        && momentum_moves(w, sym, o.at)
        && underlying_surges(w, sym, o.at)
    {
        out.push(Bot::Bullseye);
    }
    if o.premium >= rule::SCALPS_MIN_PREMIUM
        && in_dte(rule::SCALPS_DTE)
        && distance <= rule::SCALPS_MAX_DISTANCE
        && directional
        && volume_multiple(o) >= rule::SCALPS_MIN_VOLUME_MULTIPLE
        && scalps_setup(w, sym, o.at, bullish)
    {
        out.push(Bot::Scalps);
    }
    out
}

/// Whether an event counts toward ORAKL Flow's repeats: the seed rule's premium,
/// DTE and P(ITM), and the hit unusual for its contract (its volume multiple,
/// measured as the engine measures it, and its Δvol/OI).
pub fn qualifies_for_flow(o: &Observed) -> bool {
    let ct = if o.call { ContractType::Call } else { ContractType::Put };
    let itm = prob_itm(ct, Some(o.spot), o.strike, Some(o.iv), Some(o.delta), o.dte).unwrap_or(0.0);
    let multiple = volume_multiple(o);
    o.premium >= rule::FLOW_MIN_PREMIUM
        && (rule::FLOW_DTE.0..=rule::FLOW_DTE.1).contains(&o.dte)
        && itm >= rule::FLOW_MIN_ITM
        && multiple >= rule::FLOW_MIN_VOLUME_MULTIPLE
        && (o.open_interest <= 0.0 || o.volume_delta / o.open_interest >= rule::FLOW_MIN_DELTA_VOI)
}

/// The event's volume against its contract's usual volume for the
/// interval, measured as the engine measures it.
fn volume_multiple(o: &Observed) -> f64 {
    let elapsed = f64::from(o.at.saturating_sub(o.interval_s));
    unusual::usual_multiple(o.previous_volume, o.volume_delta, f64::from(o.interval_s), elapsed)
}

/// A dark-pool alert's cooldown on its symbol (`DARKPOOL_COOLDOWN_SECONDS`).
pub const DARKPOOL_COOLDOWN_S: u32 = 900;

/// The dark-pool scan runs every 30 s (the shipped timetable): a block's
/// alert comes up to that long after its print, and its cooldown runs from
/// the alert.
const DARKPOOL_POLL_S: u32 = 30;

/// The second of the latest background off-exchange block whose dark-pool
/// alert would still hold the symbol's cooldown against a print of `size`
/// shares at second `s`, if any: one in the cooldown before it (or earlier
/// in the same poll) at least half its size (a print twice the alerted
/// notional breaks a cooldown; the prices are a few cents apart).
pub fn cooling_block(blocks: &[Block], s: u32, size: f64) -> Option<u32> {
    blocks
        .iter()
        .filter(|b| b.off_exchange && 2.0 * b.size > size)
        .filter(|b| b.second <= s && b.second + DARKPOOL_COOLDOWN_S + DARKPOOL_POLL_S > s)
        .map(|b| b.second)
        .max()
}

/// The repeat window, for counting qualifying events.
pub const FLOW_WINDOW_S: u32 = rule::FLOW_WINDOW_S;

/// Bullseye's momentum from the bot's own observations: whichever snapshot
/// 30 or more minutes old it compares with, spot now is beyond it. The bot
/// starts observing when the recording starts.
fn momentum_agrees(w: &World, sym: usize, t: u32, bullish: bool) -> bool {
    let Some(last_old) = t.checked_sub(rule::BULLSEYE_MOMENTUM_S) else { return false };
    if last_old < w.start_s {
        return false;
    }
    let now = w.spot(sym, t);
    let old = &w.paths[sym][w.start_s as usize..=last_old as usize];
    if bullish { old.iter().all(|&x| now > x) } else { old.iter().all(|&x| now < x) }
}

/// Bullseye's momentum is a move (`BULLSEYE_MIN_MOMENTUM_ATR` daily ATRs
/// at its default): the bot's reference is its latest observation at least
/// 30 minutes old, one of the snapshots of the chain interval before that
/// mark, so the move must hold against every spot of that interval.
fn momentum_moves(w: &World, sym: usize, t: u32) -> bool {
    let daily: Vec<crate::polygon::Bar> = w.history[sym].iter().map(|b| b.to_bar()).collect();
    let Some(atr) = crate::engine::daily_atr(&daily).filter(|a| *a > 0.0) else { return false };
    let Some(mark) = t.checked_sub(rule::BULLSEYE_MOMENTUM_S) else { return false };
    let from = mark.saturating_sub(w.interval).max(w.start_s);
    let now = w.spot(sym, t);
    let min = crate::bots::bullseye::DEFAULT_MIN_MOMENTUM_ATR;
    w.paths[sym][from as usize..=mark as usize].iter().all(|&x| (now - x).abs() / atr >= min)
}

/// Whether a dark print of `size` shares at `price` on a stock of average
/// daily volume `adv` ([`average_daily_volume`]) passes Darkpool's relative
/// gate at its defaults (the bot's own rule).
pub fn darkpool_relative_passes(adv: Option<f64>, size: f64, price: f64) -> bool {
    let cfg = crate::bots::darkpool::DarkpoolConfig::default();
    crate::bots::darkpool::relative_size(&cfg, size, price, adv).is_ok()
}

/// The stock's average daily volume over its previous 20 sessions, as the
/// bots' volume gates read it from daily bars; None with fewer sessions.
pub fn average_daily_volume(w: &World, sym: usize) -> Option<f64> {
    let hist = w.history.get(sym)?;
    let recent = &hist[hist.len().saturating_sub(20)..];
    (recent.len() == 20).then(|| recent.iter().map(|b| b.v).sum::<f64>() / 20.0)
}

/// Bullseye's volume gate as the bot measures it: the stock's volume so far
/// today (its closed minutes) over its 20-session average at the session's
/// elapsed fraction, against the default `BULLSEYE_MIN_VOLUME_SURGE`.
fn underlying_surges(w: &World, sym: usize, t: u32) -> bool {
    let adv = average_daily_volume(w, sym);
    let today: f64 = w.minutes[sym].iter().take((t / 60) as usize).map(|b| b.v).sum();
    let fraction = f64::from(t) / f64::from(w.day.session_s.max(1));
    let pace = adv.and_then(|adv| crate::bars::volume_pace(today, adv, fraction));
    crate::bots::bullseye::check_volume_surge(pace, crate::bots::bullseye::DEFAULT_MIN_VOLUME_SURGE).is_ok()
}

/// A Strat trigger of `SCALPS_PATTERNS` (the 3-1-2) in the trade's
/// direction among the last three closed 5-minute bars that is fresh: the
/// print came after its bar closed and at most
/// `SCALPS_MAX_TRIGGER_AGE_SECONDS` after it. And RSI(14) of their closes in
/// 50–70 (calls) or 30–50 (puts): the inputs the Scalps bot reads, computed
/// by the same functions. The oracle knows the print's second; the bot
/// times the flow by the contract's last trade in the snapshot, the print
/// that gives the event its side (`bots::scalps`).
fn scalps_setup(w: &World, sym: usize, t: u32, bullish: bool) -> bool {
    let now = w.day.at(t);
    let closed = market_bars(&w.minutes[sym], w.day, bars::Frame::Min5, now);
    let max_age = chrono::TimeDelta::seconds(rule::SCALPS_MAX_TRIGGER_AGE_S);
    let adv = average_daily_volume(w, sym);
    let trigger = strat::recent_trigger(&closed, 3, bullish, &rule::SCALPS_PATTERNS).is_some_and(|s| {
        let bar = closed.iter().find(|b| b.start == s.trigger_start);
        let pace = bar.and_then(|b| strat_bot::volume_pace(b, adv));
        now > s.trigger_end
            && now - s.trigger_end <= max_age
            && strat_bot::check_volume_pace(pace, strat_bot::DEFAULT_MIN_VOLUME_PACE, "").is_ok()
    });
    let closes: Vec<f64> = closed.iter().map(|b| b.close).collect();
    let rsi_ok = rsi_wilder(&closes, 14)
        .is_some_and(|r| if bullish { (50.0..=70.0).contains(&r) } else { (30.0..=50.0).contains(&r) });
    trigger && rsi_ok
}

/// The truth line of an injected option event (or of a repeat cluster, at
/// its last member).
pub fn option_truth(w: &World, plan: &OptionPlan, chain: &Chain, o: &Observed, members: &[(u32, f64)]) -> TruthEvent {
    let bots = expected_bots(w, plan.sym, o);
    let expected: Vec<String> = bots.iter().map(|b| b.as_str().to_string()).collect();
    let near_bots: Vec<String> = plan.near_miss_of.iter().map(|b| b.as_str().to_string()).collect();
    let missed = plan.near_miss_of.iter().all(|b| !bots.contains(b));
    let c = &chain.contracts[plan.contract];
    let mut why = format!(
        "{}; {} x {} at {:.2} = ${:.0} premium, {} DTE, strike {} vs spot {:.2}, OI {}",
        plan.why,
        o.volume_delta,
        if c.call { "call" } else { "put" },
        plan.prints.first().map_or(0.0, |p| p.price),
        o.premium,
        o.dte,
        c.strike,
        o.spot,
        o.open_interest
    );
    if o.iso_exchanges > 0 {
        let exchanges = if o.iso_exchanges == 1 { "exchange" } else { "exchanges" };
        why.push_str(&format!(", {} ISO prints on {} {exchanges}", plan.prints.len(), o.iso_exchanges));
        if !is_sweep(o) {
            why.push_str(&format!(" (not a sweep: fewer than SWEEPS_MIN_EXCHANGES={})", rule::SWEEPS_MIN_EXCHANGES));
        }
    }
    if members.len() > 1 {
        let list: Vec<String> = members
            .iter()
            .map(|(t, p)| {
                format!("{} ${p:.0}", w.day.at(*t).with_timezone(&crate::calendar::MARKET_TZ).format("%H:%M:%S"))
            })
            .collect();
        why.push_str(&format!("; hits at {}", list.join(", ")));
    }
    TruthEvent {
        id: String::new(),
        at: w.day.at(plan.at),
        kind: plan.kind.to_string(),
        symbol: w.symbols[plan.sym].clone(),
        contract: Some(c.ticker.clone()),
        expected_bots: expected,
        near_miss: !plan.near_miss_of.is_empty() && missed,
        near_miss_bots: near_bots,
        why,
        after: None,
        size: None,
        // Set by the recording, which knows every member's prints.
        prints_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::market::{Day, Story, generate_path, minute_bars, profile};
    use super::super::super::rng::Rng;
    use super::*;

    #[test]
    fn sweeps_and_golden_sweeps_are_expected_only_for_iso_prints_on_two_exchanges() {
        let day = Day::new("2026-03-09".parse().unwrap()).unwrap();
        let (symbols, paths) = (vec!["SPY".to_string()], vec![vec![100.0; 23_400]]);
        let w = World {
            day: &day,
            start_s: 0,
            end_s: 23_400,
            interval: 30,
            symbols: &symbols,
            paths: &paths,
            minutes: &[Vec::new()],
            history: &[Vec::new()],
            facts: &[None],
            blocks: &[Vec::new()],
        };
        // At the ask near the money, 30 DTE: no Bullseye, Scalps or repeats.
        let observed = |premium: f64, iso_exchanges| Observed {
            call: true,
            fill: Fill::Ask,
            premium,
            volume_delta: 4000.0,
            previous_volume: 0.0,
            interval_s: 30,
            day_volume: 4000.0,
            open_interest: 1000.0,
            dte: 30,
            strike: 101.0,
            spot: 100.0,
            iv: 0.2,
            delta: 0.45,
            bid: 4.9,
            ask: 5.0,
            iso_exchanges,
            at: 7200,
            repeats: 0,
        };
        // (premium, exchanges the ISO prints reached, expected bots)
        let cases = [
            (2_000_000.0, 0, vec![]),
            (2_000_000.0, 1, vec![]),
            (2_000_000.0, 2, vec![Bot::Sweeps, Bot::GoldenSweeps]),
            (2_000_000.0, 4, vec![Bot::Sweeps, Bot::GoldenSweeps]),
            // Score 85 without the ISO part: still no sweep, no Sweeps.
            (200_000.0, 1, vec![]),
            (200_000.0, 3, vec![Bot::Sweeps]),
        ];
        for (premium, exchanges, want) in cases {
            let o = observed(premium, exchanges);
            assert_eq!(expected_bots(&w, 0, &o), want, "premium {premium} on {exchanges} exchanges");
            assert_eq!(is_sweep(&o), exchanges >= 2);
        }
    }

    #[test]
    fn a_scalp_needs_a_fresh_trigger() {
        let day = Day::new(chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()).unwrap();
        for (kind, bullish) in [(StoryKind::Bull, true), (StoryKind::Bear, false)] {
            // A story whose 5-minute 3-1-2 came out as planned (RSI in band).
            let story = Story { kind, c_hour: 13 };
            let (prices, facts) = (0..20u64)
                .map(|seed| generate_path(&profile("CSCO"), &day, Some(story), &mut Rng::new(seed)))
                .find(|(_, f)| f.as_ref().is_some_and(|f| f.verified))
                .expect("a verified story");
            let symbols = ["CSCO".to_string()];
            let paths = [prices.clone()];
            let minutes = [minute_bars(&prices, &vec![1.0; day.minutes() as usize])];
            let facts = [facts];
            let w = World {
                day: &day,
                start_s: 0,
                end_s: day.session_s,
                interval: 30,
                symbols: &symbols,
                paths: &paths,
                minutes: &minutes,
                history: &[],
                facts: &facts,
                blocks: &[],
            };
            let close = story.setup_close_s() as u32;
            // (seconds after the trigger bar closed, a scalp): after the
            // close (a print at it belongs to the bar) up to
            // SCALPS_MAX_TRIGGER_AGE_SECONDS (300), while the trigger bar is
            // the latest closed one, and never in the other direction.
            for (after, want) in [(0, false), (1, true), (30, true), (299, true), (301, false), (600, false)] {
                assert_eq!(scalps_setup(&w, 0, close + after, bullish), want, "{kind:?} {after} s after");
                assert!(!scalps_setup(&w, 0, close + after, !bullish), "{kind:?} other way {after} s after");
            }
        }
    }

    #[test]
    fn a_background_block_holds_the_dark_pool_cooldown_unless_the_print_doubles_it() {
        let block = |second, size, off_exchange| Block { second, size, off_exchange };
        let blocks = [block(100, 12_000.0, true), block(2_000, 30_000.0, true), block(2_100, 40_000.0, false)];
        // (second, size, the block that holds the cooldown)
        let cases = [
            (100, 20_000.0, Some(100)),     // same second, 12,000 × 2 > 20,000
            (1_029, 20_000.0, Some(100)),   // 900 s cooldown + 30 s poll later, still held
            (1_030, 20_000.0, None),        // past it
            (500, 24_000.0, None),          // twice the block's size breaks it
            (99, 20_000.0, None),           // before the block
            (2_200, 50_000.0, Some(2_000)), // the lit block is not a dark-pool print
            (2_200, 60_000.0, None),
        ];
        for (k, (s, size, want)) in cases.into_iter().enumerate() {
            assert_eq!(cooling_block(&blocks, s, size), want, "case {k}");
        }
    }
}
