//! The options bots' firing: the next symbols of the watchlist, one shared
//! chain scan per symbol, the bot's rule, cooldown, confirmation, commit.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::alert::Sentiment;
use crate::bots::bullseye;
use crate::bots::orakl_flow;
use crate::bots::scalps::{self, ScalpContext, ScalpsConfig, Trigger};
use crate::bots::sweeps;
use crate::polygon::lean::ChainContract;
use crate::{indicators, strat};

impl Service {
    /// The chain scan for `symbol`: from the chain cache when fresh, else
    /// one fetch (all pages) and one detection pass.
    fn chain_scan(&mut self, symbol: &str) -> Result<Arc<ChainScan>, PolygonError> {
        let now = self.now();
        if let Some(scan) = self.chains.get(symbol, now) {
            return Ok(scan.clone());
        }
        let Some(client) = &self.polygon else {
            return Err(PolygonError::Config("POLYGON_API_KEY is not set".into()));
        };
        let date = calendar::trading_date(now);
        let query = ChainQuery {
            expiration_date_lte: Some(date + chrono::Duration::days(self.max_options_dte())),
            ..ChainQuery::default()
        };
        let underlying = flow::polygon_underlying(symbol);
        // Each page becomes observations as it arrives, read through the
        // lean model: the models of a chain of thousands of contracts are
        // never all held at once, and the fields no observation takes are
        // skipped.
        let (observations, contracts) =
            client.option_chain_map(&underlying, &query, |c: ChainContract| scan::observation(c, &underlying))?;
        // Bullseye's momentum compares against the bot's own earlier
        // observations of the underlying, recorded at every fetch.
        if let Some(spot) = observations.iter().find_map(|o| o.spot) {
            self.spots.record(&underlying, now, spot);
        }
        let params = FlowParams { max_spread_pct: self.config.num("MAX_SPREAD_PCT") };
        let detection = flow::detect_with(&mut self.volume, &params, &observations, now, date);
        for d in &detection.dropped {
            log::debug!(
                "event=flow_dropped contract={} volume_delta={} reason=\"{}\"",
                d.contract,
                d.volume_delta,
                d.reason
            );
        }
        self.scan_seq += 1;
        let scan = Arc::new(ChainScan {
            seq: self.scan_seq,
            contracts,
            events: detection.events,
            baselines: detection.baselines,
        });
        self.chains.put(symbol, now, scan.clone());
        Ok(scan)
    }

    /// The longest DTE any options bot needs, so the chain request can be
    /// narrowed by expiration (fewer pages).
    fn max_options_dte(&self) -> i64 {
        self.options_bots
            .iter()
            .filter_map(|b| dte_prefix(*b))
            .map(|p| self.config.int(&format!("{p}_MAX_DTE")))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn options_scan(&mut self, bot: Bot, line: &Line) -> JobResult {
        let t0 = self.clock.elapsed();
        let before = self.api_counts();
        let now = self.now();
        self.sweep_volume_cache(now);
        let batch = line.batch.unwrap_or(self.config.int("OPTIONS_BATCH") as usize);
        // One walk for all options bots, so their firings within the chain
        // cache's TTL share each symbol's fetch.
        let symbols = self.round_robin.next_shared(line.line, &self.config.watchlist, batch);
        let (mut events, mut alerts, mut failures) = (0usize, 0usize, 0usize);
        for symbol in &symbols {
            if self.clock.shutdown().is_requested() {
                break;
            }
            let scan = match self.chain_scan(symbol) {
                Ok(s) => s,
                Err(e) => {
                    failures += 1;
                    self.scan_failed(bot, symbol, &e);
                    continue;
                }
            };
            let key = (bot, symbol.clone());
            if self.evaluated.get(&key) == Some(&scan.seq) {
                continue;
            }
            self.evaluated.insert(key, scan.seq);
            events += scan.events.len();
            if bot == Bot::OraklFlow {
                self.repeats.prune(self.now());
            }
            let mut scalp = None;
            for ev in &scan.events {
                if self.consider(bot, symbol, ev, &mut scalp) {
                    alerts += 1;
                }
            }
        }
        let after = self.api_counts();
        let (requests, pages) = (after.0 - before.0, after.1 - before.1);
        let ms = (self.clock.elapsed() - t0).as_millis();
        log::info!(
            "event=scan bot={bot} symbols={} requests={requests} pages={pages} events={events} alerts={alerts} failures={failures} ms={ms}",
            symbols.len()
        );
        let detail = format!("symbols={} events={events} alerts={alerts} failures={failures}", symbols.len());
        if failures > 0 && failures == symbols.len() { JobResult::Error(detail) } else { JobResult::Ok(detail) }
    }

    pub(super) fn scan_failed(&mut self, bot: Bot, symbol: &str, e: &PolygonError) {
        if e.is_config() {
            // At runtime a rejected key is an alarm, not a reason to exit:
            // systemd would only restart into the same 401.
            log::error!(
                "event=polygon_unauthorized bot={bot} ticker={symbol} error=\"{e}\" action=\"check POLYGON_API_KEY\""
            );
        } else if matches!(e, PolygonError::Shutdown { .. }) {
            return;
        } else {
            log::warn!("event=scan_symbol_failed bot={bot} ticker={symbol} error=\"{e}\"");
        }
        self.record_error(bot.as_str(), Some(symbol), &e.to_string());
    }

    /// Applies `bot`'s rule to one flow event of `symbol`'s chain; commits
    /// an alert if it fires. The cheap parts of a rule run first; the
    /// cooldown (a database read) next; requests (trades for a sweep
    /// confirmation, daily bars for an ATR, 5-minute bars for a Strat
    /// trigger) only for candidates that passed both.
    fn consider(&mut self, bot: Bot, symbol: &str, ev: &FlowEvent, scalp: &mut Option<ScalpInputs>) -> bool {
        let now = self.now();
        let screened = match bot {
            Bot::GoldenSweeps => golden_sweeps::evaluate(&self.rules.golden, ev).map(Screened::Golden),
            Bot::Sweeps => sweeps::screen(&self.rules.sweeps, ev).map(|_| Screened::Later),
            Bot::OraklFlow => {
                let cfg = self.rules.orakl_flow;
                orakl_flow::evaluate(&cfg, ev, &mut self.repeats).map(Screened::Flow)
            }
            Bot::Bullseye => {
                let cfg = self.rules.bullseye;
                bullseye::screen(&cfg, ev, now, &self.spots).map(|_| Screened::Later)
            }
            Bot::Scalps => scalps::screen(&self.rules.scalps, ev).map(|_| Screened::Later),
            Bot::Darkpool | Bot::Breakouts | Bot::Strat => return false,
        };
        let screened = match screened {
            Ok(s) => s,
            Err(s) => return suppressed(bot, ev, &s.to_string()),
        };
        match self.cooldown_allows(bot, &ev.contract, ev.premium) {
            Some(true) => {}
            Some(false) => return suppressed(bot, ev, "cooldown"),
            None => return false,
        }
        let alert = match (bot, screened) {
            (_, Screened::Golden(hit)) => Ok(golden_sweeps::build_alert(&hit, ev, self.confirm_sweep(ev))),
            (_, Screened::Flow(hit)) => Ok(orakl_flow::build_alert(&hit, ev)),
            (Bot::Sweeps, _) => {
                let cfg = self.rules.sweeps;
                let confirmation = if cfg.confirm_with_trades { self.confirm_sweep(ev) } else { None };
                sweeps::evaluate(&cfg, ev, confirmation).map(|hit| sweeps::build_alert(&hit, ev))
            }
            (Bot::Bullseye, _) => {
                let cfg = self.rules.bullseye;
                let atr = self.daily_atr(symbol, ev.trading_date).unwrap_or_else(|e| {
                    self.scan_failed(bot, symbol, &e);
                    None
                });
                bullseye::evaluate(&cfg, ev, now, &self.spots, atr).map(|hit| bullseye::build_alert(&hit, ev))
            }
            (Bot::Scalps, _) => {
                let cfg = self.rules.scalps;
                let inputs = match scalp {
                    Some(i) => i.clone(),
                    None => {
                        let i = self.scalp_inputs(symbol, &cfg, now);
                        *scalp = Some(i.clone());
                        i
                    }
                };
                // The trigger must point the trade's way (its sentiment).
                let trigger = match ev.sentiment {
                    Sentiment::Bullish => inputs.bull,
                    Sentiment::Bearish => inputs.bear,
                    Sentiment::Neutral => None,
                };
                scalps::evaluate(&cfg, ev, &ScalpContext { rsi: inputs.rsi, trigger })
                    .map(|hit| scalps::build_alert(&hit, ev))
            }
            _ => return false,
        };
        match alert {
            Ok(alert) => self.commit(bot, &alert, &ev.contract, Some(ev.premium), ev.quote.map(|q| (q.bid, q.ask))),
            Err(s) => suppressed(bot, ev, &s.to_string()),
        }
    }

    /// Whether `bot`'s cooldown on `key` lets an event of `premium` through;
    /// None when the store could not answer (then nothing is alerted).
    fn cooldown_allows(&self, bot: Bot, key: &str, premium: f64) -> Option<bool> {
        match self.store.cooldown(bot, key) {
            Ok(c) => {
                let existing = c.map(|c| Cooldown { until: c.until, premium: c.premium });
                Some(bots::cooldown_allows(existing.as_ref(), self.now(), premium))
            }
            Err(e) => {
                log::error!("event=store_error op=cooldown error=\"{e}\"");
                None
            }
        }
    }

    /// The Scalps inputs for `symbol` now: RSI of the closed 5-minute bars
    /// and the latest Strat trigger each way among the last 3 of them.
    fn scalp_inputs(&mut self, symbol: &str, cfg: &ScalpsConfig, now: DateTime<Utc>) -> ScalpInputs {
        let bars = match self.five_minute_bars(symbol, now) {
            Ok(b) => b,
            Err(e) => {
                self.scan_failed(Bot::Scalps, symbol, &e);
                return ScalpInputs::default();
            }
        };
        let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let trigger = |bullish| {
            strat::recent_trigger(&bars, 3, bullish).map(|s| Trigger {
                pattern: s.pattern.to_string(),
                bullish: s.bullish,
                entry: s.entry,
                stop: s.stop,
                target: s.target,
            })
        };
        ScalpInputs { rsi: indicators::rsi_wilder(&closes, cfg.rsi_period), bull: trigger(true), bear: trigger(false) }
    }

    /// The contract's own prints since the previous observation, counted for
    /// ISO (intermarket sweep) conditions. None when confirmation is off or
    /// unavailable (the label then says "unconfirmed").
    fn confirm_sweep(&mut self, ev: &FlowEvent) -> Option<Confirmation> {
        if !self.config.flag("SWEEPS_CONFIRM_WITH_TRADES") {
            return None;
        }
        let client = self.polygon.as_ref()?;
        let q = TradesQuery {
            timestamp_gt: ev.previous_at.timestamp_nanos_opt(),
            timestamp_lte: ev.observed_at.timestamp_nanos_opt(),
            max_pages: Some(4),
            ..TradesQuery::default()
        };
        match client.trades(&ev.contract, &q) {
            Ok(trades) => Some(bots::sweep_confirmation(&scan::option_prints(&trades))),
            Err(e) => {
                if let PolygonError::Forbidden { .. } = e {
                    self.disable_feature("sweep_confirmation", &e);
                } else {
                    log::warn!("event=sweep_confirmation_failed contract={} error=\"{e}\"", ev.contract);
                }
                None
            }
        }
    }

    pub(super) fn sweep_volume_cache(&mut self, now: DateTime<Utc>) {
        if self.last_sweep.is_none_or(|t| now - t >= chrono::Duration::seconds(60)) {
            self.volume.roll_date(calendar::trading_date(now));
            self.volume.sweep(now);
            self.last_sweep = Some(now);
        }
    }
}

/// The prefix of an options bot's `*_MIN_DTE`/`*_MAX_DTE` settings; stock
/// bots read no chains.
fn dte_prefix(bot: Bot) -> Option<&'static str> {
    match bot {
        Bot::OraklFlow => Some("ORAKL_FLOW"),
        Bot::Sweeps => Some("SWEEPS"),
        Bot::GoldenSweeps => Some("GOLDEN"),
        Bot::Bullseye => Some("BULLSEYE"),
        Bot::Scalps => Some("SCALPS"),
        Bot::Darkpool | Bot::Breakouts | Bot::Strat => None,
    }
}

/// What a rule's first (cheap) stage found.
enum Screened {
    /// Golden Sweeps and ORAKL Flow decide in one step.
    Golden(crate::bots::golden_sweeps::GoldenHit),
    Flow(crate::bots::orakl_flow::OraklFlowHit),
    /// The rest need data fetched after the cooldown check.
    Later,
}

/// A symbol's 5-minute-bar inputs for Scalps, fetched once per firing.
#[derive(Debug, Clone, Default)]
pub(super) struct ScalpInputs {
    rsi: Option<f64>,
    bull: Option<Trigger>,
    bear: Option<Trigger>,
}

/// Logs a candidate that did not become an alert, with the reason, so a
/// threshold can be tuned from the logs.
fn suppressed(bot: Bot, ev: &FlowEvent, reason: &str) -> bool {
    log::debug!("event=suppressed bot={bot} contract={} premium={:.0} reason=\"{reason}\"", ev.contract, ev.premium);
    false
}
