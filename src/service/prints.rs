//! The `market_prints` job (SPEC §14): one poll of the prints lane, run by
//! the engine's prints task like a bot's task (the same fetches, commits,
//! hourly budgets and held cursor), and the lane's state for the two sweep
//! families' firings.

use super::firing::Held;
use super::*;
use crate::engine::{Answer, Need};
use crate::polygon::{Feature, UnusualQuery};

/// Whether the lane runs and reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct LaneStatus {
    /// The timetable has a `market_prints` line.
    pub(super) scheduled: bool,
    /// The last poll read the endpoint (true until a poll fails).
    pub(super) reading: bool,
    /// When the last poll began.
    pub(super) last_poll: Option<DateTime<Utc>>,
    /// When the loop started: before the first poll, a lane firing due
    /// since then is due.
    pub(super) started: Option<DateTime<Utc>>,
    /// When an order the last poll found still filling can be judged.
    pub(super) recheck_at: Option<DateTime<Utc>>,
}

impl Default for LaneStatus {
    fn default() -> Self {
        LaneStatus { scheduled: false, reading: true, last_poll: None, started: None, recheck_at: None }
    }
}

impl Service {
    /// Whether the lane feeds Sweeps and Golden Sweeps now: it is in the
    /// timetable, the plan has the endpoint (a 403 switches the feature
    /// off until its probe) and its last poll read it. Otherwise their
    /// snapshot path carries on.
    pub(super) fn prints_lane_on(&self) -> bool {
        self.lane.scheduled
            && self.lane.reading
            && self.polygon.as_ref().is_some_and(|c| !c.is_disabled(Feature::MarketPrints))
    }

    /// Whether a poll of the lane is due at `now` between the timetable's
    /// firings or inside a long one: its line fired since the last poll
    /// began, or an order the last poll found still filling has settled.
    pub(super) fn prints_due(&self, now: DateTime<Utc>) -> bool {
        // While the store cannot write, nothing may be judged (its alerts
        // could not be committed); the timetable's firing is paused too.
        if self.unwritable().is_some() {
            return false;
        }
        let Some(last) = self.lane.last_poll.or(self.lane.started).filter(|_| self.lane.scheduled) else {
            return false;
        };
        if self.lane.recheck_at.is_some_and(|at| at <= now) {
            return true;
        }
        let lines = self.timetable.as_ref().map(|t| t.lines.as_slice()).unwrap_or_default();
        lines
            .iter()
            .filter(|l| l.job == JobName::MarketPrints)
            .filter_map(|l| l.next_gated_after(last))
            .any(|next| next <= now)
    }

    /// A poll run inside another firing, between two of its symbols: a
    /// long firing (a batch of chains of hundreds of contracts) must not hold
    /// the trade tape back, since the lane's promise is one poll interval
    /// plus a second from print to alert. Its requests count against the
    /// firing's own budget of server time; the firing's limit stands after.
    pub(super) fn prints_between(&mut self, firing_limit: Option<std::time::Duration>) {
        self.end_server_time_limit();
        let result = self.prints_job();
        if let JobResult::Error(e) = &result {
            log::debug!(error = e; "prints_between_failed");
        }
        if let (Some(c), Some(l)) = (&self.polygon, firing_limit) {
            c.set_server_time_limit(Some(l));
        }
    }

    /// One poll of the lane.
    pub(super) fn prints_job(&mut self) -> JobResult {
        let t0 = self.clock.elapsed();
        let before = self.api_counts();
        let now = self.now();
        // The timetable's own firing right after a poll run inside a long
        // firing would read nothing new.
        let settled = self.lane.recheck_at.is_some_and(|at| at <= now);
        if !settled && self.lane.last_poll.is_some_and(|last| now - last < chrono::Duration::seconds(1)) {
            return JobResult::Ok("polled within the last second".to_string());
        }
        self.lane.last_poll = Some(now);
        if self.polygon.is_none() {
            return JobResult::Error("POLYGON_API_KEY is not set".to_string());
        }
        self.engine.maintain(now);
        self.restore_episodes(now);
        self.limit_server_time();
        let mut held = Held::default();
        let mut task = self.engine.start_prints();
        let (summary, committed) = self.drive(&mut task, &mut held);
        let released = self.release(held);
        self.end_server_time_limit();
        self.lane.reading = !summary.failed;
        self.lane.recheck_at = summary.settles_at_ns.map(DateTime::from_timestamp_nanos);
        let after = self.api_counts();
        let (requests, pages) = (after.0 - before.0, after.1 - before.1);
        let alerts = committed + released;
        let fields = crate::logging::Fields::new()
            .int("prints", summary.prints)
            .int("orders", summary.orders)
            .int("lookups", summary.lookups)
            .int("deferred", summary.deferred)
            .int("alerts", alerts)
            .int("requests", requests)
            .int("pages", pages)
            .int("ms", (self.clock.elapsed() - t0).as_millis());
        crate::logging::event(log::Level::Info, "prints", &fields);
        let detail = format!(
            "prints={} orders={} lookups={} deferred={} alerts={alerts}",
            summary.prints, summary.orders, summary.lookups, summary.deferred
        );
        let off = self.polygon.as_ref().is_some_and(|c| c.is_disabled(Feature::MarketPrints));
        match (summary.failed, off) {
            // The plan lacks the endpoint: the client warned once and skips
            // the requests until its probe; the snapshot path carries on.
            (true, true) => JobResult::Ok("off: the plan lacks the endpoint (403); snapshot path on".to_string()),
            (true, false) => JobResult::Error(format!("{detail} (read failed)")),
            (false, _) => JobResult::Ok(detail),
        }
    }

    /// Fetches what the lane's task needs; None for a need of another kind.
    pub(super) fn fetch_prints(&mut self, need: &Need) -> Option<Answer> {
        let client = self.polygon.as_ref()?;
        let quiet = |e: &PolygonError| matches!(e, PolygonError::Forbidden { .. } | PolygonError::Shutdown { .. });
        let answer = match need {
            Need::UnusualTrades { from_ns, until_ns, max_pages } => {
                let q = UnusualQuery {
                    sip_timestamp_gte: Some(*from_ns),
                    sip_timestamp_lte: Some(*until_ns),
                    limit: Some(crate::engine::PRINTS_PAGE_LIMIT as u32),
                    max_pages: Some(*max_pages),
                    ..UnusualQuery::default()
                };
                match client.unusual_trades(&q) {
                    Ok(prints) => Answer::Prints(prints),
                    Err(e) => {
                        // A 403 was logged once by the client, which keeps
                        // the feature off until its probe.
                        if !quiet(&e) {
                            log::warn!(error:% = e; "prints_read_failed");
                            self.record_error("market_prints", None, &e.to_string());
                        }
                        Answer::Unavailable
                    }
                }
            }
            Need::Contract { underlying, contract } => match client.option_contract(underlying, contract) {
                Ok(snap) => {
                    Answer::Contract(snap.and_then(|s| crate::scan::observation((&s).into(), underlying)).map(Box::new))
                }
                Err(e) => {
                    if !quiet(&e) {
                        log::warn!(contract = contract, error:% = e; "prints_context_failed");
                    }
                    Answer::Unavailable
                }
            },
            Need::Quote { contract, at_ns } => match client.quote_at(contract, *at_ns) {
                Ok(q) => Answer::Quote(q),
                Err(e) => {
                    if !quiet(&e) {
                        log::warn!(contract = contract, error:% = e; "prints_quote_failed");
                    }
                    Answer::Unavailable
                }
            },
            _ => return None,
        };
        Some(answer)
    }
}
