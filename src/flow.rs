//! Flow detection: unusual options activity from the change between two chain
//! snapshots (SPEC §5), shared by the five options bots.
//!
//! Everything here is a plain function of its inputs: observations, the volume
//! cache, `now` and the trading date. Nothing reads the clock or does IO, so a
//! test (or a replay) feeds snapshots and times and gets the same events back.
//!
//! The input is [`Observation`], a plain struct independent of the Polygon
//! models; the shell converts each chain snapshot into it.

use chrono::{DateTime, NaiveDate, Utc};

use crate::alert::{Alert, ContractType, Details, Sentiment, Side};
use crate::cache::{VolumeCache, VolumeEntry};
use crate::job::Bot;

/// Shares per contract when the snapshot does not say.
pub const DEFAULT_MULTIPLIER: f64 = 100.0;

/// `MAX_SPREAD_PCT`'s default: a quote wider than 25% of its midpoint is not a
/// market worth alerting on.
pub const DEFAULT_MAX_SPREAD_PCT: f64 = 0.25;

/// The last trade of a contract, as the snapshot reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TradePoint {
    pub price: f64,
    pub size: f64,
    /// SIP timestamp, nanoseconds since the epoch.
    pub at_ns: i64,
}

/// The last NBBO quote of a contract, as the snapshot reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotePoint {
    pub bid: f64,
    pub ask: f64,
    /// Nanoseconds since the epoch.
    pub at_ns: i64,
}

/// The quote rules, in one place. They differ on purpose, each for what it
/// judges:
///
/// - a quote is *two-sided* when 0 < bid ≤ ask (finite): only then can a
///   fill be placed against it (the side) or a limit posted inside it;
/// - it has a *midpoint* when it is not crossed and the midpoint is
///   positive, a missing bid (0, common for cheap far-out options)
///   included: such a quote still prices volume;
/// - its *spread* is (ask − bid)/mid where it has a midpoint;
/// - it is *crossed* when both sides are present and bid > ask (one side is
///   stale): the outcome plan then enters at the average of the two.
impl QuotePoint {
    pub fn is_two_sided(&self) -> bool {
        self.bid > 0.0 && self.bid <= self.ask && self.ask.is_finite()
    }

    pub fn mid(&self) -> Option<f64> {
        let mid = (self.bid + self.ask) / 2.0;
        (self.bid >= 0.0 && self.ask >= self.bid && mid.is_finite() && mid > 0.0).then_some(mid)
    }

    pub fn spread_pct(&self) -> Option<f64> {
        self.mid().map(|mid| (self.ask - self.bid) / mid)
    }

    pub fn is_crossed(&self) -> bool {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        positive(self.bid) && positive(self.ask) && self.bid > self.ask
    }
}

/// One contract in one chain snapshot, in the units flow detection needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The option ticker, `O:SPY251121C00670000`.
    pub contract: String,
    /// The underlying as the chain names it (`SPY`, or `I:SPX` for an index).
    pub underlying: String,
    /// From `details.contract_type` only: the ticker string is never searched
    /// for a "C" (a `CSCO` put would read as a call).
    pub contract_type: Option<ContractType>,
    pub strike: f64,
    pub expiration: NaiveDate,
    /// Shares per contract ([`DEFAULT_MULTIPLIER`] when the snapshot is silent).
    pub multiplier: f64,
    /// Day volume in contracts (0 when the snapshot has no `day.volume`).
    pub volume: f64,
    /// Day volume-weighted average price.
    pub vwap: Option<f64>,
    pub day_low: Option<f64>,
    pub day_high: Option<f64>,
    pub last_trade: Option<TradePoint>,
    pub quote: Option<QuotePoint>,
    pub open_interest: Option<f64>,
    pub delta: Option<f64>,
    pub iv: Option<f64>,
    /// The underlying's price (`underlying_asset.price`, else `value`).
    pub spot: Option<f64>,
}

impl Observation {
    /// An observation with only its identity set; the rest missing or zero.
    /// The shell's conversion and the tests fill in what they know.
    pub fn new(
        contract: impl Into<String>,
        underlying: &str,
        contract_type: Option<ContractType>,
        strike: f64,
        expiration: NaiveDate,
    ) -> Self {
        Observation {
            contract: contract.into(),
            underlying: underlying.to_string(),
            contract_type,
            strike,
            expiration,
            multiplier: DEFAULT_MULTIPLIER,
            volume: 0.0,
            vwap: None,
            day_low: None,
            day_high: None,
            last_trade: None,
            quote: None,
            open_interest: None,
            delta: None,
            iv: None,
            spot: None,
        }
    }
}

/// Tunables of detection itself (the bots' thresholds live with the bots).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowParams {
    /// Skip a contract whose (ask − bid)/mid exceeds this (`MAX_SPREAD_PCT`).
    pub max_spread_pct: f64,
}

impl Default for FlowParams {
    fn default() -> Self {
        FlowParams { max_spread_pct: DEFAULT_MAX_SPREAD_PCT }
    }
}

/// Where the event's average fill price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceSource {
    /// The change in day notional between the two VWAPs.
    Vwap,
    /// The last trade's price (a VWAP was missing or its average implausible).
    LastTrade,
    /// The quote midpoint (no usable trade either).
    Midpoint,
    /// The order's own prints from the trade tape: exact.
    Prints,
}

/// New volume on one contract between two snapshots: the observation that
/// revealed it, held whole (its fields read through `Deref`, so
/// `ev.contract`, `ev.spot`, ... are the observation's own), and what
/// detection derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowEvent {
    /// The snapshot's observation of the contract.
    pub observation: Observation,
    /// The contract type, known (an observation without one is no event).
    pub contract_type: ContractType,
    /// Day volume at the baseline.
    pub previous_volume: f64,
    /// ΔV in contracts, always > 0.
    pub volume_delta: f64,
    /// Dollars paid for ΔV, always finite and > 0.
    pub premium: f64,
    /// Average price per share of ΔV, always finite and > 0.
    pub avg_price: f64,
    pub price_source: PriceSource,
    pub side: Side,
    pub sentiment: Sentiment,
    /// Calendar days from the trading date to expiration.
    pub dte: i64,
    /// |K − S| / S, unknown without a spot.
    pub strike_distance: Option<f64>,
    /// ΔV / OI, unknown when OI is 0 or missing.
    pub delta_vol_oi: Option<f64>,
    /// V / OI, unknown when OI is 0 or missing.
    pub vol_oi: Option<f64>,
    /// OI is 0 and there is volume: the "vol > OI" case the ratios cannot show.
    pub vol_exceeds_oi: bool,
    /// Probability of finishing in the money, unknown without IV or delta.
    pub prob_itm: Option<f64>,
    pub trading_date: NaiveDate,
    pub observed_at: DateTime<Utc>,
    pub previous_at: DateTime<Utc>,
    /// How unusual the event is for its contract (set here) and its
    /// underlying (the premium rank, set by the engine after detection).
    pub unusual: crate::unusual::Unusualness,
}

impl std::ops::Deref for FlowEvent {
    type Target = Observation;
    fn deref(&self) -> &Observation {
        &self.observation
    }
}

impl std::ops::DerefMut for FlowEvent {
    fn deref_mut(&mut self) -> &mut Observation {
        &mut self.observation
    }
}

impl FlowEvent {
    /// An alert of `bot` with every field the event knows filled in. The
    /// honest default label is "flow (unconfirmed)"; a bot that confirmed a
    /// sweep from the option's trades replaces it.
    pub fn to_alert(&self, bot: Bot, id: String) -> Alert {
        let mut a = Alert::new(id, bot, self.observed_at, display_symbol(&self.underlying));
        a.contract = Some(self.contract.clone());
        a.contract_type = Some(self.contract_type);
        a.strike = Some(self.strike);
        a.expiration = Some(self.expiration);
        a.dte = Some(self.dte);
        a.spot = self.spot;
        a.premium = Some(self.premium);
        a.volume_delta = Some(self.volume_delta);
        a.avg_price = Some(self.avg_price);
        a.open_interest = self.open_interest;
        a.side = self.side;
        a.sentiment = self.sentiment;
        a.label = UNCONFIRMED_LABEL.to_string();
        a.details = Details {
            quote: self.observation.quote.map(|q| (q.bid, q.ask)),
            day_volume: Some(self.observation.volume),
            iv: self.iv,
            prob_itm: self.prob_itm,
            strike_distance: self.strike_distance,
            vol_oi: self.vol_oi,
            delta_vol_oi: self.delta_vol_oi,
            unusual: crate::unusual::lines(self),
            ..Details::default()
        };
        if self.vol_exceeds_oi {
            a.details.notes.push(("vol/OI".to_string(), "vol > OI".to_string()));
        }
        a
    }
}

/// The label of a snapshot delta that no trade data confirmed as a sweep.
pub const UNCONFIRMED_LABEL: &str = "flow (unconfirmed)";

/// Why an observation with new volume produced no event (for `debug` logs).
#[derive(Debug, Clone, PartialEq)]
pub enum DropReason {
    /// The quote's (ask − bid)/mid was above `max_spread_pct`.
    WideSpread { spread_pct: f64 },
    /// The snapshot had no `details.contract_type`.
    NoContractType,
    /// No VWAP average, no trade and no quote midpoint to price the volume.
    NoPrice,
    /// The premium or the average price came out non-finite or non-positive.
    BadPremium { premium: f64, avg_price: f64 },
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::WideSpread { spread_pct } => write!(f, "spread_pct={spread_pct:.3} above max"),
            DropReason::NoContractType => f.write_str("no contract type"),
            DropReason::NoPrice => f.write_str("no price (no vwap average, trade or quote)"),
            DropReason::BadPremium { premium, avg_price } => {
                write!(f, "premium={premium} avg_price={avg_price} not finite and positive")
            }
        }
    }
}

/// An observation with new volume that was dropped, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    pub contract: String,
    pub volume_delta: f64,
    pub reason: DropReason,
}

/// Everything one detection pass found, for the events and the scan's log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    /// Events in the order of the input observations.
    pub events: Vec<FlowEvent>,
    /// Observations that only set a baseline (first of the day, or after expiry).
    pub baselines: usize,
    /// Observations whose volume was below the baseline (a lagging replica).
    pub lagging: usize,
    /// Observations with new volume that the guards dropped.
    pub dropped: Vec<Dropped>,
}

/// Flow events of one chain snapshot with the default [`FlowParams`].
pub fn detect(
    cache: &mut VolumeCache,
    observations: &[Observation],
    now: DateTime<Utc>,
    trading_date: NaiveDate,
) -> Vec<FlowEvent> {
    detect_with(cache, &FlowParams::default(), observations, now, trading_date).events
}

/// Flow events of one chain snapshot, plus what was skipped and why.
///
/// The cache is updated for every observation whose volume is at least its
/// baseline, including ones the guards drop: their volume was seen, and
/// counting it again on the next snapshot would double count.
pub fn detect_with(
    cache: &mut VolumeCache,
    params: &FlowParams,
    observations: &[Observation],
    now: DateTime<Utc>,
    trading_date: NaiveDate,
) -> Detection {
    cache.roll_date(trading_date);
    let mut out = Detection::default();
    // The contract's usual pace is measured from the regular open.
    let session_open = crate::calendar::session(trading_date).map(|s| s.open);
    for obs in observations {
        // A volume that is not a number cannot be compared with anything;
        // leave the baseline as it was.
        if !obs.volume.is_finite() {
            continue;
        }
        let entry = VolumeEntry { volume: obs.volume, vwap: obs.vwap, at: now };
        // The cache keeps the higher of the two as the baseline.
        let Some(prev) = cache.observe(&obs.contract, entry) else {
            out.baselines += 1;
            continue;
        };
        if prev.at >= now {
            // Seen earlier in this very snapshot (a repeated row) or in a
            // later one: there is no interval for volume to have traded in.
            continue;
        }
        if obs.volume < prev.volume {
            // A lagging replica: the higher baseline stays, so the next
            // snapshot counts only the volume above it.
            out.lagging += 1;
            continue;
        }
        let volume_delta = obs.volume - prev.volume;
        if volume_delta <= 0.0 {
            continue;
        }
        match event(params, obs, &prev, volume_delta, now, trading_date, session_open) {
            Ok(ev) => out.events.push(ev),
            Err(reason) => out.dropped.push(Dropped { contract: obs.contract.clone(), volume_delta, reason }),
        }
    }
    out
}

fn event(
    params: &FlowParams,
    obs: &Observation,
    prev: &VolumeEntry,
    volume_delta: f64,
    now: DateTime<Utc>,
    trading_date: NaiveDate,
    session_open: Option<DateTime<Utc>>,
) -> Result<FlowEvent, DropReason> {
    if let Some(spread_pct) = obs.quote.and_then(|q| q.spread_pct())
        && spread_pct > params.max_spread_pct
    {
        return Err(DropReason::WideSpread { spread_pct });
    }
    let contract_type = obs.contract_type.ok_or(DropReason::NoContractType)?;
    let (premium, avg_price, price_source) = premium(obs, prev, volume_delta).ok_or(DropReason::NoPrice)?;
    if !(premium.is_finite() && premium > 0.0 && avg_price.is_finite() && avg_price > 0.0) {
        return Err(DropReason::BadPremium { premium, avg_price });
    }
    let side = side(obs.last_trade.as_ref(), obs.quote.as_ref(), prev.at);
    let (volume_multiple, interval_seconds) =
        crate::unusual::volume_multiple(prev.volume, volume_delta, prev.at, now, session_open);
    let traded = Traded { previous_volume: prev.volume, volume_delta, premium, avg_price, price_source, side };
    let unusual = crate::unusual::Unusualness {
        volume_multiple,
        interval_seconds,
        premium: crate::unusual::PremiumRank::default(),
    };
    Ok(build(obs, contract_type, traded, (prev.at, now), trading_date, unusual))
}

/// What traded on a contract, however it was measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traded {
    /// Day volume before it.
    pub previous_volume: f64,
    pub volume_delta: f64,
    pub premium: f64,
    pub avg_price: f64,
    pub price_source: PriceSource,
    pub side: Side,
}

/// A flow event of `traded` on the observed contract between `at.0` and
/// `at.1`: every derived figure computed in one place, for a snapshot
/// delta and for an order read from the trade tape alike.
pub fn build(
    obs: &Observation,
    contract_type: ContractType,
    traded: Traded,
    at: (DateTime<Utc>, DateTime<Utc>),
    trading_date: NaiveDate,
    unusual: crate::unusual::Unusualness,
) -> FlowEvent {
    let dte = (obs.expiration - trading_date).num_days();
    let spot = obs.spot.filter(|s| s.is_finite() && *s > 0.0);
    let oi = obs.open_interest.filter(|oi| oi.is_finite() && *oi > 0.0);
    let Traded { previous_volume, volume_delta, premium, avg_price, price_source, side } = traded;
    FlowEvent {
        observation: obs.clone(),
        contract_type,
        previous_volume,
        volume_delta,
        premium,
        avg_price,
        price_source,
        side,
        sentiment: sentiment(contract_type, side),
        dte,
        strike_distance: spot.map(|s| (obs.strike - s).abs() / s),
        delta_vol_oi: oi.map(|oi| volume_delta / oi),
        vol_oi: oi.map(|oi| obs.volume / oi),
        vol_exceeds_oi: obs.open_interest == Some(0.0) && obs.volume > 0.0,
        prob_itm: prob_itm(contract_type, spot, obs.strike, obs.iv, obs.delta, dte),
        trading_date,
        observed_at: at.1,
        previous_at: at.0,
        unusual,
    }
}

/// The dollars paid for ΔV, the average price and where it came from.
///
/// The VWAP difference prices exactly the new volume; it is trusted only when
/// its average is positive and inside the day's range, since a revised VWAP
/// or a lagging field can make it absurd. Otherwise the last trade (or the
/// quote midpoint) stands in for the price of all ΔV.
fn premium(obs: &Observation, prev: &VolumeEntry, volume_delta: f64) -> Option<(f64, f64, PriceSource)> {
    let m = obs.multiplier;
    if let (Some(w), Some(w_prev)) = (obs.vwap, prev.vwap) {
        let delta_notional = (w * obs.volume - w_prev * prev.volume) * m;
        let avg = delta_notional / (volume_delta * m);
        let in_range = match (obs.day_low, obs.day_high) {
            (Some(lo), Some(hi)) => avg >= lo && avg <= hi,
            _ => true,
        };
        if avg.is_finite() && avg > 0.0 && in_range {
            return Some((delta_notional, avg, PriceSource::Vwap));
        }
    }
    let (price, source) = match obs.last_trade.map(|t| t.price).filter(|p| p.is_finite() && *p > 0.0) {
        Some(p) => (p, PriceSource::LastTrade),
        None => (obs.quote.as_ref()?.mid()?, PriceSource::Midpoint),
    };
    Some((volume_delta * price * m, price, source))
}

/// Where the last trade printed against the quote. Known only with a trade,
/// a sane quote (0 < bid ≤ ask) and a quote no older than the previous
/// observation: an older quote describes a market the new volume never saw.
pub fn side(trade: Option<&TradePoint>, quote: Option<&QuotePoint>, previous_at: DateTime<Utc>) -> Side {
    let (Some(t), Some(q)) = (trade, quote) else {
        return Side::Unknown;
    };
    if !q.is_two_sided() || !t.price.is_finite() || DateTime::from_timestamp_nanos(q.at_ns) < previous_at {
        return Side::Unknown;
    }
    if t.price >= q.ask {
        Side::Ask
    } else if t.price <= q.bid {
        Side::Bid
    } else {
        Side::Mid
    }
}

/// Buying calls or selling puts is bullish; buying puts or selling calls is
/// bearish. Without a side there is no direction to claim.
pub fn sentiment(contract_type: ContractType, side: Side) -> Sentiment {
    match (contract_type, side) {
        (ContractType::Call, Side::Ask) | (ContractType::Put, Side::Bid) => Sentiment::Bullish,
        (ContractType::Put, Side::Ask) | (ContractType::Call, Side::Bid) => Sentiment::Bearish,
        _ => Sentiment::Neutral,
    }
}

/// P(ITM) at expiry: N(d2) for calls, N(−d2) for puts, with r = 0, σ = IV and
/// T = max(DTE, 0.5)/365 (half a day floor so a 0DTE contract still has time
/// value). Without IV or spot, |delta| is the usual trader's proxy; without
/// either it is unknown.
pub fn prob_itm(
    contract_type: ContractType,
    spot: Option<f64>,
    strike: f64,
    iv: Option<f64>,
    delta: Option<f64>,
    dte: i64,
) -> Option<f64> {
    let usable = |x: f64| x.is_finite() && x > 0.0;
    if let (Some(s), Some(sigma)) = (spot, iv)
        && usable(s)
        && usable(sigma)
        && usable(strike)
    {
        let t = (dte as f64).max(0.5) / 365.0;
        let d2 = ((s / strike).ln() - sigma * sigma * t / 2.0) / (sigma * t.sqrt());
        return Some(match contract_type {
            ContractType::Call => norm_cdf(d2),
            ContractType::Put => norm_cdf(-d2),
        });
    }
    delta.filter(|d| d.is_finite()).map(|d| d.abs().min(1.0))
}

/// The standard normal CDF, Φ(x) = (1 + erf(x/√2))/2, to about 1e-15.
///
/// erf comes from the series erf(z) = 2/√π · e^{−z²} · Σ 2ⁿ z^{2n+1}/(1·3·…·(2n+1)),
/// whose terms are all positive (no cancellation, unlike the plain Taylor
/// series). Beyond |x| = 9 Φ is 0 or 1 to double precision.
pub fn norm_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x >= 9.0 {
        return 1.0;
    }
    if x <= -9.0 {
        return 0.0;
    }
    let z = x.abs() / std::f64::consts::SQRT_2;
    let z2 = z * z;
    let mut term = z;
    let mut sum = z;
    // z² ≤ 40.5 here, so the terms peak near n = 40 and are below 1e-17 of
    // the sum well before n = 200: the bound only guards the loop.
    for n in 1..400 {
        term *= 2.0 * z2 / (2 * n + 1) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    let erf = (2.0 / std::f64::consts::PI.sqrt() * (-z2).exp() * sum).min(1.0);
    if x >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// Option roots that trade under a different name from their index (the
/// PM-settled weeklies and the like), and the index each one tracks.
const INDEX_ROOTS: [(&str, &str); 4] = [("SPXW", "SPX"), ("NDXP", "NDX"), ("RUTW", "RUT"), ("VIXW", "VIX")];

/// Indices whose options Polygon lists under the `I:` ticker form.
const INDICES: [&str; 6] = ["SPX", "NDX", "RUT", "VIX", "XSP", "DJX"];

/// The index an option root tracks (`SPXW` → `SPX`, `NDXP` → `NDX`, `RUTW` →
/// `RUT`, `VIXW` → `VIX`); any other symbol is returned unchanged.
pub fn index_root(symbol: &str) -> &str {
    INDEX_ROOTS.iter().find(|(root, _)| *root == symbol).map_or(symbol, |(_, index)| index)
}

/// The symbol a trader reads in an alert: Polygon's index prefix removed
/// (`I:SPX` → `SPX`) and option roots mapped to their index.
pub fn display_symbol(symbol: &str) -> &str {
    index_root(symbol.strip_prefix("I:").unwrap_or(symbol))
}

/// The underlying as Polygon's option-chain endpoint names it: indices take
/// the `I:` form (`SPX` or `SPXW` → `I:SPX`), stocks and ETFs are unchanged.
pub fn polygon_underlying(symbol: &str) -> String {
    let s = display_symbol(symbol);
    if INDICES.contains(&s) { format!("I:{s}") } else { s.to_string() }
}

/// A plausible event for other modules' tests: 4000 SPY 670 calls bought at
/// the ask for $5.00, premium $2M, 30 DTE, observed 2025-10-22T14:30:15Z.
#[cfg(test)]
pub(crate) fn test_event() -> FlowEvent {
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap_or_default();
    let d = |s: &str| s.parse::<NaiveDate>().unwrap_or_default();
    let mut observation =
        Observation::new("O:SPY251121C00670000", "SPY", Some(ContractType::Call), 670.0, d("2025-11-21"));
    observation.volume = 5000.0;
    observation.last_trade = Some(TradePoint { price: 5.0, size: 4000.0, at_ns: 0 });
    observation.quote = Some(QuotePoint { bid: 4.9, ask: 5.0, at_ns: 0 });
    observation.open_interest = Some(1000.0);
    observation.delta = Some(0.3);
    observation.iv = Some(0.2);
    observation.spot = Some(660.0);
    FlowEvent {
        observation,
        contract_type: ContractType::Call,
        previous_volume: 1000.0,
        volume_delta: 4000.0,
        premium: 2_000_000.0,
        avg_price: 5.0,
        price_source: PriceSource::LastTrade,
        side: Side::Ask,
        sentiment: Sentiment::Bullish,
        dte: 30,
        strike_distance: Some(10.0 / 660.0),
        delta_vol_oi: Some(4.0),
        vol_oi: Some(5.0),
        vol_exceeds_oi: false,
        prob_itm: Some(0.3),
        trading_date: d("2025-10-22"),
        observed_at: t("2025-10-22T14:30:15Z"),
        previous_at: t("2025-10-22T14:30:00Z"),
        unusual: crate::unusual::Unusualness::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn ns(s: &str) -> i64 {
        at(s).timestamp_nanos_opt().unwrap()
    }

    /// One event as the detection table compares it: (contract, ΔV, premium, avg price, source).
    type Got = (String, f64, f64, f64, PriceSource);
    /// Snapshots fed in order: (time, observations).
    type Steps<'a> = Vec<(&'a str, Vec<Observation>)>;

    const DAY: &str = "2025-10-22";
    const T0: &str = "2025-10-22T14:30:00Z";
    const T1: &str = "2025-10-22T14:30:15Z";
    const T2: &str = "2025-10-22T14:30:30Z";

    /// A call on SPY with a fresh, tight quote and a trade at the ask.
    fn obs(volume: f64, vwap: Option<f64>) -> Observation {
        let mut o =
            Observation::new("O:SPY251121C00670000", "SPY", Some(ContractType::Call), 670.0, date("2025-11-21"));
        o.volume = volume;
        o.vwap = vwap;
        o.day_low = Some(1.0);
        o.day_high = Some(10.0);
        o.last_trade = Some(TradePoint { price: 5.0, size: 10.0, at_ns: ns(T1) });
        o.quote = Some(QuotePoint { bid: 4.9, ask: 5.0, at_ns: ns(T1) });
        o.open_interest = Some(1000.0);
        o.spot = Some(660.0);
        o
    }

    /// Feeds snapshots `(time, observations)` in order; returns each
    /// snapshot's events as (contract, ΔV, premium, avg price, source).
    fn run(steps: &[(&str, Vec<Observation>)]) -> (Vec<Vec<Got>>, VolumeCache) {
        let mut cache = VolumeCache::new(900);
        let mut out = Vec::new();
        for (t, observations) in steps {
            let now = at(t);
            let day = now.date_naive();
            let evs = detect(&mut cache, observations, now, day);
            out.push(
                evs.into_iter()
                    .map(|e| {
                        (e.observation.contract, e.volume_delta, round2(e.premium), round2(e.avg_price), e.price_source)
                    })
                    .collect(),
            );
        }
        (out, cache)
    }

    fn round2(x: f64) -> f64 {
        (x * 100.0).round() / 100.0
    }

    fn ev(dv: f64, premium: f64, avg: f64, src: PriceSource) -> Vec<Got> {
        vec![("O:SPY251121C00670000".to_string(), dv, premium, avg, src)]
    }

    #[test]
    fn detection_table() {
        use PriceSource::*;
        let none = Vec::new;
        let with = |mut o: Observation, f: &dyn Fn(&mut Observation)| {
            f(&mut o);
            o
        };
        type Case<'a> = (&'a str, Steps<'a>, Vec<Vec<Got>>);
        let cases: Vec<Case> = vec![
            ("first observation is a baseline only", vec![(T0, vec![obs(500.0, Some(4.0))])], vec![none()]),
            (
                // A row repeated in one snapshot is no interval: the first
                // row sets the baseline, the second is not flow against it.
                "a repeated row in one snapshot is not flow",
                vec![(T0, vec![obs(500.0, Some(4.0)), obs(600.0, Some(4.5))])],
                vec![none()],
            ),
            (
                // Δnotional = (4.5·600 − 4.0·500)·100 = 70,000 over 100 contracts: 7.00 a share.
                "second observation prices ΔV from the VWAPs",
                vec![(T0, vec![obs(500.0, Some(4.0))]), (T1, vec![obs(600.0, Some(4.5))])],
                vec![none(), ev(100.0, 70_000.0, 7.0, Vwap)],
            ),
            (
                // (5.0·600 − 4.0·500)/100 = 10 is inside [1, 10]; (5.1·600 − 2000)/100 = 10.6 is not.
                "vwap average outside the day range falls back to the last trade",
                vec![(T0, vec![obs(500.0, Some(4.0))]), (T1, vec![obs(600.0, Some(5.1))])],
                vec![none(), ev(100.0, 50_000.0, 5.0, LastTrade)],
            ),
            (
                "vwap average at the day high is kept",
                vec![(T0, vec![obs(500.0, Some(4.0))]), (T1, vec![obs(600.0, Some(5.0))])],
                vec![none(), ev(100.0, 100_000.0, 10.0, Vwap)],
            ),
            (
                "non-positive vwap average falls back",
                vec![(T0, vec![obs(500.0, Some(4.0))]), (T1, vec![with(obs(600.0, Some(3.0)), &|o| o.day_low = None)])],
                vec![none(), ev(100.0, 50_000.0, 5.0, LastTrade)],
            ),
            (
                "missing previous vwap falls back",
                vec![(T0, vec![obs(500.0, None)]), (T1, vec![obs(600.0, Some(4.5))])],
                vec![none(), ev(100.0, 50_000.0, 5.0, LastTrade)],
            ),
            (
                "missing current vwap falls back",
                vec![(T0, vec![obs(500.0, Some(4.0))]), (T1, vec![obs(600.0, None)])],
                vec![none(), ev(100.0, 50_000.0, 5.0, LastTrade)],
            ),
            (
                "no trade: the quote midpoint prices the volume",
                vec![(T0, vec![obs(500.0, None)]), (T1, vec![with(obs(600.0, None), &|o| o.last_trade = None)])],
                vec![none(), ev(100.0, 49_500.0, 4.95, Midpoint)],
            ),
            (
                "no trade and no quote: no event",
                vec![
                    (T0, vec![obs(500.0, None)]),
                    (
                        T1,
                        vec![with(obs(600.0, None), &|o| {
                            o.last_trade = None;
                            o.quote = None
                        })],
                    ),
                ],
                vec![none(), none()],
            ),
            (
                "a non-default multiplier scales the premium",
                vec![(T0, vec![obs(500.0, None)]), (T1, vec![with(obs(600.0, None), &|o| o.multiplier = 10.0)])],
                vec![none(), ev(100.0, 5_000.0, 5.0, LastTrade)],
            ),
            (
                "a lagging lower volume is ignored; the next counts only above the old baseline",
                vec![
                    (T0, vec![obs(500.0, None)]),
                    (T1, vec![obs(400.0, None)]),
                    (T2, vec![obs(550.0, None)]),
                    ("2025-10-22T14:30:45Z", vec![obs(550.0, None)]),
                ],
                vec![none(), none(), ev(50.0, 25_000.0, 5.0, LastTrade), none()],
            ),
            (
                "unchanged volume is not an event",
                vec![(T0, vec![obs(500.0, Some(4.0))]), (T1, vec![obs(500.0, Some(4.0))])],
                vec![none(), none()],
            ),
            (
                "within the ttl (900 s exactly) the baseline holds",
                vec![(T0, vec![obs(500.0, None)]), ("2025-10-22T14:45:00Z", vec![obs(600.0, None)])],
                vec![none(), ev(100.0, 50_000.0, 5.0, LastTrade)],
            ),
            (
                "after the ttl the next observation is a baseline again",
                vec![
                    (T0, vec![obs(500.0, None)]),
                    ("2025-10-22T14:45:01Z", vec![obs(600.0, None)]),
                    ("2025-10-22T14:45:16Z", vec![obs(650.0, None)]),
                ],
                vec![none(), none(), ev(50.0, 25_000.0, 5.0, LastTrade)],
            ),
            (
                "a new trading date drops every baseline",
                vec![(T0, vec![obs(500.0, None)]), ("2025-10-23T14:30:00Z", vec![obs(600.0, None)])],
                vec![none(), none()],
            ),
            (
                "a quote wider than 25% of mid is skipped, but its volume becomes the baseline",
                vec![
                    (T0, vec![obs(500.0, None)]),
                    (
                        T1,
                        vec![with(obs(600.0, None), &|o| o.quote = Some(QuotePoint { bid: 4.0, ask: 5.2, at_ns: 0 }))],
                    ),
                    (T2, vec![obs(650.0, None)]),
                ],
                vec![none(), none(), ev(50.0, 25_000.0, 5.0, LastTrade)],
            ),
            (
                // (5.0 − 4.0)/4.5 = 22% is inside the guard.
                "a quote spread just inside the guard is kept",
                vec![
                    (T0, vec![obs(500.0, None)]),
                    (
                        T1,
                        vec![with(obs(600.0, None), &|o| o.quote = Some(QuotePoint { bid: 4.0, ask: 5.0, at_ns: 0 }))],
                    ),
                ],
                vec![none(), ev(100.0, 50_000.0, 5.0, LastTrade)],
            ),
            (
                "a non-finite trade price with no quote leaves nothing to price with",
                vec![
                    (T0, vec![obs(500.0, None)]),
                    (
                        T1,
                        vec![with(obs(600.0, None), &|o| {
                            o.last_trade = Some(TradePoint { price: f64::INFINITY, size: 1.0, at_ns: 0 });
                            o.quote = None;
                        })],
                    ),
                ],
                vec![none(), none()],
            ),
            (
                "an infinite multiplier makes a non-finite premium, dropped",
                vec![
                    (T0, vec![obs(500.0, None)]),
                    (T1, vec![with(obs(600.0, None), &|o| o.multiplier = f64::INFINITY)]),
                ],
                vec![none(), none()],
            ),
            (
                "a zero multiplier makes a zero premium, dropped",
                vec![(T0, vec![obs(500.0, None)]), (T1, vec![with(obs(600.0, None), &|o| o.multiplier = 0.0)])],
                vec![none(), none()],
            ),
            (
                "no contract type: no event",
                vec![(T0, vec![obs(500.0, None)]), (T1, vec![with(obs(600.0, None), &|o| o.contract_type = None)])],
                vec![none(), none()],
            ),
            (
                "a NaN volume leaves the baseline alone",
                vec![(T0, vec![obs(500.0, None)]), (T1, vec![obs(f64::NAN, None)]), (T2, vec![obs(600.0, None)])],
                vec![none(), none(), ev(100.0, 50_000.0, 5.0, LastTrade)],
            ),
        ];
        for (name, steps, expected) in cases {
            let (got, _) = run(&steps);
            assert_eq!(got, expected, "case: {name}");
        }
    }

    #[test]
    fn cache_counters_after_lagging_ttl_and_date() {
        // (steps, hits, misses, sets, evictions, len)
        let cases: Vec<(&str, Steps, [u64; 4], usize)> = vec![
            ("baseline", vec![(T0, vec![obs(500.0, None)])], [0, 1, 1, 0], 1),
            ("lagging does not set", vec![(T0, vec![obs(500.0, None)]), (T1, vec![obs(400.0, None)])], [1, 1, 1, 0], 1),
            (
                "ttl expiry evicts",
                vec![(T0, vec![obs(500.0, None)]), ("2025-10-22T14:45:01Z", vec![obs(600.0, None)])],
                [0, 2, 2, 1],
                1,
            ),
            (
                "new date evicts all",
                vec![
                    (T0, vec![obs(500.0, None), with_contract(obs(1.0, None), "O:SPY251121P00600000")]),
                    ("2025-10-23T14:30:00Z", vec![]),
                ],
                [0, 2, 2, 2],
                0,
            ),
        ];
        for (name, steps, [hits, misses, sets, evictions], len) in cases {
            let (_, cache) = run(&steps);
            let s = cache.stats();
            assert_eq!([s.hits, s.misses, s.sets, s.evictions], [hits, misses, sets, evictions], "case: {name}");
            assert_eq!(cache.len(), len, "case: {name}");
        }
    }

    fn with_contract(mut o: Observation, contract: &str) -> Observation {
        o.contract = contract.to_string();
        o
    }

    #[test]
    fn events_come_out_in_input_order_with_derived_fields() {
        let mut cache = VolumeCache::new(900);
        let put = |o: Observation| {
            let mut o = with_contract(o, "O:SPY251121P00650000");
            o.contract_type = Some(ContractType::Put);
            o.strike = 650.0;
            o
        };
        let zero_oi = |mut o: Observation| {
            o.open_interest = Some(0.0);
            o
        };
        detect(&mut cache, &[put(zero_oi(obs(10.0, None))), obs(500.0, None)], at(T0), date(DAY));
        let evs = detect(&mut cache, &[put(zero_oi(obs(30.0, None))), obs(600.0, None)], at(T1), date(DAY));
        let got: Vec<_> = evs
            .iter()
            .map(|e| {
                (
                    e.contract.as_str(),
                    e.dte,
                    e.strike_distance.map(round6),
                    e.delta_vol_oi,
                    e.vol_oi,
                    e.vol_exceeds_oi,
                    e.side,
                    e.sentiment,
                    e.previous_at,
                    e.observed_at,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "O:SPY251121P00650000",
                    30,
                    Some(round6(10.0 / 660.0)),
                    None,
                    None,
                    true,
                    Side::Ask,
                    Sentiment::Bearish,
                    at(T0),
                    at(T1)
                ),
                (
                    "O:SPY251121C00670000",
                    30,
                    Some(round6(10.0 / 660.0)),
                    Some(0.1),
                    Some(0.6),
                    false,
                    Side::Ask,
                    Sentiment::Bullish,
                    at(T0),
                    at(T1)
                ),
            ]
        );
    }

    fn round6(x: f64) -> f64 {
        (x * 1e6).round() / 1e6
    }

    #[test]
    fn side_and_sentiment_table() {
        let prev = at(T0);
        let fresh = ns(T1);
        let stale = ns("2025-10-22T14:29:59Z");
        let trade = |price: f64| Some(TradePoint { price, size: 1.0, at_ns: fresh });
        let quote = |bid: f64, ask: f64, at_ns: i64| Some(QuotePoint { bid, ask, at_ns });
        use ContractType::*;
        use Sentiment::*;
        use Side::*;
        // (type, trade, quote, side, sentiment)
        let cases = [
            (Call, trade(2.10), quote(2.0, 2.1, fresh), Ask, Bullish),
            (Call, trade(2.20), quote(2.0, 2.1, fresh), Ask, Bullish),
            (Call, trade(2.05), quote(2.0, 2.1, fresh), Mid, Neutral),
            (Call, trade(2.00), quote(2.0, 2.1, fresh), Bid, Bearish),
            (Call, trade(1.90), quote(2.0, 2.1, fresh), Bid, Bearish),
            (Put, trade(2.10), quote(2.0, 2.1, fresh), Ask, Bearish),
            (Put, trade(2.05), quote(2.0, 2.1, fresh), Mid, Neutral),
            (Put, trade(2.00), quote(2.0, 2.1, fresh), Bid, Bullish),
            (Call, None, quote(2.0, 2.1, fresh), Unknown, Neutral),
            (Put, trade(2.10), None, Unknown, Neutral),
            (Call, trade(2.10), quote(2.0, 2.1, stale), Unknown, Neutral),
            (Put, trade(2.00), quote(2.0, 2.1, stale), Unknown, Neutral),
            (Call, trade(2.10), quote(2.0, 2.1, ns(T0)), Ask, Bullish),
            (Call, trade(0.05), quote(0.0, 0.1, fresh), Unknown, Neutral),
            (Call, trade(2.10), quote(2.2, 2.1, fresh), Unknown, Neutral),
            (Call, trade(2.10), quote(2.1, 2.1, fresh), Ask, Bullish),
        ];
        for (i, (ty, t, q, want_side, want_sentiment)) in cases.into_iter().enumerate() {
            let s = side(t.as_ref(), q.as_ref(), prev);
            assert_eq!((s, sentiment(ty, s)), (want_side, want_sentiment), "case {i}");
        }
    }

    #[test]
    fn contract_type_comes_only_from_the_field() {
        // Tickers full of C's and P's; the type field alone decides.
        let cases = [
            ("O:CSCO251121P00060000", "CSCO", Some(ContractType::Put), Some(Sentiment::Bearish)),
            ("O:PYPL251121C00070000", "PYPL", Some(ContractType::Call), Some(Sentiment::Bullish)),
            ("O:CSCO251121C00060000", "CSCO", None, None),
        ];
        for (contract, underlying, ty, want) in cases {
            let mk = |v: f64| {
                let mut o = obs(v, None);
                o.contract = contract.to_string();
                o.underlying = underlying.to_string();
                o.contract_type = ty;
                o
            };
            let mut cache = VolumeCache::new(900);
            detect(&mut cache, &[mk(1.0)], at(T0), date(DAY));
            let evs = detect(&mut cache, &[mk(2.0)], at(T1), date(DAY));
            let got = evs.first().map(|e| e.sentiment);
            assert_eq!(got, want, "{contract}");
            assert_eq!(evs.first().map(|e| e.contract_type), ty, "{contract}");
        }
    }

    #[test]
    fn detection_reports_why_it_dropped() {
        let mut cache = VolumeCache::new(900);
        let params = FlowParams { max_spread_pct: 0.01 };
        let first = detect_with(&mut cache, &params, &[obs(500.0, None)], at(T0), date(DAY));
        assert_eq!((first.baselines, first.lagging, first.events.len()), (1, 0, 0));
        let lag = detect_with(&mut cache, &params, &[obs(400.0, None)], at(T1), date(DAY));
        assert_eq!((lag.baselines, lag.lagging), (0, 1));
        let wide = detect_with(&mut cache, &params, &[obs(600.0, None)], at(T2), date(DAY));
        assert_eq!(wide.dropped.len(), 1);
        assert_eq!(wide.dropped[0].volume_delta, 100.0);
        assert_eq!(wide.dropped[0].reason.to_string(), "spread_pct=0.020 above max");
    }

    #[test]
    fn prob_itm_table() {
        use ContractType::*;
        // (type, spot, strike, iv, delta, dte, expected)
        let cases = [
            // ATM, T = 30/365, σ = 0.2: d2 = −σ√T/2 = −0.028669; N(d2) = 0.488564.
            (Call, Some(100.0), 100.0, Some(0.2), Some(0.9), 30, Some(0.488564)),
            (Put, Some(100.0), 100.0, Some(0.2), None, 30, Some(0.511436)),
            // 0DTE floors T at half a day: d2 = (ln(1.01) − 0.5·0.04·0.5/365)/(0.2·√(0.5/365)) = 1.340515.
            (Call, Some(101.0), 100.0, Some(0.2), None, 0, Some(0.909961)),
            // Without IV (or spot) the |delta| proxy.
            (Put, Some(100.0), 100.0, None, Some(-0.42), 30, Some(0.42)),
            (Call, None, 100.0, Some(0.2), Some(0.55), 30, Some(0.55)),
            (Call, Some(100.0), 100.0, Some(0.0), Some(0.55), 30, Some(0.55)),
            (Call, Some(100.0), 100.0, None, None, 30, None),
            (Call, Some(100.0), 100.0, None, Some(f64::NAN), 30, None),
        ];
        for (i, (ty, s, k, iv, delta, dte, want)) in cases.into_iter().enumerate() {
            assert_eq!(prob_itm(ty, s, k, iv, delta, dte).map(round6), want, "case {i}");
        }
    }

    #[test]
    fn norm_cdf_matches_known_values() {
        let cases = [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_542_9),
            (-1.0, 0.158_655_253_931_457_05),
            (-1.96, 0.024_997_895_148_220_435),
            (1.96, 0.975_002_104_851_779_5),
            (3.0, 0.998_650_101_968_369_9),
            (-3.0, 0.001_349_898_031_630_095_7),
            (0.5, 0.691_462_461_274_013_1),
            (-6.0, 9.865_876_450_377_012e-10),
            (8.5, 1.0),
            (-10.0, 0.0),
            (f64::INFINITY, 1.0),
            (f64::NEG_INFINITY, 0.0),
        ];
        for (x, want) in cases {
            let got = norm_cdf(x);
            assert!((got - want).abs() < 1e-12, "N({x}) = {got}, want {want}");
        }
        assert!(norm_cdf(f64::NAN).is_nan());
        // Symmetry N(x) + N(−x) = 1 across the range.
        for i in -90..=90 {
            let x = f64::from(i) / 10.0;
            assert!((norm_cdf(x) + norm_cdf(-x) - 1.0).abs() < 1e-14, "symmetry at {x}");
        }
    }

    #[test]
    fn index_symbols() {
        // (input, index_root, display_symbol, polygon_underlying)
        let cases = [
            ("SPXW", "SPX", "SPX", "I:SPX"),
            ("NDXP", "NDX", "NDX", "I:NDX"),
            ("RUTW", "RUT", "RUT", "I:RUT"),
            ("VIXW", "VIX", "VIX", "I:VIX"),
            ("SPX", "SPX", "SPX", "I:SPX"),
            ("I:SPX", "I:SPX", "SPX", "I:SPX"),
            ("SPY", "SPY", "SPY", "SPY"),
            ("CSCO", "CSCO", "CSCO", "CSCO"),
        ];
        for (input, root, display, polygon) in cases {
            assert_eq!(
                (index_root(input), display_symbol(input), polygon_underlying(input).as_str()),
                (root, display, polygon)
            );
        }
    }

    #[test]
    fn to_alert_fills_the_common_fields() {
        let mut cache = VolumeCache::new(900);
        let mut o = obs(500.0, None);
        o.underlying = "I:SPX".to_string();
        o.iv = Some(0.2);
        detect(&mut cache, std::slice::from_ref(&o), at(T0), date(DAY));
        o.volume = 600.0;
        let evs = detect(&mut cache, std::slice::from_ref(&o), at(T1), date(DAY));
        let a = evs[0].to_alert(Bot::OraklFlow, "id-1".to_string());
        assert_eq!(a.id, "id-1");
        assert_eq!(a.bot, Bot::OraklFlow);
        assert_eq!(a.at, at(T1));
        assert_eq!(a.ticker, "SPX");
        assert_eq!(a.contract.as_deref(), Some("O:SPY251121C00670000"));
        assert_eq!(
            (a.contract_type, a.strike, a.expiration, a.dte, a.spot),
            (Some(ContractType::Call), Some(670.0), Some(date("2025-11-21")), Some(30), Some(660.0))
        );
        assert_eq!(
            (a.premium, a.volume_delta, a.avg_price, a.open_interest),
            (Some(50_000.0), Some(100.0), Some(5.0), Some(1000.0))
        );
        assert_eq!((a.side, a.sentiment, a.label.as_str()), (Side::Ask, Sentiment::Bullish, UNCONFIRMED_LABEL));
        assert_eq!((a.details.iv, a.details.vol_oi, a.details.delta_vol_oi), (Some(0.2), Some(0.6), Some(0.1)));
        assert!(a.details.prob_itm.is_some() && a.details.strike_distance.is_some());
    }
}
