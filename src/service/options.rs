//! The options bots' firing: the next symbols of the watchlist, one shared
//! chain scan per symbol, the bot's rule, cooldown, confirmation, commit.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;

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
        let snapshots = client.option_chain(&underlying, &query)?;
        let observations: Vec<_> = snapshots.iter().filter_map(|s| scan::observation(s, &underlying)).collect();
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
            contracts: snapshots.len(),
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

    fn golden_config(&self) -> GoldenConfig {
        GoldenConfig {
            min_premium: self.config.num("GOLDEN_MIN_PREMIUM"),
            min_dte: self.config.int("GOLDEN_MIN_DTE"),
            max_dte: self.config.int("GOLDEN_MAX_DTE"),
            max_strike_distance: self.config.num("GOLDEN_MAX_STRIKE_DISTANCE"),
        }
    }

    pub(super) fn options_scan(&mut self, bot: Bot, line: &Line) -> JobResult {
        let t0 = self.clock.elapsed();
        let before = self.polygon.as_ref().map(|c| request_count(&c.stats())).unwrap_or(0);
        let now = self.now();
        self.sweep_volume_cache(now);
        let batch = line.batch.unwrap_or(self.config.int("OPTIONS_BATCH") as usize);
        let symbols = self.round_robin.next(line.line, &self.config.watchlist, batch);
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
            for ev in &scan.events {
                if self.consider(bot, ev) {
                    alerts += 1;
                }
            }
        }
        let requests = self.polygon.as_ref().map(|c| request_count(&c.stats())).unwrap_or(0) - before;
        let ms = (self.clock.elapsed() - t0).as_millis();
        log::info!(
            "event=scan bot={bot} symbols={} requests={requests} events={events} alerts={alerts} failures={failures} ms={ms}",
            symbols.len()
        );
        let detail = format!("symbols={} events={events} alerts={alerts} failures={failures}", symbols.len());
        if failures > 0 && failures == symbols.len() { JobResult::Error(detail) } else { JobResult::Ok(detail) }
    }

    fn scan_failed(&mut self, bot: Bot, symbol: &str, e: &PolygonError) {
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

    /// Applies `bot`'s rule to one flow event; commits an alert if it fires.
    fn consider(&mut self, bot: Bot, ev: &FlowEvent) -> bool {
        let hit = match bot {
            Bot::GoldenSweeps => golden_sweeps::evaluate(&self.golden_config(), ev),
            _ => return false,
        };
        let hit = match hit {
            Ok(h) => h,
            Err(s) => {
                log::debug!(
                    "event=suppressed bot={bot} contract={} premium={:.0} reason=\"{s}\"",
                    ev.contract,
                    ev.premium
                );
                return false;
            }
        };
        let now = self.now();
        let existing = match self.store.cooldown(bot, &ev.contract) {
            Ok(c) => c.map(|c| Cooldown { until: c.until, premium: c.premium }),
            Err(e) => {
                log::error!("event=store_error op=cooldown error=\"{e}\"");
                return false;
            }
        };
        if !bots::cooldown_allows(existing.as_ref(), now, ev.premium) {
            log::debug!(
                "event=suppressed bot={bot} contract={} premium={:.0} reason=cooldown",
                ev.contract,
                ev.premium
            );
            return false;
        }
        let confirmation = self.confirm_sweep(ev);
        let alert = golden_sweeps::build_alert(&hit, ev, confirmation);
        self.commit(bot, &alert, &ev.contract, Some(ev.premium))
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
