//! One alert per move (SPEC §6): the episode book.
//!
//! An episode is a family, an underlying and a direction (for Scalps and
//! STRAT also the setup), open while hits keep coming: a hit no more than
//! `EPISODE_MINUTES` after the episode's last hit joins it. The first hit
//! posts a message; a later hit joins the episode and the posted message is
//! edited to show the hits, the summed premium and the top contracts; a new
//! message goes out only on escalation, when the summed premium reaches at
//! least twice what the last message reported and that message is at least
//! `EPISODE_ESCALATION_MINUTES` old (a new setup is a new episode of its
//! own, so it posts too). Without the wait a move whose flow grows quickly
//! posted once per doubling: five messages for one QQQ scalp in 90 seconds,
//! each saying what the edits of the first would have said.
//!
//! The key's direction, setup and size are the ones `orakl evaluate` judges
//! fan-out by ([`direction`], [`setup`], [`size`]), so an episode folds
//! exactly the alerts the scorecard would count as repeats of one move.
//!
//! The book is engine state; the shell persists each episode with the hit
//! that changed it (a restart restores the open ones) and tells the book to
//! forget an episode whose commit did not happen.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Sentiment, fmt_money};
use crate::job::Bot;

/// A summed premium at least this multiple of what the last message
/// reported is an escalation: a new message rather than an edit (the
/// scorecard's fan-out rule uses the same multiple).
pub const ESCALATION_MULTIPLE: f64 = 2.0;
/// Contracts an episode keeps summed premiums for (the largest stay).
const CONTRACTS_KEPT: usize = 25;
/// An episode is dropped from memory this long after it closed: longer
/// than one family's hit can come after another's later-timed one (an
/// alert's time is its chain snapshot's, taken before the firing that
/// decides it).
pub const FORGET_AFTER_MINUTES: i64 = 120;
/// Contracts an update shows.
pub const TOP_CONTRACTS_SHOWN: usize = 3;

/// `Some(true)` bullish, `Some(false)` bearish, `None` neutral: the
/// sentiment, and for a neutral alert with a plan the plan's direction
/// (long when its first target is above the entry).
pub fn direction(a: &Alert) -> Option<bool> {
    match a.sentiment {
        Sentiment::Bullish => Some(true),
        Sentiment::Bearish => Some(false),
        Sentiment::Neutral => {
            let (entry, stop, target) = (a.entry?, a.stop?, *a.targets.as_ref()?.first()?);
            Some(crate::alert::Plan::shape(entry, stop, target).0)
        }
    }
}

/// What an escalation is measured on: the premium, else a dark print's
/// notional.
pub fn size(a: &Alert) -> Option<f64> {
    a.premium.or(a.notional)
}

/// For Scalps and STRAT, the setup: the pattern and the setup bar's levels
/// (stop, first target). Other families have none.
pub fn setup(a: &Alert) -> Option<String> {
    matches!(a.bot, Bot::Scalps | Bot::Strat).then(|| {
        let num = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| x.to_string());
        let target = a.targets.as_ref().and_then(|t| t.first()).copied();
        format!("{} stop {} target {}", a.pattern.as_deref().unwrap_or("-"), num(a.stop), num(target))
    })
}

/// The episode an alert belongs to, as stored: underlying, direction and
/// (Scalps, STRAT) setup; the family is stored beside it.
pub fn key(a: &Alert) -> String {
    let dir = match direction(a) {
        Some(true) => "bullish",
        Some(false) => "bearish",
        None => "neutral",
    };
    match setup(a) {
        Some(s) => format!("{} {dir} {s}", a.ticker),
        None => format!("{} {dir}", a.ticker),
    }
}

/// A contract of an episode and the premium its hits summed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopContract {
    /// The option contract, or the underlying for a stock family.
    pub contract: String,
    pub premium: f64,
    pub hits: u32,
}

/// One episode's state: what the book decides from and what the store keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub bot: Bot,
    pub key: String,
    pub ticker: String,
    pub opened_at: DateTime<Utc>,
    pub last_hit_at: DateTime<Utc>,
    /// The message updates edit: the episode's latest post.
    pub post_id: String,
    pub hits: u32,
    /// Summed premium (a dark print's notional) of every hit; None when a
    /// hit carried none.
    pub total: Option<f64>,
    /// What the latest message reported (the post's premium, or the summed
    /// premium of an escalation).
    pub posted: Option<f64>,
    /// When the latest message's hit was seen (None for an episode stored
    /// before this was kept: no wait is owed).
    #[serde(default)]
    pub posted_at: Option<DateTime<Utc>>,
    /// Per contract, largest summed premium first (at most [`CONTRACTS_KEPT`]).
    pub contracts: Vec<TopContract>,
}

impl Episode {
    fn open(a: &Alert) -> Episode {
        let mut e = Episode {
            bot: a.bot,
            key: key(a),
            ticker: a.ticker.clone(),
            opened_at: a.at,
            last_hit_at: a.at,
            post_id: a.id.clone(),
            hits: 0,
            total: size(a),
            posted: size(a),
            posted_at: Some(a.at),
            contracts: Vec::new(),
        };
        e.count(a);
        e
    }

    /// Counts the hit `a` into the hits and its contract's premium.
    fn count(&mut self, a: &Alert) {
        self.hits += 1;
        self.last_hit_at = self.last_hit_at.max(a.at);
        let name = a.contract.clone().unwrap_or_else(|| a.ticker.clone());
        let premium = size(a).unwrap_or(0.0);
        match self.contracts.iter_mut().find(|c| c.contract == name) {
            Some(c) => {
                c.premium += premium;
                c.hits += 1;
            }
            None => self.contracts.push(TopContract { contract: name, premium, hits: 1 }),
        }
        self.contracts.sort_by(|x, y| y.premium.total_cmp(&x.premium).then_with(|| x.contract.cmp(&y.contract)));
        self.contracts.truncate(CONTRACTS_KEPT);
    }

    /// Whether a hit at `at` still joins this episode.
    pub fn open_at(&self, at: DateTime<Utc>, minutes: i64) -> bool {
        at - self.last_hit_at <= Duration::minutes(minutes)
    }

    /// The update a joining hit `a` publishes.
    fn update(&self, a: &Alert) -> Update {
        Update {
            update_of: self.post_id.clone(),
            id: a.id.clone(),
            bot: self.bot,
            at: a.at,
            ticker: self.ticker.clone(),
            contract: a.contract.clone(),
            hits: self.hits,
            premium_total: self.total,
            top_contracts: self.contracts.iter().take(TOP_CONTRACTS_SHOWN).cloned().collect(),
        }
    }
}

/// A hit that joined an episode: the edit of the episode's message, and the
/// line `replay --format jsonl` prints for it (keys in this order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The alert whose message this edits.
    pub update_of: String,
    /// The hit's own id (the alert it would have been): the same event
    /// never joins twice.
    pub id: String,
    pub bot: Bot,
    pub at: DateTime<Utc>,
    pub ticker: String,
    /// The joining hit's option contract (None for a stock family).
    pub contract: Option<String>,
    pub hits: u32,
    pub premium_total: Option<f64>,
    pub top_contracts: Vec<TopContract>,
}

impl Update {
    /// One line of `--format jsonl`.
    pub fn to_jsonl(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The episode in a line: "4 hits · $1,234,567 in all · top: ...".
    pub fn summary(&self) -> String {
        let mut s = format!("{} hits", self.hits);
        if let Some(t) = self.premium_total {
            s.push_str(&format!(" · ${} in all", fmt_money(t)));
        }
        if !self.top_contracts.is_empty() {
            let top: Vec<String> = self
                .top_contracts
                .iter()
                .map(|c| format!("{} ${} ({}×)", c.contract, fmt_money(c.premium), c.hits))
                .collect();
            s.push_str(&format!(" · top: {}", top.join(", ")));
        }
        s
    }
}

/// What becomes of a hit.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The first hit of an episode: a new message.
    Post,
    /// A later hit: the episode's message is edited.
    Join(Update),
    /// A later hit whose summed premium reached twice what was posted: a
    /// new message reporting the summed premium.
    Escalate { of: String },
}

/// The open episodes, by family and key.
#[derive(Debug, Default)]
pub struct EpisodeBook {
    minutes: i64,
    /// `EPISODE_ESCALATION_MINUTES`: an escalation's least distance from the
    /// episode's latest message.
    escalation_minutes: i64,
    open: BTreeMap<(Bot, String), Episode>,
}

impl EpisodeBook {
    /// A book whose episodes stay open `minutes` after their last hit; 0
    /// turns episodes off (every hit posts).
    pub fn new(minutes: i64) -> EpisodeBook {
        EpisodeBook { minutes: minutes.max(0), escalation_minutes: 0, open: BTreeMap::new() }
    }

    /// Escalations wait until the episode's latest message is `minutes` old
    /// (hits meanwhile edit it).
    pub fn with_escalation_minutes(mut self, minutes: i64) -> EpisodeBook {
        self.escalation_minutes = minutes.max(0);
        self
    }

    fn enabled(&self) -> bool {
        self.minutes > 0
    }

    /// How long an episode stays open after its last hit.
    pub fn minutes(&self) -> i64 {
        self.minutes
    }

    /// Puts back episodes read from the store (a restart).
    pub fn restore(&mut self, episodes: impl IntoIterator<Item = Episode>) {
        for e in episodes {
            self.open.insert((e.bot, e.key.clone()), e);
        }
    }

    /// Forgets the episode `(bot, key)`: its commit did not happen, so the
    /// store does not know it and its next hit posts.
    pub fn forget(&mut self, bot: Bot, key: &str) {
        self.open.remove(&(bot, key.to_string()));
    }

    /// Decides what the hit `alert` is and updates the book. An escalation
    /// rewrites the alert's premium (a dark print's notional) to the summed
    /// one and notes the episode on it. Returns the verdict and the
    /// episode's new state (None when episodes are off).
    pub fn hit(&mut self, alert: &mut Alert) -> (Verdict, Option<Episode>) {
        if !self.enabled() {
            return (Verdict::Post, None);
        }
        let minutes = self.minutes;
        // Hits do not come in the order of their times across families (an
        // alert's time is its snapshot's, and a cached chain is older than
        // another family's fresh one), so whether an episode is open is
        // judged for the hit's own key only; pruning every episode against
        // this hit's time closed some a few seconds early. Memory is bounded
        // by dropping what no plausible hit can still join.
        self.open.retain(|_, e| e.open_at(alert.at, minutes + FORGET_AFTER_MINUTES));
        let slot = (alert.bot, key(alert));
        let open = self.open.get_mut(&slot).filter(|e| e.open_at(alert.at, minutes));
        let Some(e) = open else {
            let e = Episode::open(alert);
            self.open.insert(slot, e.clone());
            return (Verdict::Post, Some(e));
        };
        e.count(alert);
        e.total = match (e.total, size(alert)) {
            (Some(t), Some(s)) => Some(t + s),
            _ => None,
        };
        let waited = e.posted_at.is_none_or(|p| alert.at - p >= Duration::minutes(self.escalation_minutes));
        let escalates = match (e.total, e.posted) {
            (Some(t), Some(p)) => p > 0.0 && t >= ESCALATION_MULTIPLE * p && waited,
            _ => false,
        };
        if !escalates {
            return (Verdict::Join(e.update(alert)), Some(e.clone()));
        }
        let of = std::mem::replace(&mut e.post_id, alert.id.clone());
        e.posted = e.total;
        e.posted_at = Some(alert.at);
        let own = size(alert);
        if alert.premium.is_some() {
            alert.premium = e.total;
        } else {
            alert.notional = e.total;
        }
        let summary = e.update(alert).summary();
        let this = own.map(|s| format!(" (this hit ${})", fmt_money(s))).unwrap_or_default();
        alert.details.notes.push(("Episode".to_string(), format!("{summary}{this}; escalates {of}")));
        (Verdict::Escalate { of }, Some(e.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Side;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn hit(id: &str, t: &str, contract: &str, premium: f64, sentiment: Sentiment) -> Alert {
        let mut a = Alert::new(id.into(), Bot::Sweeps, at(t), "SPY");
        a.contract = Some(contract.into());
        a.premium = Some(premium);
        a.sentiment = sentiment;
        a.side = Side::Ask;
        a
    }

    #[test]
    fn first_hit_posts_later_ones_join_with_summed_premium_and_top_contracts() {
        let mut book = EpisodeBook::new(15);
        let mut a = hit("a", "2026-03-09T14:00:00Z", "C1", 100_000.0, Sentiment::Bullish);
        assert_eq!(book.hit(&mut a).0, Verdict::Post);
        let mut b = hit("b", "2026-03-09T14:05:00Z", "C2", 60_000.0, Sentiment::Bullish);
        let (v, e) = book.hit(&mut b);
        let Verdict::Join(u) = v else { panic!("{v:?}") };
        assert_eq!((u.update_of.as_str(), u.id.as_str(), u.hits, u.premium_total), ("a", "b", 2, Some(160_000.0)));
        assert_eq!(u.top_contracts.iter().map(|c| c.contract.as_str()).collect::<Vec<_>>(), ["C1", "C2"]);
        assert_eq!(e.unwrap().posted, Some(100_000.0));
        // The joining hit's alert is untouched.
        assert_eq!(b.premium, Some(60_000.0));
        let line: serde_json::Value = serde_json::from_str(&u.to_jsonl()).unwrap();
        assert_eq!(line["update_of"], "a");
        assert_eq!(line["premium_total"], 160_000.0);
    }

    #[test]
    fn a_hit_more_than_episode_minutes_after_the_last_opens_a_new_episode() {
        let mut book = EpisodeBook::new(15);
        let mut a = hit("a", "2026-03-09T14:00:00Z", "C1", 100_000.0, Sentiment::Bullish);
        book.hit(&mut a);
        // Exactly 15 minutes after the last hit still joins ...
        let mut b = hit("b", "2026-03-09T14:15:00Z", "C1", 10_000.0, Sentiment::Bullish);
        assert!(matches!(book.hit(&mut b).0, Verdict::Join(_)));
        // ... the window runs from the last hit, not the post ...
        let mut c = hit("c", "2026-03-09T14:30:00Z", "C1", 10_000.0, Sentiment::Bullish);
        assert!(matches!(book.hit(&mut c).0, Verdict::Join(_)));
        // ... and 16 minutes of quiet close it.
        let mut d = hit("d", "2026-03-09T14:46:00Z", "C1", 10_000.0, Sentiment::Bullish);
        assert_eq!(book.hit(&mut d).0, Verdict::Post);
    }

    #[test]
    fn a_later_hit_of_another_family_does_not_close_an_episode_a_late_hit_still_joins() {
        let mut book = EpisodeBook::new(15);
        let mut a = hit("a", "2026-03-09T14:00:00Z", "C1", 100_000.0, Sentiment::Bullish);
        a.bot = Bot::Darkpool;
        book.hit(&mut a);
        let mut other = hit("o", "2026-03-09T14:20:00Z", "C9", 100_000.0, Sentiment::Bearish);
        book.hit(&mut other);
        // A print from 14:10 alerted after the 14:20 hit of another family.
        let mut late = hit("b", "2026-03-09T14:10:00Z", "C1", 1_000.0, Sentiment::Bullish);
        late.bot = Bot::Darkpool;
        assert!(matches!(book.hit(&mut late).0, Verdict::Join(u) if u.update_of == "a"));
    }

    #[test]
    fn the_other_direction_and_another_family_are_episodes_of_their_own() {
        let mut book = EpisodeBook::new(15);
        let mut a = hit("a", "2026-03-09T14:00:00Z", "C1", 100_000.0, Sentiment::Bullish);
        book.hit(&mut a);
        let mut b = hit("b", "2026-03-09T14:01:00Z", "P1", 100_000.0, Sentiment::Bearish);
        assert_eq!(book.hit(&mut b).0, Verdict::Post);
        let mut c = hit("c", "2026-03-09T14:02:00Z", "C1", 100_000.0, Sentiment::Bullish);
        c.bot = Bot::OraklFlow;
        assert_eq!(book.hit(&mut c).0, Verdict::Post);
        assert_eq!(book.open.len(), 3);
    }

    #[test]
    fn escalation_at_exactly_twice_the_posted_premium_posts_the_summed_premium() {
        let mut book = EpisodeBook::new(15);
        let mut a = hit("a", "2026-03-09T14:00:00Z", "C1", 100_000.0, Sentiment::Bullish);
        book.hit(&mut a);
        let mut b = hit("b", "2026-03-09T14:01:00Z", "C1", 99_999.0, Sentiment::Bullish);
        assert!(matches!(book.hit(&mut b).0, Verdict::Join(_)));
        // 100,000 + 99,999 + 1 = 200,000: exactly twice what was posted.
        let mut c = hit("c", "2026-03-09T14:02:00Z", "C2", 1.0, Sentiment::Bullish);
        let (v, e) = book.hit(&mut c);
        assert_eq!(v, Verdict::Escalate { of: "a".into() });
        assert_eq!(c.premium, Some(200_000.0));
        assert!(c.details.notes.iter().any(|(k, v)| k == "Episode" && v.contains("escalates a")));
        let e = e.unwrap();
        assert_eq!((e.post_id.as_str(), e.posted, e.hits), ("c", Some(200_000.0), 3));
        // Later hits edit the escalation's message; the next escalation is
        // measured against what it reported.
        let mut d = hit("d", "2026-03-09T14:03:00Z", "C1", 150_000.0, Sentiment::Bullish);
        let Verdict::Join(u) = book.hit(&mut d).0 else { panic!() };
        assert_eq!(u.update_of, "c");
    }

    #[test]
    fn an_escalation_waits_until_the_latest_message_is_escalation_minutes_old() {
        let mut book = EpisodeBook::new(15).with_escalation_minutes(5);
        let mut a = hit("a", "2026-03-09T14:00:00Z", "C1", 100_000.0, Sentiment::Bullish);
        book.hit(&mut a);
        // Twice the post within 5 minutes of it: an edit, not a message.
        let mut b = hit("b", "2026-03-09T14:04:59Z", "C2", 150_000.0, Sentiment::Bullish);
        let Verdict::Join(u) = book.hit(&mut b).0 else { panic!() };
        assert_eq!(u.premium_total, Some(250_000.0));
        // Five minutes after the post the next hit escalates on the sum ...
        let mut c = hit("c", "2026-03-09T14:05:00Z", "C1", 1.0, Sentiment::Bullish);
        assert_eq!(book.hit(&mut c).0, Verdict::Escalate { of: "a".into() });
        // ... and the wait runs again from the escalation.
        let mut d = hit("d", "2026-03-09T14:09:00Z", "C2", 600_000.0, Sentiment::Bullish);
        assert!(matches!(book.hit(&mut d).0, Verdict::Join(u) if u.update_of == "c"));
        let mut f = hit("f", "2026-03-09T14:10:00Z", "C2", 1.0, Sentiment::Bullish);
        assert_eq!(book.hit(&mut f).0, Verdict::Escalate { of: "c".into() });
    }

    #[test]
    fn scalps_setups_are_episodes_of_their_own_and_neutral_plans_take_their_direction() {
        let mut book = EpisodeBook::new(15);
        let scalp = |id: &str, pattern: &str, stop: f64| {
            let mut a = hit(id, "2026-03-09T14:00:00Z", "C1", 5_000.0, Sentiment::Neutral);
            a.bot = Bot::Scalps;
            a.pattern = Some(pattern.into());
            a.entry = Some(100.0);
            a.stop = Some(stop);
            a.targets = Some(vec![102.0]);
            a
        };
        let mut a = scalp("a", "2-1-2", 99.0);
        assert_eq!(direction(&a), Some(true));
        book.hit(&mut a);
        assert_eq!(book.hit(&mut scalp("b", "3-1-2", 99.0)).0, Verdict::Post);
        assert_eq!(book.hit(&mut scalp("c", "2-1-2", 98.5)).0, Verdict::Post);
        // The same setup again joins its episode (here, doubling it).
        assert_eq!(book.hit(&mut scalp("d", "2-1-2", 99.0)).0, Verdict::Escalate { of: "a".into() });
    }

    #[test]
    fn no_size_never_escalates_and_zero_minutes_turns_episodes_off() {
        let mut book = EpisodeBook::new(15);
        let mut a = hit("a", "2026-03-09T14:00:00Z", "SPY", 0.0, Sentiment::Bullish);
        a.premium = None;
        book.hit(&mut a);
        let mut b = a.clone();
        b.id = "b".into();
        assert!(matches!(book.hit(&mut b).0, Verdict::Join(_)));
        let mut off = EpisodeBook::new(0);
        assert_eq!(off.hit(&mut a.clone()), (Verdict::Post, None));
        assert_eq!(off.hit(&mut b), (Verdict::Post, None));
    }

    #[test]
    fn a_forgotten_episode_posts_again_and_a_restored_one_is_joined() {
        let mut book = EpisodeBook::new(15);
        let mut a = hit("a", "2026-03-09T14:00:00Z", "C1", 100_000.0, Sentiment::Bullish);
        let (_, e) = book.hit(&mut a);
        let e = e.unwrap();
        book.forget(e.bot, &e.key);
        assert_eq!(book.hit(&mut hit("b", "2026-03-09T14:01:00Z", "C1", 1.0, Sentiment::Bullish)).0, Verdict::Post);
        let mut fresh = EpisodeBook::new(15);
        fresh.restore([e]);
        let v = fresh.hit(&mut hit("c", "2026-03-09T14:02:00Z", "C1", 1.0, Sentiment::Bullish)).0;
        assert!(matches!(v, Verdict::Join(u) if u.update_of == "a"));
    }
}
