//! A bot's firing: the engine names the symbols, and for each the shell
//! runs the engine's task to its end, fetching what it needs and carrying
//! out what it decides.

use super::*;
use crate::engine::{Answer, Cooldown, Decision, Need, Step, Task};
use crate::logging::Fields;
use crate::polygon::{ChainQuery, TradesQuery};
use crate::scan;

/// Steps one task may take at most: every flow event of a chain is a few
/// steps, so this only stops a task that no longer moves on.
const MAX_STEPS_PER_TASK: usize = 1_000_000;

/// A firing's new alerts waiting for the hour's budget (`budget`), the
/// hits that joined their episodes meanwhile, and the scan cursors decided
/// after them.
#[derive(Default)]
pub(super) struct Held {
    posts: Vec<crate::engine::Commit>,
    joins: Vec<crate::engine::Join>,
    /// A cursor (Darkpool's last print read) moves past the prints whose
    /// alerts are held: written before they are committed, a kill in
    /// between loses them (the next scan starts after their prints).
    cursors: Vec<Decision>,
}

impl Service {
    /// One firing of `bot` over the next batch of symbols.
    pub(super) fn firing(&mut self, bot: Bot, line: &Line) -> JobResult {
        // With the prints lane on, its orders are the two sweep families'
        // input; their snapshot path is the fallback (SPEC §14).
        if matches!(bot, Bot::Sweeps | Bot::GoldenSweeps) && self.prints_lane_on() {
            return JobResult::Ok("fed by market_prints".to_string());
        }
        let t0 = self.clock.elapsed();
        let before = self.api_counts();
        let now = self.now();
        if bot.is_options() {
            self.engine.maintain(now);
            self.engine.start_firing(now);
        }
        self.restore_episodes(now);
        // Symbols an earlier firing did not reach go first, those it cut
        // short last.
        let (mut symbols, cut_before) = self.deferred.remove(&bot).unwrap_or_default();
        for s in self.engine.symbols(bot, line.line, line.batch) {
            if !symbols.contains(&s) && !cut_before.contains(&s) {
                symbols.push(s);
            }
        }
        symbols.extend(cut_before);
        // A slow server cannot hold the firing for long: once the requests
        // have taken the budget, no request starts and the symbols not yet
        // scanned (and one cut short) wait for the next firing.
        let (budget, limit) = self.limit_server_time();
        let spent = |svc: &Service| match (&svc.polygon, limit) {
            (Some(c), Some(l)) => c.server_time() >= l,
            _ => false,
        };
        // New alerts of a family with an hourly budget wait for the end of
        // their symbol's task, to be ranked (see `budget`): no longer, for
        // an alert decided and not yet committed is lost to a kill (the
        // volume that revealed it is not seen again).
        let mut held = Held::default();
        let (mut events, mut alerts, mut failures) = (0usize, 0usize, 0usize);
        let (mut confirmations, mut over_cap) = (0usize, 0usize);
        let mut deferred: Vec<String> = Vec::new();
        // A symbol cut short goes last next time, so one slow symbol cannot
        // take every firing's budget before the others are reached.
        let mut cut: Vec<String> = Vec::new();
        for (i, symbol) in symbols.iter().enumerate() {
            if self.clock.shutdown().is_requested() {
                break;
            }
            // The trade tape does not wait behind a long firing.
            if self.prints_due(self.now()) {
                self.prints_between(limit);
            }
            // Out of time, or the store stopped writing: the rest waits.
            if spent(self) || self.unwritable().is_some() {
                deferred.extend(symbols[i..].iter().filter(|s| !cut.contains(s)).cloned());
                break;
            }
            self.cut_short = false;
            let mut task = self.engine.start(bot, symbol);
            let (summary, committed) = self.drive(&mut task, &mut held);
            let released = self.release(std::mem::take(&mut held));
            events += summary.events;
            confirmations += summary.confirmations;
            over_cap += summary.over_cap;
            alerts += committed + released;
            failures += usize::from(summary.failed && !self.cut_short);
            if self.cut_short {
                cut.push(symbol.clone());
            }
        }
        self.end_server_time_limit();
        if !deferred.is_empty() || !cut.is_empty() {
            let why = if self.unwritable().is_some() { "store_unwritable" } else { "budget_spent" };
            log::warn!(
                bot = bot,
                reason = why,
                budget_s = budget.as_secs(),
                deferred = deferred.len() + cut.len(),
                cut_short = cut.join(",");
                "firing_deferred"
            );
            self.deferred.insert(bot, (deferred, cut));
        }
        let after = self.api_counts();
        let (requests, pages) = (after.0 - before.0, after.1 - before.1);
        let ms = (self.clock.elapsed() - t0).as_millis();
        let n = symbols.len();
        let options = bot.is_options();
        // One field list: the stock families have no events or confirmations.
        let mut fields = Fields::new().text("bot", bot).int("symbols", n).int("requests", requests).int("pages", pages);
        if options {
            fields = fields.int("events", events);
        }
        fields = fields.int("alerts", alerts).int("failures", failures);
        if options {
            fields = fields.int("confirmations", confirmations).int("unconfirmed_over_cap", over_cap);
        }
        crate::logging::event(log::Level::Info, "scan", &fields.int("ms", ms));
        let detail = if options {
            format!(
                "symbols={n} events={events} alerts={alerts} failures={failures} confirmations={confirmations} over_cap={over_cap}"
            )
        } else {
            format!("symbols={n} alerts={alerts} failures={failures}")
        };
        if failures > 0 && failures == n { JobResult::Error(detail) } else { JobResult::Ok(detail) }
    }

    /// Starts the firing's budget of server time (`FIRING_BUDGET_SECONDS`):
    /// once the requests have taken it, the client starts no request until
    /// [`Service::end_server_time_limit`].
    pub(super) fn limit_server_time(&self) -> (std::time::Duration, Option<std::time::Duration>) {
        let budget = seconds(self.config.tunables.firing_budget_seconds);
        let limit = self.polygon.as_ref().map(|c| c.server_time().saturating_add(budget));
        if let (Some(c), Some(l)) = (&self.polygon, limit) {
            c.set_server_time_limit(Some(l));
        }
        (budget, limit)
    }

    pub(super) fn end_server_time_limit(&self) {
        if let Some(c) = &self.polygon {
            c.set_server_time_limit(None);
        }
    }

    /// Runs `task` to its end; its summary and the alerts committed. New
    /// alerts of a family with an hourly budget go to `held` instead.
    pub(super) fn drive(&mut self, task: &mut Task, held: &mut Held) -> (crate::engine::Summary, usize) {
        let mut committed = 0;
        for _ in 0..MAX_STEPS_PER_TASK {
            let now = self.now();
            match self.engine.poll(task, now) {
                Step::Need(need) => {
                    let answer = self.fetch(task.bot(), need);
                    task.answer(answer);
                }
                Step::Decided(Decision::Commit(c)) if self.budget.applies(c.bot) => {
                    if budget::cooldown_allows(&held.posts, &c, now) {
                        held.posts.push(*c);
                    } else {
                        log::debug!(bot = c.bot, id = c.alert.id, reason = "cooldown"; "suppressed");
                    }
                }
                // A hit joining the episode of a held post waits with it: its
                // edit needs the post committed (or, if the budget drops the
                // post, finds it missing and the episode is forgotten).
                Step::Decided(Decision::Update(j)) if held.posts.iter().any(|h| h.alert.id == j.update.update_of) => {
                    held.joins.push(*j);
                }
                Step::Decided(d @ Decision::SetCursor { .. }) if !held.posts.is_empty() => held.cursors.push(d),
                Step::Decided(decision) => committed += usize::from(self.carry_out(decision)),
                Step::Done(summary) => return (summary, committed),
            }
        }
        log::error!(bot = task.bot(), ticker = task.symbol(), reason = "step bound reached"; "task_stopped");
        (crate::engine::Summary { failed: true, ..Default::default() }, committed)
    }

    /// Commits a task's held alerts that each family's hourly budget has
    /// room for, the highest scores first; the count committed.
    pub(super) fn release(&mut self, held: Held) -> usize {
        let Held { posts: held, joins, cursors } = held;
        // Cursors and joins are held only behind held posts.
        if held.is_empty() {
            return 0;
        }
        let now = self.now();
        let used_by_bot = match self.store.alert_counts_by_bot(Some(budget::hour_start(now))) {
            Ok(counts) => counts,
            Err(e) => {
                // Without the count the budget cannot be judged; the valve
                // stays open rather than drop alerts on a store error.
                log::error!(op = "alert_counts_by_bot", error:% = e; "store_error");
                Default::default()
            }
        };
        let mut by_bot: BTreeMap<Bot, Vec<crate::engine::Commit>> = BTreeMap::new();
        for c in held {
            by_bot.entry(c.bot).or_default().push(c);
        }
        let mut committed = 0;
        for (bot, held) in by_bot {
            let used = used_by_bot.get(bot.as_str()).copied().unwrap_or(0);
            let (kept, suppressed) = self.budget.admit(bot, used, held);
            for c in &suppressed {
                log::info!(
                    bot = bot,
                    id = c.alert.id,
                    score = c.alert.score.map(|s| crate::logging::decimals(s, 1)),
                    used = used;
                    "budget_suppressed"
                );
            }
            committed += kept.iter().map(|c| usize::from(self.commit(c))).sum::<usize>();
        }
        for j in &joins {
            self.join(j);
        }
        // After the alerts, so a kill leaves the prints to be read again
        // (their alerts' ids make a second commit a no-op).
        for d in cursors {
            self.carry_out(d);
        }
        committed
    }

    /// Fetches what the engine needs. A failed request is logged and
    /// recorded here and answered as unavailable.
    fn fetch(&mut self, bot: Bot, need: Need) -> Answer {
        let result = match need {
            Need::Cooldown { bot, key } => {
                return match self.store.cooldown(bot, &key) {
                    Ok(c) => Answer::Cooldown(c.map(|c| Cooldown { until: c.until, size: c.premium })),
                    Err(e) => {
                        log::error!(op = "cooldown", error:% = e; "store_error");
                        Answer::Unavailable
                    }
                };
            }
            Need::FlowHistory { before, sessions } => {
                return match self.store.flow_history(before, sessions) {
                    Ok(rows) => Answer::FlowHistory(rows),
                    Err(e) => {
                        log::error!(op = "flow_history", error:% = e; "store_error");
                        Answer::Unavailable
                    }
                };
            }
            Need::Cursor { key } => {
                return match self.store.cursor(&key) {
                    Ok(text) => Answer::Cursor(text),
                    Err(e) => {
                        log::error!(op = "cursor", error:% = e; "store_error");
                        Answer::Cursor(None)
                    }
                };
            }
            Need::UnusualTrades { .. } | Need::Contract { .. } | Need::Quote { .. } => {
                return self.fetch_prints(&need).unwrap_or(Answer::Unavailable);
            }
            Need::Chain { symbol, underlying, expires_by } => {
                let query = ChainQuery { expiration_date_lte: Some(expires_by), ..ChainQuery::default() };
                // Each page becomes observations as it arrives, read through
                // the lean model: the models of a chain of thousands of
                // contracts are never all held at once.
                let r = self.client().and_then(|c| {
                    c.option_chain_map(&underlying, &query, |c: crate::polygon::lean::ChainContract| {
                        scan::observation(c, &underlying)
                    })
                });
                (symbol, r.map(|(observations, contracts)| Answer::Chain { observations, contracts }))
            }
            Need::OptionTrades { contract, after_ns, until_ns, max_pages } => {
                let q = TradesQuery {
                    timestamp_gt: after_ns,
                    timestamp_lte: until_ns,
                    max_pages: Some(max_pages),
                    ..TradesQuery::default()
                };
                let Some(client) = self.polygon.as_ref() else { return Answer::Unavailable };
                return match client.trades(&contract, &q) {
                    Ok(trades) => Answer::Trades(trades),
                    Err(e) => {
                        // A 403 was logged once by the client, which keeps
                        // the feature off until its probe.
                        if !matches!(e, PolygonError::Forbidden { .. }) {
                            log::warn!(contract = contract, error:% = e; "sweep_confirmation_failed");
                        }
                        Answer::Unavailable
                    }
                };
            }
            Need::DailyBars { symbol, ticker, from, to } => {
                let r = self.client().and_then(|c| c.aggs(&ticker, 1, "day", from, to));
                (symbol, r.map(Answer::Bars))
            }
            Need::MinuteBars { symbol, ticker, from, to } => {
                let r = self.client().and_then(|c| c.aggs(&ticker, 1, "minute", from, to));
                (symbol, r.map(Answer::Bars))
            }
            Need::StockTrades { symbol, from_ns, until_ns, max_pages } => {
                let q = TradesQuery {
                    timestamp_gte: Some(from_ns),
                    timestamp_lte: until_ns,
                    max_pages: Some(max_pages),
                    ..TradesQuery::default()
                };
                let r = self.client().and_then(|c| c.trades(&symbol, &q));
                (symbol, r.map(Answer::Trades))
            }
            Need::Snapshot { symbol } => {
                let r = self.client().and_then(|c| c.stock_snapshot(&symbol));
                (symbol, r.map(|s| Answer::Snapshot(s.map(Box::new))))
            }
        };
        match result {
            (_, Ok(answer)) => answer,
            (symbol, Err(e)) => {
                self.scan_failed(bot, &symbol, &e);
                Answer::Unavailable
            }
        }
    }

    /// Carries out a decision; true when it committed an alert.
    fn carry_out(&mut self, decision: Decision) -> bool {
        match decision {
            Decision::Suppressed { bot, what, reason } => {
                let fields = crate::logging::Fields::new().text("bot", bot).extend(what).text("reason", reason);
                crate::logging::event(log::Level::Debug, "suppressed", &fields);
                false
            }
            Decision::Dropped { contract, volume_delta, reason } => {
                log::debug!(contract = contract, volume_delta = volume_delta, reason = reason; "flow_dropped");
                false
            }
            Decision::DataError { symbol, contract, reason } => {
                log::warn!(ticker = symbol, contract = contract, reason = reason; "implausible_data");
                self.record_error("plausibility", Some(&symbol), &format!("{contract}: {reason}"));
                false
            }
            // A post the store does not hold (an error, one held back) is
            // found out by the episode's next hit (`Joined::NoPost`), which
            // forgets the episode; a duplicate's episode stands (its post is
            // stored).
            Decision::Commit(c) => self.commit(&c),
            Decision::Update(j) => {
                self.join(&j);
                false
            }
            // A write that failed this firing may have been an alert's
            // commit: the cursor stays where it was, so the prints are read
            // again once the store takes writes.
            Decision::SetCursor { key, .. } if self.unwritable().is_some() => {
                log::debug!(key = key, reason = "store_unwritable"; "cursor_kept");
                false
            }
            Decision::SetCursor { key, text } => {
                let now = self.now();
                if let Err(e) = self.store.set_cursor(&key, &text, now) {
                    self.write_failed("set_cursor", &e);
                }
                false
            }
            Decision::SaveFlowStats(stats) => {
                let now = self.now();
                if let Err(e) = self.store.save_flow_stats(&stats, now) {
                    log::error!(op = "save_flow_stats", error:% = e; "store_error");
                }
                false
            }
        }
    }

    /// Commits a hit that joined an open episode: the hit's cooldown, the
    /// episode and the edit of its message, in one transaction.
    fn join(&mut self, j: &crate::engine::Join) {
        let now = self.now();
        let cooldown = crate::store::CooldownSet {
            key: j.cooldown.key.clone(),
            until: j.cooldown.until,
            premium: j.cooldown.size,
        };
        let u = &j.update;
        match self.store.commit_update(u, &j.episode, Some(&cooldown), now) {
            Ok(crate::store::Joined::Committed) => {
                log::info!(
                    bot = j.bot,
                    id = u.id,
                    update_of = u.update_of,
                    ticker = u.ticker,
                    hits = u.hits,
                    premium_total = u.premium_total.map_or_else(|| "-".to_string(), |p| format!("{p:.0}"));
                    "episode_update"
                )
            }
            Ok(crate::store::Joined::Duplicate) => {}
            Ok(crate::store::Joined::NoPost) => {
                log::info!(
                    bot = j.bot,
                    update_of = u.update_of,
                    reason = "its post was not committed";
                    "episode_forgotten"
                );
                self.engine.forget_episode(&j.episode);
            }
            Err(e) => {
                log::error!(op = "commit_update", id = u.id, error:% = e; "store_error");
                self.engine.forget_episode(&j.episode);
            }
        }
    }

    /// Before the first firing: the episodes the store holds open, so a
    /// restart edits their messages instead of posting again.
    pub(super) fn restore_episodes(&mut self, now: chrono::DateTime<chrono::Utc>) {
        if self.engine.episodes_restored() {
            return;
        }
        let minutes = self.engine.episode_minutes() + crate::engine::episode::FORGET_AFTER_MINUTES;
        let since = now - chrono::Duration::minutes(minutes);
        let open = match self.store.open_episodes(since) {
            Ok(open) => open,
            Err(e) => {
                log::error!(op = "open_episodes", error:% = e; "store_error");
                Vec::new()
            }
        };
        if !open.is_empty() {
            log::info!(open = open.len(); "episodes_restored");
        }
        self.engine.restore_episodes(open);
    }

    pub(super) fn client(&self) -> Result<&Client, PolygonError> {
        self.polygon.as_ref().ok_or_else(|| PolygonError::Config("POLYGON_API_KEY is not set".into()))
    }

    pub(super) fn scan_failed(&mut self, bot: Bot, symbol: &str, e: &PolygonError) {
        if e.is_config() {
            // At runtime a rejected key is an alarm, not a reason to exit:
            // systemd would only restart into the same 401.
            log::error!(
                bot = bot,
                ticker = symbol,
                error:% = e,
                action = "check POLYGON_API_KEY";
                "polygon_unauthorized"
            );
        } else if matches!(e, PolygonError::Shutdown { .. }) {
            return;
        } else if matches!(e, PolygonError::BudgetSpent { .. }) {
            // Not a failure of the symbol: it is scanned again next firing.
            self.cut_short = true;
            return;
        } else {
            log::warn!(bot = bot, ticker = symbol, error:% = e; "scan_symbol_failed");
        }
        self.record_error(bot.as_str(), Some(symbol), &e.to_string());
    }
}
