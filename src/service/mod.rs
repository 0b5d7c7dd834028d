//! The service: the jobs the main loop runs and the outbox delivery pass,
//! wired to the real client, store and sender.
//!
//! Data flow of an options bot firing: the next `batch` symbols of the
//! watchlist → one chain fetch per symbol (shared by all options bots via
//! the chain cache) → one flow-detection pass against the volume cache →
//! the bot's rule → cooldown check → sweep confirmation → the alert and its
//! cooldown committed in one transaction → delivered by the next outbox
//! pass, which runs between jobs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::America::New_York;

use crate::alert::Alert;
use crate::bots::golden_sweeps;
use crate::bots::{self, Confirmation, Cooldown};
use crate::cache::{ChainCache, VolumeCache};
use crate::calendar;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::discord::{self, Sender, Webhook};
use crate::flow::{self, FlowEvent, FlowParams};
use crate::http::Http;
use crate::job::{Bot, JobName};
use crate::notify::Notifier;
use crate::polygon::{AggBound, ChainQuery, Client, PolygonConfig, PolygonError, TradesQuery};
use crate::runner::{self, JobResult, Jobs, LoopOptions, LoopStats};
use crate::scan::{self, ChainScan, RoundRobin};
use crate::schedule::{Line, Timetable};
use crate::store::{CooldownSet, RunRecord, RunResult, Store};

mod heartbeat;
mod options;
mod outbox;
mod outcomes;
mod stock;

pub use outcomes::{build_report, opening_confirmed, warn_flagged};

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
        let needs_data = jobs.iter().find(|j| matches!(j, JobName::Bot(_) | JobName::Outcomes | JobName::OiConfirm));
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
        strat_config(config)?;
        Ok(Settings { webhooks, reports_webhook })
    }
}

/// Where alerts go.
pub enum Delivery {
    Discord { sender: Box<Sender>, webhooks: BTreeMap<Bot, Webhook>, reports: Option<Webhook> },
    Print { format: OutputFormat, out: Box<dyn Write> },
}

impl Delivery {
    pub fn discord(config: &Config, settings: &Settings, clock: Arc<dyn Clock>, notifier: Notifier) -> Delivery {
        let http = Http::new(config.seconds("DISCORD_TIMEOUT_SECONDS"), notifier);
        let sender = Sender::new(http, clock).with_max_attempts(config.int("DISCORD_MAX_ATTEMPTS") as u32);
        Delivery::Discord {
            sender: Box::new(sender),
            webhooks: settings.webhooks.clone(),
            reports: settings.reports_webhook.clone(),
        }
    }

    pub fn print(format: OutputFormat, out: Box<dyn Write>) -> Delivery {
        Delivery::Print { format, out }
    }
}

pub struct Service {
    config: Config,
    clock: Arc<dyn Clock>,
    store: Store,
    delivery: Delivery,
    notifier: Notifier,
    polygon: Option<Client>,
    volume: VolumeCache,
    chains: ChainCache<Arc<ChainScan>>,
    scan_seq: u64,
    /// The scan each (bot, symbol) last evaluated, so a cache hit on the
    /// bot's next firing does not present the same events twice.
    evaluated: BTreeMap<(Bot, String), u64>,
    round_robin: RoundRobin,
    retired_webhooks: BTreeSet<u64>,
    last_sweep: Option<DateTime<Utc>>,
    started: Duration,
    /// The options bots in the timetable: their largest DTE narrows chains.
    options_bots: BTreeSet<Bot>,
    /// Per symbol: the day's prints seen by the darkpool scans.
    day_tapes: BTreeMap<String, crate::bots::darkpool::DayTape>,
    /// Per symbol: previous sessions' daily bars and the date they are for.
    daily_cache: BTreeMap<String, (chrono::NaiveDate, Arc<Vec<crate::polygon::Bar>>)>,
    strat_config: crate::bots::strat::StratConfig,
    /// ORAKL Flow's qualifying events per contract within its window.
    repeats: crate::bots::orakl_flow::RepeatTracker,
    /// Bullseye's own spot observations per underlying (momentum).
    spots: crate::bots::bullseye::SpotHistory,
    progress: Option<Box<dyn FnMut(DateTime<Utc>)>>,
    /// Every bot's thresholds, read from the configuration once: the options
    /// rules run for every flow event of every scan.
    rules: Rules,
    /// The timetable being run: the heartbeat judges each bot against it.
    timetable: Option<Timetable>,
}

/// The bots' settings, resolved once at start-up.
struct Rules {
    golden: crate::bots::golden_sweeps::GoldenConfig,
    sweeps: crate::bots::sweeps::SweepsConfig,
    orakl_flow: crate::bots::orakl_flow::OraklFlowConfig,
    bullseye: crate::bots::bullseye::BullseyeConfig,
    scalps: crate::bots::scalps::ScalpsConfig,
    darkpool: crate::bots::darkpool::DarkpoolConfig,
    breakouts: crate::bots::breakouts::BreakoutConfig,
    outcomes: crate::outcomes::OutcomeParams,
}

impl Rules {
    fn from_config(c: &Config) -> Rules {
        Rules {
            golden: crate::bots::golden_sweeps::GoldenConfig::from_config(c),
            sweeps: crate::bots::sweeps::SweepsConfig::from_config(c),
            orakl_flow: crate::bots::orakl_flow::OraklFlowConfig::from_config(c),
            bullseye: crate::bots::bullseye::BullseyeConfig::from_config(c),
            scalps: crate::bots::scalps::ScalpsConfig::from_config(c),
            darkpool: crate::bots::darkpool::DarkpoolConfig::from_config(c),
            breakouts: crate::bots::breakouts::BreakoutConfig::from_config(c),
            outcomes: crate::outcomes::OutcomeParams::from_config(c),
        }
    }
}

/// `STRAT_TIMEFRAMES`, or the default when unset.
fn strat_config(config: &Config) -> Result<crate::bots::strat::StratConfig, ConfigError> {
    match &config.strat_timeframes {
        None => Ok(crate::bots::strat::StratConfig::default()),
        Some(v) => crate::bots::strat::StratConfig::parse(v).map_err(|m| ConfigError::Var {
            var: "STRAT_TIMEFRAMES".into(),
            message: m.trim_start_matches("STRAT_TIMEFRAMES: ").to_string(),
        }),
    }
}

/// The client settings from the configuration.
pub fn polygon_config(config: &Config, key: &str) -> PolygonConfig {
    let mut pc = PolygonConfig::new(key);
    pc.base_url = config.polygon_base_url.clone();
    pc.rate_per_sec = config.int("POLYGON_RATE_LIMIT") as u64;
    pc.timeout = config.seconds("POLYGON_TIMEOUT_SECONDS");
    pc.max_retries = config.int("POLYGON_MAX_RETRIES") as u32;
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
        let retired_webhooks =
            store.retired_webhooks()?.into_iter().filter_map(|d| d.name.parse::<u64>().ok()).collect();
        let strat_config = strat_config(&config)?;
        let rules = Rules::from_config(&config);
        let repeats = crate::bots::orakl_flow::RepeatTracker::new(rules.orakl_flow.window());
        Ok(Service {
            volume: VolumeCache::new(config.int("VOLUME_CACHE_TTL_SECONDS") as u64),
            chains: ChainCache::new(config.int("CHAIN_CACHE_TTL_SECONDS") as u64),
            started: clock.elapsed(),
            config,
            clock,
            store,
            delivery,
            notifier,
            polygon,
            scan_seq: 0,
            evaluated: BTreeMap::new(),
            round_robin: RoundRobin::default(),
            retired_webhooks,
            last_sweep: None,
            options_bots: Bot::ALL.into_iter().filter(|b| b.is_options()).collect(),
            day_tapes: BTreeMap::new(),
            daily_cache: BTreeMap::new(),
            repeats,
            spots: crate::bots::bullseye::SpotHistory::default(),
            progress: None,
            rules,
            strat_config,
            timetable: None,
        })
    }

    /// The Polygon client, for its statistics.
    pub fn polygon(&self) -> Option<&Client> {
        self.polygon.as_ref()
    }

    /// Hit/miss counts of the volume cache and the chain cache.
    pub fn cache_stats(&self) -> (crate::cache::CacheStats, crate::cache::CacheStats) {
        (self.volume.stats(), self.chains.stats())
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
    pub fn startup_probe(&mut self) -> Result<(), crate::cli::Failure> {
        let (Some(client), Some(symbol)) = (&self.polygon, self.config.watchlist.first()) else {
            return Ok(());
        };
        let today = calendar::trading_date(self.clock.now());
        let from = today - chrono::Duration::days(7);
        match client.aggs(&flow::polygon_underlying(symbol), 1, "day", AggBound::Date(from), AggBound::Date(today)) {
            Ok(_) => Ok(()),
            Err(e) if e.is_config() => Err(crate::cli::Failure::config(e)),
            Err(e) => {
                log::warn!("event=startup_probe_failed error=\"{e}\"");
                Ok(())
            }
        }
    }

    /// Runs the main loop until shutdown; pending alerts are delivered first.
    pub fn run(&mut self, timetable: &Timetable) -> LoopStats {
        self.prepare(timetable);
        self.deliver_outbox();
        let opts = LoopOptions { grace: self.config.seconds("SCHEDULE_GRACE_SECONDS") };
        let clock = self.clock.clone();
        let notifier = self.notifier.clone();
        runner::run_loop(&*clock, timetable, &opts, &notifier, self)
    }

    /// `run --once`.
    pub fn run_once(&mut self, timetable: &Timetable) -> LoopStats {
        self.prepare(timetable);
        self.deliver_outbox();
        let clock = self.clock.clone();
        runner::run_once(&*clock, timetable, self)
    }

    fn prepare(&mut self, timetable: &Timetable) {
        self.timetable = Some(timetable.clone());
        self.options_bots = timetable
            .job_names()
            .into_iter()
            .filter_map(|j| if let JobName::Bot(b) = j { Some(b) } else { None })
            .filter(|b| b.is_options())
            .collect();
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn record_error(&mut self, component: &str, symbol: Option<&str>, message: &str) {
        let now = self.now();
        if let Err(e) = self.store.record_error(now, component, symbol, message) {
            log::error!("event=store_error op=record_error error=\"{e}\"");
        }
    }

    fn disable_feature(&mut self, name: &str, e: &PolygonError) {
        let now = self.now();
        if let Err(se) = self.store.disable_feature(name, &e.to_string(), now) {
            log::error!("event=store_error op=disable_feature error=\"{se}\"");
        }
    }

    /// Commits the alert, its cooldown and the outcome of its plan together;
    /// a duplicate id (the same event seen again) commits nothing. `quote`
    /// is the option's (bid, ask) at the alert, the entry of a premium plan.
    fn commit(&mut self, bot: Bot, alert: &Alert, key: &str, premium: Option<f64>, quote: Option<(f64, f64)>) -> bool {
        let now = self.now();
        let cooldown = CooldownSet {
            key: key.to_string(),
            until: now + chrono::Duration::seconds(self.config.cooldown_seconds(bot)),
            premium,
        };
        let plan = crate::outcomes::plan_for(alert, quote, &self.rules.outcomes);
        if plan.is_none() && crate::outcomes::Kind::of(bot).is_some() {
            log::debug!("event=no_outcome id={} reason=\"the alert's levels cannot be measured\"", alert.id);
        }
        match self.store.commit_alert(alert, Some(&cooldown), plan.as_ref(), now) {
            Ok(true) => {
                log::info!("event=alert bot={bot} id={} {}", alert.id, alert_fields(alert));
                true
            }
            Ok(false) => false,
            Err(e) => {
                log::error!("event=store_error op=commit_alert id={} error=\"{e}\"", alert.id);
                false
            }
        }
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
            log::error!("event=store_error op=record_run error=\"{e}\"");
        }
    }
}

impl Jobs for Service {
    fn run(&mut self, line: &Line, scheduled: DateTime<Utc>) -> JobResult {
        let started_at = self.now();
        let result = match line.job {
            JobName::Bot(Bot::Darkpool) => self.darkpool_firing(line),
            JobName::Bot(Bot::Breakouts) => self.breakouts_firing(line),
            JobName::Bot(Bot::Strat) => self.strat_firing(line),
            // The five options bots.
            JobName::Bot(bot) => self.options_scan(bot, line),
            JobName::Heartbeat => self.heartbeat(),
            JobName::Outcomes => self.outcomes_job(line),
            JobName::OiConfirm => self.oi_confirm_job(),
            JobName::WeeklyReport => self.weekly_report_job(),
        };
        self.record_run(line, scheduled, started_at, &result);
        result
    }

    fn between(&mut self) {
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
fn alert_fields(a: &Alert) -> String {
    let mut s = format!("ticker={}", a.ticker);
    if let Some(c) = &a.contract {
        s.push_str(&format!(" contract={c}"));
    }
    if let Some(p) = a.premium {
        s.push_str(&format!(" premium={p:.0}"));
    }
    if let Some(sc) = a.score {
        s.push_str(&format!(" score={sc:.1}"));
    }
    s.push_str(&format!(" side={:?} sentiment={:?}", a.side, a.sentiment).to_lowercase());
    s
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
