//! What a 403 switches off: the feature of the product that needed the
//! data, not the endpoint kind. Polygon sells options and stocks data
//! apart, so a plan may include option trades but not stock trades (or the
//! other way round): a 403 on `/v3/trades/O:SPY...` says nothing about
//! `/v3/trades/SPY`. A feature that is off is probed again after a back-off
//! (a plan can be upgraded without a restart) and comes back by itself.
//!
//! Pure state over monotonic time, like the circuit breaker; the client
//! feeds it `now` and outcomes.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Endpoint;

/// A feature of orakl that needs one kind of Polygon data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    /// Option-chain snapshots: the five options families.
    OptionChains,
    /// One contract's snapshot (open interest for `oi_confirm`).
    OptionContracts,
    /// Option trades: sweep confirmation.
    SweepConfirmation,
    /// Option minute bars: outcomes of option plans.
    OptionBars,
    /// Stock trades: Darkpool.
    StockTrades,
    /// Stock bars: Breakouts, STRAT, Scalps, outcomes of underlying plans.
    StockBars,
    /// Stock snapshots.
    StockSnapshots,
    /// Massive's unusual option trades: the market-wide prints lane. Sold
    /// apart from the option trades of `/v3/trades`, so it has its own
    /// switch: without it the snapshot path carries on.
    MarketPrints,
    /// Option quotes (the NBBO at a print): the prints lane's side. Orakl
    /// asks `/v3/quotes` for option tickers only.
    OptionQuotes,
}

impl Feature {
    pub const ALL: [Feature; 9] = [
        Feature::OptionChains,
        Feature::OptionContracts,
        Feature::SweepConfirmation,
        Feature::OptionBars,
        Feature::StockTrades,
        Feature::StockBars,
        Feature::StockSnapshots,
        Feature::MarketPrints,
        Feature::OptionQuotes,
    ];

    /// The feature a call of `endpoint` for `ticker` serves: options
    /// tickers (`O:`) and stock tickers are separate features.
    pub fn of(endpoint: Endpoint, ticker: &str) -> Feature {
        let option = ticker.starts_with("O:");
        match endpoint {
            Endpoint::OptionChain => Feature::OptionChains,
            Endpoint::OptionContract => Feature::OptionContracts,
            Endpoint::Trades if option => Feature::SweepConfirmation,
            Endpoint::Trades => Feature::StockTrades,
            Endpoint::Aggs if option => Feature::OptionBars,
            Endpoint::Aggs => Feature::StockBars,
            Endpoint::StockSnapshot => Feature::StockSnapshots,
            Endpoint::UnusualTrades => Feature::MarketPrints,
            Endpoint::Quotes => Feature::OptionQuotes,
        }
    }

    /// The name in logs, `status`, health and the state database.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::OptionChains => "option_chains",
            Feature::OptionContracts => "option_contracts",
            Feature::SweepConfirmation => "sweep_confirmation",
            Feature::OptionBars => "option_bars",
            Feature::StockTrades => "stock_trades",
            Feature::StockBars => "stock_bars",
            Feature::StockSnapshots => "stock_snapshots",
            Feature::MarketPrints => "market_prints",
            Feature::OptionQuotes => "option_quotes",
        }
    }

    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// A log field's value: the name as text (`bot=sweeps`, `BOT=sweeps` in
/// the journal).
impl log::kv::ToValue for Feature {
    fn to_value(&self) -> log::kv::Value<'_> {
        log::kv::Value::from(self.as_str())
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a call of a feature may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Allowed,
    /// The feature is off but its back-off has passed: this call is the
    /// probe, and a success turns the feature back on.
    Probe,
    /// Off: no request.
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Off {
    /// Monotonic instant of the next probe.
    probe_at: Duration,
    reason: String,
}

/// The features switched off by a 403, each with its next probe.
#[derive(Debug, Clone)]
pub struct Switches {
    reprobe: Duration,
    off: BTreeMap<Feature, Off>,
}

impl Switches {
    pub fn new(reprobe: Duration) -> Self {
        Self { reprobe, off: BTreeMap::new() }
    }

    pub fn admit(&self, feature: Feature, now: Duration) -> Gate {
        match self.off.get(&feature) {
            None => Gate::Allowed,
            Some(off) if now >= off.probe_at => Gate::Probe,
            Some(_) => Gate::Off,
        }
    }

    /// Switches `feature` off until `now` + the back-off (a failed probe
    /// starts a new back-off); true when it was on.
    pub fn forbid(&mut self, feature: Feature, now: Duration, reason: String) -> bool {
        let probe_at = now.saturating_add(self.reprobe);
        self.off.insert(feature, Off { probe_at, reason }).is_none()
    }

    /// Switches `feature` off as a previous process left it, probed in
    /// `probe_in` (0 when its back-off has already passed).
    pub fn restore_off(&mut self, feature: Feature, now: Duration, probe_in: Duration, reason: String) {
        self.off.insert(feature, Off { probe_at: now.saturating_add(probe_in), reason });
    }

    /// A call of `feature` succeeded: on again; true when it was off.
    pub fn on_success(&mut self, feature: Feature) -> bool {
        self.off.remove(&feature).is_some()
    }

    /// The features that are off, with why.
    pub fn off(&self) -> Vec<(Feature, String)> {
        self.off.iter().map(|(f, o)| (*f, o.reason.clone())).collect()
    }

    pub fn is_off(&self, feature: Feature) -> bool {
        self.off.contains_key(&feature)
    }

    pub fn reprobe(&self) -> Duration {
        self.reprobe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn options_and_stock_data_are_separate_features() {
        assert_eq!(Feature::of(Endpoint::Trades, "O:SPY260320C00600000"), Feature::SweepConfirmation);
        assert_eq!(Feature::of(Endpoint::Trades, "SPY"), Feature::StockTrades);
        assert_eq!(Feature::of(Endpoint::Aggs, "O:SPY260320C00600000"), Feature::OptionBars);
        assert_eq!(Feature::of(Endpoint::Aggs, "SPY"), Feature::StockBars);
        assert_eq!(Feature::of(Endpoint::OptionChain, "SPY"), Feature::OptionChains);
        // The prints lane is its own pair of features: a plan without the
        // unusual-trades endpoint still confirms sweeps from /v3/trades.
        assert_eq!(Feature::of(Endpoint::UnusualTrades, "market"), Feature::MarketPrints);
        assert_eq!(Feature::of(Endpoint::Quotes, "O:SPY260320C00600000"), Feature::OptionQuotes);
        for f in Feature::ALL {
            assert_eq!(Feature::from_name(f.as_str()), Some(f));
        }
    }

    #[test]
    fn a_forbidden_feature_is_probed_after_the_back_off_and_comes_back() {
        let mut s = Switches::new(30 * MIN);
        assert_eq!(s.admit(Feature::StockTrades, Duration::ZERO), Gate::Allowed);
        assert!(s.forbid(Feature::StockTrades, MIN, "403".into()));
        assert!(!s.forbid(Feature::StockTrades, MIN, "403".into()), "already off");
        assert_eq!(s.admit(Feature::StockTrades, 30 * MIN), Gate::Off);
        assert_eq!(s.admit(Feature::SweepConfirmation, 30 * MIN), Gate::Allowed, "only that feature");
        assert_eq!(s.admit(Feature::StockTrades, 31 * MIN), Gate::Probe);
        // A probe answered 403 again: another full back-off.
        s.forbid(Feature::StockTrades, 31 * MIN, "403".into());
        assert_eq!(s.admit(Feature::StockTrades, 60 * MIN), Gate::Off);
        assert_eq!(s.admit(Feature::StockTrades, 61 * MIN), Gate::Probe);
        assert!(s.on_success(Feature::StockTrades));
        assert_eq!(s.admit(Feature::StockTrades, 61 * MIN), Gate::Allowed);
        assert!(!s.on_success(Feature::StockTrades));
        s.restore_off(Feature::OptionBars, 61 * MIN, Duration::ZERO, "from the store".into());
        assert_eq!(s.admit(Feature::OptionBars, 61 * MIN), Gate::Probe);
        assert_eq!(s.off(), [(Feature::OptionBars, "from the store".to_string())]);
    }
}
