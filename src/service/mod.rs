//! The service: the shell around the [`Engine`]. It holds the IO handles
//! (clock, store, Polygon client, delivery, notifier) and the engine, and
//! only moves data between them: it fetches what the engine needs, commits
//! what it decided, delivers the outbox between jobs, runs the heartbeat and
//! the outcome jobs.
//!
//! Data flow of a bot firing: the engine names the next `batch` symbols;
//! for each, the engine's task asks for what it needs (a chain, the stored
//! cooldown, trades, bars, a snapshot, a cursor), the shell fetches it, and
//! the engine's decisions are carried out (an alert and its cooldown and
//! plan committed in one transaction); the next outbox pass, which runs
//! between jobs, delivers it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::America::New_York;

use crate::alert::Alert;
use crate::calendar;
use crate::clock::Clock;
use crate::config::{Config, ConfigError, seconds};
use crate::discord::Webhook;
use crate::engine::{Engine, Rules};
use crate::flow;
use crate::job::{Bot, JobName};
use crate::notify::Notifier;
use crate::polygon::{AggBound, Client, PolygonConfig, PolygonError};
use crate::runner::{self, JobResult, Jobs, LoopOptions, LoopStats};
use crate::schedule::{Line, Timetable};
use crate::store::{RunRecord, RunResult, Store};

mod budget;
mod counters;
mod delivery;
mod edits;
mod firing;
mod heartbeat;
mod outbox;
mod outcomes;
mod prints;
mod reload;
mod signals;
mod write_guard;

pub use delivery::{Deliver, Delivered, Delivery, DiscordDelivery, PrintDelivery};
pub use outcomes::{build_report, build_report_for, opening_confirmed, warn_flagged};
pub use signals::install_signal_handlers;

/// How `--dry-run` prints alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Jsonl,
}

/// What the timetable needs from the configuration, validated up front so
/// a mistake stops the service before anything runs (exit 78).
#[derive(Debug)]
pub struct Settings {
    pub webhooks: BTreeMap<Bot, Webhook>,
    pub reports_webhook: Option<Webhook>,
}

impl Settings {
    pub fn validate(config: &Config, timetable: &Timetable, dry_run: bool) -> Result<Settings, ConfigError> {
        let err = |var: &str, m: String| ConfigError::Var { var: var.to_string(), message: m };
        let jobs = timetable.job_names();
        let bots: Vec<Bot> =
            jobs.iter().filter_map(|j| if let JobName::Bot(b) = j { Some(*b) } else { None }).collect();
        let needs_data = jobs
            .iter()
            .find(|j| matches!(j, JobName::Bot(_) | JobName::Outcomes | JobName::OiConfirm | JobName::MarketPrints));
        if let (Some(job), None) = (needs_data, &config.polygon_api_key) {
            return Err(err("POLYGON_API_KEY", format!("not set; job `{job}` in the timetable needs market data")));
        }
        if let (Some(b), true) = (bots.first(), config.watchlist.is_empty()) {
            return Err(err("WATCHLIST", format!("empty; set WATCHLIST or WATCHLIST_FILE (job `{b}` scans it)")));
        }

        // Every webhook that is set must be valid, needed or not: a typo
        // should surface now, not when a line is added later.
        let parse = |w: &crate::config::WebhookSetting| {
            Webhook::parse(w.var, w.url.expose()).map_err(|e| err(w.var, e.to_string()))
        };
        let mut webhooks = BTreeMap::new();
        for (bot, w) in &config.webhooks {
            webhooks.insert(*bot, parse(w)?);
        }
        let reports_webhook = config.reports_webhook.as_ref().map(parse).transpose()?;
        if !dry_run {
            for b in &bots {
                if !webhooks.contains_key(b) {
                    return Err(err(
                        b.webhook_var(),
                        format!("not set (nor DISCORD_WEBHOOK_URL), but job `{b}` is in the timetable"),
                    ));
                }
            }
            if jobs.contains(&JobName::WeeklyReport) && reports_webhook.is_none() {
                return Err(err(
                    "REPORTS_WEBHOOK",
                    "not set (nor DISCORD_WEBHOOK_URL), but job `weekly_report` is in the timetable".into(),
                ));
            }
        }
        crate::engine::strat_config(config)?;
        Ok(Settings { webhooks, reports_webhook })
    }
}

pub struct Service {
    config: Config,
    clock: Arc<dyn Clock>,
    store: Store,
    delivery: Delivery,
    notifier: Notifier,
    polygon: Option<Client>,
    /// Every bot's rules and the detection state.
    engine: Engine,
    started: Duration,
    progress: Option<Box<dyn FnMut(DateTime<Utc>)>>,
    /// The timetable being run: the heartbeat judges each bot against it.
    timetable: Option<Timetable>,
    /// `<BOT>_MAX_ALERTS_PER_HOUR`.
    budget: budget::Budget,
    /// The features switched off by a 403 as the state database has them,
    /// kept in step with the client's (`sync_features`).
    features_recorded: BTreeSet<String>,
    /// Per bot, the symbols its last firing had no time for (its budget,
    /// `FIRING_BUDGET_SECONDS`, was spent, or the store stopped writing)
    /// and those it cut short: the next firing takes the first first and
    /// the second last.
    deferred: BTreeMap<Bot, (Vec<String>, Vec<String>)>,
    /// The current symbol's task was cut short by the firing's budget.
    cut_short: bool,
    /// What waits for the state database to write again (a full disk).
    guard: write_guard::WriteGuard,
    /// Deliveries, skipped firings and job durations, for the metrics.
    counters: counters::Counters,
    /// The prints lane: whether the timetable runs it, and whether its last
    /// poll read the endpoint (a failing lane hands the sweep families
    /// back to their snapshot path until it reads again).
    lane: prints::LaneStatus,
}

/// Why the service cannot start; the CLI maps it to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Polygon rejected the configured key (a configuration error).
    #[error("polygon rejected the start-up probe: {0}")]
    Unauthorized(PolygonError),
}

/// The client settings from the configuration.
pub fn polygon_config(config: &Config, key: &str) -> PolygonConfig {
    let mut pc = PolygonConfig::new(key);
    pc.base_url = config.polygon_base_url.clone();
    let t = &config.tunables;
    pc.rate_per_sec = t.polygon_rate_limit.max(1) as u64;
    pc.timeout = seconds(t.polygon_timeout_seconds);
    pc.max_retries = t.polygon_max_retries.max(0) as u32;
    pc.feature_reprobe = Duration::from_secs(t.polygon_feature_reprobe_minutes.max(1) as u64 * 60);
    pc
}

impl Service {
    /// The service with the live Polygon client (when a key is configured).
    pub fn new(
        config: Config,
        clock: Arc<dyn Clock>,
        store: Store,
        delivery: Delivery,
        notifier: Notifier,
    ) -> Result<Service, anyhow::Error> {
        let polygon = match &config.polygon_api_key {
            Some(key) => Some(Client::new(polygon_config(&config, key.expose()), clock.clone(), notifier.clone())?),
            None => None,
        };
        Service::with_client(config, clock, store, delivery, notifier, polygon)
    }

    /// The service with a given client (a replay's tape-backed transport, a
    /// recording one), so everything above the transport runs as live.
    pub fn with_client(
        config: Config,
        clock: Arc<dyn Clock>,
        store: Store,
        delivery: Delivery,
        notifier: Notifier,
        polygon: Option<Client>,
    ) -> Result<Service, anyhow::Error> {
        let retired: Vec<u64> =
            store.retired_webhooks()?.into_iter().filter_map(|d| d.name.parse::<u64>().ok()).collect();
        let mut delivery = delivery;
        delivery.retire(&retired);
        let engine = Engine::new(Rules::from_config(&config)?);
        let budget = budget::Budget::new(&config.tunables);
        // A feature a previous process found forbidden stays off until its
        // back-off has passed, then is probed, as if this process had found it.
        let mut features_recorded = BTreeSet::new();
        for d in store.disabled_features()? {
            if let (Some(client), Some(feature)) = (&polygon, crate::polygon::Feature::from_name(&d.name)) {
                let age = (clock.now() - d.at).to_std().unwrap_or_default();
                client.restore_disabled(feature, age, d.reason);
            }
            features_recorded.insert(d.name);
        }
        Ok(Service {
            budget,
            started: clock.elapsed(),
            config,
            clock,
            store,
            delivery,
            notifier,
            polygon,
            engine,
            progress: None,
            timetable: None,
            features_recorded,
            deferred: BTreeMap::new(),
            cut_short: false,
            guard: write_guard::WriteGuard::default(),
            counters: counters::Counters::default(),
            lane: prints::LaneStatus::default(),
        })
    }

    /// The Polygon client, for its statistics.
    pub fn polygon(&self) -> Option<&Client> {
        self.polygon.as_ref()
    }

    /// Hit/miss counts of the volume cache and the chain cache.
    pub fn cache_stats(&self) -> (crate::cache::CacheStats, crate::cache::CacheStats) {
        self.engine.cache_stats()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One cheap request at start-up so a rejected key stops the service
    /// with exit 78 instead of logging 401s all day. Other failures (the
    /// network, a 5xx) only warn: the loop retries on its own schedule.
    pub fn startup_probe(&mut self) -> Result<(), StartError> {
        let (Some(client), Some(symbol)) = (&self.polygon, self.config.watchlist.first()) else {
            return Ok(());
        };
        let today = calendar::trading_date(self.clock.now());
        let from = today - chrono::Duration::days(7);
        match client.aggs(&flow::polygon_underlying(symbol), 1, "day", AggBound::Date(from), AggBound::Date(today)) {
            Ok(_) => Ok(()),
            Err(e) if e.is_config() => Err(StartError::Unauthorized(e)),
            Err(e) => {
                log::warn!(error:% = e; "startup_probe_failed");
                Ok(())
            }
        }
    }

    /// Runs the main loop until shutdown; pending alerts are delivered first.
    pub fn run(&mut self, timetable: &Timetable) -> LoopStats {
        let opts = LoopOptions { grace: seconds(self.config.tunables.schedule_grace_seconds) };
        let notifier = self.notifier.clone();
        self.around_loop(timetable, |clock, svc| runner::run_loop(clock, timetable, &opts, &notifier, svc))
    }

    /// `run --once`.
    pub fn run_once(&mut self, timetable: &Timetable) -> LoopStats {
        self.around_loop(timetable, |clock, svc| runner::run_once(clock, timetable, svc))
    }

    /// Around either loop: prepared, ready and the outbox delivered first;
    /// the metrics written at exit (the counters of the last minutes since
    /// the heartbeat, and the scraper sees the final state, not a stale one).
    fn around_loop(
        &mut self,
        timetable: &Timetable,
        run: impl FnOnce(&dyn Clock, &mut Self) -> LoopStats,
    ) -> LoopStats {
        self.prepare(timetable);
        self.notifier.ready(&self.running_status());
        self.deliver_outbox();
        let clock = self.clock.clone();
        let stats = run(&*clock, self);
        self.write_metrics_at_exit();
        stats
    }

    /// What `systemctl status` shows while the service runs normally.
    pub fn running_status(&self) -> String {
        let lines = self.timetable.as_ref().map_or(0, |t| t.lines.len());
        format!("running: {lines} timetable lines, {} symbols", self.config.watchlist.len())
    }

    fn prepare(&mut self, timetable: &Timetable) {
        self.timetable = Some(timetable.clone());
        self.lane.scheduled = timetable.job_names().contains(&JobName::MarketPrints);
        self.lane.started = self.lane.started.or(Some(self.now()));
        self.engine.set_scheduled(
            timetable.job_names().into_iter().filter_map(|j| if let JobName::Bot(b) = j { Some(b) } else { None }),
        );
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn record_error(&mut self, component: &str, symbol: Option<&str>, message: &str) {
        let now = self.now();
        if let Err(e) = self.store.record_error(now, component, symbol, message) {
            log::error!(op = "record_error", error:% = e; "store_error");
        }
    }

    /// Brings the state database's list of disabled features in step with
    /// the client's: a feature that went off is recorded with why (for
    /// `status` and health from outside), one that came back is removed.
    fn sync_features(&mut self) {
        let Some(client) = &self.polygon else { return };
        let off = client.disabled_feature_reasons();
        let now = self.now();
        for (feature, reason) in &off {
            if !self.features_recorded.contains(feature.as_str()) {
                match self.store.disable_feature(feature.as_str(), reason, now) {
                    Ok(()) => {
                        self.features_recorded.insert(feature.as_str().to_string());
                    }
                    Err(e) => log::error!(op = "disable_feature", error:% = e; "store_error"),
                }
            }
        }
        let back: Vec<String> = self
            .features_recorded
            .iter()
            .filter(|name| !off.iter().any(|(f, _)| f.as_str() == *name))
            .cloned()
            .collect();
        for name in back {
            match self.store.enable_feature(&name) {
                Ok(()) => {
                    self.features_recorded.remove(&name);
                }
                Err(e) => log::error!(op = "enable_feature", error:% = e; "store_error"),
            }
        }
    }

    /// Commits what the engine decided: the alert, its cooldown and the
    /// outcome of its plan together; a duplicate id (the same event seen
    /// again) commits nothing.
    fn commit(&mut self, c: &crate::engine::Commit) -> bool {
        let now = self.now();
        let cooldown = crate::store::CooldownSet {
            key: c.cooldown.key.clone(),
            until: c.cooldown.until,
            premium: c.cooldown.size,
        };
        if c.plan.is_none() && crate::outcomes::Kind::of(c.bot).is_some() {
            log::debug!(id = c.alert.id, reason = "the alert's levels cannot be measured"; "no_outcome");
        }
        match self.store.commit_post(&c.alert, Some(&cooldown), c.plan.as_ref(), c.episode.as_ref(), now) {
            Ok(true) => {
                crate::logging::event(log::Level::Info, "alert", &alert_fields(&c.alert));
                true
            }
            Ok(false) => false,
            Err(e) => {
                self.keep_uncommitted(c, &e);
                false
            }
        }
    }

    /// The daily prune: run records, processing errors, open-interest
    /// readings and cooldowns older than `RETENTION_DAYS` (the latest run of
    /// each job is always kept), alerts and outcomes older than
    /// `ALERT_RETENTION_DAYS` when it is set; then the freed pages go back to
    /// the file system.
    fn prune_job(&mut self) -> JobResult {
        let now = self.now();
        let t = &self.config.tunables;
        let (days, alert_days) = (t.retention_days, t.alert_retention_days);
        let alerts_before = (alert_days > 0).then(|| now - chrono::Duration::days(alert_days));
        let pruned = match self.store.prune(now - chrono::Duration::days(days), alerts_before, now) {
            Ok(p) => p,
            Err(e) => {
                log::error!(op = "prune", error:% = e; "store_error");
                return JobResult::Error(format!("prune: {e}"));
            }
        };
        let freed = match self.store.incremental_vacuum() {
            Ok(pages) => pages,
            Err(e) => {
                log::error!(op = "incremental_vacuum", error:% = e; "store_error");
                return JobResult::Error(format!("incremental vacuum: {e}"));
            }
        };
        let fields = crate::logging::Fields::new()
            .int("deleted", pruned.total())
            .int("runs", pruned.runs)
            .int("processing_errors", pruned.processing_errors)
            .int("cooldowns", pruned.cooldowns)
            .int("open_interest", pruned.open_interest)
            .int("alerts", pruned.alerts)
            .int("outcomes", pruned.outcomes)
            .int("episodes", pruned.episodes)
            .int("freed_pages", freed)
            .int("retention_days", days)
            .int("alert_retention_days", alert_days);
        crate::logging::event(log::Level::Info, "prune", &fields);
        let detail = fields.to_text();
        JobResult::Ok(detail)
    }

    /// The volume cache's housekeeping (between firings and at heartbeats).
    pub(super) fn sweep_volume_cache(&mut self, now: DateTime<Utc>) {
        self.engine.maintain(now);
    }

    fn record_run(&mut self, line: &Line, scheduled: DateTime<Utc>, started_at: DateTime<Utc>, result: &JobResult) {
        let (result, detail) = match result {
            JobResult::Ok(d) => (RunResult::Ok, d.clone()),
            JobResult::Error(d) => (RunResult::Error, d.clone()),
        };
        let run = RunRecord {
            job: line.job.to_string(),
            scheduled_for: scheduled,
            started_at,
            finished_at: self.now(),
            result,
            detail,
        };
        if let Err(e) = self.store.record_run(&run) {
            self.write_failed("record_run", &e);
        }
    }
}

impl Jobs for Service {
    fn run(&mut self, line: &Line, scheduled: DateTime<Utc>) -> JobResult {
        let started_at = self.now();
        let started = self.clock.elapsed();
        // While the store cannot write, only the heartbeat runs (it reports
        // the service unhealthy); the rest would redo or lose work.
        if line.job != JobName::Heartbeat && !self.store_writable() {
            let why = self.unwritable().map_or_else(String::new, |d| d.error.clone());
            return JobResult::Error(format!("paused: the state database cannot be written ({why})"));
        }
        let result = match line.job {
            JobName::Bot(bot) => self.firing(bot, line),
            JobName::Heartbeat => self.heartbeat(),
            JobName::Outcomes => self.outcomes_job(line),
            JobName::OiConfirm => self.oi_confirm_job(),
            JobName::WeeklyReport => self.weekly_report_job(),
            JobName::Prune => self.prune_job(),
            JobName::MarketPrints => self.prints_job(),
        };
        if self.unwritable().is_none() {
            self.record_run(line, scheduled, started_at, &result);
        }
        self.counters.ran(&line.job.to_string(), self.clock.elapsed().saturating_sub(started));
        result
    }

    fn reload(&mut self) -> Option<Timetable> {
        self.reload_inputs()
    }

    fn skipped(&mut self, line: &Line, missed: u64) {
        self.counters.skipped(&line.job.to_string(), missed);
    }

    fn covered(&self, line: &Line, due: DateTime<Utc>) -> bool {
        line.job == JobName::MarketPrints && self.lane.last_poll.is_some_and(|polled| polled >= due)
    }

    fn between(&mut self) {
        self.sync_features();
        // An order left filling by the last poll is judged as soon as it
        // settles, not a whole poll interval later.
        if self.prints_due(self.now()) {
            self.prints_between(None);
        }
        self.deliver_outbox();
        let now = self.now();
        if let Some(p) = &mut self.progress {
            p(now);
        }
    }
}

fn request_count(stats: &crate::polygon::Stats) -> u64 {
    stats.endpoints.values().flat_map(|e| e.requests.values()).sum()
}

impl Service {
    /// (requests, pages) made so far, for the per-scan deltas in the logs.
    pub(super) fn api_counts(&self) -> (u64, u64) {
        self.polygon.as_ref().map(|c| c.stats()).map_or((0, 0), |s| (request_count(&s), s.pages_total()))
    }

    /// Called between jobs with the current time (a replay's progress line).
    pub fn set_progress(&mut self, f: Box<dyn FnMut(DateTime<Utc>)>) {
        self.progress = Some(f);
    }
}

/// The alert's identifying fields as `key=value` for its log line.
fn alert_fields(a: &Alert) -> crate::logging::Fields {
    let mut f = crate::logging::Fields::new().text("bot", a.bot).text("id", &a.id).text("ticker", &a.ticker);
    if let Some(c) = &a.contract {
        f = f.text("contract", c);
    }
    if let Some(p) = a.premium {
        f = f.num("premium", crate::logging::decimals(p, 0));
    }
    if let Some(sc) = a.score {
        f = f.num("score", crate::logging::decimals(sc, 1));
    }
    f.text("side", format!("{:?}", a.side).to_lowercase())
        .text("sentiment", format!("{:?}", a.sentiment).to_lowercase())
}

/// The timetable with each line's next `n` firings (session-gated) in ET,
/// for `orakl check`.
pub fn describe_timetable(timetable: &Timetable, now: DateTime<Utc>, n: usize) -> String {
    let mut out = String::new();
    for line in &timetable.lines {
        let mut head = format!("  line {}: {} session={}", line.line, line.job, line.session.as_str());
        if let Some(b) = line.batch {
            head.push_str(&format!(" batch={b}"));
        }
        let mut times = Vec::new();
        let mut t = now;
        while times.len() < n {
            match line.next_gated_after(t) {
                Some(next) => {
                    times.push(next.with_timezone(&New_York).format("%a %Y-%m-%d %H:%M:%S %Z").to_string());
                    t = next;
                }
                None => break,
            }
        }
        let times = if times.is_empty() { "none in the next 15 days".to_string() } else { times.join(", ") };
        out.push_str(&format!("{head}: next {times}\n"));
    }
    out
}
