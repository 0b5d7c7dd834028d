//! Outcome tracking, the pure core: did an alert's plan work?
//!
//! Three steps, each a plain function of data and time (SPEC §8):
//!
//! 1. [`plan_for`] turns an alert into a [`Plan`] — option-premium terms for
//!    the flow bots, the published underlying levels for the stock-plan bots,
//!    nothing for dark-pool prints.
//! 2. [`advance`] walks minute bars of the plan's instrument, strictly after
//!    the alert minute, and moves an [`Outcome`] forward. It is incremental:
//!    the shell may call it every 30 minutes with overlapping bars and the
//!    result is the same as one call with every bar.
//! 3. [`summarize`] and [`render_report`] aggregate stored outcomes into the
//!    weekly report.
//!
//! The types map 1:1 onto the `outcomes` table: [`Kind`], [`Direction`] and
//! [`Status`] spell the column values through `as_str`/`FromStr`; a plan's
//! `entry`, `stop`, `t1`, `t2` and `opened_at` are columns; an outcome's
//! `status`, `resolved_at`, `mfe` and `mae` are columns and its
//! `last_bar_end` is stored in `last_checked_at` (the instant up to which bars
//! have been counted, so nothing is counted twice). `expires_at` has no
//! column: [`expiry`] recomputes it from the alert.
//!
//! # Method
//!
//! Win = T1 touched before the stop. A bar that touches both the stop and a
//! target counts as stopped, because one minute bar cannot tell which came
//! first and the report should never flatter a bot. T2 after T1 upgrades; a
//! stop after T1 ends the watch but keeps the win (the trader who took
//! profit at T1 was paid). MFE and MAE are magnitudes (both ≥ 0), as
//! fractions of the entry: the largest move in the plan's favour and against
//! it over the bars counted.
//!
//! An underlying plan whose entry is not the market at the alert (the spot
//! had not reached a trigger, or had passed it and the plan waits for a
//! retest) is a limit order: it is filled only when a bar after the alert
//! touches the entry, and counts nothing before. One never filled by its
//! expiry is "not filled": no win, no loss, not resolved.
//!
//! Every outcome carries an R-multiple: its result over its initial risk
//! (|entry − stop|). The stop is −1R, T1 and T2 their own distance in R (an
//! option-premium plan with the −50% stop and +50% T1 is −1R and +1R); an
//! outcome still open, or expired without a level, is marked at the close of
//! the last bar counted.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use crate::alert::Alert;
use crate::bars::Bar;
use crate::calendar;
use crate::config::Config;
use crate::job::Bot;

/// The option-premium plan's shape and the underlying plan's horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutcomeParams {
    /// `OUTCOME_T1_PCT`: T1 = entry × (1 + t1_pct).
    pub t1_pct: f64,
    /// `OUTCOME_T2_PCT`: T2 = entry × (1 + t2_pct).
    pub t2_pct: f64,
    /// `OUTCOME_STOP_PCT`: stop = entry × (1 − stop_pct).
    pub stop_pct: f64,
    /// `OUTCOME_MAX_DAYS`: trading sessions an underlying plan is watched.
    pub max_days: u32,
}

impl OutcomeParams {
    pub fn from_config(cfg: &Config) -> Self {
        OutcomeParams {
            t1_pct: cfg.tunables.outcome_t1_pct,
            t2_pct: cfg.tunables.outcome_t2_pct,
            stop_pct: cfg.tunables.outcome_stop_pct,
            // The configuration already holds it to 1..=365; the clamp only
            // makes the conversion total.
            max_days: cfg.tunables.outcome_max_days.clamp(1, 365) as u32,
        }
    }
}

/// What the plan's prices are quoted in: the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The alerted option's premium, per share.
    Premium,
    /// The underlying stock's price.
    Underlying,
}

/// Which way the plan profits: the `direction` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Long,
    Short,
}

/// Where an outcome stands: the `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Open,
    T1,
    T2,
    Stopped,
    Expired,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Premium => "premium",
            Kind::Underlying => "underlying",
        }
    }

    /// The kind of plan a bot's alerts carry; `None` for bots whose alerts
    /// publish no plan (dark-pool prints are information, not a trade).
    pub fn of(bot: Bot) -> Option<Kind> {
        // Exhaustive on purpose: a new bot must decide how it is measured.
        match bot {
            Bot::OraklFlow | Bot::Sweeps | Bot::GoldenSweeps => Some(Kind::Premium),
            Bot::Bullseye | Bot::Scalps | Bot::Breakouts | Bot::Strat => Some(Kind::Underlying),
            Bot::Darkpool => None,
        }
    }
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Long => "long",
            Direction::Short => "short",
        }
    }

    /// +1 for long, −1 for short: multiplying a price difference by it turns
    /// "up" into "in the plan's favour", so one code path serves both.
    fn sign(self) -> f64 {
        match self {
            Direction::Long => 1.0,
            Direction::Short => -1.0,
        }
    }
}

impl Status {
    pub const ALL: [Status; 5] = [Status::Open, Status::T1, Status::T2, Status::Stopped, Status::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::T1 => "t1",
            Status::T2 => "t2",
            Status::Stopped => "stopped",
            Status::Expired => "expired",
        }
    }
}

/// Parses a column value back, naming the column and the value on failure.
fn parse_column<T: Copy>(column: &str, s: &str, all: &[T], name: impl Fn(T) -> &'static str) -> Result<T, String> {
    all.iter().copied().find(|v| name(*v) == s).ok_or_else(|| format!("unknown outcome {column} `{s}`"))
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_column("kind", s, &[Kind::Premium, Kind::Underlying], Kind::as_str)
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_column("direction", s, &[Direction::Long, Direction::Short], Direction::as_str)
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_column("status", s, &Status::ALL, Status::as_str)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Win = T1 touched before the stop. T2 implies T1 was reached, so it is a
/// win too; `Open` is undecided, not a loss.
pub fn is_win(status: Status) -> bool {
    matches!(status, Status::T1 | Status::T2)
}

/// A plan to measure: levels in one instrument's prices and a horizon.
///
/// Invariants (enforced by [`plan_for`]): every level finite, entry > 0, the
/// stop strictly on the losing side of the entry, T1 strictly on the winning
/// side, T2 (when present) at or beyond T1, and `expires_at > opened_at`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub kind: Kind,
    pub direction: Direction,
    pub entry: f64,
    pub stop: f64,
    pub t1: f64,
    pub t2: Option<f64>,
    /// The alert's time; only bars starting after its minute count.
    pub opened_at: DateTime<Utc>,
    /// The entry is a limit order (not the market at the alert): nothing
    /// counts until a bar after the alert touches it.
    pub limit: bool,
    /// No bar ending after this counts; once `now` reaches it the outcome is
    /// final.
    pub expires_at: DateTime<Utc>,
}

/// The plan an alert publishes, or `None` when it publishes none or its
/// levels cannot be measured.
///
/// `quote` is the option's `(bid, ask)` at the alert, for the premium plans
/// of the flow bots. Their entry is the ask (what a buyer pays); when the
/// quote is crossed (bid above ask, so one side is stale) the mid; with no
/// usable quote the alert's average fill. T1, T2 and the stop are the
/// configured percentages of that entry and the plan expires at the close of
/// the option's expiration session.
///
/// The stock-plan bots (bullseye, scalps, breakouts, strat) are measured on
/// the underlying at their published `entry`, `stop` and `targets` (T1 =
/// first target, T2 = second); the direction follows from the stop's side,
/// and the plan expires at the close of the `max_days`-th session after the
/// alert's trading date.
pub fn plan_for(alert: &Alert, quote: Option<(f64, f64)>, params: &OutcomeParams) -> Option<Plan> {
    let kind = Kind::of(alert.bot)?;
    let (entry, stop, t1, t2) = match kind {
        Kind::Premium => {
            let entry = premium_entry(quote, alert.avg_price)?;
            let at = |pct: f64| entry * (1.0 + pct);
            (entry, entry * (1.0 - params.stop_pct), at(params.t1_pct), Some(at(params.t2_pct)))
        }
        Kind::Underlying => {
            let targets = alert.targets.as_deref().unwrap_or(&[]);
            (alert.entry?, alert.stop?, *targets.first()?, targets.get(1).copied())
        }
    };
    let (direction, t2) = check_levels(entry, stop, t1, t2)?;
    let expires_at = expiry(alert, params)?;
    if expires_at <= alert.at {
        return None;
    }
    let limit = kind == Kind::Underlying && is_limit(entry, alert.spot);
    Some(Plan { kind, direction, entry, stop, t1, t2, opened_at: alert.at, expires_at, limit })
}

/// True when an underlying plan's `entry` is not the market at the alert:
/// the spot then was elsewhere (short of a trigger, or past it with the
/// plan waiting for a retest), so a trader's order rests at the entry until
/// the price comes to it. Without a spot the entry is taken as the market,
/// as the plan published it.
pub fn is_limit(entry: f64, spot: Option<f64>) -> bool {
    spot.filter(|s| s.is_finite() && *s > 0.0)
        .is_some_and(|s| (s - entry).abs() > crate::alert::PRICE_EPSILON * entry.abs().max(1.0))
}

/// When the plan of `alert` stops being watched; `None` for bots without a
/// plan and for an option alert without an expiration date.
pub fn expiry(alert: &Alert, params: &OutcomeParams) -> Option<DateTime<Utc>> {
    match Kind::of(alert.bot)? {
        Kind::Premium => option_expiry(alert.expiration?),
        Kind::Underlying => {
            let mut date = calendar::trading_date(alert.at);
            // Counting from the alert's trading date (or the closed day it
            // fell on) means an alert at 15:59 still gets `max_days` full
            // sessions after its own.
            for _ in 0..params.max_days {
                date = calendar::next_trading_day(date)?;
            }
            calendar::session(date).map(|s| s.close)
        }
    }
}

/// The end of trading in a contract expiring on `date`: the session's close,
/// which is 13:00 ET on an early-close day (options stop trading with the
/// stock market). A date with no session (a holiday-moved expiry recorded
/// under its nominal date) falls back to 16:00 ET of that date.
fn option_expiry(date: NaiveDate) -> Option<DateTime<Utc>> {
    if let Some(s) = calendar::session(date) {
        return Some(s.close);
    }
    calendar::et_instant(date, (16, 0))
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Ask, else mid, else the average fill (SPEC §8). A missing bid (0, common
/// for cheap far-out options) does not spoil the ask.
fn premium_entry(quote: Option<(f64, f64)>, avg_fill: Option<f64>) -> Option<f64> {
    if let Some((bid, ask)) = quote {
        let crossed = crate::flow::QuotePoint { bid, ask, at_ns: 0 }.is_crossed();
        if positive(ask) && !crossed {
            return Some(ask);
        }
        if crossed {
            return Some((bid + ask) / 2.0);
        }
    }
    avg_fill.filter(|p| positive(*p))
}

/// The direction of a set of levels and the T2 worth keeping, or `None` when
/// the levels cannot be measured. A T2 short of T1 is dropped rather than
/// the whole plan: T1 alone still decides win or loss.
fn check_levels(entry: f64, stop: f64, t1: f64, t2: Option<f64>) -> Option<(Direction, Option<f64>)> {
    if !(positive(entry) && stop.is_finite() && t1.is_finite()) {
        return None;
    }
    let direction = if stop < entry {
        Direction::Long
    } else if stop > entry {
        Direction::Short
    } else {
        return None;
    };
    let s = direction.sign();
    if s * (t1 - entry) <= 0.0 {
        return None;
    }
    let t2 = t2.filter(|t2| t2.is_finite() && s * (t2 - t1) >= 0.0);
    Some((direction, t2))
}

/// Where a plan's measurement stands. `resolved_at` is when the watch ended:
/// `None` while open, and also while a T1 win is still watched for T2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub status: Status,
    /// Maximum favourable excursion, a fraction of the entry, ≥ 0.
    pub mfe: f64,
    /// Maximum adverse excursion, a fraction of the entry, ≥ 0.
    pub mae: f64,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The end of the latest bar counted (stored as `last_checked_at`); bars
    /// ending at or before it are never counted again.
    pub last_bar_end: Option<DateTime<Utc>>,
    /// When a limit entry was filled (the end of the bar that touched it);
    /// a market entry is filled at the alert. `None` while a limit waits.
    pub filled_at: Option<DateTime<Utc>>,
    /// The result in units of the initial risk; `None` until filled.
    pub r: Option<f64>,
}

impl Outcome {
    /// A fresh outcome: nothing seen yet.
    pub fn open() -> Outcome {
        Outcome {
            status: Status::Open,
            mfe: 0.0,
            mae: 0.0,
            resolved_at: None,
            last_bar_end: None,
            filled_at: None,
            r: None,
        }
    }

    /// The outcome `plan` starts with: a market entry is filled at the
    /// alert and stands at 0R; a limit entry waits for its fill.
    pub fn start(plan: &Plan) -> Outcome {
        if plan.limit {
            return Outcome::open();
        }
        Outcome { filled_at: Some(plan.opened_at), r: Some(0.0), ..Outcome::open() }
    }

    /// True when nothing can change it any more.
    pub fn is_final(&self) -> bool {
        self.resolved_at.is_some()
    }

    /// True once the plan's entry was taken: always for a market entry
    /// (`limit` false).
    pub fn is_filled(&self, limit: bool) -> bool {
        !limit || self.filled_at.is_some()
    }

    /// Final and filled: what the report counts as resolved. An open
    /// outcome (even one at T1, still watched for T2) and a limit never
    /// filled are not.
    pub fn is_resolved(&self, limit: bool) -> bool {
        self.is_final() && self.is_filled(limit)
    }

    /// Final without a fill: a limit entry the price never came back to.
    pub fn is_not_filled(&self, limit: bool) -> bool {
        self.is_final() && !self.is_filled(limit)
    }
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome::open()
    }
}

/// Moves `state` forward over `bars` (minute bars of the plan's instrument,
/// in any order, possibly overlapping what earlier calls saw) as of `now`.
///
/// Only bars that start at or after the end of the alert's minute (a bar
/// containing the alert holds prices from before it), that have closed by
/// `now`, that end by the plan's expiry and that end after
/// `state.last_bar_end` are counted, in time order. A bar that shows up
/// later than a newer one already counted is not counted: the cursor is what
/// makes repeated calls idempotent.
///
/// A call with `now` at or after `plan.expires_at` is the last one (the
/// outcome becomes final), so the caller passes it every bar up to the
/// expiry; a caller whose bar fetch failed skips the call instead.
pub fn advance(plan: &Plan, state: &Outcome, bars: &[Bar], now: DateTime<Utc>) -> Outcome {
    let mut out = *state;
    if out.is_final() {
        return out;
    }
    let first_start = end_of_minute(plan.opened_at);
    let mut fresh: Vec<&Bar> = bars
        .iter()
        .filter(|b| well_formed(b) && b.start >= first_start && b.end <= now && b.end <= plan.expires_at)
        .collect();
    fresh.sort_by_key(|b| (b.start, b.end));
    for b in fresh {
        // Also skips a second copy of a minute within this call.
        if out.last_bar_end.is_some_and(|seen| b.end <= seen) {
            continue;
        }
        out.last_bar_end = Some(b.end);
        step(plan, &mut out, b);
        if out.is_final() {
            return out;
        }
    }
    if now >= plan.expires_at {
        // An option is resolved at expiry (the contract leaves the snapshots
        // after it), an underlying plan after its sessions: an open plan
        // expires (marked at its last close; a limit never filled has no R),
        // a T1 win is kept.
        out.resolved_at = Some(plan.expires_at);
        if out.status == Status::Open {
            out.status = Status::Expired;
            if out.is_filled(plan.limit) && out.r.is_none() {
                out.r = Some(0.0);
            }
        }
    }
    out
}

/// `level` in units of the plan's initial risk, in its favour.
fn r_at(plan: &Plan, level: f64) -> f64 {
    let risk = (plan.entry - plan.stop).abs();
    plan.direction.sign() * (level - plan.entry) / risk
}

/// One bar, in time order, on an outcome that is not final.
fn step(plan: &Plan, out: &mut Outcome, b: &Bar) {
    let s = plan.direction.sign();
    // The open is included in case a feed's open lies outside its own
    // high/low: a gap through the stop must count however it is reported.
    let (hi, lo) = (b.high.max(b.open), b.low.min(b.open));
    let (best, worst) = match plan.direction {
        Direction::Long => (hi, lo),
        Direction::Short => (lo, hi),
    };
    let filling = !out.is_filled(plan.limit);
    if filling {
        // A limit order fills only when a bar after the alert trades at it.
        if !(lo <= plan.entry && plan.entry <= hi) {
            return;
        }
        out.filled_at = Some(b.end);
    }
    // On the bar that fills a limit, a target may have printed before the
    // fill: only the stop and the adverse excursion count there, so a fill
    // bar never flatters the plan.
    if !filling {
        out.mfe = out.mfe.max(s * (best - plan.entry) / plan.entry);
    }
    out.mae = out.mae.max(s * (plan.entry - worst) / plan.entry);

    let reached = |level: f64| !filling && s * (best - level) >= 0.0;
    // The stop is checked first: a bar touching the stop and a target counts
    // as stopped because the bar cannot say which came first.
    let stopped = s * (worst - plan.stop) <= 0.0;
    let t2 = plan.t2.is_some_and(reached);
    match out.status {
        Status::Open if stopped => {
            out.status = Status::Stopped;
            out.resolved_at = Some(b.end);
        }
        Status::Open | Status::T1 if t2 && !stopped => {
            out.status = Status::T2;
            out.resolved_at = Some(b.end);
        }
        Status::Open if reached(plan.t1) => out.status = Status::T1,
        // T1 came first, so the stop ends the watch without undoing the win.
        Status::T1 if stopped => out.resolved_at = Some(b.end),
        _ => {}
    }
    out.r = Some(match out.status {
        Status::Stopped => -1.0,
        Status::T1 => r_at(plan, plan.t1),
        Status::T2 => r_at(plan, plan.t2.unwrap_or(plan.t1)),
        // Still open: marked at this bar's close.
        Status::Open | Status::Expired => r_at(plan, b.close),
    });
}

/// Bars no price decision should see: non-finite prices, an inverted range
/// or an empty span.
fn well_formed(b: &Bar) -> bool {
    [b.open, b.high, b.low, b.close].iter().all(|p| p.is_finite()) && b.high >= b.low && b.start < b.end
}

/// The start of the minute after the one containing `t`.
fn end_of_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(60) * 60 + 60;
    // Out of chrono's range only at the end of time; counting no bar is the
    // safe side.
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

// ---------------------------------------------------------------------------
// Reports

/// When a symbol is flagged for review.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportParams {
    /// `PERFORMANCE_SYMBOL_MIN_OBS`: resolved outcomes before a symbol is judged.
    pub min_obs: usize,
    /// `PERFORMANCE_SYMBOL_MIN_WIN`: a T1 rate below this flags the symbol.
    pub min_win: f64,
}

impl ReportParams {
    pub fn from_config(cfg: &Config) -> Self {
        ReportParams {
            // Validated to 1..=1_000_000 by the configuration.
            min_obs: cfg.tunables.performance_symbol_min_obs.max(1) as usize,
            min_win: cfg.tunables.performance_symbol_min_win,
        }
    }
}

/// One alert with its outcome, as the report reads it from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub bot: Bot,
    pub score: Option<f64>,
    pub symbol: String,
    pub status: Status,
    /// Final and filled ([`Outcome::is_resolved`]); false for an alert
    /// without a plan.
    pub resolved: bool,
    /// A limit entry that expired without a fill.
    pub not_filled: bool,
    /// The R-multiple, when the plan was filled.
    pub r: Option<f64>,
    pub mfe: Option<f64>,
    pub mae: Option<f64>,
    /// `None` until the morning-after open-interest check has run (and
    /// always for stock-plan bots).
    pub opening_confirmed: Option<bool>,
}

/// Score bands; the derive order is the report's row order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bucket {
    Below60,
    From60,
    From70,
    From80,
    From90,
    Unscored,
}

impl Bucket {
    /// Scores are 0–100; a fractional score falls in the band of its whole
    /// part (69.9 is 60–69) and anything above 100 in the top band.
    pub fn of(score: Option<f64>) -> Bucket {
        match score {
            Some(s) if s.is_finite() => match s {
                s if s < 60.0 => Bucket::Below60,
                s if s < 70.0 => Bucket::From60,
                s if s < 80.0 => Bucket::From70,
                s if s < 90.0 => Bucket::From80,
                _ => Bucket::From90,
            },
            _ => Bucket::Unscored,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Bucket::Below60 => "<60",
            Bucket::From60 => "60-69",
            Bucket::From70 => "70-79",
            Bucket::From80 => "80-89",
            Bucket::From90 => "90-100",
            Bucket::Unscored => "none",
        }
    }
}

/// Counts for one group of rows. Rates are of resolved outcomes (final and
/// filled); open rows and limits never filled count as alerts only.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    pub alerts: usize,
    pub resolved: usize,
    /// Limit entries that expired without a fill: neither win nor loss.
    pub not_filled: usize,
    r_sum: f64,
    r_count: usize,
    /// Outcomes that touched T1 before the stop (T2 included).
    pub wins: usize,
    pub t2: usize,
    pub stopped: usize,
    pub expired: usize,
    mfe_sum: f64,
    mfe_count: usize,
    mae_sum: f64,
    mae_count: usize,
    /// Opening confirmed (ΔOI ≥ half the alerted volume) …
    pub confirmed: usize,
    /// … of the alerts whose open interest was checked.
    pub confirm_checked: usize,
}

impl Stats {
    fn add(&mut self, row: &Row) {
        self.alerts += 1;
        if let Some(c) = row.opening_confirmed {
            self.confirm_checked += 1;
            self.confirmed += usize::from(c);
        }
        if row.not_filled {
            self.not_filled += 1;
        }
        if !row.resolved {
            return;
        }
        self.resolved += 1;
        if let Some(r) = row.r.filter(|r| r.is_finite()) {
            self.r_sum += r;
            self.r_count += 1;
        }
        self.wins += usize::from(is_win(row.status));
        self.t2 += usize::from(row.status == Status::T2);
        self.stopped += usize::from(row.status == Status::Stopped);
        self.expired += usize::from(row.status == Status::Expired);
        // Excursions of open rows are partial, so only resolved ones average.
        if let Some(m) = row.mfe.filter(|m| m.is_finite()) {
            self.mfe_sum += m;
            self.mfe_count += 1;
        }
        if let Some(m) = row.mae.filter(|m| m.is_finite()) {
            self.mae_sum += m;
            self.mae_count += 1;
        }
    }

    fn of_resolved(&self, n: usize) -> Option<f64> {
        (self.resolved > 0).then(|| n as f64 / self.resolved as f64)
    }

    /// Share of resolved outcomes that touched T1 before the stop.
    pub fn t1_rate(&self) -> Option<f64> {
        self.of_resolved(self.wins)
    }

    pub fn t2_rate(&self) -> Option<f64> {
        self.of_resolved(self.t2)
    }

    pub fn stop_rate(&self) -> Option<f64> {
        self.of_resolved(self.stopped)
    }

    /// The mean R-multiple of resolved outcomes.
    pub fn avg_r(&self) -> Option<f64> {
        (self.r_count > 0).then(|| self.r_sum / self.r_count as f64)
    }

    /// R per finished plan: resolved outcomes' R summed over them and the
    /// limits never filled (0R each: no trade, no result). What following
    /// every alert's plan as published earned per alert.
    pub fn expectancy(&self) -> Option<f64> {
        let n = self.r_count + self.not_filled;
        (n > 0).then(|| self.r_sum / n as f64)
    }

    pub fn avg_mfe(&self) -> Option<f64> {
        (self.mfe_count > 0).then(|| self.mfe_sum / self.mfe_count as f64)
    }

    pub fn avg_mae(&self) -> Option<f64> {
        (self.mae_count > 0).then(|| self.mae_sum / self.mae_count as f64)
    }
}

/// A symbol whose record asks for a human look. It is listed, never removed
/// from the watchlist: a cold streak is not a reason to stop watching.
#[derive(Debug, Clone, PartialEq)]
pub struct Flagged {
    pub symbol: String,
    pub resolved: usize,
    pub t1_rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub params: ReportParams,
    pub total: Stats,
    pub by_bot: BTreeMap<Bot, Stats>,
    pub by_bucket: BTreeMap<Bucket, Stats>,
    /// In symbol order.
    pub flagged: Vec<Flagged>,
}

pub fn summarize(rows: &[Row], params: &ReportParams) -> Report {
    let mut total = Stats::default();
    let mut by_bot: BTreeMap<Bot, Stats> = BTreeMap::new();
    let mut by_bucket: BTreeMap<Bucket, Stats> = BTreeMap::new();
    let mut by_symbol: BTreeMap<&str, Stats> = BTreeMap::new();
    for row in rows {
        total.add(row);
        by_bot.entry(row.bot).or_default().add(row);
        by_bucket.entry(Bucket::of(row.score)).or_default().add(row);
        by_symbol.entry(row.symbol.as_str()).or_default().add(row);
    }
    let flagged = by_symbol
        .into_iter()
        .filter(|(_, s)| s.resolved >= params.min_obs)
        .filter_map(|(symbol, s)| {
            let rate = s.t1_rate()?;
            (rate < params.min_win).then(|| Flagged { symbol: symbol.to_string(), resolved: s.resolved, t1_rate: rate })
        })
        .collect();
    Report { params: *params, total, by_bot, by_bucket, flagged }
}

/// The footer every report carries, so a reader knows what "win" means.
pub const METHOD: &str = "\
Method: win = T1 touched before the stop, from minute bars strictly after the alert minute;
a bar touching both the stop and a target counts as stopped, and so does a gap through the stop;
T2 touched after T1 (or directly) upgrades to T2, and a stop after T1 keeps the win.
Options flow alerts are measured in option premium (entry = ask at the alert, else mid, else the
average fill; T1, T2 and stop from OUTCOME_T1_PCT, OUTCOME_T2_PCT and OUTCOME_STOP_PCT) and
resolve at the contract's expiration; bullseye, scalps, breakouts and strat are measured on the
underlying at their published levels for OUTCOME_MAX_DAYS sessions. An underlying entry that was
not the market at the alert is a limit order: filled only when a later bar touches it (on that bar
only the stop counts), and one never filled is \"unfilled\", not a win or a loss.
Resolved = final (T2, stopped, expired, or T1 then stopped or expired) and filled; an open outcome,
even one past T1, is not resolved. Rates are of resolved outcomes (T1 rate includes T2).
R = result / initial risk (|entry - stop|): the stop is -1R, T1 and T2 their distance in R (an
option plan's -50% stop is -1R), an expired plan its last close. Avg R: mean R of resolved
outcomes; exp R: R summed over resolved and unfilled plans (0R each), per plan. MFE/MAE: largest
move for/against the plan, as a percentage of the entry, averaged over resolved outcomes.
Opened: opening confirmed (change in open interest at least half the alerted volume) of the
alerts checked. Darkpool prints publish no plan and count as alerts only.
";

/// The span a report covers: alerts at or after `since` and before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Period {
    /// The `days` days up to `now`, `now` included.
    pub fn last_days(now: DateTime<Utc>, days: u32) -> Period {
        Period { since: now - chrono::Duration::days(i64::from(days)), until: now + chrono::Duration::nanoseconds(1) }
    }

    /// Trading dates `first` to `last` (ET), both whole.
    pub fn dates(first: NaiveDate, last: NaiveDate) -> Option<Period> {
        let since = crate::calendar::et_midnight(first)?;
        let until = crate::calendar::et_midnight(last.succ_opt()?)?;
        Some(Period { since, until })
    }

    /// `2025-10-20 – 2025-10-26`: the first and last ET dates it covers,
    /// the way a reader names a week.
    pub fn label(&self) -> String {
        let first = self.since.with_timezone(&calendar::MARKET_TZ).date_naive();
        let last = (self.until - chrono::Duration::nanoseconds(1)).with_timezone(&calendar::MARKET_TZ).date_naive();
        if first >= last { first.to_string() } else { format!("{first} – {last}") }
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }
}

/// The report as plain text: per bot, per score band, flagged symbols and
/// the method. Deterministic: every group is a `BTreeMap`.
pub fn render_report(report: &Report, title: &str, days: u32) -> String {
    format!("{}\n{METHOD}", render_tables(report, title, days))
}

/// [`render_report`] over a date range, named in its first line.
pub fn render_report_for(report: &Report, title: &str, period: &Period) -> String {
    format!("{}\n{METHOD}", render_tables_for(report, title, period))
}

/// The report's title with its date range, as the chart and Discord show it.
pub fn titled(title: &str, period: &Period) -> String {
    format!("{title} · {}", period.label())
}

/// The report without its method footer, headed "title: last N days".
pub fn render_tables(report: &Report, title: &str, days: u32) -> String {
    let plural = if days == 1 { "" } else { "s" };
    tables(report, &format!("{title}: last {days} day{plural}"))
}

/// The report without its method footer (Discord shows the method in the
/// embed's footer), headed by its title and date range.
pub fn render_tables_for(report: &Report, title: &str, period: &Period) -> String {
    tables(report, &titled(title, period))
}

fn tables(report: &Report, heading: &str) -> String {
    let mut out = format!("{heading}\n");

    let groups: [(&str, Vec<(&str, &Stats)>); 2] = [
        ("bot", report.by_bot.iter().map(|(b, s)| (b.as_str(), s)).collect()),
        ("score", report.by_bucket.iter().map(|(b, s)| (b.label(), s)).collect()),
    ];
    for (name, rows) in groups {
        out.push('\n');
        out.push_str(&table_line(
            name,
            ["alerts", "resolved", "unfilled", "T1", "T2", "stop", "avg R", "exp R", "avg MFE", "avg MAE", "opened"],
        ));
        for (label, s) in rows {
            out.push_str(&stats_line(label, s));
        }
        out.push_str(&stats_line("all", &report.total));
    }

    let p = &report.params;
    out.push_str(&format!(
        "\nFlagged for review (at least {} resolved, T1 rate below {}; listed, never removed):\n",
        p.min_obs,
        pct(p.min_win)
    ));
    if report.flagged.is_empty() {
        out.push_str("  none\n");
    }
    for f in &report.flagged {
        out.push_str(&format!("  {:<10} resolved {:>4}  T1 rate {}\n", f.symbol, f.resolved, pct(f.t1_rate)));
    }
    out
}

/// One group's figures, as `orakl report --format json|csv` writes them:
/// the text table's columns, rates as fractions, unknown as null/empty.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figures {
    /// `bot`, `score` or `all`.
    pub section: &'static str,
    pub group: String,
    pub alerts: usize,
    pub resolved: usize,
    pub unfilled: usize,
    pub t1_rate: Option<f64>,
    pub t2_rate: Option<f64>,
    pub stop_rate: Option<f64>,
    pub avg_r: Option<f64>,
    pub expectancy_r: Option<f64>,
    pub avg_mfe: Option<f64>,
    pub avg_mae: Option<f64>,
    pub opened: usize,
    pub opened_checked: usize,
}

impl Figures {
    fn of(section: &'static str, group: &str, s: &Stats) -> Figures {
        Figures {
            section,
            group: group.to_string(),
            alerts: s.alerts,
            resolved: s.resolved,
            unfilled: s.not_filled,
            t1_rate: s.t1_rate(),
            t2_rate: s.t2_rate(),
            stop_rate: s.stop_rate(),
            avg_r: s.avg_r(),
            expectancy_r: s.expectancy(),
            avg_mfe: s.avg_mfe(),
            avg_mae: s.avg_mae(),
            opened: s.confirmed,
            opened_checked: s.confirm_checked,
        }
    }
}

/// Every row of the report's two tables, per bot then per score band, then
/// the total.
pub fn figures(report: &Report) -> Vec<Figures> {
    let mut out: Vec<Figures> = report.by_bot.iter().map(|(b, s)| Figures::of("bot", b.as_str(), s)).collect();
    out.extend(report.by_bucket.iter().map(|(b, s)| Figures::of("score", b.label(), s)));
    out.push(Figures::of("all", "all", &report.total));
    out
}

/// The report as one JSON object: its period (RFC 3339), every group's
/// figures and the flagged symbols.
pub fn report_json(report: &Report, period: &Period) -> String {
    let flagged: Vec<serde_json::Value> = report
        .flagged
        .iter()
        .map(|f| serde_json::json!({"symbol": f.symbol, "resolved": f.resolved, "t1_rate": f.t1_rate}))
        .collect();
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let v = serde_json::json!({
        "since": stamp(period.since),
        "until": stamp(period.until),
        "groups": figures(report),
        "flagged": flagged,
    });
    format!("{v}\n")
}

/// The report's groups as CSV with a header row (the flagged symbols are
/// the JSON's; a CSV is one table): rates to 4 decimals, unknown empty,
/// cells quoted by the `csv` crate as the export's are.
pub fn report_csv(report: &Report) -> String {
    const HEADER: [&str; 14] = [
        "section",
        "group",
        "alerts",
        "resolved",
        "unfilled",
        "t1_rate",
        "t2_rate",
        "stop_rate",
        "avg_r",
        "expectancy_r",
        "avg_mfe",
        "avg_mae",
        "opened",
        "opened_checked",
    ];
    let num = |x: Option<f64>| x.filter(|v| v.is_finite()).map_or_else(String::new, |v| format!("{v:.4}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows = vec![HEADER.map(str::to_string)];
    rows.extend(figures(report).into_iter().map(|f| {
        [
            f.section.to_string(),
            f.group,
            f.alerts.to_string(),
            f.resolved.to_string(),
            f.unfilled.to_string(),
            num(f.t1_rate),
            num(f.t2_rate),
            num(f.stop_rate),
            num(f.avg_r),
            num(f.expectancy_r),
            num(f.avg_mfe),
            num(f.avg_mae),
            f.opened.to_string(),
            f.opened_checked.to_string(),
        ]
    }));
    for row in &rows {
        // Writing into a Vec cannot fail.
        let _ = w.write_record(row);
    }
    String::from_utf8_lossy(&w.into_inner().unwrap_or_default()).into_owned()
}

fn table_line(label: &str, cells: [&str; 11]) -> String {
    let [a, r, nf, t1, t2, st, avg_r, exp_r, mfe, mae, op] = cells;
    format!("{label:<14}{a:>7}{r:>9}{nf:>9}{t1:>8}{t2:>8}{st:>8}{avg_r:>7}{exp_r:>7}{mfe:>9}{mae:>9}{op:>9}\n")
}

fn stats_line(label: &str, s: &Stats) -> String {
    let rate = |r: Option<f64>| r.map_or_else(|| "-".to_string(), pct);
    let in_r = |r: Option<f64>| r.map_or_else(|| "-".to_string(), |r| format!("{r:+.2}"));
    let opened =
        if s.confirm_checked == 0 { "-".to_string() } else { format!("{}/{}", s.confirmed, s.confirm_checked) };
    table_line(
        label,
        [
            &s.alerts.to_string(),
            &s.resolved.to_string(),
            &s.not_filled.to_string(),
            &rate(s.t1_rate()),
            &rate(s.t2_rate()),
            &rate(s.stop_rate()),
            &in_r(s.avg_r()),
            &in_r(s.expectancy()),
            &rate(s.avg_mfe()),
            &rate(s.avg_mae()),
            &opened,
        ],
    )
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::{Duration, NaiveDateTime, TimeZone};

    use crate::calendar::MARKET_TZ;

    use crate::alert::Alert;

    /// An ET wall-clock time, `YYYY-MM-DD HH:MM[:SS]`.
    fn et(s: &str) -> DateTime<Utc> {
        let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
            .expect("test time");
        MARKET_TZ.from_local_datetime(&local).single().expect("unambiguous").with_timezone(&Utc)
    }

    /// A time on the bar tests' day, Tuesday 2025-07-15.
    fn t(hm: &str) -> DateTime<Utc> {
        et(&format!("2025-07-15 {hm}"))
    }

    fn show_et(x: DateTime<Utc>) -> String {
        x.with_timezone(&MARKET_TZ).format("%H:%M").to_string()
    }

    /// A minute bar: (start HH:MM ET, open, high, low, close).
    type B = (&'static str, f64, f64, f64, f64);

    fn bars(spec: &[B]) -> Vec<Bar> {
        spec.iter()
            .map(|&(hm, open, high, low, close)| {
                let start = t(hm);
                Bar { start, end: start + Duration::minutes(1), open, high, low, close, volume: 100.0, vwap: None }
            })
            .collect()
    }

    /// Alert at 10:00:30 ET, watched until 16:00 ET.
    fn plan(direction: Direction) -> Plan {
        let (stop, t1, t2) = match direction {
            Direction::Long => (99.0, 101.0, 102.0),
            Direction::Short => (101.0, 99.0, 98.0),
        };
        Plan {
            kind: Kind::Underlying,
            direction,
            entry: 100.0,
            stop,
            t1,
            t2: Some(t2),
            opened_at: t("10:00:30"),
            expires_at: t("16:00"),
            limit: false,
        }
    }

    /// What the limit-order and R-multiple tests compare: status, when
    /// resolved and filled, R to two decimals.
    fn show_fill(o: &Outcome) -> String {
        let when = |x: Option<DateTime<Utc>>| x.map_or_else(|| "-".to_string(), show_et);
        let r = o.r.map_or_else(|| "-".to_string(), |r| format!("{r:+.2}"));
        format!(
            "{} resolved={} filled={} r={r} mfe={:.4} mae={:.4}",
            o.status,
            when(o.resolved_at),
            when(o.filled_at),
            o.mfe,
            o.mae
        )
    }

    #[test]
    fn a_limit_entry_fills_only_when_touched_after_the_alert() {
        // Long 100 (stop 99, T1 101, T2 102), the spot elsewhere at the alert.
        let p = Plan { limit: true, ..plan(Direction::Long) };
        assert_eq!(Outcome::start(&p), Outcome::open(), "a limit starts unfilled, without R");
        let day = bars(&[
            // The alert's minute trades through 100: before the alert, not a fill.
            ("10:00", 100.5, 100.5, 99.5, 100.2),
            // Above the entry: no fill, nothing counted.
            ("10:01", 100.6, 100.9, 100.2, 100.5),
            // Touches 100: filled at 10:03. Its 101.5 may have printed before
            // the fill, so no T1 and no MFE; the low 99.9 is 0.1% adverse;
            // marked at the close, (100.2 − 100) ÷ 1 = +0.2R.
            ("10:02", 100.4, 101.5, 99.9, 100.2),
            // T1 101: +1R.
            ("10:03", 100.2, 101.2, 100.1, 101.1),
            // T2 102: +2R, final.
            ("10:04", 101.1, 102.3, 101.0, 102.2),
        ]);
        let steps = [
            ("10:02", "open resolved=- filled=- r=- mfe=0.0000 mae=0.0000"),
            ("10:03", "open resolved=- filled=10:03 r=+0.20 mfe=0.0000 mae=0.0010"),
            ("10:04", "t1 resolved=- filled=10:03 r=+1.00 mfe=0.0120 mae=0.0010"),
            ("10:05", "t2 resolved=10:05 filled=10:03 r=+2.00 mfe=0.0230 mae=0.0010"),
        ];
        for (now, want) in steps {
            let got = advance(&p, &Outcome::start(&p), &day, t(now));
            assert_eq!(show_fill(&got), want, "now={now}");
        }
        let done = advance(&p, &Outcome::start(&p), &day, t("16:00"));
        assert!(done.is_resolved(p.limit));

        // Never touched by the expiry: not filled, final, not resolved, no R.
        let never = advance(&p, &Outcome::start(&p), &day[..2], t("16:00"));
        assert_eq!(show_fill(&never), "expired resolved=16:00 filled=- r=- mfe=0.0000 mae=0.0000");
        assert!(never.is_final() && !never.is_resolved(p.limit));

        // A short retest limit at 100 (stop 101) whose fill bar also reaches
        // the stop is stopped at once: −1R.
        let short = Plan { limit: true, ..plan(Direction::Short) };
        let gap = bars(&[("10:01", 99.6, 101.2, 99.5, 100.8)]);
        let got = advance(&short, &Outcome::start(&short), &gap, t("10:30"));
        assert_eq!(show_fill(&got), "stopped resolved=10:02 filled=10:02 r=-1.00 mfe=0.0000 mae=0.0120");
    }

    #[test]
    fn r_multiples_of_market_entries() {
        let p = plan(Direction::Long);
        assert_eq!(Outcome::start(&p).r, Some(0.0), "a market entry is filled at the alert");
        // T1 then the close: the T1 win is kept at +1R.
        let t1 = bars(&[("10:01", 100.0, 101.0, 99.8, 100.9), ("10:02", 100.9, 100.9, 98.9, 99.0)]);
        let got = advance(&p, &Outcome::start(&p), &t1, t("16:00"));
        assert_eq!(show_fill(&got), "t1 resolved=10:03 filled=10:00 r=+1.00 mfe=0.0100 mae=0.0110");
        // Expired without a level: marked at the last close, (100.4 − 100) ÷ 1.
        let drift = bars(&[("10:01", 100.0, 100.6, 99.5, 100.4)]);
        let got = advance(&p, &Outcome::start(&p), &drift, t("16:00"));
        assert_eq!(show_fill(&got), "expired resolved=16:00 filled=10:00 r=+0.40 mfe=0.0060 mae=0.0050");
        // A short stopped: −1R, whatever the gap.
        let s = plan(Direction::Short);
        let got = advance(&s, &Outcome::start(&s), &bars(&[("10:01", 101.5, 101.6, 101.4, 101.5)]), t("16:00"));
        assert_eq!(got.r, Some(-1.0));
        // No bar at all by the expiry: 0R.
        assert_eq!(advance(&p, &Outcome::start(&p), &[], t("16:00")).r, Some(0.0));
    }

    #[test]
    fn a_plan_is_a_limit_when_its_entry_is_not_the_spot() {
        let cases = [
            (100.0, Some(100.0), false),
            (100.0, None, false),
            (100.0, Some(f64::NAN), false),
            (98.0, Some(99.5), true),
            (100.0, Some(97.0), true),
            (100.0, Some(100.0 + 1e-12), false),
        ];
        for (entry, spot, want) in cases {
            assert_eq!(is_limit(entry, spot), want, "entry={entry} spot={spot:?}");
        }
    }

    fn show(o: &Outcome) -> String {
        let when = |x: Option<DateTime<Utc>>| x.map_or_else(|| "-".to_string(), show_et);
        format!(
            "{} resolved={} seen={} mfe={:.4} mae={:.4}",
            o.status,
            when(o.resolved_at),
            when(o.last_bar_end),
            o.mfe,
            o.mae
        )
    }

    /// (what, plan direction, bars, now, expected outcome)
    type Case = (&'static str, Direction, Vec<B>, &'static str, &'static str);

    fn cases() -> Vec<Case> {
        use Direction::{Long, Short};
        let nan = f64::NAN;
        vec![
            (
                "target then stop: a win, the stop ends the watch",
                Long,
                vec![("10:01", 100.0, 101.2, 99.9, 101.0), ("10:02", 101.0, 101.0, 98.8, 99.0)],
                "11:00",
                "t1 resolved=10:03 seen=10:03 mfe=0.0120 mae=0.0120",
            ),
            (
                "stop then target: a loss, later bars ignored",
                Long,
                vec![("10:01", 100.0, 100.3, 98.9, 99.2), ("10:02", 99.2, 101.5, 99.1, 101.4)],
                "11:00",
                "stopped resolved=10:02 seen=10:02 mfe=0.0030 mae=0.0110",
            ),
            (
                "stop and target in one bar: stopped",
                Long,
                vec![("10:01", 100.0, 101.5, 98.5, 100.0)],
                "11:00",
                "stopped resolved=10:02 seen=10:02 mfe=0.0150 mae=0.0150",
            ),
            (
                "gap through the stop",
                Long,
                vec![("10:01", 100.0, 100.4, 99.6, 100.1), ("10:02", 98.5, 98.7, 98.2, 98.6)],
                "11:00",
                "stopped resolved=10:03 seen=10:03 mfe=0.0040 mae=0.0180",
            ),
            (
                "gap through the stop reported with a low above the open",
                Long,
                vec![("10:01", 98.5, 99.5, 99.2, 99.4)],
                "11:00",
                "stopped resolved=10:02 seen=10:02 mfe=0.0000 mae=0.0150",
            ),
            (
                "T2 after T1 upgrades",
                Long,
                vec![
                    ("10:01", 100.0, 101.1, 99.9, 101.0),
                    ("10:02", 101.0, 101.5, 100.5, 101.4),
                    ("10:03", 101.4, 102.1, 101.3, 102.0),
                ],
                "11:00",
                "t2 resolved=10:04 seen=10:04 mfe=0.0210 mae=0.0010",
            ),
            (
                "T2 in the first bar",
                Long,
                vec![("10:01", 100.0, 102.3, 99.9, 102.2)],
                "11:00",
                "t2 resolved=10:02 seen=10:02 mfe=0.0230 mae=0.0010",
            ),
            (
                "stop and T2 in one bar after T1: the win stays T1",
                Long,
                vec![("10:01", 100.0, 101.1, 99.9, 101.0), ("10:02", 101.0, 102.5, 98.9, 100.0)],
                "11:00",
                "t1 resolved=10:03 seen=10:03 mfe=0.0250 mae=0.0110",
            ),
            (
                "T1 then nothing: still watched for T2",
                Long,
                vec![("10:01", 100.0, 101.1, 99.9, 101.0), ("10:02", 101.0, 101.3, 100.2, 100.5)],
                "11:00",
                "t1 resolved=- seen=10:03 mfe=0.0130 mae=0.0010",
            ),
            (
                "expiry without a touch",
                Long,
                vec![("10:01", 100.0, 100.6, 99.5, 100.2), ("15:59", 100.2, 100.4, 99.7, 100.0)],
                "16:30",
                "expired resolved=16:00 seen=16:00 mfe=0.0060 mae=0.0050",
            ),
            (
                "expiry after T1: the win is kept",
                Long,
                vec![("10:01", 100.0, 101.1, 99.9, 101.0)],
                "16:00",
                "t1 resolved=16:00 seen=10:02 mfe=0.0110 mae=0.0010",
            ),
            (
                "before expiry without a touch: open",
                Long,
                vec![("10:01", 100.0, 100.6, 99.5, 100.2)],
                "15:59",
                "open resolved=- seen=10:02 mfe=0.0060 mae=0.0050",
            ),
            (
                "bars at or after expiry are not counted",
                Long,
                vec![("15:59", 100.0, 100.2, 99.9, 100.0), ("16:00", 100.0, 103.0, 100.0, 102.5)],
                "17:00",
                "expired resolved=16:00 seen=16:00 mfe=0.0020 mae=0.0010",
            ),
            (
                "bars before and during the alert minute are not counted",
                Long,
                vec![
                    ("09:59", 100.0, 103.0, 99.5, 100.0),
                    ("10:00", 100.0, 103.0, 98.0, 100.0),
                    ("10:01", 100.0, 100.5, 99.5, 100.2),
                ],
                "11:00",
                "open resolved=- seen=10:02 mfe=0.0050 mae=0.0050",
            ),
            (
                "a bar still forming at now is not counted",
                Long,
                vec![("10:01", 100.0, 100.5, 99.5, 100.2), ("10:02", 100.2, 103.0, 100.1, 102.9)],
                "10:02:59",
                "open resolved=- seen=10:02 mfe=0.0050 mae=0.0050",
            ),
            (
                "bars in any order are walked in time order",
                Long,
                vec![("10:02", 101.0, 101.0, 98.8, 99.0), ("10:01", 100.0, 101.2, 99.9, 101.0)],
                "11:00",
                "t1 resolved=10:03 seen=10:03 mfe=0.0120 mae=0.0120",
            ),
            (
                "a malformed bar is skipped",
                Long,
                vec![("10:01", nan, 105.0, 95.0, 100.0), ("10:02", 100.0, 95.0, 105.0, 100.0)],
                "11:00",
                "open resolved=- seen=- mfe=0.0000 mae=0.0000",
            ),
            (
                "short: target then stop",
                Short,
                vec![("10:01", 100.0, 100.1, 98.8, 99.0), ("10:02", 99.0, 101.2, 99.0, 101.0)],
                "11:00",
                "t1 resolved=10:03 seen=10:03 mfe=0.0120 mae=0.0120",
            ),
            (
                "short: stop then target",
                Short,
                vec![("10:01", 100.0, 101.1, 99.7, 100.8), ("10:02", 100.8, 100.9, 98.5, 98.6)],
                "11:00",
                "stopped resolved=10:02 seen=10:02 mfe=0.0030 mae=0.0110",
            ),
            (
                "short: stop and target in one bar",
                Short,
                vec![("10:01", 100.0, 101.5, 98.5, 100.0)],
                "11:00",
                "stopped resolved=10:02 seen=10:02 mfe=0.0150 mae=0.0150",
            ),
            (
                "short: gap up through the stop",
                Short,
                vec![("10:01", 101.5, 101.8, 101.3, 101.6)],
                "11:00",
                "stopped resolved=10:02 seen=10:02 mfe=0.0000 mae=0.0180",
            ),
            (
                "short: T2 after T1",
                Short,
                vec![("10:01", 100.0, 100.1, 98.9, 99.0), ("10:05", 99.0, 99.2, 97.9, 98.0)],
                "11:00",
                "t2 resolved=10:06 seen=10:06 mfe=0.0210 mae=0.0010",
            ),
            (
                "short: expiry without a touch",
                Short,
                vec![("10:01", 100.0, 100.6, 99.5, 100.2)],
                "16:00",
                "expired resolved=16:00 seen=10:02 mfe=0.0050 mae=0.0060",
            ),
        ]
    }

    fn check(direction: Direction, spec: &[B], now: DateTime<Utc>, want: &str, what: &str) {
        let got = advance(&plan(direction), &Outcome::open(), &bars(spec), now);
        assert_eq!(show(&got), want, "{what}");
    }

    #[test]
    fn resolution() {
        for (what, direction, spec, now, want) in cases() {
            check(direction, &spec, t(now), want, what);
        }
    }

    #[test]
    fn an_alert_on_the_minute_skips_that_minute() {
        let mut p = plan(Direction::Long);
        p.opened_at = t("10:00");
        let got = advance(&p, &Outcome::open(), &bars(&[("10:00", 100.0, 103.0, 100.0, 102.0)]), t("11:00"));
        assert_eq!(show(&got), "open resolved=- seen=- mfe=0.0000 mae=0.0000");
    }

    /// However the bars are delivered — split in two, overlapping, repeated,
    /// or fed while `now` moves on — the result equals one call with all.
    #[test]
    fn incremental_calls_match_one_call() {
        for (what, direction, spec, now, _) in cases() {
            let p = plan(direction);
            let now = t(now);
            let mut all = bars(&spec);
            all.sort_by_key(|b| b.start);
            let once = advance(&p, &Outcome::open(), &all, now);
            let step = |state: &Outcome, part: &[Bar], at| advance(&p, state, part, at);
            // A call at or after the expiry is the last one by design, so the
            // first half is fed just before it.
            let early = now.min(p.expires_at - Duration::seconds(1));
            // The later call gets the bars from index `j` on, plus any that had
            // not closed at `early` (the shell fetches up to its own `now`).
            let from = |j: usize| -> Vec<Bar> {
                all.iter().enumerate().filter(|(i, b)| *i >= j || b.end > early).map(|(_, b)| *b).collect()
            };
            for k in 0..=all.len() {
                let first = step(&Outcome::open(), &all[..k], early);
                let split = step(&first, &from(k), now);
                assert_eq!(show(&split), show(&once), "{what}: split at {k}");
                let overlap = step(&first, &from(k.saturating_sub(1)), now);
                assert_eq!(show(&overlap), show(&once), "{what}: overlap at {k}");
            }
            let twice = step(&once, &all, now);
            assert_eq!(show(&twice), show(&once), "{what}: fed twice");
            let doubled: Vec<Bar> = all.iter().chain(all.iter()).copied().collect();
            assert_eq!(show(&step(&Outcome::open(), &doubled, now)), show(&once), "{what}: duplicated bars");
            // Earlier `now`s see a prefix; the last call catches up.
            let mut state = Outcome::open();
            for b in &all {
                state = step(&state, &all, b.start);
            }
            assert_eq!(show(&step(&state, &all, now)), show(&once), "{what}: moving now");
        }
    }

    #[test]
    fn final_outcomes_do_not_move() {
        let p = plan(Direction::Long);
        let stopped = advance(&p, &Outcome::open(), &bars(&[("10:01", 100.0, 100.0, 98.0, 98.5)]), t("11:00"));
        let later = bars(&[("10:05", 98.5, 110.0, 98.0, 109.0)]);
        assert_eq!(advance(&p, &stopped, &later, t("17:00")), stopped);
    }

    #[test]
    fn wins() {
        let want = [
            (Status::Open, false),
            (Status::T1, true),
            (Status::T2, true),
            (Status::Stopped, false),
            (Status::Expired, false),
        ];
        for (status, win) in want {
            assert_eq!(is_win(status), win, "{status}");
        }
    }

    #[test]
    fn column_values_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        for k in [Kind::Premium, Kind::Underlying] {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        }
        for d in [Direction::Long, Direction::Short] {
            assert_eq!(d.as_str().parse::<Direction>(), Ok(d));
        }
        assert_eq!("won".parse::<Status>(), Err("unknown outcome status `won`".to_string()));
    }

    // ---- plans -------------------------------------------------------------

    fn defaults() -> Config {
        Config::from_vars(&BTreeMap::new()).expect("defaults are valid")
    }

    #[test]
    fn params_from_config() {
        let cfg = defaults();
        let want = OutcomeParams { t1_pct: 0.5, t2_pct: 1.0, stop_pct: 0.5, max_days: 5 };
        assert_eq!(OutcomeParams::from_config(&cfg), want);
        assert_eq!(ReportParams::from_config(&cfg), ReportParams { min_obs: 20, min_win: 0.2 });
        let vars = BTreeMap::from([("OUTCOME_MAX_DAYS".to_string(), "2".to_string())]);
        let cfg = Config::from_vars(&vars).expect("valid");
        assert_eq!(OutcomeParams::from_config(&cfg).max_days, 2);
    }

    fn show_plan(p: Option<Plan>) -> String {
        let Some(p) = p else { return "none".to_string() };
        let t2 = p.t2.map_or_else(|| "-".to_string(), |x| format!("{x:.4}"));
        format!(
            "{} {} entry={:.4} stop={:.4} t1={:.4} t2={t2} expires={}",
            p.kind,
            p.direction,
            p.entry,
            p.stop,
            p.t1,
            p.expires_at.with_timezone(&MARKET_TZ).format("%Y-%m-%d %H:%M")
        )
    }

    /// An options alert on Tuesday 2025-07-01 at 10:00 ET.
    fn option_alert(bot: Bot, avg_fill: Option<f64>, expiration: Option<&str>) -> Alert {
        let mut a = Alert::new(format!("{bot}:x"), bot, et("2025-07-01 10:00:05"), "SPY");
        a.avg_price = avg_fill;
        a.expiration = expiration.map(|d| d.parse().expect("test date"));
        a
    }

    /// A stock-plan alert on Tuesday 2025-07-01 at 10:00 ET.
    fn level_alert(bot: Bot, entry: f64, stop: f64, targets: Option<&[f64]>) -> Alert {
        let mut a = Alert::new(format!("{bot}:x"), bot, et("2025-07-01 10:00:05"), "SPY");
        (a.entry, a.stop, a.targets) = (Some(entry), Some(stop), targets.map(<[f64]>::to_vec));
        a
    }

    #[test]
    fn an_entry_away_from_the_spot_is_a_limit_plan() {
        let params = OutcomeParams::from_config(&defaults());
        // (spot at the alert, limit): a STRAT retest at 98 with the spot at 99.5
        // waits for the price; at the spot it is the market; no spot: market.
        for (spot, want) in [(Some(99.5), true), (Some(98.0), false), (None, false)] {
            let mut a = level_alert(Bot::Strat, 98.0, 90.0, Some(&[114.0]));
            a.spot = spot;
            let plan = plan_for(&a, None, &params).expect("plan");
            assert_eq!(plan.limit, want, "spot {spot:?}");
            assert_eq!(Outcome::start(&plan).filled_at.is_none(), want, "spot {spot:?}");
        }
        // Option-premium plans are entered at the ask: never a limit.
        let mut a = option_alert(Bot::Sweeps, Some(1.1), Some("2025-07-18"));
        a.spot = Some(600.0);
        assert!(!plan_for(&a, Some((1.15, 1.2)), &params).expect("plan").limit);
    }

    type Quote = Option<(f64, f64)>;

    #[test]
    fn plans() {
        let params = OutcomeParams::from_config(&defaults());
        let fri = Some("2025-07-18");
        // (what, alert, (bid, ask) at the alert, expected plan)
        let cases: Vec<(&str, Alert, Quote, &str)> = vec![
            (
                "flow: the ask",
                option_alert(Bot::OraklFlow, Some(1.1), fri),
                Some((1.0, 1.2)),
                "premium long entry=1.2000 stop=0.6000 t1=1.8000 t2=2.4000 expires=2025-07-18 16:00",
            ),
            (
                "sweeps: a crossed quote gives the mid",
                option_alert(Bot::Sweeps, Some(1.1), fri),
                Some((1.3, 1.2)),
                "premium long entry=1.2500 stop=0.6250 t1=1.8750 t2=2.5000 expires=2025-07-18 16:00",
            ),
            (
                "sweeps: no bid still has an ask",
                option_alert(Bot::Sweeps, Some(0.04), fri),
                Some((0.0, 0.05)),
                "premium long entry=0.0500 stop=0.0250 t1=0.0750 t2=0.1000 expires=2025-07-18 16:00",
            ),
            (
                "golden: an empty quote gives the average fill",
                option_alert(Bot::GoldenSweeps, Some(1.1), fri),
                Some((0.0, 0.0)),
                "premium long entry=1.1000 stop=0.5500 t1=1.6500 t2=2.2000 expires=2025-07-18 16:00",
            ),
            (
                "golden: no quote gives the average fill",
                option_alert(Bot::GoldenSweeps, Some(1.1), fri),
                None,
                "premium long entry=1.1000 stop=0.5500 t1=1.6500 t2=2.2000 expires=2025-07-18 16:00",
            ),
            ("flow: no price at all", option_alert(Bot::OraklFlow, None, fri), None, "none"),
            ("flow: a NaN fill", option_alert(Bot::OraklFlow, Some(f64::NAN), fri), Some((f64::NAN, 0.0)), "none"),
            ("flow: no expiration", option_alert(Bot::OraklFlow, Some(1.1), None), None, "none"),
            (
                "flow: expired before the alert",
                option_alert(Bot::OraklFlow, Some(1.1), Some("2025-06-30")),
                None,
                "none",
            ),
            (
                "flow: 0DTE expires at today's close",
                option_alert(Bot::OraklFlow, Some(1.1), Some("2025-07-01")),
                None,
                "premium long entry=1.1000 stop=0.5500 t1=1.6500 t2=2.2000 expires=2025-07-01 16:00",
            ),
            (
                "flow: an early-close expiry ends at 13:00",
                option_alert(Bot::OraklFlow, Some(2.0), Some("2025-07-03")),
                None,
                "premium long entry=2.0000 stop=1.0000 t1=3.0000 t2=4.0000 expires=2025-07-03 13:00",
            ),
            (
                "bullseye long: five sessions, stepping over July 4th",
                level_alert(Bot::Bullseye, 100.0, 98.0, Some(&[102.0, 104.0])),
                Some((1.0, 1.2)),
                "underlying long entry=100.0000 stop=98.0000 t1=102.0000 t2=104.0000 expires=2025-07-09 16:00",
            ),
            (
                "scalps short with one target",
                level_alert(Bot::Scalps, 100.0, 101.0, Some(&[99.0])),
                None,
                "underlying short entry=100.0000 stop=101.0000 t1=99.0000 t2=- expires=2025-07-09 16:00",
            ),
            (
                "breakouts long",
                level_alert(Bot::Breakouts, 100.5, 99.0, Some(&[102.5, 104.5])),
                None,
                "underlying long entry=100.5000 stop=99.0000 t1=102.5000 t2=104.5000 expires=2025-07-09 16:00",
            ),
            (
                "strat short",
                level_alert(Bot::Strat, 50.0, 52.0, Some(&[48.0, 46.0])),
                None,
                "underlying short entry=50.0000 stop=52.0000 t1=48.0000 t2=46.0000 expires=2025-07-09 16:00",
            ),
            (
                "a T2 short of T1 is dropped",
                level_alert(Bot::Strat, 50.0, 52.0, Some(&[48.0, 49.0])),
                None,
                "underlying short entry=50.0000 stop=52.0000 t1=48.0000 t2=- expires=2025-07-09 16:00",
            ),
            ("stop at the entry", level_alert(Bot::Breakouts, 100.0, 100.0, Some(&[102.0])), None, "none"),
            ("stop on the target's side", level_alert(Bot::Bullseye, 100.0, 98.0, Some(&[97.0])), None, "none"),
            ("non-finite entry", level_alert(Bot::Scalps, f64::NAN, 98.0, Some(&[102.0])), None, "none"),
            ("infinite stop", level_alert(Bot::Scalps, 100.0, f64::INFINITY, Some(&[98.0])), None, "none"),
            ("no targets", level_alert(Bot::Strat, 100.0, 98.0, None), None, "none"),
            ("empty targets", level_alert(Bot::Strat, 100.0, 98.0, Some(&[])), None, "none"),
            ("no plan published", Alert::new("x".into(), Bot::Bullseye, et("2025-07-01 10:00"), "SPY"), None, "none"),
            ("darkpool never", level_alert(Bot::Darkpool, 100.0, 98.0, Some(&[102.0])), Some((1.0, 1.2)), "none"),
        ];
        for (what, alert, quote, want) in cases {
            let got = plan_for(&alert, quote, &params);
            assert_eq!(show_plan(got), want, "{what}");
            if let Some(p) = got {
                assert_eq!(p.opened_at, alert.at, "{what}");
                assert_eq!(expiry(&alert, &params), Some(p.expires_at), "{what}");
            }
        }
    }

    #[test]
    fn underlying_horizon_follows_the_calendar() {
        // (alert ET, max_days, expiry ET): the close of the Nth session after
        // the alert's, early closes and weekends included.
        let cases = [
            ("2025-07-01 10:00", 2, "2025-07-03 13:00"),
            ("2025-07-01 19:30", 1, "2025-07-02 16:00"),
            ("2025-07-05 12:00", 1, "2025-07-07 16:00"),
            ("2025-07-03 09:45", 1, "2025-07-07 16:00"),
        ];
        for (at, max_days, want) in cases {
            let params = OutcomeParams { t1_pct: 0.5, t2_pct: 1.0, stop_pct: 0.5, max_days };
            let mut a = level_alert(Bot::Scalps, 100.0, 99.0, Some(&[101.0]));
            a.at = et(at);
            let got = expiry(&a, &params).map(|x| x.with_timezone(&MARKET_TZ).format("%Y-%m-%d %H:%M").to_string());
            assert_eq!(got.as_deref(), Some(want), "{at} + {max_days}");
        }
    }

    #[test]
    fn a_premium_plan_resolves_on_option_bars() {
        let params = OutcomeParams::from_config(&defaults());
        let alert = option_alert(Bot::Sweeps, Some(1.1), Some("2025-07-01"));
        let p = plan_for(&alert, Some((1.15, 1.2)), &params).expect("plan");
        let minute = |hm: &str, high: f64, low: f64| {
            let start = et(&format!("2025-07-01 {hm}"));
            Bar { start, end: start + Duration::minutes(1), open: 1.2, high, low, close: low, volume: 5.0, vwap: None }
        };
        let option_bars = [minute("10:00", 3.0, 1.2), minute("10:01", 1.9, 1.1), minute("10:02", 1.5, 0.55)];
        let got = advance(&p, &Outcome::open(), &option_bars, et("2025-07-01 16:05"));
        // The 10:00 bar (the alert's minute) would have been a T2; T1 at 10:01
        // decides, the stop at 10:02 ends the watch.
        assert_eq!(show(&got), "t1 resolved=10:03 seen=10:03 mfe=0.5833 mae=0.5417");
        // Entry 1.2 (the ask), stop −50% = 0.6: T1 at +50% is +1R.
        assert!(got.r.is_some_and(|r| (r - 1.0).abs() < 1e-9), "{:?}", got.r);
    }

    // ---- reports -----------------------------------------------------------

    /// A final outcome unless `Open`; R: T2 +2, T1 +1, stopped −1, expired +0.3.
    fn row(bot: Bot, score: Option<f64>, symbol: &str, status: Status, mfe: f64, confirmed: Option<bool>) -> Row {
        let open = status == Status::Open;
        let r = match status {
            Status::Open => 0.1,
            Status::T1 => 1.0,
            Status::T2 => 2.0,
            Status::Stopped => -1.0,
            Status::Expired => 0.3,
        };
        Row {
            bot,
            score,
            symbol: symbol.to_string(),
            status,
            resolved: !open,
            not_filled: false,
            r: Some(r),
            mfe: (!open).then_some(mfe),
            mae: (!open).then_some(mfe / 2.0),
            opening_confirmed: confirmed,
        }
    }

    fn rows() -> Vec<Row> {
        use Status::*;
        vec![
            row(Bot::OraklFlow, Some(92.0), "SPY", T2, 1.2, Some(true)),
            row(Bot::OraklFlow, Some(85.5), "SPY", Stopped, 0.2, Some(false)),
            row(Bot::OraklFlow, Some(100.0), "SPY", Open, 0.0, None),
            row(Bot::Sweeps, Some(79.9), "AAA", Stopped, 0.1, Some(true)),
            row(Bot::Sweeps, Some(65.0), "AAA", Stopped, 0.0, None),
            row(Bot::Sweeps, Some(55.0), "AAA", T1, 0.6, None),
            row(Bot::Scalps, Some(60.0), "AAA", Stopped, 0.004, None),
            row(Bot::Scalps, None, "AAA", Expired, 0.008, None),
            row(Bot::Bullseye, None, "QQQ", Open, 0.0, None),
            // Past T1 and still watched for T2: open, not resolved.
            Row { resolved: false, r: Some(1.0), ..row(Bot::Bullseye, None, "QQQ", T1, 0.3, None) },
            // A limit never filled: neither win nor loss, no R.
            Row {
                resolved: false,
                not_filled: true,
                r: None,
                ..row(Bot::Scalps, Some(60.0), "AAA", Expired, 0.0, None)
            },
        ]
    }

    #[test]
    fn buckets() {
        let cases = [
            (Some(0.0), "<60"),
            (Some(59.99), "<60"),
            (Some(60.0), "60-69"),
            (Some(69.9), "60-69"),
            (Some(70.0), "70-79"),
            (Some(89.5), "80-89"),
            (Some(90.0), "90-100"),
            (Some(104.0), "90-100"),
            (Some(f64::NAN), "none"),
            (None, "none"),
        ];
        for (score, want) in cases {
            assert_eq!(Bucket::of(score).label(), want, "{score:?}");
        }
    }

    #[test]
    fn summary_counts_and_flags() {
        let report = summarize(&rows(), &ReportParams { min_obs: 5, min_win: 0.25 });
        let t = &report.total;
        assert_eq!((t.alerts, t.resolved, t.not_filled, t.wins, t.t2, t.stopped, t.expired), (11, 7, 1, 2, 1, 4, 1));
        // R of the resolved: +2 −1 −1 −1 +1 −1 +0.3 = −0.7 over 7 outcomes,
        // and over 8 finished plans with the unfilled limit at 0R.
        assert!(t.avg_r().is_some_and(|r| (r + 0.1).abs() < 1e-12), "{:?}", t.avg_r());
        assert!(t.expectancy().is_some_and(|r| (r + 0.0875).abs() < 1e-12), "{:?}", t.expectancy());
        assert_eq!((Stats::default().avg_r(), Stats::default().expectancy()), (None, None));
        assert_eq!((t.confirmed, t.confirm_checked), (2, 3));
        // AAA: 5 resolved, 1 win (20% < 25%); SPY has too few to judge.
        assert_eq!(report.flagged, vec![Flagged { symbol: "AAA".to_string(), resolved: 5, t1_rate: 0.2 }]);
        let not_yet = summarize(&rows(), &ReportParams { min_obs: 6, min_win: 0.25 });
        assert_eq!(not_yet.flagged, vec![]);
        let bar_lower = summarize(&rows(), &ReportParams { min_obs: 5, min_win: 0.2 });
        assert_eq!(bar_lower.flagged, vec![], "the rate must be strictly below the bar");
        assert_eq!(summarize(&[], &ReportParams { min_obs: 1, min_win: 0.2 }).total.t1_rate(), None);
    }

    #[test]
    fn report_text() {
        let report = summarize(&rows(), &ReportParams { min_obs: 5, min_win: 0.25 });
        let want = format!(
            "\
orakl performance: last 7 days

bot            alerts resolved unfilled      T1      T2    stop  avg R  exp R  avg MFE  avg MAE   opened
orakl_flow          3        2        0   50.0%   50.0%   50.0%  +0.50  +0.50    70.0%    35.0%      1/2
sweeps              3        3        0   33.3%    0.0%   66.7%  -0.33  -0.33    23.3%    11.7%      1/1
bullseye            2        0        0       -       -       -      -      -        -        -        -
scalps              3        2        1    0.0%    0.0%   50.0%  -0.35  -0.23     0.6%     0.3%        -
all                11        7        1   28.6%   14.3%   57.1%  -0.10  -0.09    30.2%    15.1%      2/3

score          alerts resolved unfilled      T1      T2    stop  avg R  exp R  avg MFE  avg MAE   opened
<60                 1        1        0  100.0%    0.0%    0.0%  +1.00  +1.00    60.0%    30.0%        -
60-69               3        2        1    0.0%    0.0%  100.0%  -1.00  -0.67     0.2%     0.1%        -
70-79               1        1        0    0.0%    0.0%  100.0%  -1.00  -1.00    10.0%     5.0%      1/1
80-89               1        1        0    0.0%    0.0%  100.0%  -1.00  -1.00    20.0%    10.0%      0/1
90-100              2        1        0  100.0%  100.0%    0.0%  +2.00  +2.00   120.0%    60.0%      1/1
none                3        1        0    0.0%    0.0%    0.0%  +0.30  +0.30     0.8%     0.4%        -
all                11        7        1   28.6%   14.3%   57.1%  -0.10  -0.09    30.2%    15.1%      2/3

Flagged for review (at least 5 resolved, T1 rate below 25.0%; listed, never removed):
  AAA        resolved    5  T1 rate 20.0%

{METHOD}"
        );
        let got = render_report(&report, "orakl performance", 7);
        assert_eq!(got, want, "\n{got}");
        let empty = render_report(&summarize(&[], &ReportParams { min_obs: 20, min_win: 0.2 }), "weekly", 1);
        assert!(empty.starts_with("weekly: last 1 day\n"), "{empty}");
        assert!(empty.contains("  none\n"), "{empty}");
        assert!(empty.ends_with(METHOD), "{empty}");
    }
}
