//! The jobs that measure alerts after the fact (SPEC §8): `outcomes`
//! resolves open plans from minute bars, `oi_confirm` checks the morning
//! after whether flow opened positions, `weekly_report` posts the numbers.
//!
//! The decisions are pure ([`crate::outcomes`]); this shell fetches bars and
//! open interest through the shared client (so through the token bucket)
//! and stores what changed.

use std::collections::BTreeMap;

use super::*;
use crate::outcomes::{self, Kind, Outcome, Plan, Report, ReportParams, Row, Status};
use crate::polygon::AggBound;
use crate::store::{AlertOutcome, StoreError};

/// The cursor that remembers a weekly report still to be delivered.
const REPORT_DUE: &str = "weekly_report_due";

/// One instrument's open outcomes: fetched once, advanced together.
struct Watch {
    /// The Polygon ticker whose minute bars decide (`O:…` or the stock).
    ticker: String,
    /// The underlying, for error records.
    symbol: String,
    items: Vec<(AlertOutcome, Plan)>,
}

impl Watch {
    /// The first instant whose bars are still needed by some member.
    fn from(&self) -> DateTime<Utc> {
        self.items
            .iter()
            .map(|(a, p)| a.outcome.as_ref().and_then(|o| o.last_checked_at).unwrap_or(p.opened_at))
            .min()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// No bar ending after this matters to any member.
    fn until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.items.iter().map(|(_, p)| p.expires_at).max().unwrap_or(now).min(now)
    }
}

/// `OUTCOMES_MAX_REQUESTS` as a count of instruments fetched; 0 is no bound.
fn request_budget(setting: i64) -> usize {
    if setting <= 0 { usize::MAX } else { setting as usize }
}

/// Counts of one `outcomes` pass, for its log line and run record.
#[derive(Debug, Default)]
struct Pass {
    instruments: usize,
    watched: usize,
    resolved: usize,
    failures: usize,
    /// Instruments left for a later firing once the request budget was spent.
    deferred: usize,
}

impl Service {
    /// The `outcomes` job: every open outcome moved forward by the minute
    /// bars since it was last looked at. A line's `batch=N` bounds the
    /// instruments fetched per firing; the least recently checked go first,
    /// so a backlog is worked through across firings.
    ///
    /// `OUTCOMES_MAX_REQUESTS` bounds the requests of one firing: the job
    /// shares the token bucket with the detection firings on the one loop
    /// thread, and a run of hundreds of bar requests (one per alerted
    /// contract) held the loop for minutes, so every firing due meanwhile
    /// was skipped as late. What the budget leaves is first in line next
    /// time; instruments whose bars are all in already cost nothing and are
    /// always advanced.
    pub(super) fn outcomes_job(&mut self, line: &Line) -> JobResult {
        let t0 = self.clock.elapsed();
        let (req0, pages0) = self.api_counts();
        let now = self.now();
        let mut watches = match self.watches(now) {
            Ok(w) => w,
            Err(e) => return self.store_failed("open_outcomes", &e),
        };
        watches.sort_by_cached_key(|w| (w.from(), w.ticker.clone()));
        if let Some(n) = line.batch {
            watches.truncate(n);
        }
        let budget = request_budget(self.config.tunables.outcomes_max_requests);
        let mut pass = Pass { instruments: watches.len(), ..Pass::default() };
        let mut fetched = 0usize;
        for watch in watches {
            if self.clock.shutdown().is_requested() {
                break;
            }
            let needs_bars = watch.from() < watch.until(now);
            if needs_bars && fetched >= budget {
                pass.deferred += 1;
                continue;
            }
            fetched += usize::from(needs_bars);
            self.advance_watch(&watch, now, &mut pass);
        }
        let (req1, pages1) = self.api_counts();
        let fields = crate::logging::Fields::new()
            .int("instruments", pass.instruments)
            .int("watched", pass.watched)
            .int("resolved", pass.resolved)
            .int("failures", pass.failures)
            .int("deferred", pass.deferred)
            .int("requests", req1 - req0)
            .int("pages", pages1 - pages0)
            .int("ms", (self.clock.elapsed() - t0).as_millis());
        crate::logging::event(log::Level::Info, "outcomes", &fields);
        let detail = fields.to_text();
        if pass.failures > 0 && pass.failures == pass.instruments {
            JobResult::Error(detail)
        } else {
            JobResult::Ok(detail)
        }
    }

    /// The open outcomes grouped by the instrument that decides them.
    fn watches(&self, now: DateTime<Utc>) -> Result<Vec<Watch>, StoreError> {
        let mut by_ticker: BTreeMap<String, Watch> = BTreeMap::new();
        for item in self.store.open_outcomes()? {
            let Some(record) = &item.outcome else { continue };
            let alert = &item.entry.alert;
            let ticker = match record.kind {
                Kind::Premium => match &alert.contract {
                    Some(c) => c.clone(),
                    None => continue,
                },
                Kind::Underlying => flow::polygon_underlying(&alert.ticker),
            };
            // An expiry the settings can no longer compute (a contract with
            // no date) ends the watch now rather than never.
            let expires_at = outcomes::expiry(alert, &self.engine.rules().outcomes).unwrap_or(now);
            let plan = record.plan(expires_at);
            let symbol = alert.ticker.clone();
            by_ticker
                .entry(ticker.clone())
                .or_insert_with(|| Watch { ticker, symbol, items: Vec::new() })
                .items
                .push((item, plan));
        }
        Ok(by_ticker.into_values().collect())
    }

    /// Fetches the bars one instrument's outcomes still need and stores what
    /// they change. A failed fetch changes nothing: the next pass asks again
    /// from the same point.
    fn advance_watch(&mut self, watch: &Watch, now: DateTime<Utc>, pass: &mut Pass) {
        let (from, until) = (watch.from(), watch.until(now));
        let bars = if from < until {
            let client = match self.client() {
                Ok(c) => c,
                Err(e) => {
                    pass.failures += 1;
                    return self.outcome_fetch_failed(watch, &e);
                }
            };
            // Inclusive bounds on bar starts: the last bar that can close by
            // `until` starts a minute before it.
            let (from_ms, to_ms) = (from.timestamp_millis(), until.timestamp_millis() - 60_000);
            match client.aggs(
                &watch.ticker,
                1,
                "minute",
                AggBound::Millis(from_ms),
                AggBound::Millis(to_ms.max(from_ms)),
            ) {
                Ok(raw) => raw
                    .iter()
                    .filter_map(|b| crate::bars::Bar::from_polygon(b, chrono::Duration::minutes(1)))
                    .collect::<Vec<_>>(),
                Err(e) => {
                    pass.failures += 1;
                    return self.outcome_fetch_failed(watch, &e);
                }
            }
        } else {
            Vec::new()
        };
        for (item, plan) in &watch.items {
            let Some(record) = &item.outcome else { continue };
            let alert = &item.entry.alert;
            let before = record.state();
            let after = outcomes::advance(plan, &before, &bars, now);
            pass.watched += 1;
            if after == before {
                continue;
            }
            if after.is_final() {
                pass.resolved += 1;
            }
            if after.status != before.status || after.is_final() {
                log_outcome(alert, &after);
            }
            if let Err(e) = self.store.update_outcome(&alert.id, &after) {
                log::error!(op = "update_outcome", id = alert.id, error:% = e; "store_error");
            }
        }
    }

    fn outcome_fetch_failed(&mut self, watch: &Watch, e: &PolygonError) {
        if matches!(e, PolygonError::Shutdown { .. }) {
            return;
        }
        log::warn!(ticker = watch.symbol, instrument = watch.ticker, error:% = e; "outcome_bars_failed");
        self.record_error("outcomes", Some(&watch.symbol), &e.to_string());
    }

    /// The `oi_confirm` job, the morning after: for each options alert of
    /// the previous session not checked yet, the contract's open interest
    /// now against the open interest the alert showed; "opening confirmed"
    /// when it grew by at least half the alerted volume. One request per
    /// contract. A contract that has expired (Polygon no longer knows it)
    /// stays unchecked.
    pub(super) fn oi_confirm_job(&mut self) -> JobResult {
        let now = self.now();
        let today = calendar::trading_date(now);
        let Some(previous) = calendar::previous_trading_day(today) else {
            return JobResult::Ok("no previous session".into());
        };
        let since = calendar::extended_hours(previous).map_or(now - chrono::Duration::days(4), |(open, _)| open);
        let items = match self.store.alerts_with_outcomes(since, None) {
            Ok(items) => items,
            Err(e) => return self.store_failed("alerts_with_outcomes", &e),
        };
        let mut by_contract: BTreeMap<(String, String), Vec<AlertOutcome>> = BTreeMap::new();
        for item in items {
            let a = &item.entry.alert;
            let unchecked = item.outcome.as_ref().is_some_and(|o| o.opening_confirmed.is_none());
            if a.bot.is_options() && unchecked && calendar::trading_date(a.at) == previous {
                if let Some(c) = &a.contract {
                    by_contract.entry((a.ticker.clone(), c.clone())).or_default().push(item);
                }
            }
        }
        let (mut checked, mut confirmed, mut unknown, mut failures) = (0, 0, 0, 0);
        for ((symbol, contract), items) in &by_contract {
            if self.clock.shutdown().is_requested() {
                break;
            }
            let snapshot =
                match self.client().and_then(|c| c.option_contract(&flow::polygon_underlying(symbol), contract)) {
                    Ok(s) => s,
                    Err(e) => {
                        failures += 1;
                        if !matches!(e, PolygonError::Shutdown { .. }) {
                            log::warn!(ticker = symbol, contract = contract, error:% = e; "oi_confirm_failed");
                            self.record_error("oi_confirm", Some(symbol), &e.to_string());
                        }
                        continue;
                    }
                };
            let Some(oi) = snapshot.and_then(|s| s.open_interest).filter(|x| x.is_finite() && *x >= 0.0) else {
                unknown += items.len();
                log::info!(ticker = symbol, contract = contract, reason = "no open interest (expired?)"; "oi_unknown");
                continue;
            };
            if let Err(e) = self.store.record_open_interest(contract, today, oi, now) {
                log::error!(op = "record_open_interest", error:% = e; "store_error");
            }
            for item in items {
                let a = &item.entry.alert;
                let (Some(before), Some(volume)) = (a.open_interest, a.volume_delta) else {
                    unknown += 1;
                    continue;
                };
                let opened = opening_confirmed(before, oi, volume);
                checked += 1;
                confirmed += usize::from(opened);
                log::info!(
                    id = a.id,
                    contract = contract,
                    oi_before = before,
                    oi_now = oi,
                    volume = volume,
                    confirmed = opened;
                    "oi_confirm"
                );
                if let Err(e) = self.store.set_opening_confirmed(&a.id, opened, oi) {
                    log::error!(op = "set_opening_confirmed", error:% = e; "store_error");
                }
            }
        }
        let fields = crate::logging::Fields::new()
            .text("session", previous)
            .int("contracts", by_contract.len())
            .int("checked", checked)
            .int("confirmed", confirmed)
            .int("unknown", unknown)
            .int("failures", failures);
        crate::logging::event(log::Level::Info, "oi_confirm_pass", &fields);
        let detail = fields.to_text();
        if failures > 0 && failures == by_contract.len() { JobResult::Error(detail) } else { JobResult::Ok(detail) }
    }

    /// The `weekly_report` job: the last seven days' report, posted to
    /// `REPORTS_WEBHOOK` (printed in a dry run). Flagged symbols also get a
    /// warn line each. A report Discord did not take is remembered in the
    /// state and tried again by each heartbeat until it goes through.
    pub(super) fn weekly_report_job(&mut self) -> JobResult {
        let now = self.now();
        let result = self.post_weekly_report(now);
        // Only a report that may go through later is remembered: one Discord
        // refused (4xx) or a deleted webhook would fail the same way again.
        let remembered = match &result {
            Err((_, true)) => self.store.set_cursor(REPORT_DUE, &now.to_rfc3339(), now),
            _ => self.store.clear_cursor(REPORT_DUE),
        };
        if let Err(e) = remembered {
            log::error!(op = "report_due", error:% = e; "store_error");
        }
        match result {
            Ok(detail) => JobResult::Ok(detail),
            Err((message, _)) => {
                self.record_error("weekly_report", None, &message);
                JobResult::Error(message)
            }
        }
    }

    /// Called by the heartbeat: posts a weekly report that failed earlier
    /// (as of now, so it covers the seven days before the retry).
    pub(super) fn retry_weekly_report(&mut self) {
        match self.store.cursor(REPORT_DUE) {
            Ok(Some(due)) => {
                log::info!(due = due; "report_retry");
                let now = self.now();
                if !matches!(self.post_weekly_report(now), Err((_, true))) {
                    if let Err(e) = self.store.clear_cursor(REPORT_DUE) {
                        log::error!(op = "report_due", error:% = e; "store_error");
                    }
                }
            }
            Ok(None) => {}
            Err(e) => log::error!(op = "report_due", error:% = e; "store_error"),
        }
    }

    /// Builds the report as of `now` and delivers it: the run detail, or why
    /// it was not delivered and whether a later try may succeed.
    fn post_weekly_report(&mut self, now: DateTime<Utc>) -> Result<String, (String, bool)> {
        let period = outcomes::Period::last_days(now, 7);
        let report = build_report_for(&self.store, &self.config, &period).map_err(|e| {
            log::error!(op = "report", error:% = e; "store_error");
            (format!("report: {e}"), true)
        })?;
        warn_flagged(&report);
        let title = "orakl weekly report";
        let fields = crate::logging::Fields::new()
            .int("alerts", report.total.alerts)
            .int("resolved", report.total.resolved)
            .int("flagged", report.flagged.len());
        self.delivery.deliver_report(&report, title, &period, now)?;
        crate::logging::event(log::Level::Info, "weekly_report", &fields);
        let detail = fields.to_text();
        Ok(detail)
    }

    fn store_failed(&mut self, op: &str, e: &StoreError) -> JobResult {
        log::error!(op = op, error:% = e; "store_error");
        JobResult::Error(format!("{op}: {e}"))
    }
}

/// SPEC §8: the position opened when open interest grew by at least half
/// the alerted volume.
pub fn opening_confirmed(oi_before: f64, oi_now: f64, volume: f64) -> bool {
    oi_now - oi_before >= 0.5 * volume
}

fn log_outcome(alert: &Alert, o: &Outcome) {
    let status = if o.status == Status::T1 && o.is_final() { "t1_then_stopped" } else { o.status.as_str() };
    log::info!(
        id = alert.id,
        bot = alert.bot,
        ticker = alert.ticker,
        status = status,
        final = o.is_final(),
        mfe = crate::logging::decimals(o.mfe, 4),
        mae = crate::logging::decimals(o.mae, 4);
        "outcome"
    );
}

/// The report of the alerts of the last `days` days as of `now`.
pub fn build_report(store: &Store, config: &Config, now: DateTime<Utc>, days: u32) -> Result<Report, StoreError> {
    build_report_for(store, config, &outcomes::Period::last_days(now, days))
}

/// The report of the alerts of `period`.
pub fn build_report_for(store: &Store, config: &Config, period: &outcomes::Period) -> Result<Report, StoreError> {
    let mut rows: Vec<Row> = Vec::new();
    store.each_alert_with_outcome(period.since, None, |item| {
        if period.contains(item.entry.alert.at) {
            rows.push(report_row(&item));
        }
    })?;
    Ok(outcomes::summarize(&rows, &ReportParams::from_config(config)))
}

/// One warn line per flagged symbol (SPEC §8: listed, never removed).
pub fn warn_flagged(report: &Report) {
    for f in &report.flagged {
        log::warn!(
            ticker = f.symbol,
            resolved = f.resolved,
            t1_rate = crate::logging::decimals(f.t1_rate, 3),
            min_win = report.params.min_win,
            action = "review; the symbol stays on the watchlist";
            "symbol_flagged"
        );
    }
}

/// The report's view of an alert: an alert without a plan (darkpool) is an
/// alert that never resolves.
fn report_row(item: &AlertOutcome) -> Row {
    let a = &item.entry.alert;
    let o = item.outcome.as_ref();
    Row {
        bot: a.bot,
        score: a.score,
        symbol: a.ticker.clone(),
        status: o.map_or(Status::Open, |o| o.status),
        resolved: o.is_some_and(|o| o.is_resolved()),
        not_filled: o.is_some_and(|o| o.is_not_filled()),
        r: o.and_then(|o| o.r_multiple),
        mfe: o.and_then(|o| o.mfe),
        mae: o.and_then(|o| o.mae),
        opening_confirmed: o.and_then(|o| o.opening_confirmed),
    }
}
