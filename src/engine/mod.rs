//! The detection engine: every bot's pipeline, and the state it keeps
//! between firings, with no IO.
//!
//! The shape follows ureq-proto and quinn-proto: the shell starts a
//! [`Task`] for one bot and one symbol, then calls [`Engine::poll`] with the
//! time until the task is done. Each step is one of
//!
//! - [`Step::Need`]: data the engine needs next (a chain snapshot, the
//!   stored cooldown, option trades for a sweep confirmation, daily or
//!   minute bars, stock trades, a stock snapshot, the darkpool cursor). The
//!   shell fetches it and hands it back with [`Task::answer`] (or
//!   [`Answer::Unavailable`] when the fetch failed, which the shell has
//!   already logged);
//! - [`Step::Decided`]: what the engine decided: a candidate suppressed
//!   with its reason, or an alert to commit with its cooldown and outcome
//!   plan, or a cursor to store. The shell carries it out before polling
//!   again, so a cooldown committed for one alert is the one the next
//!   candidate of the same key is checked against;
//! - [`Step::Done`]: the task's counts.
//!
//! The cheap parts of each rule run first, the stored cooldown next, and
//! requests only for candidates that passed both. One [`CooldownPolicy`]
//! serves all eight families.
//!
//! State kept here: the volume cache and chain cache (the options bots
//! share one chain fetch and one detection pass per symbol), the
//! round-robin walk over the watchlist, the scan each bot last evaluated
//! per symbol, ORAKL Flow's repeat tracker, Bullseye's spot history, the
//! darkpool day tapes and the daily-bar cache.

#[cfg(test)]
mod confirm_tests;
pub mod cooldown;
pub mod episode;
mod options;
mod prints;
#[cfg(test)]
mod prints_tests;
mod stock;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::alert::Alert;
use crate::bots::breakouts::BreakoutConfig;
use crate::bots::bullseye::{BullseyeConfig, SpotHistory};
use crate::bots::darkpool::{DarkpoolConfig, DayTape};
use crate::bots::golden_sweeps::GoldenConfig;
use crate::bots::orakl_flow::{OraklFlowConfig, RepeatTracker};
use crate::bots::scalps::ScalpsConfig;
use crate::bots::strat::StratConfig;
use crate::bots::sweeps::SweepsConfig;
use crate::cache::{CacheStats, ChainCache, VolumeCache};
use crate::config::{Config, ConfigError};
use crate::flow::{FlowParams, Observation};
use crate::job::Bot;
use crate::outcomes::{OutcomeParams, Plan};
use crate::polygon::{Bar, TickerSnapshot, Trade};
use crate::scan::{ChainScan, RoundRobin};

pub use cooldown::{Cooldown, CooldownPolicy, SetCooldown};
pub use episode::{Episode, EpisodeBook, Update, Verdict};
pub use prints::{CURSOR_KEY as PRINTS_CURSOR_KEY, PAGE_LIMIT as PRINTS_PAGE_LIMIT};

/// How often the volume cache drops entries past their TTL.
const VOLUME_SWEEP_SECONDS: i64 = 60;

/// Every rule's settings, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Rules {
    pub golden: GoldenConfig,
    pub sweeps: SweepsConfig,
    pub orakl_flow: OraklFlowConfig,
    pub bullseye: BullseyeConfig,
    pub scalps: ScalpsConfig,
    pub darkpool: DarkpoolConfig,
    pub breakouts: BreakoutConfig,
    pub strat: StratConfig,
    pub outcomes: OutcomeParams,
    pub flow: FlowParams,
    /// The options families' relative gates (`<PREFIX>_MIN_VOLUME_MULTIPLE`, ...).
    pub unusual: crate::unusual::Gates,
    /// `UNUSUAL_HISTORY_SESSIONS`: previous sessions of flow statistics read.
    pub history_sessions: usize,
    pub cooldowns: CooldownPolicy,
    /// `EPISODE_MINUTES`: how long an episode stays open after its last
    /// hit (0: every hit posts).
    pub episode_minutes: i64,
    /// `EPISODE_ESCALATION_MINUTES`: how old an episode's latest message must
    /// be before a doubling posts a new one.
    pub episode_escalation_minutes: i64,
    /// `<PREFIX>_MAX_DTE` of each options family.
    pub max_dte: BTreeMap<Bot, i64>,
    pub volume_cache_ttl_seconds: u64,
    pub chain_cache_ttl_seconds: u64,
    /// `OPTIONS_BATCH`: symbols per firing when the line names no `batch`.
    pub batch: usize,
    /// `SWEEPS_MAX_CONFIRMATIONS`: trades requests per options firing.
    pub max_confirmations: usize,
    pub watchlist: Vec<String>,
    /// `PRINTS_SCOPE`: whose orders the prints lane takes up.
    pub prints_scope: crate::config::PrintsScope,
    /// `PRINTS_MAX_LOOKUPS`: orders looked up (context, quote) per poll.
    pub prints_max_lookups: usize,
}

impl Rules {
    /// The rules as configured; `STRAT_TIMEFRAMES` is the one setting whose
    /// text is parsed here, so a mistake in it stops the start (exit 78).
    pub fn from_config(c: &Config) -> Result<Rules, ConfigError> {
        let t = &c.tunables;
        Ok(Rules {
            golden: GoldenConfig::from_config(c),
            sweeps: SweepsConfig::from_config(c),
            orakl_flow: OraklFlowConfig::from_config(c),
            bullseye: BullseyeConfig::from_config(c),
            scalps: ScalpsConfig::from_config(c),
            darkpool: DarkpoolConfig::from_config(c),
            breakouts: BreakoutConfig::from_config(c),
            strat: strat_config(c)?,
            outcomes: OutcomeParams::from_config(c),
            flow: FlowParams { max_spread_pct: t.max_spread_pct },
            unusual: crate::unusual::Gates::from_tunables(t),
            history_sessions: t.unusual_history_sessions.max(0) as usize,
            cooldowns: CooldownPolicy::new(|b| t.cooldown_seconds(b)),
            episode_minutes: t.episode_minutes,
            episode_escalation_minutes: t.episode_escalation_minutes,
            max_dte: Bot::ALL.into_iter().filter_map(|b| Some((b, t.max_dte(b)?))).collect(),
            volume_cache_ttl_seconds: t.volume_cache_ttl_seconds.max(0) as u64,
            chain_cache_ttl_seconds: t.chain_cache_ttl_seconds.max(0) as u64,
            batch: t.options_batch.max(1) as usize,
            max_confirmations: t.sweeps_max_confirmations.max(0) as usize,
            watchlist: c.watchlist.clone(),
            prints_scope: c.prints_scope,
            prints_max_lookups: t.prints_max_lookups.max(1) as usize,
        })
    }
}

/// `STRAT_TIMEFRAMES` and `STRAT_PATTERNS`, or the defaults when unset.
pub fn strat_config(config: &Config) -> Result<StratConfig, ConfigError> {
    let error = |var: &str| {
        let var = var.to_string();
        move |m: String| ConfigError::Var { message: m.trim_start_matches(&format!("{var}: ")).to_string(), var }
    };
    let parsed = match &config.strat_timeframes {
        None => StratConfig::default(),
        Some(v) => StratConfig::parse(v).map_err(error("STRAT_TIMEFRAMES"))?,
    };
    let patterns = match &config.strat_patterns {
        None => parsed.patterns.clone(),
        Some(v) => crate::bots::strat::parse_patterns(v).map_err(|m| ConfigError::var("STRAT_PATTERNS", m))?,
    };
    let t = &config.tunables;
    Ok(StratConfig { min_reward_risk: t.min_reward_risk, min_volume_pace: t.strat_min_volume_pace, patterns, ..parsed })
}

/// Data the engine needs before it can go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// The option chain of `underlying` (Polygon's name for `symbol`),
    /// contracts expiring by `expires_by`, as observations.
    Chain { symbol: String, underlying: String, expires_by: NaiveDate },
    /// `bot`'s stored cooldown on `key`.
    Cooldown { bot: Bot, key: String },
    /// The option's own trades after `after_ns` up to `until_ns`.
    OptionTrades { contract: String, after_ns: Option<i64>, until_ns: Option<i64>, max_pages: usize },
    /// Daily bars of `ticker`, `from..=to`.
    DailyBars { symbol: String, ticker: String, from: NaiveDate, to: NaiveDate },
    /// 1-minute bars of `ticker`, `from..=to`.
    MinuteBars { symbol: String, ticker: String, from: NaiveDate, to: NaiveDate },
    /// The stock's trades `from_ns..=until_ns`, at most `max_pages` pages.
    StockTrades { symbol: String, from_ns: i64, until_ns: Option<i64>, max_pages: usize },
    /// The stock's snapshot (last price, day volume).
    Snapshot { symbol: String },
    /// The stored cursor text under `key`.
    Cursor { key: String },
    /// The stored flow statistics of the last `sessions` trading dates
    /// before `before`, every underlying.
    FlowHistory { before: NaiveDate, sessions: usize },
    /// Unusual option trades, market-wide, SIP time `from_ns..=until_ns`.
    UnusualTrades { from_ns: i64, until_ns: i64, max_pages: usize },
    /// One contract's snapshot, as an observation (`underlying` as the
    /// snapshot endpoint names it).
    Contract { underlying: String, contract: String },
    /// The contract's NBBO at or just before `at_ns`.
    Quote { contract: String, at_ns: i64 },
}

/// The shell's answer to a [`Need`].
#[derive(Debug, Clone)]
pub enum Answer {
    Chain {
        observations: Vec<Observation>,
        contracts: usize,
    },
    Cooldown(Option<Cooldown>),
    Trades(Vec<Trade>),
    Bars(Vec<Bar>),
    Snapshot(Option<Box<TickerSnapshot>>),
    Cursor(Option<String>),
    FlowHistory(Vec<crate::unusual::DayStats>),
    Prints(Vec<crate::polygon::UnusualTrade>),
    Contract(Option<Box<Observation>>),
    Quote(Option<crate::polygon::Quote>),
    /// The fetch failed; the shell has logged and recorded why.
    Unavailable,
}

/// What the engine decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A candidate that did not become an alert. `what` is its `key=value`
    /// identity for the log line.
    Suppressed { bot: Bot, what: crate::logging::Fields, reason: String },
    /// An observation with new volume that a flow guard dropped.
    Dropped { contract: String, volume_delta: f64, reason: String },
    /// Data that cannot be true ([`crate::plausible`]): a processing error.
    DataError { symbol: String, contract: String, reason: String },
    /// Commit this alert, its cooldown and its outcome plan together: the
    /// post of a new episode, or an escalation of one.
    Commit(Box<Commit>),
    /// A hit that joined an open episode: commit it, its cooldown and the
    /// edit of the episode's message together.
    Update(Box<Join>),
    /// Store the cursor text under `key`.
    SetCursor { key: String, text: String },
    /// Store an underlying's flow statistics for its date (replacing them).
    SaveFlowStats(crate::unusual::DayStats),
}

/// An alert to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub bot: Bot,
    pub alert: Alert,
    pub cooldown: SetCooldown,
    /// How the alert's plan will be measured; None when its levels cannot
    /// be, and for an escalation (one outcome per episode: its post's).
    pub plan: Option<Plan>,
    /// The episode the alert posts for, stored with it; None when episodes
    /// are off.
    pub episode: Option<Episode>,
}

/// A hit that joined an open episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub bot: Bot,
    /// The edit of the episode's message.
    pub update: Update,
    /// The episode with this hit counted.
    pub episode: Episode,
    /// The hit's own cooldown, as a post would have set it.
    pub cooldown: SetCooldown,
}

/// One step of a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Need(Need),
    Decided(Decision),
    Done(Summary),
}

/// What one task did, for the firing's log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Flow events the bot evaluated (options bots).
    pub events: usize,
    /// The symbol could not be scanned (its data could not be fetched).
    pub failed: bool,
    /// Sweep confirmations requested, and candidates judged unconfirmed
    /// because the firing's `SWEEPS_MAX_CONFIRMATIONS` was spent.
    pub confirmations: usize,
    pub over_cap: usize,
    /// The prints lane: prints read, orders judged, orders looked up, and
    /// orders left for the next poll (lookups spent).
    pub prints: usize,
    pub orders: usize,
    pub lookups: usize,
    pub deferred: usize,
    /// When an order the poll found still filling can be judged (SIP ns):
    /// the shell polls again then rather than a whole interval later.
    pub settles_at_ns: Option<i64>,
}

/// One bot's work on one symbol; driven by [`Engine::poll`].
#[derive(Debug)]
pub struct Task {
    bot: Bot,
    symbol: String,
    answer: Option<Answer>,
    summary: Summary,
    state: State,
    /// Decisions made ahead of the next step (dropped observations, the
    /// stock families' alerts), returned first.
    pending: VecDeque<Decision>,
    /// Scalps' inputs for the symbol, fetched once per task.
    scalp: Option<options::ScalpInputs>,
    /// Whether the symbol's daily bars were asked for in this task (Scalps'
    /// volume gate asks once, whatever the answer).
    daily_asked: bool,
    /// Candidates waiting for a sweep confirmation until every event of
    /// the scan has been through the other gates.
    confirm: Vec<options::Deferred>,
}

#[derive(Debug)]
enum State {
    Options(options::Stage),
    Stock(stock::Stage),
    Prints(prints::Stage),
    Done,
}

impl Task {
    /// Hands the answer to the task's last [`Need`] back.
    pub fn answer(&mut self, answer: Answer) {
        self.answer = Some(answer);
    }

    pub fn bot(&self) -> Bot {
        self.bot
    }

    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// The answer to the last need; a poll without one reads it as
    /// unavailable, so a shell that forgot to answer cannot loop.
    fn take_answer(&mut self) -> Answer {
        self.answer.take().unwrap_or(Answer::Unavailable)
    }
}

/// The detection state and every bot's rules.
#[derive(Debug)]
pub struct Engine {
    rules: Rules,
    volume: VolumeCache,
    chains: ChainCache<Arc<ChainScan>>,
    scan_seq: u64,
    /// The scan each (bot, symbol) last evaluated, so a cache hit on the
    /// bot's next firing does not present the same events twice.
    evaluated: BTreeMap<(Bot, String), u64>,
    round_robin: RoundRobin,
    last_sweep: Option<DateTime<Utc>>,
    /// The options bots in the timetable: their largest DTE narrows chains.
    options_bots: BTreeSet<Bot>,
    /// Per symbol: the day's prints seen by the darkpool scans.
    day_tapes: BTreeMap<String, DayTape>,
    /// Per symbol: previous sessions' daily bars and the date they are for.
    daily_cache: BTreeMap<String, (NaiveDate, Arc<Vec<Bar>>)>,
    /// Per underlying: its volume today from its snapshot and when it was
    /// read (Bullseye's volume gate).
    underlying_volumes: BTreeMap<String, (DateTime<Utc>, Option<f64>)>,
    /// ORAKL Flow's qualifying events per contract within its window.
    repeats: RepeatTracker,
    /// Bullseye's own spot observations per underlying (momentum).
    spots: SpotHistory,
    /// Sweep confirmations: the firing's allowance and the answers shared
    /// by Sweeps and Golden Sweeps.
    confirmations: options::Confirmations,
    /// Each underlying's flow premiums today and in previous sessions.
    book: crate::unusual::FlowBook,
    /// The open episodes of every family (one alert per move).
    episodes: EpisodeBook,
    /// Whether the shell has handed over the stored open episodes.
    episodes_restored: bool,
    /// The prints lane's prints judged beyond its stored cursor.
    lane: prints::Lane,
}

impl Engine {
    pub fn new(rules: Rules) -> Engine {
        Engine {
            volume: VolumeCache::new(rules.volume_cache_ttl_seconds),
            chains: ChainCache::new(rules.chain_cache_ttl_seconds),
            repeats: RepeatTracker::new(rules.orakl_flow.window()),
            episodes: EpisodeBook::new(rules.episode_minutes).with_escalation_minutes(rules.episode_escalation_minutes),
            options_bots: Bot::ALL.into_iter().filter(|b| b.is_options()).collect(),
            rules,
            scan_seq: 0,
            evaluated: BTreeMap::new(),
            round_robin: RoundRobin::default(),
            last_sweep: None,
            day_tapes: BTreeMap::new(),
            daily_cache: BTreeMap::new(),
            underlying_volumes: BTreeMap::new(),
            spots: SpotHistory::default(),
            confirmations: options::Confirmations::default(),
            book: crate::unusual::FlowBook::default(),
            episodes_restored: false,
            lane: prints::Lane::default(),
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The bots the timetable runs: only their DTEs widen the chain request.
    pub fn set_scheduled(&mut self, bots: impl IntoIterator<Item = Bot>) {
        self.options_bots = bots.into_iter().filter(|b| b.is_options()).collect();
    }

    /// The watchlist re-read on SIGHUP. The walks go on from where they
    /// were (their cursors wrap at the new length).
    pub fn set_watchlist(&mut self, watchlist: Vec<String>) {
        self.rules.watchlist = watchlist;
    }

    /// Housekeeping at most once a minute: the volume cache rolls to the
    /// trading date of `now` and drops entries past their TTL.
    pub fn maintain(&mut self, now: DateTime<Utc>) {
        if self.last_sweep.is_none_or(|t| now - t >= chrono::Duration::seconds(VOLUME_SWEEP_SECONDS)) {
            self.volume.roll_date(crate::calendar::trading_date(now));
            self.volume.sweep(now);
            self.last_sweep = Some(now);
        }
    }

    /// The symbols `bot`'s firing of timetable line `line` scans: the next
    /// `batch` of the watchlist. The options bots share one walk, so their
    /// firings within one chain-cache TTL share each symbol's fetch.
    pub fn symbols(&mut self, bot: Bot, line: usize, batch: Option<usize>) -> Vec<String> {
        let n = batch.unwrap_or(self.rules.batch);
        if bot.is_options() {
            self.round_robin.next_shared(line, &self.rules.watchlist, n)
        } else {
            self.round_robin.next(line, &self.rules.watchlist, n)
        }
    }

    /// Starts `bot`'s work on `symbol`.
    pub fn start(&mut self, bot: Bot, symbol: &str) -> Task {
        let state =
            if bot.is_options() { State::Options(options::Stage::Start) } else { State::Stock(stock::Stage::Start) };
        Task {
            bot,
            symbol: symbol.to_string(),
            answer: None,
            summary: Summary::default(),
            state,
            pending: VecDeque::new(),
            scalp: None,
            daily_asked: false,
            confirm: Vec::new(),
        }
    }

    /// The task's next step at `now`.
    pub fn poll(&mut self, task: &mut Task, now: DateTime<Utc>) -> Step {
        if let Some(d) = task.pending.pop_front() {
            return Step::Decided(d);
        }
        let step = match std::mem::replace(&mut task.state, State::Done) {
            State::Options(stage) => self.poll_options(task, stage, now),
            State::Stock(stage) => self.poll_stock(task, stage, now),
            State::Prints(stage) => self.poll_prints(task, stage, now),
            State::Done => return Step::Done(task.summary),
        };
        // A stage that queues decisions returns the first of them itself;
        // a finished task still hands out what it queued before `Done`.
        match (step, task.pending.pop_front()) {
            (Some(step), _) => step,
            (None, Some(d)) => Step::Decided(d),
            (None, None) => Step::Done(task.summary),
        }
    }

    /// Hit/miss counts of the volume cache and the chain cache.
    pub fn cache_stats(&self) -> (CacheStats, CacheStats) {
        (self.volume.stats(), self.chains.stats())
    }

    /// Entries in the volume cache and the chain cache.
    pub fn cache_entries(&self) -> (usize, usize) {
        (self.volume.len(), self.chains.len())
    }

    /// What `bot`'s alert under the cooldown `key` becomes: the post of a
    /// new episode (with its plan), an escalation, or an update of an open
    /// episode's message (see [`EpisodeBook::hit`]).
    fn commit(
        &mut self,
        bot: Bot,
        mut alert: Alert,
        key: &str,
        size: Option<f64>,
        quote: Option<(f64, f64)>,
        now: DateTime<Utc>,
    ) -> Decision {
        let cooldown = self.rules.cooldowns.set(bot, key, size, now);
        let (verdict, episode) = self.episodes.hit(&mut alert);
        match (verdict, episode) {
            (Verdict::Join(update), Some(episode)) => {
                Decision::Update(Box::new(Join { bot, update, episode, cooldown }))
            }
            // One outcome per episode: its post's.
            (Verdict::Escalate { .. }, episode) => {
                Decision::Commit(Box::new(Commit { bot, alert, cooldown, plan: None, episode }))
            }
            (_, episode) => {
                let plan = crate::outcomes::plan_for(&alert, quote, &self.rules.outcomes);
                Decision::Commit(Box::new(Commit { bot, alert, cooldown, plan, episode }))
            }
        }
    }

    /// Whether the stored open episodes have been handed over
    /// ([`Engine::restore_episodes`]).
    pub fn episodes_restored(&self) -> bool {
        self.episodes_restored
    }

    /// Hands over the open episodes read from the store (a restart), once.
    pub fn restore_episodes(&mut self, episodes: Vec<Episode>) {
        self.episodes.restore(episodes);
        self.episodes_restored = true;
    }

    /// How long an episode stays open after its last hit, in minutes.
    pub fn episode_minutes(&self) -> i64 {
        self.episodes.minutes()
    }

    /// Forgets an episode the shell could not commit (a store error, a post
    /// held back): its next hit posts.
    pub fn forget_episode(&mut self, episode: &Episode) {
        self.episodes.forget(episode.bot, &episode.key);
    }

    /// The request for the previous sessions' flow statistics, when the
    /// underlyings' flow book has not read them for `now`'s date yet (the
    /// options families' and the prints lane's first step).
    fn history_need(&self, now: DateTime<Utc>) -> Option<Need> {
        let before = crate::calendar::trading_date(now);
        self.book.needs_history(before).then_some(Need::FlowHistory { before, sessions: self.rules.history_sessions })
    }

    /// Loads the answer to [`Engine::history_need`]. Without the store's
    /// answer (logged by the shell) the day starts from today's flow alone.
    fn load_history(&mut self, task: &mut Task, now: DateTime<Utc>) {
        let previous = match task.take_answer() {
            Answer::FlowHistory(rows) => rows,
            _ => Vec::new(),
        };
        self.book.load(crate::calendar::trading_date(now), &previous);
    }

    /// Previous sessions' daily bars of `symbol` for `date`, when cached.
    fn cached_daily(&self, symbol: &str, date: NaiveDate) -> Option<Arc<Vec<Bar>>> {
        self.daily_cache.get(symbol).filter(|(d, _)| *d == date).map(|(_, b)| b.clone())
    }

    /// Keeps `symbol`'s daily bars before `date`, for every bot that reads them.
    fn keep_daily(&mut self, symbol: &str, date: NaiveDate, daily: Vec<Bar>) {
        self.daily_cache.insert(symbol.to_string(), (date, Arc::new(daily)));
    }

    /// `symbol`'s average daily volume over the 20 sessions before `date`,
    /// from the cached daily bars: what the relative gates of Darkpool,
    /// STRAT, Scalps and Bullseye measure against.
    fn cached_adv(&self, symbol: &str, date: NaiveDate) -> Option<f64> {
        let daily: Vec<crate::bars::Bar> =
            self.cached_daily(symbol, date)?.iter().filter_map(crate::bars::Bar::from_polygon_day).collect();
        crate::bots::darkpool::average_daily_volume(&daily, date)
    }

    /// The request for `symbol`'s daily bars before `date`: enough sessions
    /// for a 20-day lookback and ATR(14) with its seeding period.
    fn daily_need(symbol: &str, date: NaiveDate) -> Need {
        Need::DailyBars {
            symbol: symbol.to_string(),
            ticker: crate::flow::polygon_underlying(symbol),
            from: date - chrono::Duration::days(DAILY_LOOKBACK_CALENDAR_DAYS),
            to: date - chrono::Duration::days(1),
        }
    }
}

/// Whether a stored cursor's SIP time (ns) is of `now`'s trading date: the
/// darkpool and prints cursors resume only then, since an earlier day's
/// prints are history, not alerts.
fn of_today(sip_ns: i64, now: DateTime<Utc>) -> bool {
    crate::calendar::trading_date(DateTime::from_timestamp_nanos(sip_ns)) == crate::calendar::trading_date(now)
}

/// Daily bars fetched per symbol: enough sessions for a 20-day lookback
/// and ATR(14) with its seeding period, across holidays.
const DAILY_LOOKBACK_CALENDAR_DAYS: i64 = 45;
/// The ATR's period (daily, Wilder).
const ATR_PERIOD: usize = 14;

/// ATR(14, daily, Wilder) from previous sessions' daily bars (the bots'
/// plans, and the simulator's oracle for Bullseye's momentum).
pub(crate) fn daily_atr(daily: &[Bar]) -> Option<f64> {
    let bars: Vec<crate::bars::Bar> = daily.iter().filter_map(crate::bars::Bar::from_polygon_day).collect();
    crate::indicators::atr_wilder(&bars, ATR_PERIOD)
}
