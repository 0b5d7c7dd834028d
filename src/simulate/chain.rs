//! One underlying's option chain through the day: the listed contracts
//! (dailies or Wednesday/Friday weeklies, weekly Fridays, monthlies,
//! quarterlies, LEAPS), their open interest, the background trading that
//! builds each contract's day volume and VWAP, injected prints, and the
//! snapshot the chain endpoint would return at any moment.
//!
//! Quotes and greeks are a pure function of (contract, spot, time), so the
//! planner can know in advance what an injected trade will pay.
//!
//! Every fill is also booked into the contract's minute (by its timestamp),
//! so the chain can hand out the 1-minute bars the aggregates endpoint would
//! return for each option (a bar only for a minute the contract traded in):
//! the same prints build the snapshot's day volume, VWAP and last trade and
//! the bars, so the two always agree. A print booked into the snapshot at
//! second `t` is always timestamped before `t`.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::background::{CLASSES, Pressure, SideMix, draw_size, total_size};
use super::market::{Day, Profile, intraday_weights};
use super::pricing::{
    Bs, SECONDS_PER_YEAR, black_scholes, ceil_to, cents, floor_to, occ_ticker, round_dp, round_sig, smile_iv, tick_size,
};
use super::realism::OptionTally;
use super::rng::Rng;
use crate::calendar;
use crate::polygon::Bar;
use crate::polygon::models::{
    Greeks, OptionDay, OptionDetails, OptionQuote, OptionSnapshot, OptionTrade, UnderlyingAsset,
};

/// OPRA participant ids as Polygon numbers them.
pub const OPTION_EXCHANGES: [i32; 16] =
    [300, 301, 302, 303, 304, 307, 308, 309, 312, 313, 315, 316, 319, 322, 323, 325];
/// OPRA trade conditions: an ordinary electronic fill, an intermarket sweep,
/// an auction and a multi-leg print.
pub const COND_REGULAR: i32 = 209;
pub const COND_ISO: i32 = 219;
const COND_AUCTION: i32 = 227;
const COND_MULTI_LEG: i32 = 232;

/// One listed contract and what it has done today.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub ticker: String,
    pub call: bool,
    pub strike: f64,
    pub expiration: NaiveDate,
    /// Calendar days from the trading date.
    pub dte: i64,
    /// Seconds from today's bell to the expiry's closing bell.
    pub expiry_s: f64,
    pub open_interest: f64,
    /// Background contracts a day.
    pub adv: f64,
    /// After an injected event: the second from which the contract trades
    /// a little every minute (the follow-on interest the event drew).
    pub follow_from: Option<u32>,
    /// After an injected event: how its implied volatility moves.
    pub drift: Option<Drift>,
    pub volume: f64,
    pub notional: f64,
    /// The day's first print (by timestamp, like the close).
    pub open: f64,
    pub open_ns: i64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub last_trade: Option<OptionTrade>,
}

impl Contract {
    /// The day's VWAP as the snapshot reports it (4 decimals, inside the
    /// day's range).
    pub fn vwap(&self) -> Option<f64> {
        (self.volume > 0.0).then(|| round_dp(self.notional / self.volume, 4).clamp(self.low, self.high))
    }
}

/// The implied-volatility path of a contract after an injected event: the
/// smile's level times a factor that eases from 1 at `from_s` to
/// `exp(log_mult)` at `to_s` and stays there. Buying pressure (or its
/// fading) re-prices the one contract, so its premium runs or bleeds on top
/// of what the underlying does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift {
    pub from_s: u32,
    pub to_s: u32,
    pub log_mult: f64,
}

impl Drift {
    /// The volatility factor at second `t` (1 up to `from_s`).
    pub fn factor(&self, t: f64) -> f64 {
        let from = f64::from(self.from_s);
        if t <= from {
            return 1.0;
        }
        let span = f64::from(self.to_s.saturating_sub(self.from_s).max(1));
        let x = ((t - from) / span).min(1.0);
        (self.log_mult * x * x * (3.0 - 2.0 * x)).exp()
    }
}

/// One contract's trading in one minute, as its prints arrive (out of order).
#[derive(Debug, Clone, Copy, PartialEq)]
struct MinuteAcc {
    first_ns: i64,
    open: f64,
    last_ns: i64,
    close: f64,
    high: f64,
    low: f64,
    volume: f64,
    notional: f64,
    n: u32,
}

/// Fair value, quote and greeks of a contract at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priced {
    pub iv: f64,
    pub bs: Bs,
    pub bid: f64,
    pub ask: f64,
    pub tick: f64,
}

impl Priced {
    /// The midpoint on the tick grid (strictly inside a spread of two ticks
    /// or more).
    pub fn mid(&self) -> f64 {
        floor_to((self.bid + self.ask) / 2.0, self.tick)
    }
}

/// A print placed by the planner.
#[derive(Debug, Clone, PartialEq)]
pub struct Print {
    /// How long before the snapshot the print lands, nanoseconds.
    pub before_ns: i64,
    pub size: f64,
    pub price: f64,
    pub exchange: i32,
    pub conditions: Vec<i32>,
}

/// Prints booked at once on one contract within one minute.
#[derive(Debug, Clone, PartialEq)]
struct Booking {
    volume: f64,
    notional: f64,
    low: f64,
    high: f64,
    /// (timestamp, price) of the first and the last print.
    first: (i64, f64),
    last: (i64, f64),
    prints: u32,
    last_size: f64,
    exchange: i32,
    conditions: Vec<i32>,
}

/// A print of this much premium or more is drawn on its own and recorded
/// as a trade: Sweeps' minimum premium, where one print can make an alert.
pub const PREMIUM_PRINT: f64 = 50_000.0;

/// An ordinary (not ISO) print's condition: mostly a regular electronic
/// fill, some auctions and multi-leg prints.
fn plain_condition(rng: &mut Rng) -> i32 {
    let u = rng.f64();
    if u < 0.065 {
        COND_AUCTION
    } else if u < 0.152 {
        COND_MULTI_LEG
    } else {
        COND_REGULAR
    }
}

/// Minutes since the bell of a timestamp (0 before it).
fn m_of(ns: i64, open_ns: i64) -> usize {
    usize::try_from((ns - open_ns).div_euclid(60_000_000_000)).unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct Chain {
    penny_all: bool,
    atm_vol: f64,
    pub contracts: Vec<Contract>,
    priced: Vec<Priced>,
    snaps: Vec<OptionSnapshot>,
    /// Contracts whose quote was refreshed by an injected event at the
    /// snapshot time being built.
    fresh: Vec<bool>,
    /// The bell, nanoseconds since the epoch.
    open_ns: i64,
    /// Trading per (minute since the bell, contract) not yet handed out.
    minutes: BTreeMap<(u32, usize), MinuteAcc>,
    /// (spot, second) of the last [`Chain::price_all`].
    priced_at: (f64, u32),
    /// The underlying's daily volatility (scales its moves for `pressure`).
    daily_vol: f64,
    /// The symbol's buying pressure, which sets the background's sides.
    pressure: Pressure,
    /// What the day has traded, for the realism figures.
    pub tally: OptionTally,
}

/// Expirations listed on `date`: every session for a week (index ETFs) or
/// Wednesdays and Fridays for two weeks (single names), weekly Fridays to six
/// weeks, the monthlies of the next four months, quarterlies to nine months
/// and two January LEAPS.
/// An expiry falling on a holiday moves to the session before.
pub fn expirations(date: NaiveDate, daily: bool) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let adjust = |d: NaiveDate| {
        let mut d = d;
        for _ in 0..7 {
            if calendar::is_trading_day(d) {
                return Some(d);
            }
            d = d.pred_opt()?;
        }
        None
    };
    let mut push = |d: Option<NaiveDate>| {
        if let Some(d) = d.and_then(adjust).filter(|d| *d >= date) {
            out.push(d);
        }
    };
    if daily {
        let mut d = Some(date);
        for _ in 0..5 {
            push(d);
            d = d.and_then(calendar::next_trading_day);
        }
    } else {
        for k in 0..14 {
            let d = date + Duration::days(k);
            if matches!(d.weekday(), Weekday::Wed | Weekday::Fri) {
                push(Some(d));
            }
        }
    }
    for k in 0..42 {
        let d = date + Duration::days(k);
        if d.weekday() == Weekday::Fri {
            push(Some(d));
        }
    }
    for k in 0..4 {
        let (y, m) = add_months(date.year(), date.month(), k);
        push(third_friday(y, m));
    }
    for k in 4..10 {
        let (y, m) = add_months(date.year(), date.month(), k);
        if m % 3 == 0 {
            push(third_friday(y, m));
        }
    }
    for y in [date.year() + 1, date.year() + 2] {
        push(third_friday(y, 1));
    }
    out.sort();
    out.dedup();
    out
}

fn add_months(year: i32, month: u32, k: u32) -> (i32, u32) {
    let idx = (month - 1) + k;
    (year + (idx / 12) as i32, idx % 12 + 1)
}

fn third_friday(year: i32, month: u32) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Fri, 3)
}

fn is_monthly(d: NaiveDate) -> bool {
    // The third Friday, or the Thursday before it when Friday is a holiday.
    (15..=21).contains(&d.day()) && d.weekday() == Weekday::Fri
        || (14..=20).contains(&d.day())
            && d.weekday() == Weekday::Thu
            && !calendar::is_trading_day(d + Duration::days(1))
}

/// The strike increment for a window of `width` dollars around spot: the
/// listing's finest increment near the money and short-dated, coarser as
/// the expected move grows.
fn nice_step(width: f64, finest: f64) -> f64 {
    let ladder: &[f64] = if finest < 1.0 {
        &[0.5, 1.0, 2.5, 5.0, 10.0, 25.0]
    } else if finest < 2.5 {
        &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0]
    } else {
        &[2.5, 5.0, 10.0, 25.0, 50.0, 100.0]
    };
    ladder.iter().copied().find(|s| *s >= width).unwrap_or(ladder[ladder.len() - 1])
}

/// Strikes of one expiry: `near` each side of the money at the fine step,
/// then `far` each side at a coarser step, covering about ±0.8 standard
/// deviations finely and ±2 in all.
fn strikes(spot: f64, sd_dollars: f64, finest: f64, near: usize, far: usize) -> Vec<f64> {
    let step = nice_step(0.8 * sd_dollars / near as f64, finest);
    let coarse = nice_step(2.0 * step, finest).max(2.0 * step);
    let center = (spot / step).round() * step;
    let mut out = Vec::new();
    for k in -(near as i64)..=(near as i64) {
        out.push(center + k as f64 * step);
    }
    let hi = center + near as f64 * step;
    let lo = center - near as f64 * step;
    let mut up = (hi / coarse).floor() * coarse;
    let mut down = (lo / coarse).ceil() * coarse;
    for _ in 0..far {
        up += coarse;
        down -= coarse;
        out.push(up);
        out.push(down);
    }
    out.retain(|k| *k > 0.0);
    out.iter_mut().for_each(|k| *k = round_dp(*k, 3));
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

impl Chain {
    /// The chain listed at the open, sized by `scale` (1.0 is about 15 to
    /// 17 expirations of 30 to 40 contracts).
    pub fn build(p: &Profile, day: &Day, spot: f64, scale: f64, rng: &mut Rng) -> Chain {
        let atm_vol = p.atm_vol();
        let near = ((6.0 * scale).round() as usize).max(2);
        let far = ((2.0 * scale).round() as usize).max(1);
        let mut contracts = Vec::new();
        // Each contract's raw open interest and its weight within its
        // expiry; scaled below to the symbol's totals.
        let mut raw_oi: Vec<f64> = Vec::new();
        let expiries = expirations(day.date, p.daily_expiries);
        let mut expiry_weight: Vec<f64> = Vec::with_capacity(expiries.len());
        for exp in expiries.iter().copied() {
            let dte = (exp - day.date).num_days();
            // Volume falls off with time to expiry; monthlies draw more
            // than the weeklies around them.
            expiry_weight.push(if is_monthly(exp) { 1.5 } else { 1.0 } / (1.0 + dte as f64));
            let expiry_s = if dte == 0 { f64::from(day.session_s) } else { dte as f64 * 86_400.0 + 23_400.0 };
            let t_years = (expiry_s / SECONDS_PER_YEAR).max(1.0 / 365.0);
            let sd = spot * atm_vol * t_years.sqrt();
            // LEAPS list fewer strikes near the money than the front months.
            let n = if dte > 200 { (near / 2).max(2) } else { near };
            let term = if dte <= 2 {
                0.4
            } else if is_monthly(exp) && dte > 200 {
                1.5
            } else if is_monthly(exp) {
                2.5
            } else {
                1.0
            };
            for k in strikes(spot, sd, p.strike_step, n, far) {
                for call in [true, false] {
                    let m = (k / spot).ln() / (atm_vol * t_years.sqrt());
                    raw_oi.push(term * (-0.5 * (m / 1.2).powi(2)).exp() * (0.6 * rng.normal()).exp());
                    // Contracts trade where they are cheap: near the money and
                    // out of it; in-the-money contracts (hundreds of dollars
                    // each) see little volume.
                    let itm = if call { -m } else { m }.max(0.0);
                    let fair = black_scholes(call, spot, k, atm_vol, t_years).price;
                    let weight = (-0.5 * (m / 0.9).powi(2)).exp() * (-3.0 * itm).exp() / (1.0 + fair / (0.005 * spot));
                    contracts.push(Contract {
                        // OCC roots carry no punctuation (BRK.B lists as BRKB).
                        ticker: occ_ticker(&p.symbol.replace('.', ""), exp, call, k),
                        call,
                        strike: k,
                        expiration: exp,
                        dte,
                        expiry_s,
                        open_interest: 0.0,
                        adv: weight,
                        follow_from: None,
                        drift: None,
                        volume: 0.0,
                        notional: 0.0,
                        open: 0.0,
                        open_ns: 0,
                        high: 0.0,
                        low: 0.0,
                        close: 0.0,
                        last_trade: None,
                    });
                }
            }
        }
        // Today's expiry takes its share of the day (SPY's 0DTE business);
        // the rest follow the falloff.
        if let (Some(first), true) = (expiries.first(), p.zero_dte_share > 0.0 && p.zero_dte_share < 1.0) {
            if *first == day.date && expiry_weight.len() > 1 {
                let rest: f64 = expiry_weight[1..].iter().sum();
                expiry_weight[0] = rest * p.zero_dte_share / (1.0 - p.zero_dte_share);
            }
        }
        let weight_total: f64 = expiry_weight.iter().sum();
        for (exp, w) in expiries.iter().zip(&expiry_weight) {
            let in_expiry: f64 = contracts.iter().filter(|c| c.expiration == *exp).map(|c| c.adv).sum();
            let scale = p.option_adv * w / weight_total.max(1e-12) / in_expiry.max(1e-12);
            contracts.iter_mut().filter(|c| c.expiration == *exp).for_each(|c| c.adv *= scale);
        }
        let oi_total: f64 = raw_oi.iter().sum();
        for (c, raw) in contracts.iter_mut().zip(&raw_oi) {
            c.open_interest = (p.option_adv * p.oi_ratio * raw / oi_total.max(1e-12)).round();
        }
        // Polygon's default order: by ticker (expiry, then type, then strike).
        contracts.sort_by(|a, b| a.ticker.cmp(&b.ticker));
        let snaps = contracts
            .iter()
            .map(|c| OptionSnapshot {
                details: Some(OptionDetails {
                    contract_type: Some(if c.call { "call" } else { "put" }.to_string()),
                    expiration_date: Some(c.expiration),
                    strike_price: Some(c.strike),
                    ticker: Some(c.ticker.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let n = contracts.len();
        Chain {
            penny_all: p.penny_all,
            atm_vol,
            contracts,
            priced: Vec::with_capacity(n),
            snaps,
            fresh: vec![false; n],
            open_ns: day.ns(0, 0),
            minutes: BTreeMap::new(),
            priced_at: (spot, 0),
            daily_vol: p.daily_vol,
            pressure: Pressure::new(),
            tally: OptionTally::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.contracts.len()
    }

    /// Fair value, quote and greeks of contract `i` with the underlying at
    /// `spot`, `t` seconds after the bell. Spreads widen away from the money
    /// and for cheap contracts (a tick is a large fraction of their price).
    pub fn price(&self, i: usize, spot: f64, t: f64) -> Priced {
        let drift = self.contracts[i].drift.map_or(1.0, |d| d.factor(t));
        self.price_with(i, spot, t, drift)
    }

    /// [`Chain::price`] with the smile's volatility times `vol_mult` in
    /// place of the contract's drift.
    fn price_with(&self, i: usize, spot: f64, t: f64, vol_mult: f64) -> Priced {
        let c = &self.contracts[i];
        let t_years = (c.expiry_s - t) / SECONDS_PER_YEAR;
        let iv = smile_iv(self.atm_vol, spot, c.strike, t_years) * vol_mult;
        let bs = black_scholes(c.call, spot, c.strike, iv, t_years);
        let tick = tick_size(bs.price, self.penny_all);
        let m = ((c.strike / spot).ln() / (iv * t_years.max(1e-6).sqrt())).abs().min(6.0);
        let rel = if self.penny_all { 0.004 } else { 0.012 } * (1.0 + 0.5 * m);
        let half = (bs.price * rel).max(0.5 * tick);
        let bid = floor_to(bs.price - half, tick).max(0.0);
        let mut ask = ceil_to(bs.price + half, tick);
        if ask <= bid {
            ask = cents(bid + tick);
        }
        Priced { iv, bs, bid, ask, tick }
    }

    /// Fair value of contract `i` at `spot`, second `t`, with its smile
    /// volatility times `vol_mult` (its drift ignored): what the planner
    /// solves a drift's size with.
    pub fn fair_with(&self, i: usize, spot: f64, t: f64, vol_mult: f64) -> f64 {
        self.price_with(i, spot, t, vol_mult).bs.price
    }

    /// Prices every contract at second `t` (kept for the trades and the
    /// snapshot of the same moment).
    pub fn price_all(&mut self, spot: f64, t: u32) {
        self.priced_at = (spot, t);
        self.priced.clear();
        for i in 0..self.contracts.len() {
            let p = self.price(i, spot, f64::from(t));
            self.priced.push(p);
        }
        self.fresh.iter_mut().for_each(|f| *f = false);
    }

    pub fn priced(&self, i: usize) -> Option<&Priced> {
        self.priced.get(i)
    }

    /// Background trading in [from, to) at the quotes of `to` (the last
    /// [`Chain::price_all`]): each contract trades its share of the day's
    /// volume (the intraday U of `weights`) in prints of the four size
    /// classes of [`background`], on the sides the symbol's buying pressure
    /// leans to. Per contract and minute, a class's prints are booked as one
    /// aggregate unless one of them could reach $50,000 of premium or the
    /// class starts at 100 contracts; those are drawn one by one, and the
    /// ones of 100 contracts or $50,000 or more are returned per contract
    /// (in chain order) to be recorded as the option's trades.
    pub fn background(
        &mut self,
        day: &Day,
        from: u32,
        to: u32,
        weights: &[f64],
        rng: &mut Rng,
    ) -> Vec<(usize, Vec<crate::polygon::Trade>)> {
        let mut drawn: Vec<(usize, Vec<crate::polygon::Trade>)> = Vec::new();
        if to <= from {
            return drawn;
        }
        let z = self.pressure.step(self.priced_at.0, to - from, self.daily_vol, rng);
        let mixes = [self.pressure.mix(true), self.pressure.mix(false)];
        // Spans within one minute each, with their share of the day.
        let mut spans: Vec<(u32, u32, f64)> = Vec::new();
        let mut a = from;
        while a < to {
            let b = ((a / 60 + 1) * 60).min(to);
            let w = weights.get((a / 60) as usize).copied().unwrap_or(0.0);
            spans.push((a, b, w * f64::from(b - a) / 60.0));
            a = b;
        }
        let (mut call_ask, mut call_bid, mut call_volume) = (0.0, 0.0, 0.0);
        for i in 0..self.contracts.len() {
            let adv = self.contracts[i].adv;
            if adv <= 0.0 {
                continue;
            }
            let Some(q) = self.priced.get(i).copied() else { continue };
            // The quote without the contract's drift decides which draws are
            // made, so the stream is the same whatever a drift does.
            let plain = match self.contracts[i].drift {
                Some(d) if d.factor(f64::from(self.priced_at.1)) != 1.0 => {
                    self.price_with(i, self.priced_at.0, f64::from(self.priced_at.1), 1.0)
                }
                _ => q,
            };
            let call = self.contracts[i].call;
            let mut mix = mixes[usize::from(!call)];
            if plain.bid <= 0.0 {
                // Nothing to sell into: the prints lift the offer.
                mix = SideMix { ask: mix.ask + mix.bid, bid: 0.0 };
            }
            let prices = [q.ask, q.bid, q.mid().max(q.bid)];
            let dollars = |size: f64| size * plain.mid().max(plain.ask * 0.5) * 100.0;
            let mut mine: Vec<crate::polygon::Trade> = Vec::new();
            for &(a, b, share) in &spans {
                let lambda_volume = adv * share;
                for (k, class) in CLASSES.iter().enumerate() {
                    let n = rng.poisson(lambda_volume * class.share / class.mean);
                    if n == 0 {
                        continue;
                    }
                    let one_by_one = k >= 2 || dollars(class.hi) >= PREMIUM_PRINT;
                    if one_by_one {
                        for _ in 0..n {
                            let size = draw_size(k, rng);
                            let side = mix.draw(rng);
                            let price = prices[side];
                            if price <= 0.0 {
                                continue;
                            }
                            let at_ns = day.ns(a + rng.below(u64::from(b - a)) as u32, rng.below(1_000_000_000) as i64);
                            let iso = rng.chance(class.iso);
                            let exchange = OPTION_EXCHANGES[rng.below(OPTION_EXCHANGES.len() as u64) as usize];
                            let condition = if iso { COND_ISO } else { plain_condition(rng) };
                            self.fill(i, price, size, at_ns, exchange, vec![condition]);
                            self.tally.print(size, price, iso, k == 0);
                            if side != 2 && call {
                                if side == 0 { call_ask += size } else { call_bid += size }
                            }
                            if call {
                                call_volume += size;
                            }
                            if size >= 100.0 || size * price * 100.0 >= PREMIUM_PRINT {
                                mine.push(crate::polygon::Trade {
                                    conditions: Some(vec![condition]),
                                    exchange: Some(exchange),
                                    participant_timestamp: Some(at_ns - 20_000),
                                    price,
                                    sip_timestamp: at_ns,
                                    size,
                                    ..Default::default()
                                });
                            }
                        }
                        continue;
                    }
                    // Many small prints as one booking: the class's total
                    // split by side, the first and last prints timed at
                    // the span's ends.
                    let volume = total_size(k, n, rng);
                    let on_ask = (volume * mix.ask).round();
                    let on_bid = ((volume * mix.bid).round()).min(volume - on_ask);
                    let on_mid = volume - on_ask - on_bid;
                    let notional = on_ask * prices[0] + on_bid * prices[1] + on_mid * prices[2];
                    let low = [(on_ask, prices[0]), (on_bid, prices[1]), (on_mid, prices[2])]
                        .iter()
                        .filter(|(v, _)| *v > 0.0)
                        .map(|(_, p)| *p)
                        .fold(f64::MAX, f64::min);
                    let high = [(on_ask, prices[0]), (on_bid, prices[1]), (on_mid, prices[2])]
                        .iter()
                        .filter(|(v, _)| *v > 0.0)
                        .map(|(_, p)| *p)
                        .fold(f64::MIN, f64::max);
                    if !(low > 0.0 && high >= low) {
                        continue;
                    }
                    let span_ns = i64::from(b - a) * 1_000_000_000;
                    let first_ns = day.ns(a, rng.below((span_ns / 4).max(1) as u64) as i64);
                    let last_ns = day.ns(b, -1 - rng.below((span_ns / 4).max(1) as u64) as i64);
                    let side_price = |s: usize| prices[s];
                    let first = side_price(mix.draw(rng)).clamp(low, high);
                    let last = side_price(mix.draw(rng)).clamp(low, high);
                    let iso = rng.chance(class.iso);
                    let exchange = OPTION_EXCHANGES[rng.below(OPTION_EXCHANGES.len() as u64) as usize];
                    let condition = if iso { COND_ISO } else { plain_condition(rng) };
                    self.book(
                        i,
                        &Booking {
                            volume,
                            notional,
                            low,
                            high,
                            first: (first_ns, first),
                            last: (last_ns, last),
                            prints: n as u32,
                            last_size: draw_size(k, rng).min(volume),
                            exchange,
                            conditions: vec![condition],
                        },
                    );
                    self.tally.bulk(volume, notional, n, class.iso * volume, k == 0);
                    if call {
                        call_ask += on_ask;
                        call_bid += on_bid;
                        call_volume += volume;
                    }
                }
            }
            if !mine.is_empty() {
                mine.sort_by_key(|t| t.sip_timestamp);
                drawn.push((i, mine));
            }
        }
        if call_volume > 0.0 {
            self.tally.lean((call_ask - call_bid) / call_volume, z);
        }
        drawn
    }

    /// Follow-on trading in [from, to) on the contracts of injected events
    /// (from their event on): one or two prints in every minute the span
    /// touches, at the bid, the ask or the midpoint of the quote of `to`, of
    /// at most about $800 of premium per minute and span (one contract when
    /// that costs more), so that between two snapshots none of it reaches
    /// any options bot's minimum (unless one contract has come to cost $20
    /// or more: Scalps' $2,000). It has its own generator: the background's
    /// stream is the same with or without it.
    pub fn follow_on(&mut self, day: &Day, from: u32, to: u32, rng: &mut Rng) {
        for i in 0..self.contracts.len() {
            let Some(start) = self.contracts[i].follow_from else { continue };
            let Some(q) = self.priced.get(i).copied() else { continue };
            let mut a = from.max(start);
            while a < to {
                let b = ((a / 60 + 1) * 60).min(to);
                let per_contract = q.ask * 100.0;
                let most = if per_contract > 0.0 { (800.0 / per_contract).floor().clamp(1.0, 20.0) } else { 1.0 };
                let volume = 1.0 + rng.below(most as u64) as f64;
                let parts = if volume >= 2.0 && rng.chance(0.4) { 2 } else { 1 };
                let mut left = volume;
                for k in 0..parts {
                    let size = if k + 1 == parts { left } else { (volume / 2.0).floor() };
                    left -= size;
                    let s = a + rng.below(u64::from(b - a)) as u32;
                    let ns = rng.below(1_000_000_000) as i64;
                    let u = rng.f64();
                    let mut price = if u < 0.45 {
                        q.ask
                    } else if u < 0.8 {
                        q.bid
                    } else {
                        q.mid()
                    };
                    if price <= 0.0 {
                        price = q.ask;
                    }
                    let exchange = OPTION_EXCHANGES[rng.below(OPTION_EXCHANGES.len() as u64) as usize];
                    self.fill(i, price, size, day.ns(s, ns), exchange, vec![COND_REGULAR]);
                }
                a = b;
            }
        }
    }

    /// Books one print on contract `i`, into its day and its minute. The last
    /// trade is the latest by timestamp (background prints are drawn out of
    /// order).
    fn fill(&mut self, i: usize, price: f64, size: f64, at_ns: i64, exchange: i32, conditions: Vec<i32>) {
        self.book(
            i,
            &Booking {
                volume: size,
                notional: price * size,
                low: price,
                high: price,
                first: (at_ns, price),
                last: (at_ns, price),
                prints: 1,
                last_size: size,
                exchange,
                conditions,
            },
        );
    }

    /// Books prints on contract `i` (one, or a class's aggregate within one
    /// minute), into its day and its minute; the day's open and last trade
    /// are the earliest and the latest by timestamp.
    fn book(&mut self, i: usize, b: &Booking) {
        let (first_ns, open) = b.first;
        let (last_ns, close) = b.last;
        if let Ok(m) = u32::try_from((first_ns - self.open_ns).div_euclid(60_000_000_000)) {
            let acc = self.minutes.entry((m, i)).or_insert(MinuteAcc {
                first_ns,
                open,
                last_ns,
                close,
                high: b.high,
                low: b.low,
                volume: 0.0,
                notional: 0.0,
                n: 0,
            });
            if first_ns < acc.first_ns {
                (acc.first_ns, acc.open) = (first_ns, open);
            }
            if last_ns >= acc.last_ns {
                (acc.last_ns, acc.close) = (last_ns, close);
            }
            acc.high = acc.high.max(b.high);
            acc.low = acc.low.min(b.low);
            acc.volume += b.volume;
            acc.notional += b.notional;
            acc.n += b.prints;
        }
        let c = &mut self.contracts[i];
        if c.volume == 0.0 {
            c.high = b.high;
            c.low = b.low;
        }
        if c.volume == 0.0 || first_ns < c.open_ns {
            (c.open, c.open_ns) = (open, first_ns);
        }
        c.volume += b.volume;
        c.notional += b.notional;
        c.high = c.high.max(b.high);
        c.low = c.low.min(b.low);
        if c.dte == 0 {
            self.tally.zero_dte_volume += b.volume;
        }
        self.tally.add_minute(m_of(first_ns, self.open_ns), b.volume);
        let later = c.last_trade.as_ref().and_then(|t| t.sip_timestamp).is_none_or(|t| last_ns >= t);
        if later {
            c.close = close;
            c.last_trade = Some(OptionTrade {
                conditions: Some(b.conditions.clone()),
                exchange: Some(b.exchange),
                price: Some(close),
                sip_timestamp: Some(last_ns),
                size: Some(b.last_size),
                ..Default::default()
            });
        }
    }

    /// Books the planner's prints on contract `i` just before the snapshot at
    /// second `t`, refreshes its quote time, and returns them as the trades
    /// endpoint would list them.
    pub fn execute(&mut self, day: &Day, i: usize, t: u32, prints: &[Print]) -> Vec<crate::polygon::Trade> {
        let mut out = Vec::with_capacity(prints.len());
        let mut sequence = 1_000 + i as i64 * 10_000;
        for p in prints {
            let at_ns = day.ns(t, -p.before_ns);
            self.fill(i, p.price, p.size, at_ns, p.exchange, p.conditions.clone());
            sequence += 1;
            out.push(crate::polygon::Trade {
                conditions: Some(p.conditions.clone()),
                exchange: Some(p.exchange),
                participant_timestamp: Some(at_ns - 20_000),
                price: p.price,
                sequence_number: Some(sequence),
                sip_timestamp: at_ns,
                size: p.size,
                ..Default::default()
            });
        }
        if let Some(f) = self.fresh.get_mut(i) {
            *f = true;
        }
        out
    }

    /// The chain snapshot at second `t` with the underlying at `spot`, in the
    /// API's shape (absent fields left out). Call [`Chain::restore`] with the
    /// vector afterwards so the next snapshot reuses its allocations.
    pub fn snapshot(&mut self, day: &Day, t: u32, spot: f64) -> Vec<OptionSnapshot> {
        let t_ns = day.ns(t, 0);
        let mut snaps = std::mem::take(&mut self.snaps);
        for (i, s) in snaps.iter_mut().enumerate() {
            let (Some(c), Some(q)) = (self.contracts.get(i), self.priced.get(i)) else { continue };
            s.day = c.vwap().map(|vwap| OptionDay {
                close: Some(c.close),
                high: Some(c.high),
                low: Some(c.low),
                open: Some(c.open),
                volume: Some(c.volume),
                vwap: Some(vwap),
                ..Default::default()
            });
            // A quote feed never shows a delta of exactly 0 or ±1 for a
            // contract with a bid/ask, and the sign says call or put.
            let delta = if c.call {
                round_sig(q.bs.delta, 4).clamp(1e-4, 1.0)
            } else {
                round_sig(q.bs.delta, 4).clamp(-1.0, -1e-4)
            };
            s.greeks = Some(Greeks {
                delta: Some(delta),
                gamma: Some(round_sig(q.bs.gamma, 4)),
                theta: Some(round_sig(q.bs.theta, 4)),
                vega: Some(round_sig(q.bs.vega, 4)),
            });
            s.implied_volatility = Some(round_dp(q.iv, 4).max(1e-4));
            // Market makers requote constantly; the quote's age is a
            // deterministic sub-second-to-1.5 s jitter, and zero for a
            // contract an injected print just refreshed.
            let age_ns = if self.fresh.get(i).copied().unwrap_or(false) {
                0
            } else {
                ((i as i64 * 7_919 + i64::from(t) * 104_729) % 1_500) * 1_000_000
            };
            s.last_quote = Some(OptionQuote {
                ask: Some(q.ask),
                bid: Some(q.bid),
                last_updated: Some(t_ns - age_ns),
                ..Default::default()
            });
            s.last_trade = c.last_trade.clone();
            s.open_interest = Some(c.open_interest);
            s.underlying_asset = Some(UnderlyingAsset { price: Some(spot), ..Default::default() });
        }
        snaps
    }

    /// The 1-minute bars of every minute that has closed by second `t`
    /// (start + 60 s ≤ t) and not been handed out before, per contract (in
    /// chain order), oldest first. Call it at a snapshot time: every print
    /// before `t` has been booked by then.
    pub fn take_bars(&mut self, t: u32) -> Vec<(usize, Vec<Bar>)> {
        let open_ms = self.open_ns.div_euclid(1_000_000);
        let later = self.minutes.split_off(&(t / 60, 0));
        let closed = std::mem::replace(&mut self.minutes, later);
        let mut by_contract: BTreeMap<usize, Vec<Bar>> = BTreeMap::new();
        for ((m, i), a) in closed {
            let vwap = round_dp(a.notional / a.volume.max(1e-9), 4).clamp(a.low, a.high);
            by_contract.entry(i).or_default().push(Bar {
                start_ms: open_ms + i64::from(m) * 60_000,
                open: a.open,
                high: a.high,
                low: a.low,
                close: a.close,
                volume: a.volume,
                vwap: Some(vwap),
                transactions: Some(f64::from(a.n)),
                ticker: None,
                otc: None,
            });
        }
        by_contract.into_iter().collect()
    }

    /// Takes back a snapshot vector handed out by [`Chain::snapshot`].
    pub fn restore(&mut self, snaps: Vec<OptionSnapshot>) {
        if snaps.len() == self.contracts.len() {
            self.snaps = snaps;
        }
    }

    /// Share of each minute in the day's option volume (the same U as stocks).
    pub fn weights(day: &Day) -> Vec<f64> {
        intraday_weights(day.minutes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::market::profile;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn expiration_sets() {
        // Monday 2026-03-09. SPY: five dailies, then Fridays, monthlies...
        let spy = expirations(date("2026-03-09"), true);
        assert_eq!(
            &spy[..5],
            &[date("2026-03-09"), date("2026-03-10"), date("2026-03-11"), date("2026-03-12"), date("2026-03-13")]
        );
        assert!(
            spy.contains(&date("2026-04-17")) && spy.contains(&date("2027-01-15")) && spy.contains(&date("2028-01-21"))
        );
        // Single names: Wednesday and Friday for two weeks.
        let aapl = expirations(date("2026-03-09"), false);
        assert_eq!(&aapl[..4], &[date("2026-03-11"), date("2026-03-13"), date("2026-03-18"), date("2026-03-20")]);
        // Good Friday 2026-04-03: the weekly moves to Thursday.
        let around = expirations(date("2026-03-30"), false);
        assert!(around.contains(&date("2026-04-02")) && !around.contains(&date("2026-04-03")));
        // From any weekday a 1–5 DTE expiry exists (Bullseye needs one).
        for d in ["2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12", "2026-03-13"] {
            let d = date(d);
            assert!(expirations(d, false).iter().any(|e| (1..=5).contains(&(*e - d).num_days())), "{d}");
        }
    }

    #[test]
    fn a_drift_eases_from_one_to_its_level_and_stays() {
        let d = Drift { from_s: 1000, to_s: 2000, log_mult: 0.7 };
        assert_eq!(d.factor(0.0), 1.0);
        assert_eq!(d.factor(1000.0), 1.0);
        assert!((d.factor(1500.0) - 0.35f64.exp()).abs() < 1e-12, "halfway in the log");
        assert!((d.factor(2000.0) - 0.7f64.exp()).abs() < 1e-12);
        assert_eq!(d.factor(9000.0), d.factor(2000.0));
        let steps: Vec<f64> = (1000..=2000).step_by(50).map(|t| d.factor(f64::from(t))).collect();
        assert!(steps.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn minute_bars_come_from_the_prints_by_timestamp_once_closed() {
        let day = Day::new(date("2026-03-09")).unwrap();
        let p = profile("CSCO");
        let mut chain = Chain::build(&p, &day, p.spot, 0.3, &mut Rng::new(1));
        // Out of order, as background prints arrive: (second, price, size).
        for (s, price, size) in [(70, 1.2, 3.0), (61, 1.1, 1.0), (119, 1.0, 2.0), (90, 1.4, 4.0), (125, 1.3, 5.0)] {
            chain.fill(0, price, size, day.ns(s, 0), 300, vec![COND_REGULAR]);
        }
        assert!(chain.take_bars(119).is_empty(), "minute 1 has not closed at 119 s");
        let bars = chain.take_bars(120);
        assert_eq!(bars.len(), 1);
        let (i, list) = &bars[0];
        assert_eq!((*i, list.len()), (0, 1));
        let b = &list[0];
        assert_eq!(b.start_ms, (day.open.timestamp() + 60) * 1000);
        assert_eq!((b.open, b.high, b.low, b.close, b.volume), (1.1, 1.4, 1.0, 1.0, 10.0));
        assert_eq!((b.vwap, b.transactions), (Some(1.23), Some(4.0)));
        assert!(chain.take_bars(120).is_empty(), "handed out once");
        let later = chain.take_bars(180);
        assert_eq!(later[0].1[0].volume, 5.0);
        // The day: open is the earliest print, close the latest.
        let c = &chain.contracts[0];
        assert_eq!((c.open, c.close, c.volume), (1.1, 1.3, 15.0));
    }

    #[test]
    fn chain_is_sized_and_sorted_and_prices_are_coherent() {
        let day = Day::new(date("2026-03-09")).unwrap();
        let p = profile("CSCO");
        let mut chain = Chain::build(&p, &day, p.spot, 1.0, &mut Rng::new(1));
        assert!((300..=900).contains(&chain.len()), "{}", chain.len());
        assert!(chain.contracts.windows(2).all(|w| w[0].ticker < w[1].ticker));
        assert!(chain.contracts.iter().all(|c| c.open_interest >= 0.0 && c.strike > 0.0));
        chain.price_all(p.spot, 3600);
        for i in 0..chain.len() {
            let q = chain.priced(i).unwrap();
            assert!(0.0 <= q.bid && q.bid < q.ask && q.iv > 0.0, "{q:?}");
        }
    }
}
