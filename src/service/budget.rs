//! The per-family hourly alert budget (`<BOT>_MAX_ALERTS_PER_HOUR`, 0 = no
//! budget): a safety valve against a rule gone wrong or a market gone wild,
//! not the way alert volume is kept down (that is the rules' work).
//!
//! How "the highest-scoring alerts are kept" works without holding alerts
//! back for an hour: a symbol's new alerts of a budgeted family are held
//! until its task ends (one chain scan: holding them longer would widen
//! the window in which a kill loses a decided alert), then ranked by score (an alert without a score
//! ranks last; ties keep their order) and committed while the clock hour
//! (an ET hour; New York's offsets are whole hours) has room. Earlier
//! firings of the hour are never taken back, so within an hour it is first
//! come, and within a symbol's scan the best first. The alerts already in the hour
//! are counted from the store, so a restart does not refill the budget.
//! What does not fit is suppressed: one `info` line each, counted per
//! family since start for `status` and the metrics.
//!
//! While alerts are held, a later one under the same cooldown key is
//! judged against the held one's cooldown, exactly as it would have been
//! against the stored one.

use std::collections::BTreeMap;

use chrono::{DateTime, Timelike, Utc};

use crate::config::Tunables;
use crate::engine::{Commit, Cooldown, CooldownPolicy};
use crate::job::Bot;

#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// The families with a budget, and its size.
    limits: BTreeMap<Bot, usize>,
    /// Alerts suppressed by the budget since start, per family.
    suppressed: BTreeMap<Bot, u64>,
}

impl Budget {
    pub fn new(t: &Tunables) -> Budget {
        let limits = Bot::ALL
            .into_iter()
            .filter_map(|b| usize::try_from(t.max_alerts_per_hour(b)).ok().filter(|n| *n > 0).map(|n| (b, n)))
            .collect();
        Budget { limits, suppressed: BTreeMap::new() }
    }

    /// Whether `bot`'s alerts go through the budget.
    pub fn applies(&self, bot: Bot) -> bool {
        self.limits.contains_key(&bot)
    }

    /// Splits a scan's held alerts of `bot` into those the hour has room
    /// for (`used` alerts are in it already), the highest scores first, in
    /// their original order, and the rest, which are counted.
    pub fn admit(&mut self, bot: Bot, used: u64, held: Vec<Commit>) -> (Vec<Commit>, Vec<Commit>) {
        let Some(&limit) = self.limits.get(&bot) else { return (held, Vec::new()) };
        let room = (limit as u64).saturating_sub(used) as usize;
        if held.len() <= room {
            return (held, Vec::new());
        }
        let mut ranked: Vec<(usize, Commit)> = held.into_iter().enumerate().collect();
        let score = |c: &Commit| c.alert.score.filter(|s| s.is_finite()).unwrap_or(f64::NEG_INFINITY);
        ranked.sort_by(|(i, a), (j, b)| score(b).total_cmp(&score(a)).then(i.cmp(j)));
        let mut rest = ranked.split_off(room);
        ranked.sort_by_key(|(i, _)| *i);
        rest.sort_by_key(|(i, _)| *i);
        *self.suppressed.entry(bot).or_default() += rest.len() as u64;
        (ranked.into_iter().map(|(_, c)| c).collect(), rest.into_iter().map(|(_, c)| c).collect())
    }

    /// Alerts suppressed by the budget since start, by family name.
    pub fn suppressed(&self) -> BTreeMap<String, u64> {
        self.suppressed.iter().map(|(b, n)| (b.as_str().to_string(), *n)).collect()
    }
}

/// The start of the clock hour of `now`.
pub fn hour_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now.with_nanosecond(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_minute(0)).unwrap_or(now)
}

/// Whether `c` may join the held alerts: a held alert under the same
/// cooldown key holds it back unless the stored policy's override lets it
/// through, as the stored cooldown would once the held one is committed.
pub fn cooldown_allows(held: &[Commit], c: &Commit, now: DateTime<Utc>) -> bool {
    held.iter().filter(|h| h.bot == c.bot && h.cooldown.key == c.cooldown.key).all(|h| {
        let cd = Cooldown { until: h.cooldown.until, size: h.cooldown.size };
        CooldownPolicy::allows(Some(&cd), now, c.cooldown.size)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::engine::SetCooldown;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 9, h, m, s).unwrap()
    }

    fn commit(id: &str, score: Option<f64>, key: &str, size: Option<f64>) -> Commit {
        let mut alert = Alert::new(id.to_string(), Bot::Scalps, t(14, 0, 0), "SPY");
        alert.score = score;
        let cooldown = SetCooldown { key: key.to_string(), until: t(14, 15, 0), size };
        Commit { bot: Bot::Scalps, alert, cooldown, plan: None, episode: None }
    }

    fn budget(scalps: i64) -> Budget {
        let vars = BTreeMap::from([("SCALPS_MAX_ALERTS_PER_HOUR".to_string(), scalps.to_string())]);
        Budget::new(&crate::config::Config::from_vars(&vars).unwrap().tunables)
    }

    fn ids(v: &[Commit]) -> Vec<&str> {
        v.iter().map(|c| c.alert.id.as_str()).collect()
    }

    #[test]
    fn keeps_the_highest_scores_of_a_firing_in_their_order() {
        let held = || {
            vec![
                commit("a", Some(60.0), "a", None),
                commit("b", None, "b", None),
                commit("c", Some(90.0), "c", None),
                commit("d", Some(60.0), "d", None),
                commit("e", Some(f64::NAN), "e", None),
            ]
        };
        // (budget, used this hour, kept, suppressed)
        let cases: [(i64, u64, &[&str], &[&str]); 6] = [
            (10, 0, &["a", "b", "c", "d", "e"], &[]),
            (5, 0, &["a", "b", "c", "d", "e"], &[]),
            (5, 2, &["a", "c", "d"], &["b", "e"]),
            (5, 4, &["c"], &["a", "b", "d", "e"]),
            (5, 9, &[], &["a", "b", "c", "d", "e"]),
            // 0 is no budget.
            (0, 1_000, &["a", "b", "c", "d", "e"], &[]),
        ];
        for (limit, used, kept, dropped) in cases {
            let mut b = budget(limit);
            let (k, d) = b.admit(Bot::Scalps, used, held());
            assert_eq!((ids(&k).as_slice(), ids(&d).as_slice()), (kept, dropped), "limit={limit} used={used}");
            let counted = b.suppressed().get("scalps").copied().unwrap_or(0);
            assert_eq!(counted, dropped.len() as u64);
        }
        assert!(budget(5).applies(Bot::Scalps) && !budget(0).applies(Bot::Scalps));
        // Another family keeps its default budget.
        assert!(budget(0).applies(Bot::Sweeps));
    }

    #[test]
    fn the_hour_starts_on_the_hour() {
        assert_eq!(hour_start(t(14, 59, 59)), t(14, 0, 0));
        assert_eq!(hour_start(t(15, 0, 0)), t(15, 0, 0));
    }

    #[test]
    fn a_held_alert_holds_its_cooldown_key() {
        let held = vec![commit("a", Some(60.0), "O:X", Some(10_000.0))];
        let now = t(14, 0, 10);
        // (key, size, may join)
        for (key, size, want) in [
            ("O:X", Some(15_000.0), false),
            ("O:X", Some(20_000.0), true),
            ("O:X", None, false),
            ("O:Y", Some(1.0), true),
        ] {
            assert_eq!(cooldown_allows(&held, &commit("b", None, key, size), now), want, "{key} {size:?}");
        }
        assert!(cooldown_allows(&held, &commit("b", None, "O:X", Some(1.0)), t(14, 15, 0)), "the cooldown ended");
    }
}
