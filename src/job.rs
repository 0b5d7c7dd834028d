//! The names of the jobs a timetable line may run, and the alert families.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every job `schedule.cron` may name. The timetable is the feature-flag
/// list: a job without a line never runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobName {
    Bot(Bot),
    Outcomes,
    OiConfirm,
    WeeklyReport,
    Heartbeat,
    /// Drops old run records, processing errors and expired cooldowns.
    Prune,
    /// The market-wide prints lane (SPEC §14): unusual option trades from
    /// the tape, grouped into orders for Sweeps and Golden Sweeps.
    MarketPrints,
}

impl JobName {
    pub const ALL: [JobName; 14] = [
        JobName::Bot(Bot::OraklFlow),
        JobName::Bot(Bot::Sweeps),
        JobName::Bot(Bot::GoldenSweeps),
        JobName::Bot(Bot::Bullseye),
        JobName::Bot(Bot::Scalps),
        JobName::Bot(Bot::Darkpool),
        JobName::Bot(Bot::Breakouts),
        JobName::Bot(Bot::Strat),
        JobName::Outcomes,
        JobName::OiConfirm,
        JobName::WeeklyReport,
        JobName::Heartbeat,
        JobName::Prune,
        JobName::MarketPrints,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobName::Bot(b) => b.as_str(),
            JobName::Outcomes => "outcomes",
            JobName::OiConfirm => "oi_confirm",
            JobName::WeeklyReport => "weekly_report",
            JobName::Heartbeat => "heartbeat",
            JobName::Prune => "prune",
            JobName::MarketPrints => "market_prints",
        }
    }
}

/// A log field's value: the name as text (`bot=sweeps`, `BOT=sweeps` in
/// the journal).
impl log::kv::ToValue for JobName {
    fn to_value(&self) -> log::kv::Value<'_> {
        log::kv::Value::from(self.as_str())
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobName::ALL.into_iter().find(|j| j.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = JobName::ALL.iter().map(|j| j.as_str()).collect();
            format!("unknown job `{s}` (known: {})", known.join(", "))
        })
    }
}

/// The eight alert families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bot {
    OraklFlow,
    Sweeps,
    GoldenSweeps,
    Bullseye,
    Scalps,
    Darkpool,
    Breakouts,
    Strat,
}

impl Bot {
    pub const ALL: [Bot; 8] = [
        Bot::OraklFlow,
        Bot::Sweeps,
        Bot::GoldenSweeps,
        Bot::Bullseye,
        Bot::Scalps,
        Bot::Darkpool,
        Bot::Breakouts,
        Bot::Strat,
    ];

    /// The job name, also used in logs, JSONL and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Bot::OraklFlow => "orakl_flow",
            Bot::Sweeps => "sweeps",
            Bot::GoldenSweeps => "golden_sweeps",
            Bot::Bullseye => "bullseye",
            Bot::Scalps => "scalps",
            Bot::Darkpool => "darkpool",
            Bot::Breakouts => "breakouts",
            Bot::Strat => "strat",
        }
    }

    /// The family's name as a trader reads it in Discord.
    pub fn display_name(self) -> &'static str {
        match self {
            Bot::OraklFlow => "ORAKL Flow",
            Bot::Sweeps => "Sweeps",
            Bot::GoldenSweeps => "Golden Sweeps",
            Bot::Bullseye => "Bullseye",
            Bot::Scalps => "Scalps",
            Bot::Darkpool => "Darkpool",
            Bot::Breakouts => "Breakouts",
            Bot::Strat => "STRAT",
        }
    }

    /// The environment variable holding this family's webhook URL.
    pub fn webhook_var(self) -> &'static str {
        match self {
            Bot::OraklFlow => "ORAKL_FLOW_WEBHOOK",
            Bot::Sweeps => "SWEEPS_WEBHOOK",
            Bot::GoldenSweeps => "GOLDEN_SWEEPS_WEBHOOK",
            Bot::Bullseye => "BULLSEYE_WEBHOOK",
            Bot::Scalps => "SCALPS_WEBHOOK",
            Bot::Darkpool => "DARKPOOL_WEBHOOK",
            Bot::Breakouts => "BREAKOUTS_WEBHOOK",
            Bot::Strat => "STRAT_WEBHOOK",
        }
    }

    /// Options bots read option chains; the others read stock data.
    pub fn is_options(self) -> bool {
        matches!(self, Bot::OraklFlow | Bot::Sweeps | Bot::GoldenSweeps | Bot::Bullseye | Bot::Scalps)
    }
}

/// A log field's value: the name as text (`bot=sweeps`, `BOT=sweeps` in
/// the journal).
impl log::kv::ToValue for Bot {
    fn to_value(&self) -> log::kv::Value<'_> {
        log::kv::Value::from(self.as_str())
    }
}

impl fmt::Display for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Bot {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Bot::ALL.into_iter().find(|b| b.as_str() == s).ok_or_else(|| format!("unknown bot `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for j in JobName::ALL {
            assert_eq!(j.as_str().parse::<JobName>().unwrap(), j);
        }
        for b in Bot::ALL {
            assert_eq!(b.as_str().parse::<Bot>().unwrap(), b);
        }
        assert!("sweep".parse::<JobName>().unwrap_err().contains("unknown job `sweep`"));
    }
}
