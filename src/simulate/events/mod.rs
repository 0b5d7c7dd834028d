//! The unusual events injected into a simulated day: where they go, how
//! large they are, and what their contracts do afterwards. The truth file
//! that lists them is [`truth`]; which bots each one should fire is decided
//! by the rule oracle, [`oracle`].
//!
//! Every event is built the way detection sees it (SPEC §5): new volume ΔV
//! between two chain snapshots, priced at the quote of that moment (at the
//! ask for a buyer, at the midpoint for a score near-miss), with a fresh
//! quote. Events sit inside the contract's ordinary background trading,
//! which adds to the ΔV the bots measure; near-misses are sized just under
//! one threshold, and the oracle says whether the background pushed them
//! over after all.
//!
//! After an option event its contract keeps trading (a little every minute,
//! so it has a minute bar in every minute to the end of the recording) and
//! its implied volatility drifts ([`plan_after`]) with the underlying's move:
//! runs and pops when the underlying moves the contract's way, fades when it
//! moves against it. The truth line's `after` says what the contract's
//! minute bars then show ([`after_event`], the rules of SPEC §8): an
//! outcomes feature replayed on the tape can be checked against it.

mod oracle;
mod truth;

pub use oracle::{FLOW_WINDOW_S, Observed, cooling_block, option_truth, qualifies_for_flow};
pub use truth::{TruthEvent, after_event, held_back};

use std::collections::BTreeSet;

use super::chain::{COND_ISO, COND_REGULAR, Chain, Drift, OPTION_EXCHANGES, Priced, Print};
use super::market::{Block, DailyBar, Day, InjectedPrint, Ohlc, Story, StoryFacts, StoryKind};
use super::rng::Rng;
use crate::alert::ContractType;
use crate::flow::prob_itm;
use crate::job::Bot;
use oracle::{breakout_truth, rule, spread_ok, strat_truth, sweeps_premium_part};

/// Where an injected option trade prints against the quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    Ask,
    Mid,
}

/// An option event ready to print at chain time `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionPlan {
    pub kind: &'static str,
    pub near_miss_of: Vec<Bot>,
    pub sym: usize,
    /// Chain time (seconds since the bell) whose snapshot reveals it.
    pub at: u32,
    pub contract: usize,
    pub fill: Fill,
    pub prints: Vec<Print>,
    /// Members of one repeat cluster share a group; the truth line is
    /// written at the last member.
    pub group: Option<(usize, usize)>,
    pub why: String,
}

impl OptionPlan {
    pub fn volume(&self) -> f64 {
        self.prints.iter().map(|p| p.size).sum()
    }

    pub fn premium(&self) -> f64 {
        self.prints.iter().map(|p| p.size * p.price * 100.0).sum()
    }

    /// The distinct exchanges its ISO prints reached (0: none is ISO).
    pub fn iso_exchanges(&self) -> usize {
        let iso = self.prints.iter().filter(|p| p.conditions.contains(&COND_ISO));
        iso.map(|p| p.exchange).collect::<BTreeSet<i32>>().len()
    }
}

/// A dark-pool print to place in a symbol's stock trades.
#[derive(Debug, Clone, PartialEq)]
pub struct DarkPlan {
    pub sym: usize,
    pub print: InjectedPrint,
}

/// Everything injected into one day.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub options: Vec<OptionPlan>,
    pub dark: Vec<DarkPlan>,
    /// Truth lines decided from the bars alone (Strat, breakouts, dark pool).
    pub truth: Vec<TruthEvent>,
}

/// The day as the planner and the oracle see it.
pub struct World<'a> {
    pub day: &'a Day,
    pub start_s: u32,
    pub end_s: u32,
    pub interval: u32,
    pub symbols: &'a [String],
    pub paths: &'a [Vec<f64>],
    pub minutes: &'a [Vec<Ohlc>],
    pub history: &'a [Vec<DailyBar>],
    pub facts: &'a [Option<StoryFacts>],
    /// Each symbol's background blocks, in time order.
    pub blocks: &'a [Vec<Block>],
}

impl World<'_> {
    fn spot(&self, sym: usize, t: u32) -> f64 {
        self.paths[sym].get(t as usize).copied().unwrap_or(0.0)
    }

    /// The first chain time at or after `t`.
    fn chain_time_at_or_after(&self, t: u32) -> u32 {
        let k = t.saturating_sub(self.start_s).div_ceil(self.interval.max(1));
        self.start_s + k * self.interval.max(1)
    }

    /// The first chain time from which an event can be seen: the bots need a
    /// baseline snapshot (and a minute of history) before it.
    fn earliest_event(&self) -> u32 {
        self.chain_time_at_or_after(self.start_s + 2 * self.interval + 60)
    }

    fn latest_event(&self) -> u32 {
        self.end_s.saturating_sub(30)
    }
}

/// Places the stories on symbols: Bull on the second symbol, Fake on the
/// third, Bear on the fourth (wrapping, one story per symbol), each in the
/// trigger hour whose events best fit the recorded window.
pub fn place_stories(n: usize, day: &Day, start_s: u32, end_s: u32, interval: u32) -> Vec<Option<Story>> {
    let mut out = vec![None; n];
    let kinds =
        [(1, StoryKind::Bull, [13, 12, 14]), (2, StoryKind::Fake, [12, 13, 14]), (3, StoryKind::Bear, [14, 12, 13])];
    for (slot, kind, hours) in kinds {
        if n == 0 {
            break;
        }
        let sym = slot % n;
        if out[sym].is_some() {
            continue;
        }
        let mut best: Option<(usize, Story)> = None;
        for c_hour in hours {
            let story = Story { kind, c_hour };
            if !story.fits(day.session_s) {
                continue;
            }
            let score = story_times(story)
                .into_iter()
                .filter(|&(t, need_before)| {
                    t >= i64::from(start_s + 2 * interval + 60 + need_before) && t + 70 <= i64::from(end_s)
                })
                .count();
            if score > 0 && best.is_none_or(|(b, _)| score > b) {
                best = Some((score, story));
            }
        }
        out[sym] = best.map(|(_, s)| s);
    }
    out
}

/// The moments a story's events are seen (seconds since the bell), each with
/// how much earlier the bots must already be watching (Bullseye's momentum
/// needs 30 minutes of its own observations).
fn story_times(story: Story) -> Vec<(i64, u32)> {
    let c0 = story.c_start_s();
    let x0 = story.cross_hour_start_s();
    match story.kind {
        StoryKind::Fake => vec![(c0 + 3600, 0), (x0 + 35 * 60, 0)],
        _ => vec![
            (c0 + 25 * 60 + 15, 0),
            (x0 + 35 * 60, 0),
            (c0 + 52 * 60, rule::BULLSEYE_MOMENTUM_S + 60),
            (c0 + 3600, 0),
        ],
    }
}

/// What the planner asks of a contract.
struct Want {
    call: bool,
    dte: (i64, i64),
    prefer_dte: i64,
    /// Target strike as a multiple of spot.
    moneyness: f64,
}

/// The best unused contract for `want` at second `t`, among those whose
/// quote passes `accept`: nearest the preferred DTE first, then the strike.
/// It is marked used, so no two events share a contract (each event's ΔV
/// must be its own).
fn claim(
    chain: &Chain,
    used: &mut BTreeSet<(usize, usize)>,
    sym: usize,
    want: &Want,
    spot: f64,
    t: u32,
    accept: &dyn Fn(&Priced, usize) -> bool,
) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for (i, c) in chain.contracts.iter().enumerate() {
        if c.call != want.call || c.dte < want.dte.0 || c.dte > want.dte.1 || used.contains(&(sym, i)) {
            continue;
        }
        let q = chain.price(i, spot, f64::from(t));
        if !accept(&q, i) {
            continue;
        }
        let cost = (c.dte - want.prefer_dte).abs() as f64 * 0.01 + (c.strike / spot - want.moneyness).abs();
        if best.is_none_or(|(b, _)| cost < b) {
            best = Some((cost, i));
        }
    }
    let (_, i) = best?;
    used.insert((sym, i));
    Some(i)
}

/// Splits `volume` contracts into prints at `price`: an intermarket sweep
/// across `iso` distinct exchanges within a few milliseconds, or one or two
/// ordinary fills. All land in the last 100 ms before the snapshot, so any
/// earlier poll (which saw the previous snapshot) asks for trades from a
/// moment before them.
fn prints(volume: f64, price: f64, iso: usize, rng: &mut Rng) -> Vec<Print> {
    let parts = if iso > 0 { iso } else { 1 + usize::from(volume >= 4.0 && rng.chance(0.5)) };
    let parts = parts.clamp(1, (volume as usize).max(1));
    let mut exchanges: Vec<i32> = OPTION_EXCHANGES.to_vec();
    let mut out = Vec::with_capacity(parts);
    let base = (volume / parts as f64).floor();
    let mut left = volume;
    for k in 0..parts {
        // Distinct exchanges while there are any left (a sweep hits each
        // venue once); more parts than venues reuse them in order.
        let exchange = if exchanges.is_empty() {
            OPTION_EXCHANGES[k % OPTION_EXCHANGES.len()]
        } else {
            exchanges.remove(rng.below(exchanges.len() as u64) as usize)
        };
        let size = if k + 1 == parts { left } else { base };
        left -= size;
        out.push(Print {
            before_ns: 90_000_000 - k as i64 * 9_000_000 - rng.below(1_000_000) as i64,
            size,
            price,
            exchange,
            conditions: vec![if iso > 0 { COND_ISO } else { COND_REGULAR }],
        });
    }
    out
}

/// How an injected option trade is sized.
#[derive(Debug, Clone, Copy)]
enum Size {
    /// Premium in dollars: at least it (a hit) or at most it (a near-miss).
    Premium { usd: f64, below: bool },
    /// Contracts.
    Contracts(f64),
}

fn contracts_for(size: Size, price: f64) -> f64 {
    match size {
        Size::Premium { usd, below: false } => (usd / (price * 100.0)).ceil().max(1.0),
        Size::Premium { usd, below: true } => (usd / (price * 100.0)).floor().max(1.0),
        Size::Contracts(n) => n.max(1.0),
    }
}

/// One injected buy: contract `contract` of symbol `sym` at chain time `at`.
struct Buy {
    sym: usize,
    contract: usize,
    at: u32,
    spot: f64,
    fill: Fill,
    size: Size,
    /// Exchanges swept with ISO prints (0: ordinary fills).
    iso: usize,
}

impl Buy {
    /// The buy's plan (outside any repeat cluster), its prints priced from
    /// the quote of that moment; `near_miss_of` is the bot it is sized to
    /// narrowly miss.
    fn plan(
        self,
        chains: &mut [Chain],
        kind: &'static str,
        near_miss_of: Option<Bot>,
        why: String,
        rng: &mut Rng,
    ) -> OptionPlan {
        let chain = &mut chains[self.sym];
        let q = chain.price(self.contract, self.spot, f64::from(self.at));
        let price = match self.fill {
            Fill::Ask => q.ask,
            Fill::Mid => q.mid(),
        };
        OptionPlan {
            kind,
            near_miss_of: near_miss_of.into_iter().collect(),
            sym: self.sym,
            at: self.at,
            contract: self.contract,
            fill: self.fill,
            prints: prints(contracts_for(self.size, price), price, self.iso, rng),
            group: None,
            why,
        }
    }
}

/// How an event contract's open interest is set.
#[derive(Debug, Clone, Copy)]
enum OiRule {
    /// OI = ΔV / ratio.
    Ratio(f64),
    /// OI such that the Sweeps score of the event is exactly this.
    SweepScore(f64),
}

/// One single-print flow event of the day.
struct FlowSpec {
    kind: &'static str,
    near_miss_of: Option<Bot>,
    /// Symbol index, modulo the number of symbols.
    slot: usize,
    /// Where in the window, 0 to 1.
    frac: f64,
    want: Want,
    fill: Fill,
    /// Premium range in dollars; `below` sizes down (a near-miss).
    usd: (f64, f64),
    below: bool,
    /// Exchanges swept with ISO prints (0: ordinary fills).
    iso: usize,
    oi: Option<OiRule>,
    why: &'static str,
}

fn flow_specs() -> [FlowSpec; 5] {
    let want = |call, dte, prefer_dte, moneyness| Want { call, dte, prefer_dte, moneyness };
    [
        FlowSpec {
            kind: "golden_sweep",
            near_miss_of: None,
            slot: 0,
            frac: 0.30,
            want: want(true, (14, 60), 30, 1.005),
            fill: Fill::Ask,
            usd: (1_440_000.0, 2_240_000.0),
            below: false,
            iso: 4,
            oi: None,
            why: "ISO sweep of calls at the ask near the money, premium above GOLDEN_MIN_PREMIUM ($1M)",
        },
        FlowSpec {
            kind: "golden_sweep",
            near_miss_of: Some(Bot::GoldenSweeps),
            slot: 1,
            frac: 0.55,
            want: want(false, (14, 60), 30, 0.995),
            fill: Fill::Ask,
            usd: (900_000.0, 960_000.0),
            below: true,
            iso: 3,
            oi: None,
            why: "ISO sweep of puts at the ask near the money, premium just under GOLDEN_MIN_PREMIUM ($1M)",
        },
        FlowSpec {
            kind: "sweep",
            near_miss_of: None,
            slot: 2,
            frac: 0.20,
            want: want(true, (7, 60), 21, 1.03),
            fill: Fill::Ask,
            usd: (120_000.0, 250_000.0),
            below: false,
            iso: 3,
            oi: Some(OiRule::Ratio(0.5)),
            why: "ISO sweep of OTM calls at the ask above SWEEPS_MIN_PREMIUM ($50k)",
        },
        FlowSpec {
            kind: "sweep",
            near_miss_of: Some(Bot::Sweeps),
            slot: 3,
            frac: 0.45,
            want: want(false, (7, 60), 21, 0.97),
            fill: Fill::Ask,
            usd: (44_000.0, 48_000.0),
            below: true,
            iso: 2,
            oi: None,
            why: "ISO sweep of OTM puts at the ask just under SWEEPS_MIN_PREMIUM ($50k)",
        },
        // Premium passes; the score lands at 57: premium 30 + Δvol/OI 19 + mid 8.
        FlowSpec {
            kind: "sweep",
            near_miss_of: Some(Bot::Sweeps),
            slot: 4,
            frac: 0.65,
            want: want(true, (7, 60), 28, 1.01),
            fill: Fill::Mid,
            usd: (195_000.0, 205_000.0),
            below: false,
            iso: 0,
            oi: Some(OiRule::SweepScore(57.0)),
            why: "calls bought at the midpoint without ISO prints: premium passes, score 57 is under MIN_SWEEP_SCORE (60)",
        },
    ]
}

/// A cluster of buys on one ITM contract for ORAKL Flow's repeat rule.
struct RepeatSpec {
    slot: usize,
    call: bool,
    frac: f64,
    hits: usize,
    gap_s: u32,
}

/// Three buys five minutes apart (the threshold), and a near-miss of two.
const REPEATS: [RepeatSpec; 2] = [
    RepeatSpec { slot: 5, call: true, frac: 0.35, hits: 3, gap_s: 300 },
    RepeatSpec { slot: 0, call: false, frac: 0.60, hits: 2, gap_s: 360 },
];

/// The near-miss scalp's expiries: past `SCALPS_MAX_DTE` (7), the nearest
/// preferred.
const SCALP_NEAR_DTE: (i64, i64) = (8, 30);

/// How an injected dark print is sized.
#[derive(Clone, Copy)]
enum DarkSize {
    /// A fixed number of shares.
    Shares(f64),
    /// This fraction of the stock's average daily volume (at least
    /// `DARKPOOL_MIN_SIZE`): a block unusual for that stock, whatever it
    /// trades (the background's blocks are capped at 200,000 shares and 60%
    /// of their minute).
    OfAdv(f64),
}

/// The injected dark prints: (symbol slot, place in the window, size,
/// conditions, what makes it a near-miss).
const DARK: [(usize, f64, DarkSize, &[i32], &str); 3] = [
    (1, 0.40, DarkSize::OfAdv(0.01), &[], ""),
    (2, 0.50, DarkSize::Shares(9_000.0), &[], ", under DARKPOOL_MIN_SIZE (10,000)"),
    (3, 0.70, DarkSize::OfAdv(0.01), &[2], " with condition 2 (average price), which is excluded"),
];

/// Plans the day's injected events. Option events and dark prints are
/// spread over the window; story events sit where their story put them.
pub fn plan(w: &World, chains: &mut [Chain], rng: &mut Rng) -> Plan {
    let mut plan = Plan::default();
    let n = w.symbols.len();
    if n == 0 || chains.len() != n {
        return plan;
    }
    let mut used: BTreeSet<(usize, usize)> = BTreeSet::new();
    let (e0, e1) = (w.earliest_event(), w.latest_event());
    let span = e1.saturating_sub(e0);
    let at = |frac: f64| w.chain_time_at_or_after(e0 + (f64::from(span) * frac) as u32).min(e1);
    if e1 > e0 {
        for spec in flow_specs() {
            let t = at(spec.frac);
            if let Some(p) = flow_event(w, chains, &mut used, &spec, t, rng) {
                plan.options.push(p);
            }
        }
        for (group, spec) in REPEATS.iter().enumerate() {
            repeat_events(w, chains, &mut used, group, spec, at(spec.frac), &mut plan, rng);
        }
        for (slot, frac, sizing, conditions, near_why) in DARK {
            let sym = slot % n;
            let adv = oracle::average_daily_volume(w, sym);
            let size = match (sizing, adv) {
                (DarkSize::Shares(s), _) => s,
                (DarkSize::OfAdv(f), Some(adv)) => ((adv * f / 100.0).round() * 100.0).max(rule::DARKPOOL_MIN_SIZE),
                // Without 20 sessions of history the bot cannot size it
                // either: a plain block.
                (DarkSize::OfAdv(_), None) => 50_000.0,
            };
            let share =
                adv.map(|adv| format!(", {:.2}% of its average daily volume", 100.0 * size / adv)).unwrap_or_default();
            let why = format!("{}-share off-exchange (TRF) print{share}{near_why}", crate::alert::fmt_money(size));
            let qualifies =
                conditions.iter().all(|c| !rule::DARKPOOL_EXCLUDED.contains(c)) && size >= rule::DARKPOOL_MIN_SIZE;
            // A few seconds into a minute, so the print sits inside its bar;
            // a print the scan should alert on goes to the first minute from
            // its place on that no background block's alert holds the
            // symbol's cooldown against it (blocks trade all day around it).
            let mut second = (e0 + (f64::from(span) * frac) as u32).min(e1) / 60 * 60 + 17;
            while qualifies && cooling_block(&w.blocks[sym], second, size).is_some() && second + 120 < w.end_s {
                second += 60;
            }
            if second >= w.end_s.saturating_sub(60) {
                continue;
            }
            let expected = qualifies && oracle::darkpool_relative_passes(adv, size, w.spot(sym, second));
            let near = size < rule::DARKPOOL_MIN_SIZE || !conditions.is_empty();
            let (at, symbol) = (w.day.at(second), &w.symbols[sym]);
            let line = TruthEvent::about(at, "darkpool", symbol, Bot::Darkpool, expected, near, why);
            plan.truth.push(TruthEvent { size: Some(size), ..line });
            plan.dark.push(DarkPlan { sym, print: InjectedPrint { second, size, conditions: conditions.to_vec() } });
        }
    }
    for sym in 0..n {
        let Some(facts) = w.facts[sym] else { continue };
        story_events(w, chains, &mut used, sym, &facts, &mut plan, rng);
    }
    plan
}

/// Whether an option plan writes a truth line: a single event, or the last
/// member of a repeat cluster.
pub fn writes_truth(p: &OptionPlan) -> bool {
    p.group.is_none_or(|(_, remaining)| remaining == 0)
}

/// What the contract of each option event does after it (set once every
/// event is planned, so no planned price changes): it trades a little every
/// minute from the event on, and its implied volatility drifts over 15 to 75
/// minutes so that its fair value follows the underlying's move and
/// amplifies it. When the underlying moves the contract's way by then, the
/// target is a run (×2.2–2.6 the event's ask, past T2), a pop (×1.6–1.85,
/// past T1 only) or a drift up (×1–1.2), never below what the move alone
/// gives; when it moves against it, a fade (×0.34–0.44, past the stop) or a
/// drift down (×0.85–1), never above. Targets take turns by event (in plan
/// order, from a drawn start). The volatility factor stays within 0.3–3, so
/// a deep in-the-money contract (mostly intrinsic value) cannot reach every
/// target; the truth's `after` reports what the bars show, not the target.
pub fn plan_after(w: &World, chains: &mut [Chain], plan: &Plan, rng: &mut Rng) {
    const WITH: [(f64, f64); 3] = [(2.2, 2.6), (1.6, 1.85), (1.0, 1.2)];
    const AGAINST: [(f64, f64); 2] = [(0.34, 0.44), (0.85, 1.0)];
    let offset = rng.below(6) as usize;
    for (k, p) in plan.options.iter().filter(|p| writes_truth(p)).enumerate() {
        let Some(chain) = chains.get_mut(p.sym) else { continue };
        let u = rng.f64();
        let minutes = rng.range(15.0, 75.0);
        let ask = chain.price(p.contract, w.spot(p.sym, p.at), f64::from(p.at)).ask;
        let to_s = (p.at + (minutes * 60.0) as u32).min(w.end_s);
        let c = &mut chain.contracts[p.contract];
        c.follow_from = Some(p.at);
        c.drift = None;
        if to_s < p.at + 120 {
            continue;
        }
        let call = c.call;
        let (spot, t) = (w.spot(p.sym, to_s), f64::from(to_s));
        let fair = |m: f64| chain.fair_with(p.contract, spot, t, m);
        let plain = fair(1.0);
        let moved = w.spot(p.sym, to_s) - w.spot(p.sym, p.at);
        let with = if call { moved >= 0.0 } else { moved <= 0.0 };
        let target = if with {
            let (lo, hi) = WITH[(k + offset) % WITH.len()];
            (ask * (lo + u * (hi - lo))).max(plain)
        } else {
            let (lo, hi) = AGAINST[(k + offset) % AGAINST.len()];
            (ask * (lo + u * (hi - lo))).min(plain)
        };
        // The fair value rises with volatility: bisect its log.
        let (mut a, mut b) = (0.3f64.ln(), 3.0f64.ln());
        if fair(b.exp()) <= target {
            a = b;
        } else if fair(a.exp()) >= target {
            b = a;
        }
        for _ in 0..50 {
            let mid = 0.5 * (a + b);
            if fair(mid.exp()) < target {
                a = mid;
            } else {
                b = mid;
            }
        }
        let log_mult = 0.5 * (a + b);
        chain.contracts[p.contract].drift = Some(Drift { from_s: p.at, to_s, log_mult });
    }
}

/// Picks a contract for `spec` at `t`, prices the event and sets the
/// contract's open interest if the spec asks; `None` when nothing fits.
fn flow_event(
    w: &World,
    chains: &mut [Chain],
    used: &mut BTreeSet<(usize, usize)>,
    spec: &FlowSpec,
    t: u32,
    rng: &mut Rng,
) -> Option<OptionPlan> {
    let sym = spec.slot % w.symbols.len();
    let spot = w.spot(sym, t);
    // A tight, liquid quote; a midpoint fill needs a spread of two ticks or
    // more to land strictly inside it.
    let accept = |q: &Priced, _: usize| {
        spread_ok(q.bid, q.ask, 0.15)
            && q.ask >= 0.5
            && (spec.fill != Fill::Mid || q.ask - q.bid >= 2.0 * q.tick - 1e-9)
    };
    let i = claim(&chains[sym], used, sym, &spec.want, spot, t, &accept)?;
    let size = Size::Premium { usd: rng.range(spec.usd.0, spec.usd.1), below: spec.below };
    let buy = Buy { sym, contract: i, at: t, spot, fill: spec.fill, size, iso: spec.iso };
    let plan = buy.plan(chains, spec.kind, spec.near_miss_of, spec.why.to_string(), rng);
    let (volume, premium) = (plan.volume(), plan.premium());
    let contract = &mut chains[sym].contracts[i];
    match spec.oi {
        Some(OiRule::Ratio(r)) => contract.open_interest = (volume / r).round().max(1.0),
        Some(OiRule::SweepScore(target)) => {
            let side = if spec.fill == Fill::Mid { 8.0 } else { 20.0 };
            let part = (target - sweeps_premium_part(premium) - side).clamp(0.5, 24.5);
            contract.open_interest = (volume * 25.0 / part).round().max(1.0);
        }
        None => {}
    }
    Some(plan)
}

/// The buys of one repeat cluster: one ITM contract (P(ITM) ≥ 0.6 at the
/// first buy), $15k–$30k each at the ask, amid the contract's background
/// (whose own qualifying flow the oracle counts too).
#[allow(clippy::too_many_arguments)]
fn repeat_events(
    w: &World,
    chains: &mut [Chain],
    used: &mut BTreeSet<(usize, usize)>,
    group: usize,
    spec: &RepeatSpec,
    t1: u32,
    plan: &mut Plan,
    rng: &mut Rng,
) {
    let sym = spec.slot % w.symbols.len();
    let times: Vec<u32> = (0..spec.hits as u32).map(|k| w.chain_time_at_or_after(t1 + k * spec.gap_s)).collect();
    if times.last().is_none_or(|&t| t > w.latest_event()) {
        return;
    }
    let call = spec.call;
    let want = Want { call, dte: (8, 40), prefer_dte: 21, moneyness: if call { 0.965 } else { 1.035 } };
    let spot = w.spot(sym, t1);
    let ct = if call { ContractType::Call } else { ContractType::Put };
    let accept = |q: &Priced, i: usize| {
        let c = &chains[sym].contracts[i];
        let itm = prob_itm(ct, Some(spot), c.strike, Some(q.iv), Some(q.bs.delta), c.dte).unwrap_or(0.0);
        // Cheap enough that $15k buys several contracts.
        spread_ok(q.bid, q.ask, 0.15) && itm >= 0.6 && q.ask * 100.0 < 15_000.0
    };
    let Some(i) = claim(&chains[sym], used, sym, &want, spot, t1, &accept) else { return };
    let near = spec.hits < rule::FLOW_REPEATS;
    let (kind, hits) = (if call { "call" } else { "put" }, spec.hits);
    let why = if near {
        format!("{hits} buys of an ITM {kind} at the ask within 30 minutes, one short of REPEAT_SIGNAL_THRESHOLD (3)")
    } else {
        format!("{hits} buys of an ITM {kind} at the ask within 30 minutes (REPEAT_SIGNAL_THRESHOLD 3)")
    };
    for (k, &t) in times.iter().enumerate() {
        let size = Size::Premium { usd: rng.range(15_000.0, 30_000.0), below: false };
        let buy = Buy { sym, contract: i, at: t, spot: w.spot(sym, t), fill: Fill::Ask, size, iso: 0 };
        let member = buy.plan(chains, "orakl_flow_repeat", near.then_some(Bot::OraklFlow), why.clone(), rng);
        plan.options.push(OptionPlan { group: Some((group, spec.hits - 1 - k)), ..member });
    }
}

/// Contracts the background of contract `i` is expected to have traded by
/// second `t` (its daily volume times the intraday profile's share so far).
fn expected_background(w: &World, chain: &Chain, i: usize, t: u32) -> f64 {
    let weights = Chain::weights(w.day);
    let whole = (t / 60) as usize;
    let share: f64 =
        weights.iter().take(whole).sum::<f64>() + weights.get(whole).copied().unwrap_or(0.0) * f64::from(t % 60) / 60.0;
    chain.contracts.get(i).map_or(0.0, |c| c.adv * share)
}

/// Options events of a story: after the break a Bullseye and its
/// near-miss, at the 5-minute setup a scalp and its near-miss; and the truth
/// lines of its Strat trigger and its breakout, read from the bars.
fn story_events(
    w: &World,
    chains: &mut [Chain],
    used: &mut BTreeSet<(usize, usize)>,
    sym: usize,
    facts: &StoryFacts,
    plan: &mut Plan,
    rng: &mut Rng,
) {
    let story = facts.story;
    let window = w.earliest_event()..=w.latest_event();
    if story.kind != StoryKind::Fake {
        let call = story.kind == StoryKind::Bull;
        let dir = story.kind.dir();
        let (kind, side, way) = if call { ("calls", "high", "up") } else { ("puts", "low", "down") };
        // Bullseye first (its contract is the scarcer): after the break, a
        // 1–5 DTE contract near 0.5 delta whose day volume is 3.6× its OI
        // (the near-miss 2.6×): the OI is set for the ratio from the
        // background the contract is expected to have traded by then plus
        // the buy; the oracle reads the ratio the tape then shows.
        let t = w.chain_time_at_or_after((story.c_start_s() + 52 * 60) as u32);
        if window.contains(&t) {
            let spot = w.spot(sym, t);
            for (k, near) in [false, true].into_iter().enumerate() {
                let want = Want { call, dte: (1, 5), prefer_dte: 3, moneyness: 1.0 + dir * 0.004 * k as f64 };
                let accept =
                    |q: &Priced, _: usize| spread_ok(q.bid, q.ask, 0.15) && (0.41..=0.59).contains(&q.bs.delta.abs());
                let Some(i) = claim(&chains[sym], used, sym, &want, spot, t, &accept) else { continue };
                let q = chains[sym].price(i, spot, f64::from(t));
                let ratio = if near { 2.6 } else { 3.6 };
                let before = expected_background(w, &chains[sym], i, t);
                // Enough that the buy clears BULLSEYE_MIN_PREMIUM either way,
                // as large as the background so far (which then moves the
                // ratio less) up to $150,000: a directional buy, not a block
                // that is also a golden sweep.
                let least = (7_500.0 / (q.ask * 100.0)).ceil().max(50.0);
                let most = (150_000.0 / (q.ask * 100.0)).floor().max(least);
                let buy = before.clamp(least, most).round();
                let oi = ((before + buy) / ratio).round().max(1.0);
                chains[sym].contracts[i].open_interest = oi;
                let size = Size::Contracts(buy);
                let buy = Buy { sym, contract: i, at: t, spot, fill: Fill::Ask, size, iso: 0 };
                let under = if near { ", under BULLSEYE_MIN_VOI_RATIO (3.0)" } else { "" };
                let why = format!(
                    "{kind} near 0.5 delta at the ask after the break of the 20-day {side}, day volume {ratio}x OI{under}"
                );
                plan.options.push(buy.plan(chains, "bullseye", near.then_some(Bot::Bullseye), why, rng));
            }
        }
        // Scalp: a cheap OTM contract of the nearest expiry right after the
        // 5-minute 3-1-2 triggers; the near-miss is the same buy on an expiry
        // past SCALPS_MAX_DTE, which no background flow on its contract can
        // change (a near-miss under the $2k floor was pushed over it by the
        // contract's own background in the same snapshot, and strikes far
        // enough from spot are not listed in the nearest expiries).
        let t = w.chain_time_at_or_after(story.setup_close_s() as u32 + 15);
        if window.contains(&t) {
            let spot = w.spot(sym, t);
            for near in [false, true] {
                let moneyness = 1.0 + dir * 0.008;
                let want = if near {
                    Want { call, dte: (SCALP_NEAR_DTE.0, SCALP_NEAR_DTE.1), prefer_dte: SCALP_NEAR_DTE.0, moneyness }
                } else {
                    Want { call, dte: (0, 7), prefer_dte: 0, moneyness }
                };
                // Out of Bullseye's delta band, so the scalp is only a scalp.
                let most = if near { 25.0 } else { 6.0 };
                let accept = |q: &Priced, _: usize| {
                    spread_ok(q.bid, q.ask, 0.2) && (0.05..=most).contains(&q.ask) && q.bs.delta.abs() <= 0.38
                };
                let Some(i) = claim(&chains[sym], used, sym, &want, spot, t, &accept) else { continue };
                let size = Size::Premium { usd: rng.range(5_000.0, 9_000.0), below: false };
                let buy = Buy { sym, contract: i, at: t, spot, fill: Fill::Ask, size, iso: 0 };
                let why = if near {
                    let dte = chains[sym].contracts[i].dte;
                    format!(
                        "{kind} at the ask right after a 5-minute 3-1-2 {way} trigger, {dte} DTE, beyond SCALPS_MAX_DTE (7)"
                    )
                } else {
                    format!("{kind} at the ask right after a 5-minute 3-1-2 {way} trigger, RSI {:.1}", facts.setup_rsi)
                };
                plan.options.push(buy.plan(chains, "scalp", near.then_some(Bot::Scalps), why, rng));
            }
        }
    }
    if let Some(t) = strat_truth(w, sym, facts) {
        plan.truth.push(t);
    }
    if let Some(t) = breakout_truth(w, sym, facts) {
        plan.truth.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::oracle::sweeps_score;
    use super::*;
    use crate::polygon::Bar;
    use chrono::NaiveDate;

    fn day(s: &str) -> Day {
        Day::new(s.parse::<NaiveDate>().unwrap()).unwrap()
    }

    #[test]
    fn stories_go_to_the_second_third_and_fourth_symbols_in_hours_that_fit() {
        let full = day("2026-03-09");
        let bull = |h| Some(Story { kind: StoryKind::Bull, c_hour: h });
        let fake = |h| Some(Story { kind: StoryKind::Fake, c_hour: h });
        let bear = |h| Some(Story { kind: StoryKind::Bear, c_hour: h });
        // (symbols, window start, window end, stories)
        let cases = [
            (6, 0, 23_400, vec![None, bull(13), fake(12), bear(14), None, None]),
            (2, 0, 23_400, vec![fake(12), bull(13)]),
            (1, 0, 23_400, vec![bull(13)]),
            // 12:30–14:10: the Fake moves to hour 12 so its break (13:35) is seen.
            (2, 10_800, 16_800, vec![fake(12), bull(13)]),
            // Thirty minutes after the open: nothing a story needs is inside.
            (2, 0, 1_800, vec![None, None]),
        ];
        for (n, start, end, want) in cases {
            assert_eq!(place_stories(n, &full, start, end, 30), want, "{n} symbols {start}..{end}");
        }
        // An early close (13:00): only the Bull fits, in hour 12 (the Fake
        // needs an hour after its trigger hour).
        let short = day("2026-11-27");
        assert_eq!(place_stories(2, &short, 0, short.session_s, 30), vec![None, bull(12)]);
    }

    #[test]
    fn sweeps_score_and_sizing() {
        // (premium, ΔV, OI, fill, ISO, score)
        let cases = [
            (50_000.0, 10.0, 1000.0, Fill::Ask, false, 10.0 + 0.25 + 20.0),
            (200_000.0, 100.0, 100.0, Fill::Ask, true, 30.0 + 25.0 + 20.0 + 15.0),
            (1_600_000.0, 10.0, 0.0, Fill::Mid, false, 40.0 + 25.0 + 8.0),
            (200_000.0, 76.0, 100.0, Fill::Mid, false, 30.0 + 19.0 + 8.0),
        ];
        for (premium, dv, oi, fill, iso, want) in cases {
            let got = sweeps_score(premium, dv, oi, fill, iso);
            assert!((got - want).abs() < 1e-9, "{premium} {dv} {oi}: {got} != {want}");
        }
        // A hit rounds its contracts up past the target, a near-miss down under it.
        assert_eq!(contracts_for(Size::Premium { usd: 1_000_000.0, below: false }, 3.33), 3004.0);
        assert_eq!(contracts_for(Size::Premium { usd: 1_000_000.0, below: true }, 3.33), 3003.0);
        assert_eq!(contracts_for(Size::Contracts(0.0), 1.0), 1.0);
    }

    fn bar(high: f64, low: f64) -> Bar {
        Bar {
            start_ms: 0,
            open: low,
            high,
            low,
            close: high,
            volume: 1.0,
            vwap: None,
            transactions: None,
            ticker: None,
            otc: None,
        }
    }

    #[test]
    fn after_follows_the_outcome_rules() {
        // (bars as (high, low), first, t2, max %, min %) from an entry of 2.00
        type Case = (&'static [(f64, f64)], &'static str, bool, Option<f64>, Option<f64>);
        let cases: [Case; 7] = [
            (&[], "none", false, None, None),
            (&[(2.5, 1.5), (2.9, 1.2)], "none", false, Some(45.0), Some(-40.0)),
            (&[(2.2, 1.9), (3.0, 2.1), (3.5, 2.5)], "t1", false, Some(75.0), Some(-5.0)),
            (&[(3.1, 2.0), (4.2, 3.0)], "t1", true, Some(110.0), Some(0.0)),
            // A stop after T1 ends it: a later +100% does not upgrade.
            (&[(3.2, 2.0), (2.0, 0.9), (4.4, 1.0)], "t1", false, Some(120.0), Some(-55.0)),
            // One bar touching both the stop and T1 counts as stopped.
            (&[(3.0, 1.0), (5.0, 3.0)], "stop", false, Some(150.0), Some(-50.0)),
            (&[(2.1, 1.7), (1.8, 0.98)], "stop", false, Some(5.0), Some(-51.0)),
        ];
        for (bars, first, t2, max_pct, min_pct) in cases {
            let bars: Vec<Bar> = bars.iter().map(|&(h, l)| bar(h, l)).collect();
            let a = after_event(2.0, &bars);
            assert_eq!((a.first.as_str(), a.t2, a.max_pct, a.min_pct), (first, t2, max_pct, min_pct), "{bars:?}");
            assert_eq!((a.entry, a.bars), (2.0, bars.len()));
        }
        // Exactly +50% from an entry whose 1.5x is not exact in binary.
        assert_eq!(after_event(1.1, &[bar(1.65, 1.1)]).first, "t1");
    }

    #[test]
    fn sweeps_are_split_across_distinct_exchanges_just_before_the_snapshot() {
        let mut rng = Rng::new(3);
        let p = prints(1001.0, 2.5, 4, &mut rng);
        assert_eq!(p.len(), 4);
        assert_eq!(p.iter().map(|x| x.size).sum::<f64>(), 1001.0);
        let exchanges: BTreeSet<i32> = p.iter().map(|x| x.exchange).collect();
        assert_eq!(exchanges.len(), 4);
        assert!(p.iter().all(|x| x.conditions == [COND_ISO] && (0..100_000_000).contains(&x.before_ns)));
        assert!(p.windows(2).all(|w| w[0].before_ns > w[1].before_ns), "in time order");
        let plain = prints(3.0, 1.0, 0, &mut rng);
        assert!(!plain.is_empty() && plain.iter().all(|x| x.conditions == [COND_REGULAR]));
    }
}
