//! Where alerts go: a small trait with two implementations, printed lines
//! (`--dry-run`, replays) and Discord webhooks. The outbox pass and the
//! weekly report only see the trait; what each answer means for the store
//! is decided once, in the pass.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{OutputFormat, Settings};
use crate::alert::Alert;
use crate::clock::Clock;
use crate::config::{Config, seconds};
use crate::discord::{self, Sender, Webhook};
use crate::engine::episode::Update;
use crate::http::Http;
use crate::job::Bot;
use crate::notify::Notifier;
use crate::outcomes::{self, Report};

/// What became of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Delivered; Discord's message id when there is one.
    Sent { message_id: Option<String> },
    /// Never deliverable as it is (a rejected payload, no webhook).
    Failed { reason: String },
    /// The webhook was deleted: retire it and fail the alert.
    WebhookGone { webhook: u64, reason: String },
    /// Not now; a later pass tries again.
    Deferred { reason: String },
    /// Left alone in this pass (its webhook asked to wait earlier in it).
    Skipped,
    /// The output itself is broken: the pass stops, the alert stays pending.
    Stop,
}

/// One embed of a message that posted several alerts, as an edit of
/// another of its embeds shows it again: the alert, with the episode its
/// embed last showed (its latest edit made), if any.
pub type Embedded = (Alert, Option<Update>);

/// A way to deliver alerts and the weekly report.
pub trait Deliver {
    /// Splits the pending alerts of a pass (in delivery order) into what
    /// goes out together, each part one [`Deliver::deliver`] call; the
    /// parts in the order of their first alert. Alone by default.
    fn plan(&mut self, alerts: Vec<Alert>) -> Vec<Vec<Alert>> {
        alerts.into_iter().map(|a| vec![a]).collect()
    }

    /// Delivers one part of [`Deliver::plan`] (one alert, or several as one
    /// message); the answer is for every alert of it.
    fn deliver(&mut self, batch: &[Alert]) -> Delivered;

    /// Delivers the pending edits of one posted alert's message, oldest
    /// first (`message_id`: Discord's id of the post). Discord gets one
    /// edit, the latest (it holds the episode as of the last hit); printed
    /// output shows each. The answer is for all of them. `message`: every
    /// embed of the message in its order when the post went out with
    /// others (`post` among them), else empty.
    fn deliver_updates(
        &mut self,
        post: &Alert,
        message_id: Option<&str>,
        updates: &[Update],
        message: &[Embedded],
    ) -> Delivered;

    /// Delivers the weekly report of `period`, made at `now`; on failure
    /// the reason and whether a later try may succeed.
    fn deliver_report(
        &mut self,
        report: &Report,
        title: &str,
        period: &outcomes::Period,
        now: DateTime<Utc>,
    ) -> Result<(), (String, bool)>;

    /// A new outbox pass begins (a webhook deferred in the last pass may be
    /// tried again).
    fn begin_pass(&mut self) {}

    /// Whether the last post to `alert`'s destination failed for now: its
    /// alerts go after the others in a pass, so a failing webhook cannot
    /// take every turn's delivery budget from the healthy ones.
    fn failing(&self, _alert: &Alert) -> bool {
        false
    }

    /// Webhook ids known to be deleted (from the store at start-up).
    fn retire(&mut self, _ids: &[u64]) {}

    /// Webhook ids retired so far, for the heartbeat.
    fn retired_webhooks(&self) -> Vec<u64> {
        Vec::new()
    }

    /// Whether alerts go to webhooks (which must then be configured for
    /// every family in the timetable), not to printed output.
    fn posts(&self) -> bool {
        false
    }

    /// Rate-limit answers (HTTP 429) received since start.
    fn rate_limited(&self) -> u64 {
        0
    }
}

/// The service's delivery.
pub struct Delivery(Box<dyn Deliver>);

impl Delivery {
    /// Alerts to Discord, each family to its webhook.
    pub fn discord(config: &Config, settings: &Settings, clock: Arc<dyn Clock>, notifier: Notifier) -> Delivery {
        let t = &config.tunables;
        let http = Http::new(seconds(t.discord_timeout_seconds), notifier);
        let sender = Sender::new(http, clock).with_max_attempts(t.discord_max_attempts.max(1) as u32);
        Delivery(Box::new(DiscordDelivery {
            sender: Box::new(sender),
            webhooks: settings.webhooks.clone(),
            reports: settings.reports_webhook.clone(),
            retired: BTreeSet::new(),
            deferred: BTreeSet::new(),
            failing: BTreeSet::new(),
            pinned: Vec::new(),
        }))
    }

    /// Alerts printed to `out`, one per line (or block).
    pub fn print(format: OutputFormat, out: Box<dyn Write>) -> Delivery {
        Delivery(Box::new(PrintDelivery { format, out, retired: BTreeSet::new() }))
    }
}

impl std::ops::Deref for Delivery {
    type Target = dyn Deliver;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl std::ops::DerefMut for Delivery {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.0
    }
}

/// Printed alerts: text blocks or JSON lines.
pub struct PrintDelivery {
    format: OutputFormat,
    out: Box<dyn Write>,
    /// The store's retired webhooks, only reported (the heartbeat's
    /// snapshot is the same whatever the delivery).
    retired: BTreeSet<u64>,
}

impl Deliver for PrintDelivery {
    /// Prints each alert of `batch` (always one: printing keeps
    /// [`Deliver::plan`]'s default) on its own line or block.
    fn deliver(&mut self, batch: &[Alert]) -> Delivered {
        for alert in batch {
            let text = match self.format {
                OutputFormat::Text => format!("{}\n", discord::render_text(alert)),
                OutputFormat::Jsonl => format!("{}\n", alert.to_jsonl()),
            };
            if let Err(e) = self.out.write_all(text.as_bytes()).and_then(|_| self.out.flush()) {
                log::error!(bot = alert.bot, id = alert.id, error:% = e; "print_failed");
                return Delivered::Stop;
            }
        }
        Delivered::Sent { message_id: None }
    }

    fn deliver_updates(
        &mut self,
        _post: &Alert,
        _message_id: Option<&str>,
        updates: &[Update],
        _message: &[Embedded],
    ) -> Delivered {
        for u in updates {
            let text = match self.format {
                OutputFormat::Text => discord::render_update_text(u),
                OutputFormat::Jsonl => format!("{}\n", u.to_jsonl()),
            };
            if let Err(e) = self.out.write_all(text.as_bytes()).and_then(|_| self.out.flush()) {
                log::error!(id = u.id, error:% = e; "print_failed");
                return Delivered::Stop;
            }
        }
        Delivered::Sent { message_id: None }
    }

    fn deliver_report(
        &mut self,
        report: &Report,
        title: &str,
        period: &outcomes::Period,
        _now: DateTime<Utc>,
    ) -> Result<(), (String, bool)> {
        let text = outcomes::render_report_for(report, title, period);
        // In jsonl mode stdout carries only alert lines (a pipe into jq
        // reads nothing else): the report, for a person, goes to stderr.
        let mut stderr = std::io::stderr().lock();
        let out: &mut dyn Write = match self.format {
            OutputFormat::Text => &mut self.out,
            OutputFormat::Jsonl => &mut stderr,
        };
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| (format!("printing the report failed: {e}"), false))
    }

    fn retire(&mut self, ids: &[u64]) {
        self.retired.extend(ids.iter().copied());
    }

    fn retired_webhooks(&self) -> Vec<u64> {
        self.retired.iter().copied().collect()
    }
}

/// Discord webhooks, one per family, and the reports webhook.
pub struct DiscordDelivery {
    sender: Box<Sender>,
    webhooks: BTreeMap<Bot, Webhook>,
    reports: Option<Webhook>,
    /// Webhooks Discord said were deleted: never called again.
    retired: BTreeSet<u64>,
    /// Webhooks that answered "later" in this pass: not tried again in it,
    /// so one bad webhook cannot stall the loop.
    deferred: BTreeSet<u64>,
    /// Webhooks whose last post answered "later" (kept across passes).
    failing: BTreeSet<u64>,
    /// Batches (alert ids, in message order) whose post's outcome is
    /// unknown: planned the same way until it is known, so the one retry
    /// is the same message (the sender knows it again by its bytes) and
    /// no alert goes out in two different messages. (Only an alert that
    /// expires during the retry's 30 s delay changes the message; the rest
    /// then go as a new one.)
    pinned: Vec<Vec<String>>,
}

impl DiscordDelivery {
    /// Discord answered 404 for webhook `id` of `bot`: it was deleted, so it
    /// is used no more (posts and edits alike).
    fn webhook_gone(&mut self, bot: Bot, id: u64) -> Delivered {
        log::error!(bot = bot, webhook = id, var = bot.webhook_var(), reason = "404"; "webhook_retired");
        self.retired.insert(id);
        Delivered::WebhookGone { webhook: id, reason: format!("webhook {id} was deleted (404)") }
    }
}

impl Deliver for DiscordDelivery {
    /// Per webhook and sender name, in order, the alerts packed into
    /// messages of up to 10 embeds and 6000 characters
    /// ([`discord::embed::pack`]): a webhook with one pending alert posts
    /// it alone; a backlog goes out in as few messages as the limits
    /// allow. A pinned batch (unknown outcome) is kept as it was.
    fn plan(&mut self, alerts: Vec<Alert>) -> Vec<Vec<Alert>> {
        let mut left: Vec<Option<(usize, Alert)>> = alerts.into_iter().enumerate().map(Some).collect();
        // A pin whose alerts are all settled (sent, failed, expired) or
        // gone is forgotten.
        self.pinned.retain(|ids| ids.iter().any(|id| left.iter().flatten().any(|(_, a)| a.id == *id)));
        let mut out: Vec<(usize, Vec<Alert>)> = Vec::new();
        for ids in &self.pinned {
            let batch: Vec<(usize, Alert)> = ids
                .iter()
                .filter_map(|id| left.iter_mut().find(|x| x.as_ref().is_some_and(|(_, a)| a.id == *id))?.take())
                .collect();
            if let Some(first) = batch.iter().map(|(i, _)| *i).min() {
                out.push((first, batch.into_iter().map(|(_, a)| a).collect()));
            }
        }
        // (webhook id, sender name): what a message's alerts share.
        type Key = (Option<u64>, String);
        let mut groups: Vec<(Key, Vec<(usize, Alert)>)> = Vec::new();
        for (i, a) in left.into_iter().flatten() {
            let key = (self.webhooks.get(&a.bot).map(Webhook::id), discord::embed::sender_name(&a));
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push((i, a)),
                None => groups.push((key, vec![(i, a)])),
            }
        }
        for (_, group) in groups {
            let sizes: Vec<usize> = group.iter().map(|(_, a)| discord::embed::embed_chars(a)).collect();
            let mut rest = group.into_iter();
            for n in discord::embed::pack(&sizes) {
                let batch: Vec<(usize, Alert)> = rest.by_ref().take(n).collect();
                let first = batch[0].0;
                out.push((first, batch.into_iter().map(|(_, a)| a).collect()));
            }
        }
        out.sort_by_key(|(first, _)| *first);
        out.into_iter().map(|(_, b)| b).collect()
    }

    fn deliver(&mut self, batch: &[Alert]) -> Delivered {
        let Some(first) = batch.first() else { return Delivered::Skipped };
        let bot = first.bot;
        let ids = batch.iter().map(|a| a.id.as_str()).collect::<Vec<_>>().join(",");
        let Some(webhook) = self.webhooks.get(&bot) else {
            let reason = format!("no webhook configured for {}", bot.webhook_var());
            log::error!(bot = bot, id = ids, reason = reason; "delivery_failed");
            return Delivered::Failed { reason };
        };
        let id = webhook.id();
        if self.retired.contains(&id) {
            let reason = format!("webhook {id} was deleted (404)");
            log::error!(bot = bot, id = ids, webhook = id, reason = reason; "delivery_failed");
            return Delivered::Failed { reason };
        }
        if self.deferred.contains(&id) {
            return Delivered::Skipped;
        }
        let payload = discord::render_batch(batch);
        let answer = self.sender.post(webhook, &payload);
        let members: Vec<String> = batch.iter().map(|a| a.id.clone()).collect();
        self.pinned.retain(|p| *p != members);
        if self.sender.awaits_unknown_retry(webhook, &payload) {
            self.pinned.push(members);
        }
        if matches!(answer, discord::Delivery::RetryLater { .. }) {
            self.failing.insert(id);
        } else {
            self.failing.remove(&id);
        }
        match answer {
            discord::Delivery::Sent { message_id } => {
                for a in batch {
                    log::info!(bot = a.bot, id = a.id, webhook = id; "alert_sent");
                }
                log::info!(
                    bot = bot,
                    webhook = id,
                    embeds = batch.len(),
                    message_id = message_id.as_deref().unwrap_or("-");
                    "message_sent"
                );
                Delivered::Sent { message_id }
            }
            discord::Delivery::WebhookGone | discord::Delivery::MessageGone => self.webhook_gone(bot, id),
            discord::Delivery::Rejected { status, message } => {
                log::error!(
                    bot = bot,
                    id = ids,
                    webhook = id,
                    embeds = batch.len(),
                    status = status,
                    message = message;
                    "alert_rejected"
                );
                Delivered::Failed { reason: format!("discord {status}: {message}") }
            }
            discord::Delivery::RetryLater { reason } => {
                log::warn!(bot = bot, id = ids, webhook = id, embeds = batch.len(), reason = reason; "alert_deferred");
                self.deferred.insert(id);
                Delivered::Deferred { reason }
            }
        }
    }

    fn deliver_updates(
        &mut self,
        post: &Alert,
        message_id: Option<&str>,
        updates: &[Update],
        message: &[Embedded],
    ) -> Delivered {
        let Some(latest) = updates.last() else { return Delivered::Sent { message_id: None } };
        let Some(webhook) = self.webhooks.get(&post.bot) else {
            return Delivered::Failed { reason: format!("no webhook configured for {}", post.bot.webhook_var()) };
        };
        let id = webhook.id();
        if self.retired.contains(&id) {
            return Delivered::Failed { reason: format!("webhook {id} was deleted (404)") };
        }
        if self.deferred.contains(&id) {
            return Delivered::Skipped;
        }
        let Some(message_id) = message_id else {
            return Delivered::Failed { reason: "discord gave no message id for the post; it cannot be edited".into() };
        };
        // A message of several alerts is re-rendered whole: the edit
        // replaces every embed.
        let embeds: Vec<(&Alert, Option<&Update>)> = if message.is_empty() {
            vec![(post, Some(latest))]
        } else {
            message.iter().map(|(a, u)| if a.id == post.id { (a, Some(latest)) } else { (a, u.as_ref()) }).collect()
        };
        let payload = discord::render_message_update(&embeds);
        match self.sender.edit(webhook, message_id, &payload) {
            discord::Delivery::Sent { .. } => {
                log::info!(
                    bot = post.bot,
                    id = latest.id,
                    update_of = post.id,
                    coalesced = updates.len(),
                    webhook = id;
                    "episode_update_sent"
                );
                Delivered::Sent { message_id: Some(message_id.to_string()) }
            }
            discord::Delivery::MessageGone => {
                Delivered::Failed { reason: format!("message {message_id} of alert {} was deleted (404)", post.id) }
            }
            discord::Delivery::WebhookGone => self.webhook_gone(post.bot, id),
            discord::Delivery::Rejected { status, message } => {
                log::error!(
                    bot = post.bot,
                    id = latest.id,
                    webhook = id,
                    status = status,
                    message = message;
                    "episode_update_rejected"
                );
                Delivered::Failed { reason: format!("discord {status}: {message}") }
            }
            discord::Delivery::RetryLater { reason } => {
                log::warn!(bot = post.bot, id = latest.id, webhook = id, reason = reason; "episode_update_deferred");
                self.deferred.insert(id);
                Delivered::Deferred { reason }
            }
        }
    }

    fn deliver_report(
        &mut self,
        report: &Report,
        title: &str,
        period: &outcomes::Period,
        now: DateTime<Utc>,
    ) -> Result<(), (String, bool)> {
        let Some(webhook) = self.reports.clone() else {
            return Err(("REPORTS_WEBHOOK is not set".into(), false));
        };
        let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let (payload, chart) = discord::report_message(report, title, period, &stamp);
        let answer = match &chart {
            Some(file) => self.sender.post_with_file(&webhook, &payload, file),
            None => self.sender.post(&webhook, &payload),
        };
        match answer {
            discord::Delivery::Sent { .. } => {
                log::info!(webhook = webhook.id(); "report_sent");
                Ok(())
            }
            other => {
                let retry = matches!(other, discord::Delivery::RetryLater { .. });
                let message = format!("the weekly report was not delivered: {other:?}");
                log::error!(webhook = webhook.id(), retry = retry, error = message; "report_failed");
                Err((message, retry))
            }
        }
    }

    fn begin_pass(&mut self) {
        self.deferred.clear();
    }

    fn failing(&self, alert: &Alert) -> bool {
        self.webhooks.get(&alert.bot).is_some_and(|w| self.failing.contains(&w.id()))
    }

    fn retire(&mut self, ids: &[u64]) {
        self.retired.extend(ids.iter().copied());
    }

    fn retired_webhooks(&self) -> Vec<u64> {
        self.retired.iter().copied().collect()
    }

    fn posts(&self) -> bool {
        true
    }

    fn rate_limited(&self) -> u64 {
        self.sender.rate_limited_total()
    }
}
