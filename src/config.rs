//! Configuration: the environment, an optional `.env` file and systemd
//! credentials, validated into one [`Config`] before anything runs.
//!
//! Parsing is pure ([`Config::from_vars`] takes a map), so every rule is
//! tested without touching the process environment; [`Sources::load`] is the
//! thin shell that gathers the map. Every error names the variable (or
//! `file:line`) and never contains a secret's value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::job::Bot;

/// A secret value (API key, webhook URL). Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {message}")]
    Var { var: String, message: String },
    #[error("{path}:{line}: {message}")]
    File { path: String, line: usize, message: String },
    #[error("{path}: {message}")]
    Path { path: String, message: String },
}

impl ConfigError {
    pub(crate) fn var(var: &str, message: impl Into<String>) -> Self {
        ConfigError::Var { var: var.to_string(), message: message.into() }
    }
}

/// Variables that hold secrets: read from `$CREDENTIALS_DIRECTORY` too, and
/// never printed.
pub const SECRET_VARS: [&str; 11] = [
    "POLYGON_API_KEY",
    "DISCORD_WEBHOOK_URL",
    "ORAKL_FLOW_WEBHOOK",
    "SWEEPS_WEBHOOK",
    "GOLDEN_SWEEPS_WEBHOOK",
    "BULLSEYE_WEBHOOK",
    "SCALPS_WEBHOOK",
    "DARKPOOL_WEBHOOK",
    "BREAKOUTS_WEBHOOK",
    "STRAT_WEBHOOK",
    "REPORTS_WEBHOOK",
];

/// What kind of value a tunable holds; also its validation.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A number in [min, max].
    Num {
        min: f64,
        max: f64,
    },
    /// A whole number in [min, max].
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// A wall-clock time of day in America/New_York, written `HH:MM` and
    /// held as minutes after midnight in [min, max].
    Time {
        min: i64,
        max: i64,
    },
}

/// One tunable: name, default and range. The table below is the single list
/// of numeric settings; `orakl check` prints it resolved.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    pub default: f64,
    pub kind: Kind,
}

const fn num(name: &'static str, default: f64, min: f64, max: f64) -> Setting {
    Setting { name, default, kind: Kind::Num { min, max } }
}
const fn int(name: &'static str, default: i64, min: i64, max: i64) -> Setting {
    Setting { name, default: default as f64, kind: Kind::Int { min, max } }
}
const fn flag(name: &'static str, default: bool) -> Setting {
    Setting { name, default: if default { 1.0 } else { 0.0 }, kind: Kind::Bool }
}
/// A time of day: `default` and the range in minutes after midnight ET.
const fn time(name: &'static str, default: i64, min: i64, max: i64) -> Setting {
    Setting { name, default: default as f64, kind: Kind::Time { min, max } }
}

/// Minutes after midnight as `HH:MM`.
fn hh_mm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

const DAY: i64 = 86_400;
const MONEY: f64 = 1e12;

/// How a tunable's kind reads as a Rust type in [`Tunables`].
macro_rules! setting_type {
    (num) => {
        f64
    };
    (int) => {
        i64
    };
    (flag) => {
        bool
    };
    (time) => {
        i64
    };
}

/// Declares every numeric setting once: the [`SETTINGS`] table (names,
/// defaults, ranges; what `orakl check` prints and the `.env` typo check
/// knows) and the typed [`Tunables`] struct with one field per setting.
/// Code reads `config.tunables.min_premium`, never a setting by its name, so
/// a setting that does not exist cannot be read: it does not compile.
macro_rules! settings {
    ($( $field:ident : $kind:ident ( $name:literal, $default:expr $(, $min:expr, $max:expr)? ) ),* $(,)?) => {
        /// Every numeric setting with its default (SPEC §4–§8, §11–§12).
        pub const SETTINGS: &[Setting] = &[ $( $kind($name, $default $(, $min, $max)?) ),* ];

        /// Every numeric setting, resolved (default or override) and typed.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Tunables {
            $( #[doc = concat!("`", $name, "`")] pub $field: setting_type!($kind), )*
        }

        impl Tunables {
            /// The typed values of `values` (every name of [`SETTINGS`],
            /// parsed and range-checked); a name missing from the map takes
            /// its default.
            fn resolve(values: &BTreeMap<&'static str, f64>) -> Tunables {
                Tunables {
                    $( $field: FromValue::from_value(
                        values.get($name).copied().unwrap_or($kind($name, $default $(, $min, $max)?).default),
                    ), )*
                }
            }

            /// A setting's value by name, for the test that proves every
            /// line of the table reaches its field.
            #[cfg(test)]
            fn by_name(&self, name: &str) -> Option<f64> {
                match name {
                    $( $name => Some(ToValue::to_value(self.$field)), )*
                    _ => None,
                }
            }
        }
    };
}

/// A resolved setting (always held as `f64` while parsing) as its field's type.
trait FromValue {
    fn from_value(v: f64) -> Self;
}

impl FromValue for f64 {
    fn from_value(v: f64) -> Self {
        v
    }
}

impl FromValue for i64 {
    fn from_value(v: f64) -> Self {
        v as i64
    }
}

impl FromValue for bool {
    fn from_value(v: f64) -> Self {
        v != 0.0
    }
}

#[cfg(test)]
trait ToValue {
    fn to_value(self) -> f64;
}

#[cfg(test)]
impl ToValue for f64 {
    fn to_value(self) -> f64 {
        self
    }
}

#[cfg(test)]
impl ToValue for i64 {
    fn to_value(self) -> f64 {
        self as f64
    }
}

#[cfg(test)]
impl ToValue for bool {
    fn to_value(self) -> f64 {
        if self { 1.0 } else { 0.0 }
    }
}

settings! {
    // Polygon client and caches.
    polygon_rate_limit: int("POLYGON_RATE_LIMIT", 5, 1, 1000),
    polygon_timeout_seconds: int("POLYGON_TIMEOUT_SECONDS", 10, 1, 120),
    polygon_max_retries: int("POLYGON_MAX_RETRIES", 3, 0, 10),
    chain_cache_ttl_seconds: int("CHAIN_CACHE_TTL_SECONDS", 30, 0, 3600),
    volume_cache_ttl_seconds: int("VOLUME_CACHE_TTL_SECONDS", 900, 1, DAY),
    options_batch: int("OPTIONS_BATCH", 10, 1, 10_000),
    polygon_feature_reprobe_minutes: int("POLYGON_FEATURE_REPROBE_MINUTES", 30, 1, 7 * 24 * 60),
    // Scheduling and delivery.
    schedule_grace_seconds: int("SCHEDULE_GRACE_SECONDS", 10, 0, 3600),
    alert_max_age_seconds: int("ALERT_MAX_AGE_SECONDS", 900, 1, 7 * DAY),
    discord_timeout_seconds: int("DISCORD_TIMEOUT_SECONDS", 10, 1, 120),
    discord_max_attempts: int("DISCORD_MAX_ATTEMPTS", 4, 1, 20),
    firing_budget_seconds: int("FIRING_BUDGET_SECONDS", 5, 1, 3600),
    delivery_budget_seconds: int("DELIVERY_BUDGET_SECONDS", 5, 1, 3600),
    // State retention (ALERT_RETENTION_DAYS 0: alerts and outcomes are kept).
    retention_days: int("RETENTION_DAYS", 90, 1, 36_500),
    alert_retention_days: int("ALERT_RETENTION_DAYS", 0, 0, 36_500),
    episode_minutes: int("EPISODE_MINUTES", 15, 0, 24 * 60),
    episode_escalation_minutes: int("EPISODE_ESCALATION_MINUTES", 3, 0, 24 * 60),
    // Alert quality guards.
    max_spread_pct: num("MAX_SPREAD_PCT", 0.25, 0.0, 100.0),
    unusual_history_sessions: int("UNUSUAL_HISTORY_SESSIONS", 5, 0, 60),
    min_reward_risk: num("MIN_REWARD_RISK", 1.0, 0.0, 100.0),
    // ORAKL Flow.
    min_premium: num("MIN_PREMIUM", 10_000.0, 0.0, MONEY),
    orakl_flow_min_dte: int("ORAKL_FLOW_MIN_DTE", 1, 0, 3650),
    orakl_flow_max_dte: int("ORAKL_FLOW_MAX_DTE", 45, 0, 3650),
    repeat_signal_threshold: int("REPEAT_SIGNAL_THRESHOLD", 3, 1, 100),
    repeat_window_minutes: int("REPEAT_WINDOW_MINUTES", 30, 1, 24 * 60),
    orakl_flow_min_itm_probability: num("ORAKL_FLOW_MIN_ITM_PROBABILITY", 0.5, 0.0, 1.0),
    orakl_flow_min_volume_multiple: num("ORAKL_FLOW_MIN_VOLUME_MULTIPLE", 30.0, 0.0, 1e9),
    orakl_flow_max_flow_share: num("ORAKL_FLOW_MAX_FLOW_SHARE", 1.0, 0.0, 1.0),
    orakl_flow_min_delta_voi: num("ORAKL_FLOW_MIN_DELTA_VOI", 0.01, 0.0, 1e6),
    // Sweeps.
    sweeps_min_premium: num("SWEEPS_MIN_PREMIUM", 50_000.0, 0.0, MONEY),
    sweeps_min_dte: int("SWEEPS_MIN_DTE", 1, 0, 3650),
    sweeps_max_dte: int("SWEEPS_MAX_DTE", 90, 0, 3650),
    min_sweep_score: num("MIN_SWEEP_SCORE", 60.0, 0.0, 100.0),
    sweeps_confirm_with_trades: flag("SWEEPS_CONFIRM_WITH_TRADES", true),
    sweeps_require_iso: flag("SWEEPS_REQUIRE_ISO", true),
    sweeps_min_exchanges: int("SWEEPS_MIN_EXCHANGES", 2, 1, 16),
    sweeps_max_confirmations: int("SWEEPS_MAX_CONFIRMATIONS", 8, 0, 1000),
    // The market-wide prints lane: orders looked up (context and quote) per poll.
    prints_max_lookups: int("PRINTS_MAX_LOOKUPS", 20, 1, 1000),
    sweeps_min_volume_multiple: num("SWEEPS_MIN_VOLUME_MULTIPLE", 10.0, 0.0, 1e9),
    sweeps_max_flow_share: num("SWEEPS_MAX_FLOW_SHARE", 0.01, 0.0, 1.0),
    sweeps_min_delta_voi: num("SWEEPS_MIN_DELTA_VOI", 0.02, 0.0, 1e6),
    // Golden Sweeps.
    golden_min_premium: num("GOLDEN_MIN_PREMIUM", 1_000_000.0, 0.0, MONEY),
    golden_min_dte: int("GOLDEN_MIN_DTE", 1, 0, 3650),
    golden_max_dte: int("GOLDEN_MAX_DTE", 180, 0, 3650),
    golden_max_strike_distance: num("GOLDEN_MAX_STRIKE_DISTANCE", 0.05, 0.0, 10.0),
    golden_min_volume_multiple: num("GOLDEN_MIN_VOLUME_MULTIPLE", 50.0, 0.0, 1e9),
    golden_max_flow_share: num("GOLDEN_MAX_FLOW_SHARE", 0.01, 0.0, 1.0),
    golden_min_delta_voi: num("GOLDEN_MIN_DELTA_VOI", 0.02, 0.0, 1e6),
    // Bullseye.
    bullseye_min_premium: num("BULLSEYE_MIN_PREMIUM", 5_000.0, 0.0, MONEY),
    bullseye_min_dte: int("BULLSEYE_MIN_DTE", 1, 0, 3650),
    bullseye_max_dte: int("BULLSEYE_MAX_DTE", 5, 0, 3650),
    bullseye_delta_min: num("BULLSEYE_DELTA_MIN", 0.4, 0.0, 1.0),
    bullseye_delta_max: num("BULLSEYE_DELTA_MAX", 0.6, 0.0, 1.0),
    bullseye_min_voi_ratio: num("BULLSEYE_MIN_VOI_RATIO", 3.0, 0.0, 1e6),
    bullseye_eod_skip_hour: int("BULLSEYE_EOD_SKIP_HOUR", 15, 0, 24),
    bullseye_max_flow_age_hours: num("BULLSEYE_MAX_FLOW_AGE_HOURS", 2.0, 0.0, 48.0),
    bullseye_atr_mult_short: num("BULLSEYE_ATR_MULT_SHORT", 0.75, 0.0, 100.0),
    bullseye_atr_mult_long: num("BULLSEYE_ATR_MULT_LONG", 1.0, 0.0, 100.0),
    bullseye_min_volume_surge: num("BULLSEYE_MIN_VOLUME_SURGE", 1.5, 0.0, 1000.0),
    bullseye_min_momentum_atr: num("BULLSEYE_MIN_MOMENTUM_ATR", 0.2, 0.0, 100.0),
    bullseye_min_volume_multiple: num("BULLSEYE_MIN_VOLUME_MULTIPLE", 4.0, 0.0, 1e9),
    bullseye_max_flow_share: num("BULLSEYE_MAX_FLOW_SHARE", 0.01, 0.0, 1.0),
    bullseye_min_delta_voi: num("BULLSEYE_MIN_DELTA_VOI", 0.02, 0.0, 1e6),
    // Scalps.
    scalps_min_premium: num("SCALPS_MIN_PREMIUM", 2_000.0, 0.0, MONEY),
    scalps_min_dte: int("SCALPS_MIN_DTE", 0, 0, 3650),
    scalps_max_dte: int("SCALPS_MAX_DTE", 7, 0, 3650),
    scalps_max_strike_distance: num("SCALPS_MAX_STRIKE_DISTANCE", 0.03, 0.0, 10.0),
    scalps_rsi_period: int("SCALPS_RSI_PERIOD", 14, 2, 500),
    scalps_eod_cutoff: time("SCALPS_EOD_CUTOFF", 15 * 60 + 45, 0, 24 * 60 - 1),
    // At most one 5-minute bar: a fresh trigger is the latest closed bar.
    scalps_max_trigger_age_seconds: int("SCALPS_MAX_TRIGGER_AGE_SECONDS", 300, 1, 300),
    scalps_min_volume_pace: num("SCALPS_MIN_VOLUME_PACE", 2.0, 0.0, 1000.0),
    scalps_min_volume_multiple: num("SCALPS_MIN_VOLUME_MULTIPLE", 0.25, 0.0, 1e9),
    scalps_max_flow_share: num("SCALPS_MAX_FLOW_SHARE", 0.5, 0.0, 1.0),
    scalps_min_delta_voi: num("SCALPS_MIN_DELTA_VOI", 0.002, 0.0, 1e6),
    // Stock bots.
    darkpool_min_size: num("DARKPOOL_MIN_SIZE", 10_000.0, 0.0, 1e12),
    darkpool_min_notional: num("DARKPOOL_MIN_NOTIONAL", 0.0, 0.0, MONEY),
    darkpool_min_adv_fraction: num("DARKPOOL_MIN_ADV_FRACTION", 0.005, 0.0, 1.0),
    darkpool_large_notional: num("DARKPOOL_LARGE_NOTIONAL", 100_000_000.0, 0.0, MONEY),
    darkpool_large_min_adv_fraction: num("DARKPOOL_LARGE_MIN_ADV_FRACTION", 0.0025, 0.0, 1.0),
    strat_min_volume_pace: num("STRAT_MIN_VOLUME_PACE", 2.0, 0.0, 1000.0),
    breakout_min_volume_surge: num("BREAKOUT_MIN_VOLUME_SURGE", 1.5, 0.0, 1000.0),
    breakout_lookback_days: int("BREAKOUT_LOOKBACK_DAYS", 20, 2, 500),
    // Cooldowns per bot (per contract for options bots, per symbol for stock bots).
    orakl_flow_cooldown_seconds: int("ORAKL_FLOW_COOLDOWN_SECONDS", 900, 0, 30 * DAY),
    sweeps_cooldown_seconds: int("SWEEPS_COOLDOWN_SECONDS", 900, 0, 30 * DAY),
    golden_sweeps_cooldown_seconds: int("GOLDEN_SWEEPS_COOLDOWN_SECONDS", 900, 0, 30 * DAY),
    bullseye_cooldown_seconds: int("BULLSEYE_COOLDOWN_SECONDS", 900, 0, 30 * DAY),
    scalps_cooldown_seconds: int("SCALPS_COOLDOWN_SECONDS", 900, 0, 30 * DAY),
    darkpool_cooldown_seconds: int("DARKPOOL_COOLDOWN_SECONDS", 900, 0, 30 * DAY),
    breakouts_cooldown_seconds: int("BREAKOUTS_COOLDOWN_SECONDS", 900, 0, 30 * DAY),
    strat_cooldown_seconds: int("STRAT_COOLDOWN_SECONDS", 900, 0, 30 * DAY),
    // Hourly alert budgets per bot (0 = no budget): the top of each seed band a day.
    orakl_flow_max_alerts_per_hour: int("ORAKL_FLOW_MAX_ALERTS_PER_HOUR", 15, 0, 1_000_000),
    sweeps_max_alerts_per_hour: int("SWEEPS_MAX_ALERTS_PER_HOUR", 25, 0, 1_000_000),
    golden_sweeps_max_alerts_per_hour: int("GOLDEN_SWEEPS_MAX_ALERTS_PER_HOUR", 5, 0, 1_000_000),
    bullseye_max_alerts_per_hour: int("BULLSEYE_MAX_ALERTS_PER_HOUR", 10, 0, 1_000_000),
    scalps_max_alerts_per_hour: int("SCALPS_MAX_ALERTS_PER_HOUR", 40, 0, 1_000_000),
    darkpool_max_alerts_per_hour: int("DARKPOOL_MAX_ALERTS_PER_HOUR", 15, 0, 1_000_000),
    breakouts_max_alerts_per_hour: int("BREAKOUTS_MAX_ALERTS_PER_HOUR", 8, 0, 1_000_000),
    strat_max_alerts_per_hour: int("STRAT_MAX_ALERTS_PER_HOUR", 15, 0, 1_000_000),
    // Outcomes and reports.
    outcome_t1_pct: num("OUTCOME_T1_PCT", 0.5, 0.0, 100.0),
    outcome_t2_pct: num("OUTCOME_T2_PCT", 1.0, 0.0, 100.0),
    outcome_stop_pct: num("OUTCOME_STOP_PCT", 0.5, 0.0, 1.0),
    outcome_max_days: int("OUTCOME_MAX_DAYS", 5, 1, 365),
    outcomes_max_requests: int("OUTCOMES_MAX_REQUESTS", 20, 0, 1_000_000),
    performance_symbol_min_obs: int("PERFORMANCE_SYMBOL_MIN_OBS", 20, 1, 1_000_000),
    performance_symbol_min_win: num("PERFORMANCE_SYMBOL_MIN_WIN", 0.2, 0.0, 1.0),
}

impl Tunables {
    /// `<BOT>_COOLDOWN_SECONDS`.
    pub fn cooldown_seconds(&self, bot: Bot) -> i64 {
        match bot {
            Bot::OraklFlow => self.orakl_flow_cooldown_seconds,
            Bot::Sweeps => self.sweeps_cooldown_seconds,
            Bot::GoldenSweeps => self.golden_sweeps_cooldown_seconds,
            Bot::Bullseye => self.bullseye_cooldown_seconds,
            Bot::Scalps => self.scalps_cooldown_seconds,
            Bot::Darkpool => self.darkpool_cooldown_seconds,
            Bot::Breakouts => self.breakouts_cooldown_seconds,
            Bot::Strat => self.strat_cooldown_seconds,
        }
    }

    /// `<BOT>_MAX_ALERTS_PER_HOUR` (0: no budget).
    pub fn max_alerts_per_hour(&self, bot: Bot) -> i64 {
        match bot {
            Bot::OraklFlow => self.orakl_flow_max_alerts_per_hour,
            Bot::Sweeps => self.sweeps_max_alerts_per_hour,
            Bot::GoldenSweeps => self.golden_sweeps_max_alerts_per_hour,
            Bot::Bullseye => self.bullseye_max_alerts_per_hour,
            Bot::Scalps => self.scalps_max_alerts_per_hour,
            Bot::Darkpool => self.darkpool_max_alerts_per_hour,
            Bot::Breakouts => self.breakouts_max_alerts_per_hour,
            Bot::Strat => self.strat_max_alerts_per_hour,
        }
    }

    /// `<PREFIX>_MAX_DTE` of an options bot; stock bots read no chains.
    pub fn max_dte(&self, bot: Bot) -> Option<i64> {
        match bot {
            Bot::OraklFlow => Some(self.orakl_flow_max_dte),
            Bot::Sweeps => Some(self.sweeps_max_dte),
            Bot::GoldenSweeps => Some(self.golden_max_dte),
            Bot::Bullseye => Some(self.bullseye_max_dte),
            Bot::Scalps => Some(self.scalps_max_dte),
            Bot::Darkpool | Bot::Breakouts | Bot::Strat => None,
        }
    }
}

/// A whole number of seconds (validated non-negative) as a duration.
pub fn seconds(s: i64) -> std::time::Duration {
    std::time::Duration::from_secs(s.max(0) as u64)
}

/// Non-numeric variables the service reads (for the `.env` typo check).
const OTHER_VARS: &[&str] = &[
    "POLYGON_BASE_URL",
    "WATCHLIST",
    "WATCHLIST_FILE",
    "STATE_DB_PATH",
    "METRICS_FILE",
    "STRAT_TIMEFRAMES",
    "STRAT_PATTERNS",
    "SCALPS_PATTERNS",
    "ORAKL_LOG_FORMAT",
    "PRINTS_SCOPE",
    "RUST_LOG",
];

/// A webhook URL and the variable it came from (so an error names the
/// variable the user actually set, e.g. the `DISCORD_WEBHOOK_URL` fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSetting {
    pub var: &'static str,
    pub url: Secret,
}

/// Which prints the market-wide prints lane takes up (`PRINTS_SCOPE`): the
/// endpoint is read market-wide either way (one request covers it); the
/// scope says which underlyings' orders may alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintsScope {
    Watchlist,
    Market,
}

impl PrintsScope {
    pub fn as_str(self) -> &'static str {
        match self {
            PrintsScope::Watchlist => "watchlist",
            PrintsScope::Market => "market",
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub polygon_api_key: Option<Secret>,
    pub polygon_base_url: String,
    pub watchlist: Vec<String>,
    /// Where the watchlist came from, for `orakl check`.
    pub watchlist_source: String,
    /// `WATCHLIST_FILE`, which SIGHUP re-reads.
    pub watchlist_file: Option<PathBuf>,
    /// Webhook per family, after the `DISCORD_WEBHOOK_URL` fallback.
    pub webhooks: BTreeMap<Bot, WebhookSetting>,
    pub reports_webhook: Option<WebhookSetting>,
    pub state_db_path: PathBuf,
    pub metrics_file: Option<PathBuf>,
    /// `STRAT_TIMEFRAMES` as given (validated with the STRAT bot's parser).
    pub strat_timeframes: Option<String>,
    /// `STRAT_PATTERNS` as given (validated with the STRAT bot's parser).
    pub strat_patterns: Option<String>,
    /// `SCALPS_PATTERNS`, parsed (the Strat triggers a scalp may ride).
    pub scalps_patterns: Vec<crate::strat::Pattern>,
    /// Whether `SCALPS_PATTERNS` came from the environment.
    scalps_patterns_set: bool,
    pub log_format: LogFormat,
    /// `PRINTS_SCOPE`, default `watchlist`.
    pub prints_scope: PrintsScope,
    /// Every numeric setting, resolved and typed.
    pub tunables: Tunables,
    /// Every numeric setting by name, for `orakl check`.
    values: BTreeMap<&'static str, f64>,
    /// Names of settings whose value came from the environment.
    pub overridden: Vec<&'static str>,
}

impl Config {
    /// Validates the merged variables. Secrets are checked for presence and
    /// form here; webhook URL rules live with the Discord code.
    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

        let mut values = BTreeMap::new();
        let mut overridden = Vec::new();
        for s in SETTINGS {
            let v = match get(s.name) {
                Some(raw) => {
                    overridden.push(s.name);
                    parse_setting(s, raw)?
                }
                None => s.default,
            };
            values.insert(s.name, v);
        }
        check_ranges(&values)?;

        let polygon_base_url = get("POLYGON_BASE_URL").unwrap_or("https://api.polygon.io").trim_end_matches('/');
        check_base_url(polygon_base_url)?;

        let (watchlist, watchlist_source) = match (get("WATCHLIST"), get("WATCHLIST_FILE")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::var("WATCHLIST", "set WATCHLIST or WATCHLIST_FILE, not both"));
            }
            (Some(list), None) => {
                (parse_watchlist_items(list.split(',').map(|s| (0, s)), "WATCHLIST")?, "WATCHLIST".into())
            }
            (None, Some(file)) => (read_watchlist_file(Path::new(file))?, file.to_string()),
            (None, None) => (Vec::new(), "(none)".into()),
        };

        let setting = |var: &'static str| get(var).map(|u| WebhookSetting { var, url: Secret::new(u) });
        let fallback = setting("DISCORD_WEBHOOK_URL");
        let webhooks = Bot::ALL
            .into_iter()
            .filter_map(|b| setting(b.webhook_var()).or_else(|| fallback.clone()).map(|w| (b, w)))
            .collect();
        let reports_webhook = setting("REPORTS_WEBHOOK").or(fallback);

        let log_format = match get("ORAKL_LOG_FORMAT").unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(ConfigError::var("ORAKL_LOG_FORMAT", format!("`{other}` is not `text` or `json`"))),
        };

        let prints_scope = match get("PRINTS_SCOPE").unwrap_or("watchlist") {
            "watchlist" => PrintsScope::Watchlist,
            "market" => PrintsScope::Market,
            other => return Err(ConfigError::var("PRINTS_SCOPE", format!("`{other}` is not `watchlist` or `market`"))),
        };

        let scalps_patterns = match get("SCALPS_PATTERNS") {
            Some(v) => crate::bots::scalps::parse_patterns(v).map_err(|m| ConfigError::var("SCALPS_PATTERNS", m))?,
            None => crate::bots::scalps::DEFAULT_PATTERNS.to_vec(),
        };

        Ok(Config {
            polygon_api_key: get("POLYGON_API_KEY").map(Secret::new),
            polygon_base_url: polygon_base_url.to_string(),
            watchlist,
            watchlist_source,
            watchlist_file: get("WATCHLIST_FILE").map(PathBuf::from),
            webhooks,
            reports_webhook,
            state_db_path: PathBuf::from(get("STATE_DB_PATH").unwrap_or("state/bot_state.db")),
            metrics_file: get("METRICS_FILE").map(PathBuf::from),
            strat_timeframes: get("STRAT_TIMEFRAMES").map(str::to_string),
            strat_patterns: get("STRAT_PATTERNS").map(str::to_string),
            scalps_patterns,
            scalps_patterns_set: get("SCALPS_PATTERNS").is_some(),
            log_format,
            prints_scope,
            tunables: Tunables::resolve(&values),
            values,
            overridden,
        })
    }

    /// The resolved configuration as `KEY=value` lines, secrets redacted, for
    /// `orakl check`.
    pub fn describe(&self) -> Vec<String> {
        let redact = |s: Option<&Secret>| if s.is_some() { "<set, redacted>" } else { "<not set>" };
        let webhook = |w: Option<&WebhookSetting>| match w {
            Some(w) if w.var == "DISCORD_WEBHOOK_URL" => "<from DISCORD_WEBHOOK_URL, redacted>".to_string(),
            Some(_) => "<set, redacted>".to_string(),
            None => "<not set>".to_string(),
        };
        let mut out = vec![
            format!("POLYGON_API_KEY={}", redact(self.polygon_api_key.as_ref())),
            format!("POLYGON_BASE_URL={}", self.polygon_base_url),
            format!(
                "WATCHLIST ({}): {} symbols: {}",
                self.watchlist_source,
                self.watchlist.len(),
                self.watchlist.join(",")
            ),
            format!("STATE_DB_PATH={}", self.state_db_path.display()),
            format!(
                "METRICS_FILE={}",
                self.metrics_file.as_ref().map(|p| p.display().to_string()).unwrap_or("<not set>".into())
            ),
            format!("ORAKL_LOG_FORMAT={}", if self.log_format == LogFormat::Json { "json" } else { "text" }),
            format!("PRINTS_SCOPE={}", self.prints_scope.as_str()),
            format!(
                "SCALPS_PATTERNS={}{}",
                self.scalps_patterns.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(","),
                if self.scalps_patterns_set { "" } else { " (default)" }
            ),
        ];
        for b in Bot::ALL {
            out.push(format!("{}={}", b.webhook_var(), webhook(self.webhooks.get(&b))));
        }
        out.push(format!("REPORTS_WEBHOOK={}", webhook(self.reports_webhook.as_ref())));
        for s in SETTINGS {
            let Some(&v) = self.values.get(s.name) else { continue };
            let mark = if self.overridden.contains(&s.name) { "" } else { " (default)" };
            let shown = match s.kind {
                Kind::Bool => (v != 0.0).to_string(),
                Kind::Int { .. } => format!("{}", v as i64),
                Kind::Num { .. } => format!("{v}"),
                Kind::Time { .. } => hh_mm(v as i64),
            };
            out.push(format!("{}={shown}{mark}", s.name));
        }
        out
    }
}

fn parse_setting(s: &Setting, raw: &str) -> Result<f64, ConfigError> {
    match s.kind {
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(1.0),
            "0" | "false" | "no" | "off" => Ok(0.0),
            _ => Err(ConfigError::var(s.name, format!("`{raw}` is not a boolean (true/false)"))),
        },
        Kind::Int { min, max } => {
            let v: i64 = raw.parse().map_err(|_| ConfigError::var(s.name, format!("`{raw}` is not a whole number")))?;
            if v < min || v > max {
                return Err(ConfigError::var(s.name, format!("{v} is outside {min}..={max}")));
            }
            Ok(v as f64)
        }
        Kind::Num { min, max } => {
            let v: f64 = raw.parse().map_err(|_| ConfigError::var(s.name, format!("`{raw}` is not a number")))?;
            if !v.is_finite() || v < min || v > max {
                return Err(ConfigError::var(s.name, format!("{raw} is outside {min}..={max}")));
            }
            Ok(v)
        }
        Kind::Time { min, max } => {
            let not_a_time = || ConfigError::var(s.name, format!("`{raw}` is not a time of day (HH:MM, ET)"));
            let (h, m) = raw.trim().split_once(':').ok_or_else(not_a_time)?;
            if !(1..=2).contains(&h.len()) || m.len() != 2 {
                return Err(not_a_time());
            }
            let (h, m): (i64, i64) = (h.parse().map_err(|_| not_a_time())?, m.parse().map_err(|_| not_a_time())?);
            if !(0..24).contains(&h) || !(0..60).contains(&m) {
                return Err(not_a_time());
            }
            let v = h * 60 + m;
            if v < min || v > max {
                return Err(ConfigError::var(s.name, format!("{raw} is outside {}..={}", hh_mm(min), hh_mm(max))));
            }
            Ok(v as f64)
        }
    }
}

/// Pairs of settings that only make sense in order.
fn check_ranges(values: &BTreeMap<&'static str, f64>) -> Result<(), ConfigError> {
    for (lo, hi) in PAIRED {
        let (Some(l), Some(h)) = (values.get(lo), values.get(hi)) else { continue };
        if l > h {
            return Err(ConfigError::var(lo, format!("{l} is above {hi} ({h})")));
        }
    }
    Ok(())
}

/// Pairs of settings that only make sense in order (low, high).
const PAIRED: &[(&str, &str)] = &[
    ("ORAKL_FLOW_MIN_DTE", "ORAKL_FLOW_MAX_DTE"),
    ("SWEEPS_MIN_DTE", "SWEEPS_MAX_DTE"),
    ("GOLDEN_MIN_DTE", "GOLDEN_MAX_DTE"),
    ("BULLSEYE_MIN_DTE", "BULLSEYE_MAX_DTE"),
    ("SCALPS_MIN_DTE", "SCALPS_MAX_DTE"),
    ("BULLSEYE_DELTA_MIN", "BULLSEYE_DELTA_MAX"),
    ("OUTCOME_T1_PCT", "OUTCOME_T2_PCT"),
];

/// The API base URL carries the bearer key in its requests, so plain http is
/// accepted only to a loopback address (tests, a local proxy).
fn check_base_url(url: &str) -> Result<(), ConfigError> {
    let bad = |m: &str| Err(ConfigError::var("POLYGON_BASE_URL", format!("`{url}` {m}")));
    if let Some(rest) = url.strip_prefix("http://") {
        if !is_loopback_host(rest) {
            return bad("must use https (http is accepted only for a loopback address)");
        }
    } else if url.strip_prefix("https://").is_none_or(|h| h.is_empty()) {
        return bad("is not an https URL");
    }
    Ok(())
}

/// True when the authority at the start of `rest` (`host[:port][/...]`)
/// is a loopback address.
pub fn is_loopback_host(rest: &str) -> bool {
    crate::net::is_loopback_authority(rest.split(['/', '?', '#']).next().unwrap_or(""))
}

/// Normalises and checks symbols: upper case, letters/digits/`.`/`-`, at
/// most 12 characters (index tickers such as `I:SPX` allow one `:`), no
/// duplicates. `items` carries the line number (0 for a comma list).
fn parse_watchlist_items<'a>(
    items: impl Iterator<Item = (usize, &'a str)>,
    origin: &str,
) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for (line, raw) in items {
        let sym = raw.trim().to_ascii_uppercase();
        if sym.is_empty() {
            continue;
        }
        let where_ = if line > 0 { format!("{origin}:{line}") } else { origin.to_string() };
        let valid = sym.len() <= 12
            && sym.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
            && sym.chars().filter(|&c| c == ':').count() <= 1
            && sym.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        if !valid {
            return Err(ConfigError::var(&where_, format!("`{}` is not a ticker symbol", raw.trim())));
        }
        if !out.contains(&sym) {
            out.push(sym);
        }
    }
    Ok(out)
}

impl Config {
    /// The watchlist as `WATCHLIST_FILE` says now (SIGHUP); `None` when the
    /// watchlist comes from `WATCHLIST`, which only a restart changes.
    pub fn reread_watchlist(&self) -> Result<Option<Vec<String>>, ConfigError> {
        self.watchlist_file.as_deref().map(read_watchlist_file).transpose()
    }
}

fn read_watchlist_file(path: &Path) -> Result<Vec<String>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Path {
        path: path.display().to_string(),
        message: format!("WATCHLIST_FILE cannot be read: {e}"),
    })?;
    let origin = path.display().to_string();
    let items = without_bom(&text).lines().enumerate().map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("")));
    parse_watchlist_items(items, &origin)
}

/// Parses `.env` text: `KEY=VALUE` lines, optional `export `, `#` comments,
/// single or double quotes around the value.
pub fn parse_dotenv(path: &str, text: &str) -> Result<Vec<(String, String, usize)>, ConfigError> {
    let mut out = Vec::new();
    for (i, raw) in without_bom(text).lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let err = |m: &str| ConfigError::File { path: path.to_string(), line: line_no, message: m.to_string() };
        let (key, value) = line.split_once('=').ok_or_else(|| err("expected KEY=VALUE"))?;
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(err(&format!("`{key}` is not a variable name")));
        }
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &value[1..];
                let end = inner.find(q).ok_or_else(|| err("unterminated quote"))?;
                inner[..end].to_string()
            }
            // An unquoted value ends at a ` #` comment.
            _ => value.split(" #").next().unwrap_or("").trim().to_string(),
        };
        out.push((key.to_string(), value, line_no));
    }
    Ok(out)
}

/// Every variable the service reads: the numeric settings, the secrets and
/// the rest, sorted (for the `.env` typo check).
pub fn known_setting_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> =
        SETTINGS.iter().map(|s| s.name).chain(SECRET_VARS).chain(OTHER_VARS.iter().copied()).collect();
    names.sort_unstable();
    names
}

/// True for names the service reads (used to warn about typos in `.env`).
pub fn is_known_var(name: &str) -> bool {
    known_setting_names().binary_search(&name).is_ok()
}

/// The merged variables and where they came from.
#[derive(Debug, Default)]
pub struct Sources {
    pub vars: BTreeMap<String, String>,
    /// Unknown `.env` keys, to log (`event=config_unknown_var`) once
    /// logging is set up.
    pub warnings: Vec<crate::logging::Fields>,
}

impl Sources {
    /// Gathers variables: the `.env` file (if given, or `./.env` if it
    /// exists), then the process environment over it, then systemd
    /// credentials over both (`$CREDENTIALS_DIRECTORY/<var in lower case>`).
    pub fn load(env_file: Option<&Path>) -> Result<Sources, ConfigError> {
        let process: BTreeMap<String, String> = std::env::vars().collect();
        let dotenv = match env_file {
            Some(p) => Some(read_file(p)?),
            None => {
                let p = Path::new(".env");
                if p.is_file() { Some(read_file(p)?) } else { None }
            }
        };
        let creds = process.get("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        Self::merge(dotenv, process, creds.as_deref())
    }

    fn merge(
        dotenv: Option<(String, String)>,
        process: BTreeMap<String, String>,
        creds: Option<&Path>,
    ) -> Result<Sources, ConfigError> {
        let mut s = Sources::default();
        if let Some((path, text)) = dotenv {
            for (k, v, line) in parse_dotenv(&path, &text)? {
                if !is_known_var(&k) {
                    let w = crate::logging::Fields::new().text("file", &path).int("line", line).text("var", &k);
                    s.warnings.push(w);
                }
                s.vars.insert(k, v);
            }
        }
        s.vars.extend(process);
        if let Some(dir) = creds {
            for var in SECRET_VARS {
                let file = dir.join(var.to_ascii_lowercase());
                if file.is_file() {
                    let value = std::fs::read_to_string(&file).map_err(|e| ConfigError::Path {
                        path: file.display().to_string(),
                        message: format!("credential cannot be read: {e}"),
                    })?;
                    s.vars.insert(var.to_string(), value.trim().to_string());
                }
            }
        }
        Ok(s)
    }
}

fn read_file(p: &Path) -> Result<(String, String), ConfigError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| ConfigError::Path { path: p.display().to_string(), message: format!("cannot be read: {e}") })?;
    Ok((p.display().to_string(), text))
}

/// Every variable name the service reads (settings, secrets and the rest),
/// for the check that catches misspelled ones.
pub fn known_vars() -> Vec<&'static str> {
    SETTINGS.iter().map(|s| s.name).chain(SECRET_VARS).chain(OTHER_VARS.iter().copied()).collect()
}

/// `text` without a leading byte-order mark. Some Windows editors start a
/// UTF-8 file with one; it is invisible, so `.env`, the watchlist file and
/// `schedule.cron` all ignore it rather than report a name that looks right.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// `expected` is the error text, or "" for success.
    fn check(pairs: &[(&str, &str)], expected: &str) {
        let got = match Config::from_vars(&vars(pairs)) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expected, "for {pairs:?}");
    }

    #[test]
    fn validation_names_the_variable() {
        check(&[], "");
        check(&[("POLYGON_RATE_LIMIT", "fast")], "POLYGON_RATE_LIMIT: `fast` is not a whole number");
        check(&[("POLYGON_RATE_LIMIT", "0")], "POLYGON_RATE_LIMIT: 0 is outside 1..=1000");
        check(&[("MIN_PREMIUM", "-5")], "MIN_PREMIUM: -5 is outside 0..=1000000000000");
        check(&[("MIN_PREMIUM", "NaN")], "MIN_PREMIUM: NaN is outside 0..=1000000000000");
        check(&[("MAX_SPREAD_PCT", "0.3")], "");
        check(
            &[("SWEEPS_CONFIRM_WITH_TRADES", "maybe")],
            "SWEEPS_CONFIRM_WITH_TRADES: `maybe` is not a boolean (true/false)",
        );
        check(&[("GOLDEN_MIN_DTE", "200")], "GOLDEN_MIN_DTE: 200 is above GOLDEN_MAX_DTE (180)");
        check(&[("SWEEPS_MIN_EXCHANGES", "0")], "SWEEPS_MIN_EXCHANGES: 0 is outside 1..=16");
        check(&[("SWEEPS_MIN_EXCHANGES", "17")], "SWEEPS_MIN_EXCHANGES: 17 is outside 1..=16");
        check(&[("SWEEPS_MIN_EXCHANGES", "16")], "");
        check(
            &[("WATCHLIST", "SPY,QQQ"), ("WATCHLIST_FILE", "x")],
            "WATCHLIST: set WATCHLIST or WATCHLIST_FILE, not both",
        );
        check(&[("WATCHLIST", "SPY,QQ Q")], "WATCHLIST: `QQ Q` is not a ticker symbol");
        check(
            &[("POLYGON_BASE_URL", "http://api.polygon.io")],
            "POLYGON_BASE_URL: `http://api.polygon.io` must use https (http is accepted only for a loopback address)",
        );
        check(&[("POLYGON_BASE_URL", "http://127.0.0.1:8080")], "");
        check(&[("POLYGON_BASE_URL", "ftp://x")], "POLYGON_BASE_URL: `ftp://x` is not an https URL");
        check(&[("ORAKL_LOG_FORMAT", "xml")], "ORAKL_LOG_FORMAT: `xml` is not `text` or `json`");
        check(&[("PRINTS_SCOPE", "world")], "PRINTS_SCOPE: `world` is not `watchlist` or `market`");
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(c.tunables.golden_min_premium, 1_000_000.0);
        assert_eq!(c.tunables.polygon_rate_limit, 5);
        assert_eq!(c.tunables.cooldown_seconds(Bot::GoldenSweeps), 900);
        assert!(c.tunables.sweeps_confirm_with_trades);
        // Sweeps and Golden Sweeps post sweeps: ISO prints on two exchanges
        // or more, confirmed (README, "Sweeps").
        assert!(c.tunables.sweeps_require_iso);
        assert_eq!((c.tunables.sweeps_min_exchanges, c.tunables.sweeps_max_confirmations), (2, 8));
        assert_eq!(c.state_db_path, PathBuf::from("state/bot_state.db"));
    }

    /// Every line of the table is read from the environment into its own
    /// field: each setting in turn is set to a value other than its default
    /// and must arrive there (a line whose name or field was mistyped, or
    /// a field resolved from another line, fails).
    #[test]
    fn every_setting_reaches_its_field() {
        let defaults = Config::from_vars(&vars(&[])).unwrap().tunables;
        for s in SETTINGS {
            let value = match s.kind {
                Kind::Bool => {
                    if s.default == 0.0 {
                        1.0
                    } else {
                        0.0
                    }
                }
                Kind::Int { min, max } => {
                    if s.default as i64 == max {
                        min as f64
                    } else {
                        max as f64
                    }
                }
                Kind::Num { min, max } => {
                    if s.default == max {
                        min
                    } else {
                        max
                    }
                }
                Kind::Time { min, max } => {
                    if s.default as i64 == max {
                        min as f64
                    } else {
                        max as f64
                    }
                }
            };
            // A time of day is written HH:MM.
            let raw = |name: &str, v: f64| match SETTINGS.iter().find(|t| t.name == name).map(|t| t.kind) {
                Some(Kind::Time { .. }) => hh_mm(v as i64),
                _ => v.to_string(),
            };
            // Paired settings must stay ordered: move the partner along.
            let partner = PAIRED.iter().find_map(|(lo, hi)| {
                if *lo == s.name {
                    Some((*hi, value))
                } else if *hi == s.name {
                    Some((*lo, value))
                } else {
                    None
                }
            });
            let mut pairs = vec![(s.name.to_string(), raw(s.name, value))];
            if let Some((p, v)) = partner {
                pairs.push((p.to_string(), raw(p, v)));
            }
            let c = Config::from_vars(&pairs.into_iter().collect()).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(c.tunables.by_name(s.name), Some(value), "{}", s.name);
            assert_ne!(c.tunables, defaults, "{} changed no field", s.name);
        }
        // The cooldown of every family is a setting of its own.
        let all: Vec<i64> = Bot::ALL
            .iter()
            .map(|b| {
                let name = format!("{}_COOLDOWN_SECONDS", b.as_str().to_ascii_uppercase());
                let c = Config::from_vars(&vars(&[(&name, "7")])).unwrap();
                c.tunables.cooldown_seconds(*b)
            })
            .collect();
        assert_eq!(all, [7; 8]);
        assert!(known_setting_names().windows(2).all(|w| w[0] < w[1]), "names are unique");
    }

    #[test]
    fn times_of_day_are_hh_mm_in_range() {
        let cutoff =
            |raw: &str| Config::from_vars(&vars(&[("SCALPS_EOD_CUTOFF", raw)])).map(|c| c.tunables.scalps_eod_cutoff);
        assert_eq!(Config::from_vars(&vars(&[])).unwrap().tunables.scalps_eod_cutoff, 15 * 60 + 45);
        assert_eq!(cutoff("15:30"), Ok(930));
        assert_eq!(cutoff("9:05"), Ok(545));
        assert_eq!(cutoff("00:00"), Ok(0));
        assert_eq!(cutoff("23:59"), Ok(1439));
        for bad in ["24:00", "15:60", "15:5", "1545", "15:45:00", "ab:cd", "-1:30", "115:00"] {
            let want = format!("SCALPS_EOD_CUTOFF: `{bad}` is not a time of day (HH:MM, ET)");
            assert_eq!(cutoff(bad).map_err(|e| e.to_string()), Err(want));
        }
        let c = Config::from_vars(&vars(&[("SCALPS_EOD_CUTOFF", "09:30")])).unwrap();
        assert!(c.describe().contains(&"SCALPS_EOD_CUTOFF=09:30".to_string()));
        assert!(
            Config::from_vars(&vars(&[]))
                .unwrap()
                .describe()
                .contains(&"SCALPS_EOD_CUTOFF=15:45 (default)".to_string())
        );
    }

    #[test]
    fn watchlist_is_normalised_and_deduplicated() {
        let c = Config::from_vars(&vars(&[("WATCHLIST", " spy, QQQ ,spy,,brk.b")])).unwrap();
        assert_eq!(c.watchlist, ["SPY", "QQQ", "BRK.B"]);
    }

    #[test]
    fn webhooks_fall_back_to_the_default_and_stay_secret() {
        let c = Config::from_vars(&vars(&[
            ("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/CANARY"),
            ("SWEEPS_WEBHOOK", "https://discord.com/api/webhooks/2/CANARY2"),
            ("POLYGON_API_KEY", "CANARY-KEY"),
        ]))
        .unwrap();
        assert_eq!(c.webhooks[&Bot::Sweeps].url.expose(), "https://discord.com/api/webhooks/2/CANARY2");
        assert_eq!(c.webhooks[&Bot::Sweeps].var, "SWEEPS_WEBHOOK");
        assert_eq!(c.webhooks[&Bot::Strat].url.expose(), "https://discord.com/api/webhooks/1/CANARY");
        assert_eq!(c.webhooks[&Bot::Strat].var, "DISCORD_WEBHOOK_URL");
        let shown = format!("{:?}\n{}", c, c.describe().join("\n"));
        assert!(!shown.contains("CANARY"), "{shown}");
    }

    #[test]
    fn dotenv_lines() {
        let text = "# comment\nexport A=1\nB = \"two words\" \nC='x#y'\nD=plain # trailing\n\n";
        let got = parse_dotenv(".env", text).unwrap();
        let kv: Vec<(&str, &str)> = got.iter().map(|(k, v, _)| (k.as_str(), v.as_str())).collect();
        assert_eq!(kv, [("A", "1"), ("B", "two words"), ("C", "x#y"), ("D", "plain")]);
        assert_eq!(parse_dotenv(".env", "A=1\nnonsense\n").unwrap_err().to_string(), ".env:2: expected KEY=VALUE");
        assert_eq!(parse_dotenv(".env", "A=\"open\n").unwrap_err().to_string(), ".env:1: unterminated quote");
    }

    #[test]
    fn credentials_override_the_environment() {
        let dir = std::env::temp_dir().join(format!("orakl-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("polygon_api_key"), "from-credential\n").unwrap();
        let process = vars(&[("POLYGON_API_KEY", "from-env")]);
        let dotenv = Some((".env".to_string(), "POLYGON_API_KEY=from-dotenv\nTYPO_VAR=1\n".to_string()));
        let s = Sources::merge(dotenv, process, Some(&dir)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(s.vars["POLYGON_API_KEY"], "from-credential");
        let warnings: Vec<String> = s.warnings.iter().map(crate::logging::Fields::to_text).collect();
        assert_eq!(warnings, ["file=.env line=2 var=TYPO_VAR"]);
    }

    #[test]
    fn loopback_hosts() {
        for (h, want) in [
            ("127.0.0.1:80/x", true),
            ("localhost", true),
            ("[::1]:9000", true),
            ("127.5.5.5", true),
            ("10.0.0.1", false),
            ("example.com", false),
            ("localhost.evil.com", false),
        ] {
            assert_eq!(is_loopback_host(h), want, "{h}");
        }
    }
}
