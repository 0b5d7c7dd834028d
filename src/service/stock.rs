//! The stock bots' firings: Darkpool (incremental trade scans from a
//! persisted cursor), Breakouts (20 sessions of daily bars + today's
//! snapshot) and STRAT (bars built from 1-minute bars in ET).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::*;
use crate::bars::{self, Frame};
use crate::bots::breakouts::{self, BreakoutConfig, BreakoutInput, DailyBar};
use crate::bots::darkpool::{self, Cursor, DarkpoolConfig};
use crate::bots::strat::{self as strat_bot, StratConfig};
use crate::indicators;
use crate::polygon;

/// Daily bars fetched per symbol: enough sessions for a 20-day lookback
/// and ATR(14) with its seeding period, across holidays.
const DAILY_LOOKBACK_CALENDAR_DAYS: i64 = 45;
/// Minute bars fetched per STRAT scan: enough for several 4h and daily bars.
const STRAT_LOOKBACK_CALENDAR_DAYS: i64 = 7;
/// A first darkpool scan (or one on a new day) starts this far back rather
/// than paging through the whole day's prints.
const DARKPOOL_FIRST_SCAN_MINUTES: i64 = 5;
/// Pages of prints read per symbol per scan; the cursor resumes the rest.
const DARKPOOL_MAX_PAGES: usize = 4;
pub(super) const ATR_PERIOD: usize = 14;

impl Service {
    /// Previous sessions' daily bars of `symbol`, fetched once per trading day.
    pub(super) fn daily_bars(&mut self, symbol: &str, date: NaiveDate) -> Result<Arc<Vec<polygon::Bar>>, PolygonError> {
        if let Some((d, bars)) = self.daily_cache.get(symbol) {
            if *d == date {
                return Ok(bars.clone());
            }
        }
        let client = self.client()?;
        let from = date - chrono::Duration::days(DAILY_LOOKBACK_CALENDAR_DAYS);
        let to = date - chrono::Duration::days(1);
        let bars = Arc::new(client.aggs(&flow::polygon_underlying(symbol), 1, "day", from, to)?);
        self.daily_cache.insert(symbol.to_string(), (date, bars.clone()));
        Ok(bars)
    }

    /// ATR(14, daily, Wilder) of `symbol` from its previous sessions.
    pub(super) fn daily_atr(&mut self, symbol: &str, date: NaiveDate) -> Result<Option<f64>, PolygonError> {
        let daily = self.daily_bars(symbol, date)?;
        let bars: Vec<bars::Bar> =
            daily.iter().filter_map(|b| bars::Bar::from_polygon(b, chrono::Duration::days(1))).collect();
        Ok(indicators::atr_wilder(&bars, ATR_PERIOD))
    }

    pub(super) fn client(&self) -> Result<&Client, PolygonError> {
        self.polygon.as_ref().ok_or_else(|| PolygonError::Config("POLYGON_API_KEY is not set".into()))
    }

    /// One firing of a stock bot over the next batch of symbols; `scan`
    /// handles one symbol and returns how many alerts it committed.
    fn stock_firing(
        &mut self,
        bot: Bot,
        line: &Line,
        mut scan: impl FnMut(&mut Service, &str, DateTime<Utc>) -> Result<usize, PolygonError>,
    ) -> JobResult {
        let t0 = self.clock.elapsed();
        let before = self.api_counts();
        let batch = line.batch.unwrap_or(self.config.int("OPTIONS_BATCH") as usize);
        let symbols = self.round_robin.next(line.line, &self.config.watchlist, batch);
        let (mut alerts, mut failures) = (0usize, 0usize);
        for symbol in &symbols {
            if self.clock.shutdown().is_requested() {
                break;
            }
            let now = self.now();
            match scan(self, symbol, now) {
                Ok(n) => alerts += n,
                Err(e) => {
                    failures += 1;
                    self.scan_failed(bot, symbol, &e);
                }
            }
        }
        let after = self.api_counts();
        let (requests, pages) = (after.0 - before.0, after.1 - before.1);
        let ms = (self.clock.elapsed() - t0).as_millis();
        log::info!(
            "event=scan bot={bot} symbols={} requests={requests} pages={pages} alerts={alerts} failures={failures} ms={ms}",
            symbols.len()
        );
        let detail = format!("symbols={} alerts={alerts} failures={failures}", symbols.len());
        if failures > 0 && failures == symbols.len() { JobResult::Error(detail) } else { JobResult::Ok(detail) }
    }

    pub(super) fn darkpool_firing(&mut self, line: &Line) -> JobResult {
        let cfg = self.rules.darkpool;
        self.stock_firing(Bot::Darkpool, line, |svc, symbol, now| svc.darkpool_symbol(&cfg, symbol, now))
    }

    fn darkpool_symbol(
        &mut self,
        cfg: &DarkpoolConfig,
        symbol: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, PolygonError> {
        let key = format!("darkpool:{symbol}");
        let date = calendar::trading_date(now);
        let cursor = match self.store.cursor(&key) {
            Ok(c) => c.and_then(|text| parse_cursor(&text)),
            Err(e) => {
                log::error!("event=store_error op=cursor error=\"{e}\"");
                None
            }
        };
        // A cursor from an earlier day is not resumed: yesterday's prints
        // are history, not alerts.
        let cursor = cursor.filter(|c| {
            DateTime::from_timestamp_nanos(c.sip_timestamp).with_timezone(&calendar::MARKET_TZ).date_naive() == date
        });
        let since = match &cursor {
            Some(c) => c.sip_timestamp,
            None => (now - chrono::Duration::minutes(DARKPOOL_FIRST_SCAN_MINUTES)).timestamp_nanos_opt().unwrap_or(0),
        };
        let query = TradesQuery {
            timestamp_gte: Some(since),
            timestamp_lte: now.timestamp_nanos_opt(),
            max_pages: Some(DARKPOOL_MAX_PAGES),
            ..TradesQuery::default()
        };
        let trades = self.client()?.trades(symbol, &query)?;
        let day = self.day_tapes.entry(symbol.to_string()).or_default();
        let scan = darkpool::scan(cfg, symbol, cursor.as_ref(), &trades, day, now);
        let mut committed = 0;
        for alert in &scan.alerts {
            if self.commit(Bot::Darkpool, alert, symbol, alert.notional, None) {
                committed += 1;
            }
        }
        if let Some(c) = &scan.cursor {
            let text = json!({"sip_timestamp": c.sip_timestamp, "ids": c.ids}).to_string();
            if let Err(e) = self.store.set_cursor(&key, &text, now) {
                log::error!("event=store_error op=set_cursor error=\"{e}\"");
            }
        }
        Ok(committed)
    }

    pub(super) fn breakouts_firing(&mut self, line: &Line) -> JobResult {
        let cfg = self.rules.breakouts;
        self.stock_firing(Bot::Breakouts, line, |svc, symbol, now| svc.breakouts_symbol(&cfg, symbol, now))
    }

    fn breakouts_symbol(
        &mut self,
        cfg: &BreakoutConfig,
        symbol: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, PolygonError> {
        let date = calendar::trading_date(now);
        let daily: Vec<DailyBar> = self.daily_bars(symbol, date)?.iter().filter_map(DailyBar::from_bar).collect();
        let atr = self.daily_atr(symbol, date)?;
        let Some(snap) = self.client()?.stock_snapshot(symbol)? else {
            return Ok(0);
        };
        let (Some(last_price), Some(today_volume)) = (snap.last_price(), snap.day.as_ref().and_then(|d| d.volume))
        else {
            log::debug!("event=suppressed bot=breakouts ticker={symbol} reason=\"snapshot lacks price or volume\"");
            return Ok(0);
        };
        let input = BreakoutInput { symbol: symbol.to_string(), daily, last_price, today_volume, atr, now };
        match breakouts::evaluate(cfg, &input) {
            Ok(hit) => {
                let alert = breakouts::build_alert(&hit, &input);
                let key = format!("{symbol}:{}", hit.direction.as_str());
                Ok(usize::from(self.commit(Bot::Breakouts, &alert, &key, None, None)))
            }
            Err(s) => {
                log::debug!("event=suppressed bot=breakouts ticker={symbol} reason=\"{s}\"");
                Ok(0)
            }
        }
    }

    pub(super) fn strat_firing(&mut self, line: &Line) -> JobResult {
        let cfg = self.strat_config.clone();
        self.stock_firing(Bot::Strat, line, |svc, symbol, now| svc.strat_symbol(&cfg, symbol, now))
    }

    fn strat_symbol(&mut self, cfg: &StratConfig, symbol: &str, now: DateTime<Utc>) -> Result<usize, PolygonError> {
        let date = calendar::trading_date(now);
        let from = date - chrono::Duration::days(STRAT_LOOKBACK_CALENDAR_DAYS);
        let raw = self.client()?.aggs(&flow::polygon_underlying(symbol), 1, "minute", from, date)?;
        let minutes: Vec<bars::Bar> =
            raw.iter().filter_map(|b| bars::Bar::from_polygon(b, chrono::Duration::minutes(1))).collect();
        let spot = minutes.iter().rev().find(|b| b.is_closed(now)).map(|b| b.close);
        let mut committed = 0;
        for frame in &cfg.timeframes {
            let frame_bars = strat_bot::frame_bars(*frame, &minutes, now);
            if let Some(hit) = strat_bot::evaluate(*frame, &frame_bars, now) {
                let alert = match strat_bot::build_alert(symbol, &hit, spot, now) {
                    Ok(a) => a,
                    Err(s) => {
                        log::debug!("event=suppressed bot=strat ticker={symbol} frame={frame} reason=\"{}\"", s.reason);
                        continue;
                    }
                };
                let key = format!("{symbol}:{}", frame.as_str());
                if self.commit(Bot::Strat, &alert, &key, None, None) {
                    committed += 1;
                }
            }
        }
        Ok(committed)
    }

    /// The underlying's closed 5-minute bars today (for Scalps), built from
    /// 1-minute bars in ET like the other bar frames.
    pub(super) fn five_minute_bars(
        &mut self,
        symbol: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<bars::Bar>, PolygonError> {
        let date = calendar::trading_date(now);
        let raw = self.client()?.aggs(&flow::polygon_underlying(symbol), 1, "minute", date, date)?;
        let minutes: Vec<bars::Bar> =
            raw.iter().filter_map(|b| bars::Bar::from_polygon(b, chrono::Duration::minutes(1))).collect();
        Ok(bars::aggregate(&minutes, Frame::Min5, bars::Session::Extended, now))
    }
}

/// The darkpool cursor as stored: `{"sip_timestamp": ns, "ids": [...]}`.
fn parse_cursor(text: &str) -> Option<Cursor> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let ids = v["ids"].as_array()?.iter().filter_map(|i| i.as_str().map(str::to_string)).collect();
    Some(Cursor { sip_timestamp: v["sip_timestamp"].as_i64()?, ids })
}
