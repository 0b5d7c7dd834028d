//! The one cooldown policy (SPEC §6), for all eight families.
//!
//! - The key: per contract for the options families; per symbol and
//!   direction (or setup) for the stock families: Darkpool per symbol (a
//!   dark print has no direction), Breakouts per symbol and direction,
//!   STRAT per symbol and timeframe.
//! - The length: `<BOT>_COOLDOWN_SECONDS` from the moment of the alert.
//! - The override: inside the cooldown only an event at least twice as large
//!   as the alerted one breaks through (the same flow continuing is noise, a
//!   doubling is news). "Large" is the premium for the options families and
//!   the notional for Darkpool; Breakouts and STRAT alerts carry no dollar
//!   size, so their cooldowns cannot be broken, only waited out.
//!
//! The cooldown itself lives in the store (a restart must not re-alert); the
//! engine asks for it ([`super::Need::Cooldown`]) and decides here.

use chrono::{DateTime, Utc};

use crate::job::Bot;

/// A family's cooldown on one key, as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cooldown {
    /// The cooldown is over at this instant.
    pub until: DateTime<Utc>,
    /// The size of the alert that set it (None: no override possible).
    pub size: Option<f64>,
}

/// The cooldown an alert sets, committed with it in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct SetCooldown {
    pub key: String,
    pub until: DateTime<Utc>,
    pub size: Option<f64>,
}

/// `<BOT>_COOLDOWN_SECONDS` for each family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CooldownPolicy {
    seconds: [i64; 8],
}

fn slot(bot: Bot) -> usize {
    Bot::ALL.iter().position(|b| *b == bot).unwrap_or(0)
}

impl CooldownPolicy {
    /// The policy with each family's length, in seconds.
    pub fn new(seconds_of: impl Fn(Bot) -> i64) -> Self {
        CooldownPolicy { seconds: Bot::ALL.map(seconds_of) }
    }

    /// Whether an event of `size` may alert, given the stored cooldown.
    pub fn allows(existing: Option<&Cooldown>, now: DateTime<Utc>, size: Option<f64>) -> bool {
        match existing {
            None => true,
            Some(c) if now >= c.until => true,
            Some(c) => match (c.size, size) {
                (Some(alerted), Some(size)) => size >= 2.0 * alerted,
                _ => false,
            },
        }
    }

    /// The cooldown `bot`'s alert of `size` on `key` sets at `now`.
    pub fn set(&self, bot: Bot, key: &str, size: Option<f64>, now: DateTime<Utc>) -> SetCooldown {
        SetCooldown { key: key.to_string(), until: now + chrono::Duration::seconds(self.seconds[slot(bot)]), size }
    }

    /// The key of a stock family's cooldown: the symbol, and the direction
    /// or setup when the family has one.
    pub fn stock_key(symbol: &str, setup: Option<&str>) -> String {
        match setup {
            Some(s) => format!("{symbol}:{s}"),
            None => symbol.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn cooldown_table() {
        let until = at("2025-10-22T14:45:00Z");
        let inside = at("2025-10-22T14:40:00Z");
        let alerted = Some(Cooldown { until, size: Some(100_000.0) });
        let no_size = Some(Cooldown { until, size: None });
        // (cooldown, now, size, allowed)
        let cases = [
            (None, inside, Some(1.0), true),
            (None, inside, None, true),
            (alerted, inside, Some(190_000.0), false),
            (alerted, inside, Some(199_999.0), false),
            (alerted, inside, Some(200_000.0), true),
            (alerted, inside, Some(250_000.0), true),
            (alerted, inside, None, false),
            (alerted, until, Some(1.0), true),
            (alerted, at("2025-10-22T14:50:00Z"), Some(1.0), true),
            (no_size, inside, Some(1e12), false),
            (no_size, inside, None, false),
            (no_size, until, Some(0.0), true),
            (alerted, inside, Some(f64::NAN), false),
        ];
        for (i, (c, now, size, want)) in cases.into_iter().enumerate() {
            assert_eq!(CooldownPolicy::allows(c.as_ref(), now, size), want, "case {i}");
        }
    }

    #[test]
    fn each_family_has_its_own_length_and_keys_follow_the_family() {
        let policy = CooldownPolicy::new(|b| 60 * (slot(b) as i64 + 1));
        let now = at("2025-10-22T14:00:00Z");
        for (i, bot) in Bot::ALL.into_iter().enumerate() {
            let set = policy.set(bot, "K", Some(1.0), now);
            assert_eq!((set.until - now).num_seconds(), 60 * (i as i64 + 1), "{bot}");
        }
        assert_eq!(CooldownPolicy::stock_key("SPY", None), "SPY");
        assert_eq!(CooldownPolicy::stock_key("SPY", Some("up")), "SPY:up");
    }
}
