//! The five options families' pipeline on one symbol: the shared chain
//! scan (implausible figures taken out as data errors), then for each flow
//! event the rule's cheap part, the stored cooldown, the data the rest of
//! the rule needs, and the decision.
//!
//! Sweep confirmations (the option's own trades) are the costly part, one
//! request per contract, so they come last: a candidate of Sweeps or Golden
//! Sweeps that passed every other gate (for Sweeps: its score reaches the
//! minimum with the ISO part; without `SWEEPS_REQUIRE_ISO`, only with it)
//! waits until every event of the scan has had its turn; then the waiting
//! candidates are confirmed largest premium first (the larger the order, the
//! more venues it takes to fill, and the more a missed one costs), while
//! the firing's `SWEEPS_MAX_CONFIRMATIONS` lasts. The allowance is the
//! firing's, spent symbol after symbol. What it leaves unread is never
//! called a sweep and is counted; with `SWEEPS_REQUIRE_ISO` (the default)
//! it is suppressed, as is a candidate whose trades request failed, before
//! anything is committed. A confirmation is kept per contract and window,
//! so the other family's firing on the same scan reuses it instead of
//! asking again.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Answer, Decision, Engine, Need, State, Step, Task, daily_atr};
use crate::bots::bullseye;
use crate::bots::golden_sweeps::{self, GoldenHit};
use crate::bots::orakl_flow::{self, OraklFlowHit};
use crate::bots::scalps::{self, ScalpContext, Trigger};
use crate::bots::{self, Confirmation, Suppressed, sweeps};
use crate::calendar;
use crate::engine::cooldown::CooldownPolicy;
use crate::flow::{self, FlowEvent};
use crate::job::Bot;
use crate::logging::Fields;
use crate::plausible;
use crate::scan::ChainScan;
use crate::{bars, indicators, strat};

/// Pages of an option's trades read for one confirmation.
const CONFIRMATION_MAX_PAGES: usize = 4;
/// Closed 5-minute bars in which Scalps looks for its trigger.
const SCALP_TRIGGER_BARS: usize = 3;
/// How long a confirmation is kept for the other family: longer than the
/// chain cache's life, within which both families read the same scan.
const CONFIRMATION_KEEP_SECONDS: i64 = 600;
/// How long an underlying's volume read from its snapshot serves Bullseye
/// (one request a minute per underlying at most).
const UNDERLYING_VOLUME_TTL_SECONDS: i64 = 60;

/// A candidate that passed every gate but its sweep confirmation.
#[derive(Debug)]
pub(super) struct Deferred {
    index: usize,
    screened: Screened,
    at: DateTime<Utc>,
}

/// A contract's trades window: (contract, previous observation, this one).
type Window = (String, DateTime<Utc>, DateTime<Utc>);

/// The current firing's allowance of trades requests, and the confirmations
/// known per contract and window.
#[derive(Debug, Default)]
pub(super) struct Confirmations {
    left: usize,
    known: BTreeMap<Window, Confirmation>,
}

impl Confirmations {
    fn window(ev: &FlowEvent) -> Window {
        (ev.contract.clone(), ev.previous_at, ev.observed_at)
    }

    fn known(&self, ev: &FlowEvent) -> Option<Confirmation> {
        self.known.get(&Self::window(ev)).copied()
    }
}

/// Where an options task stands.
#[derive(Debug)]
pub(super) enum Stage {
    Start,
    /// The previous sessions' flow statistics were asked for.
    AwaitHistory,
    /// The chain was asked for at `asked_at`: the instant its snapshot
    /// stands for.
    AwaitChain {
        asked_at: DateTime<Utc>,
    },
    /// Next: the event at `index`.
    Event {
        scan: Arc<ChainScan>,
        index: usize,
    },
    /// Every event had its turn; next: the candidates waiting for a
    /// confirmation, largest premium first.
    Confirm {
        scan: Arc<ChainScan>,
        queue: VecDeque<Deferred>,
    },
    /// The option's trades were asked for to confirm `current`.
    AwaitConfirm {
        scan: Arc<ChainScan>,
        queue: VecDeque<Deferred>,
        current: Deferred,
    },
    /// The event passed the cheap part at `at`; its cooldown was asked for.
    AwaitCooldown {
        scan: Arc<ChainScan>,
        index: usize,
        screened: Screened,
        at: DateTime<Utc>,
    },
    /// The event passed its cooldown; the data the rest needs was asked
    /// for. The rule is judged as of `at`, when the event was taken up.
    AwaitData {
        scan: Arc<ChainScan>,
        index: usize,
        screened: Screened,
        at: DateTime<Utc>,
    },
}

/// What a rule's first (cheap) stage found.
#[derive(Debug)]
pub(super) enum Screened {
    /// Golden Sweeps and ORAKL Flow decide in one step.
    Golden(GoldenHit),
    Flow(OraklFlowHit),
    /// The rest need data fetched after the cooldown check.
    Sweeps,
    Bullseye,
    Scalps,
}

/// A symbol's 5-minute-bar inputs for Scalps, fetched once per task.
#[derive(Debug, Clone, Default)]
pub(super) struct ScalpInputs {
    rsi: Option<f64>,
    bull: Option<Trigger>,
    bear: Option<Trigger>,
}

impl Engine {
    pub(super) fn poll_options(&mut self, task: &mut Task, stage: Stage, now: DateTime<Utc>) -> Option<Step> {
        let mut stage = stage;
        loop {
            stage = match stage {
                Stage::Start if let Some(need) = self.history_need(now) => {
                    task.state = State::Options(Stage::AwaitHistory);
                    return Some(Step::Need(need));
                }
                Stage::AwaitHistory => {
                    self.load_history(task, now);
                    Stage::Start
                }
                Stage::Start => match self.chains.get(&task.symbol, now) {
                    Some(scan) => {
                        let scan = scan.clone();
                        self.begin(task, scan, now)?
                    }
                    None => {
                        task.state = State::Options(Stage::AwaitChain { asked_at: now });
                        return Some(Step::Need(self.chain_need(&task.symbol, now)));
                    }
                },
                Stage::AwaitChain { asked_at } => match task.take_answer() {
                    Answer::Chain { observations, contracts } => {
                        let scan = self.chain_arrived(task, observations, contracts, asked_at);
                        let next = self.begin(task, scan, now);
                        if let Some(d) = task.pending.pop_front() {
                            task.state = next.map_or(State::Done, State::Options);
                            return Some(Step::Decided(d));
                        }
                        next?
                    }
                    _ => {
                        task.summary.failed = true;
                        return None;
                    }
                },
                Stage::Event { scan, index } => {
                    let shared = scan.clone();
                    let Some(ev) = shared.events.get(index) else {
                        stage = Stage::Confirm { scan, queue: confirmation_queue(task) };
                        continue;
                    };
                    match self.screen(task.bot, ev, now) {
                        Err(s) => {
                            task.state = State::Options(Stage::Event { scan, index: index + 1 });
                            return Some(suppressed(task.bot, ev, s));
                        }
                        Ok(screened) => {
                            let need = Need::Cooldown { bot: task.bot, key: ev.contract.clone() };
                            task.state = State::Options(Stage::AwaitCooldown { scan, index, screened, at: now });
                            return Some(Step::Need(need));
                        }
                    }
                }
                Stage::AwaitCooldown { scan, index, screened, at } => {
                    let shared = scan.clone();
                    let ev = shared.events.get(index)?;
                    let next = Stage::Event { scan: scan.clone(), index: index + 1 };
                    match task.take_answer() {
                        Answer::Cooldown(c) if CooldownPolicy::allows(c.as_ref(), now, Some(ev.premium)) => {
                            if self.waits_for_confirmation(ev, &screened) {
                                task.confirm.push(Deferred { index, screened, at });
                                next
                            } else {
                                match self.data_need(task, ev, &screened, at) {
                                    Some(need) => {
                                        task.state = State::Options(Stage::AwaitData { scan, index, screened, at });
                                        return Some(Step::Need(need));
                                    }
                                    None => {
                                        let known = self.confirmations.known(ev);
                                        let step = self.decide(task, ev, screened, None, known, at, now);
                                        task.state = State::Options(next);
                                        return Some(step);
                                    }
                                }
                            }
                        }
                        Answer::Cooldown(_) => {
                            task.state = State::Options(next);
                            return Some(suppressed(task.bot, ev, Suppressed::new("cooldown")));
                        }
                        // The store could not answer (logged by the shell):
                        // nothing is alerted.
                        _ => next,
                    }
                }
                Stage::AwaitData { scan, index, screened, at } => {
                    let mut answer = Some(task.take_answer());
                    let shared = scan.clone();
                    let ev = shared.events.get(index)?;
                    // Bullseye's data is cached as it comes (daily bars,
                    // then the underlying's snapshot); the next need, if
                    // any, is asked before the rule is judged.
                    let scalps_daily = matches!(screened, Screened::Scalps)
                        && task.scalp.is_none()
                        && !task.daily_asked
                        && self.cached_daily(&task.symbol, ev.trading_date).is_none();
                    if scalps_daily {
                        task.daily_asked = true;
                        if let Some(Answer::Bars(daily)) = answer.take() {
                            self.keep_daily(&task.symbol, ev.trading_date, daily);
                        }
                    }
                    if matches!(screened, Screened::Bullseye) {
                        self.keep_bullseye_data(&task.symbol, ev.trading_date, answer.take(), at);
                    }
                    if answer.is_none()
                        && let Some(need) = self.data_need(task, ev, &screened, at)
                    {
                        task.state = State::Options(Stage::AwaitData { scan, index, screened, at });
                        return Some(Step::Need(need));
                    }
                    let known = self.confirmations.known(ev);
                    let step = self.decide(task, ev, screened, answer, known, at, now);
                    task.state = State::Options(Stage::Event { scan, index: index + 1 });
                    return Some(step);
                }
                Stage::Confirm { scan, mut queue } => {
                    let current = queue.pop_front()?;
                    let shared = scan.clone();
                    let ev = shared.events.get(current.index)?;
                    let known = self.confirmations.known(ev);
                    if known.is_none() && self.confirmations.left > 0 {
                        self.confirmations.left -= 1;
                        task.summary.confirmations += 1;
                        let need = Need::OptionTrades {
                            contract: ev.contract.clone(),
                            after_ns: ev.previous_at.timestamp_nanos_opt(),
                            until_ns: ev.observed_at.timestamp_nanos_opt(),
                            max_pages: CONFIRMATION_MAX_PAGES,
                        };
                        task.state = State::Options(Stage::AwaitConfirm { scan, queue, current });
                        return Some(Step::Need(need));
                    }
                    if known.is_none() {
                        task.summary.over_cap += 1;
                        // A family that posts only sweeps cannot post what
                        // it had no allowance left to confirm.
                        if self.rules.sweeps.require_iso {
                            task.state = State::Options(Stage::Confirm { scan, queue });
                            let why = "not confirmed: SWEEPS_MAX_CONFIRMATIONS spent this firing (SWEEPS_REQUIRE_ISO)";
                            return Some(suppressed(task.bot, ev, Suppressed::new(why)));
                        }
                    }
                    let step = self.decide(task, ev, current.screened, None, known, current.at, now);
                    task.state = State::Options(Stage::Confirm { scan, queue });
                    return Some(step);
                }
                Stage::AwaitConfirm { scan, queue, current } => {
                    let answer = task.take_answer();
                    let shared = scan.clone();
                    let ev = shared.events.get(current.index)?;
                    // A failed request (logged by the shell) leaves the
                    // candidate unconfirmed and is not remembered. A family
                    // that posts only sweeps cannot post it: it is
                    // suppressed here, before anything is committed.
                    let confirmation = match answer {
                        Answer::Trades(trades) => {
                            let c = bots::sweep_confirmation(&crate::scan::option_prints(&trades));
                            self.confirmations.known.insert(Confirmations::window(ev), c);
                            Some(c)
                        }
                        _ if self.rules.sweeps.require_iso => {
                            task.state = State::Options(Stage::Confirm { scan, queue });
                            let why = "not confirmed: the trades request failed (SWEEPS_REQUIRE_ISO)";
                            return Some(suppressed(task.bot, ev, Suppressed::new(why)));
                        }
                        _ => None,
                    };
                    let step = self.decide(task, ev, current.screened, None, confirmation, current.at, now);
                    task.state = State::Options(Stage::Confirm { scan, queue });
                    return Some(step);
                }
            };
        }
    }

    /// Keeps what Bullseye fetched: daily bars in the shared cache, the
    /// underlying's volume today from its snapshot (none when the snapshot
    /// was unavailable, so the gate does not judge and the request is not
    /// repeated for every hit of the scan).
    fn keep_bullseye_data(&mut self, symbol: &str, date: NaiveDate, answer: Option<Answer>, at: DateTime<Utc>) {
        match answer {
            Some(Answer::Bars(daily)) => {
                self.keep_daily(symbol, date, daily);
            }
            Some(Answer::Snapshot(snap)) => {
                let volume = snap.as_deref().and_then(|s| s.day.as_ref()).and_then(|d| d.volume);
                self.underlying_volumes.insert(symbol.to_string(), (at, volume));
            }
            _ => {
                self.underlying_volumes.insert(symbol.to_string(), (at, None));
            }
        }
    }

    /// The underlying's volume today as last read, when read within
    /// [`UNDERLYING_VOLUME_TTL_SECONDS`] of `now` (Some(None): read, unknown).
    fn underlying_volume(&self, symbol: &str, now: DateTime<Utc>) -> Option<Option<f64>> {
        let (at, volume) = self.underlying_volumes.get(symbol)?;
        ((now - *at).num_seconds().abs() <= UNDERLYING_VOLUME_TTL_SECONDS).then_some(*volume)
    }

    /// The underlying's volume pace at `now` (Breakouts' measure: today's
    /// volume over the 20-session average at the session's elapsed fraction).
    fn underlying_pace(&self, symbol: &str, date: NaiveDate, now: DateTime<Utc>) -> Option<f64> {
        let today = self.underlying_volume(symbol, now)??;
        let adv = self.cached_adv(symbol, date)?;
        crate::bars::volume_pace(today, adv, crate::bars::session_fraction_elapsed(now))
    }

    /// A new firing of an options bot: its allowance of confirmation
    /// requests, and confirmations too old to be shared forgotten.
    pub fn start_firing(&mut self, now: DateTime<Utc>) {
        self.confirmations.left = self.rules.max_confirmations;
        let keep_from = now - chrono::Duration::seconds(CONFIRMATION_KEEP_SECONDS);
        self.confirmations.known.retain(|(_, _, observed_at), _| *observed_at >= keep_from);
    }

    /// Whether a candidate that passed its cooldown waits for a trades
    /// request: Golden Sweeps always (to label it honestly), Sweeps when
    /// the ISO part decides; never when the window's answer is known.
    fn waits_for_confirmation(&self, ev: &FlowEvent, screened: &Screened) -> bool {
        if self.confirmations.known(ev).is_some() {
            return false;
        }
        match screened {
            Screened::Golden(_) => self.rules.sweeps.confirm_with_trades,
            Screened::Sweeps => sweeps::needs_confirmation(&self.rules.sweeps, ev),
            _ => false,
        }
    }

    /// The chain request for `symbol`: contracts up to the longest DTE any
    /// scheduled options family reads, so the request has fewer pages.
    fn chain_need(&self, symbol: &str, now: DateTime<Utc>) -> Need {
        let max_dte = self.options_bots.iter().filter_map(|b| self.rules.max_dte.get(b).copied()).max().unwrap_or(0);
        Need::Chain {
            symbol: symbol.to_string(),
            underlying: flow::polygon_underlying(symbol),
            expires_by: calendar::trading_date(now) + chrono::Duration::days(max_dte),
        }
    }

    /// A chain snapshot arrived: one detection pass against the volume
    /// cache, cached for the other options bots. Bullseye's momentum
    /// compares against the engine's own earlier observations of the
    /// underlying, recorded at every fetch. What the flow guards dropped is
    /// queued on the task as decisions to log.
    fn chain_arrived(
        &mut self,
        task: &mut Task,
        observations: Vec<flow::Observation>,
        contracts: usize,
        now: DateTime<Utc>,
    ) -> Arc<ChainScan> {
        let date = calendar::trading_date(now);
        let underlying = flow::polygon_underlying(&task.symbol);
        if let Some(spot) = observations.iter().find_map(|o| o.spot) {
            self.spots.record(&underlying, now, spot);
        }
        let data_error = |contract: &str, reason: String| Decision::DataError {
            symbol: task.symbol.clone(),
            contract: contract.to_string(),
            reason,
        };
        let mut errors: Vec<Decision> = observations
            .iter()
            .filter_map(|o| plausible::observation(o).err().map(|e| data_error(&o.contract, e.to_string())))
            .collect();
        let chain_scale = plausible::ChainScale::of(&observations);
        let detection = flow::detect_with(&mut self.volume, &self.rules.flow, &observations, now, date);
        for d in detection.dropped {
            task.pending.push_back(match d.reason {
                // Figures that overflowed are bad data, not a quiet drop.
                flow::DropReason::BadPremium { premium, avg_price }
                    if !(premium.is_finite() && avg_price.is_finite()) =>
                {
                    data_error(&d.contract, d.reason.to_string())
                }
                _ => Decision::Dropped {
                    contract: d.contract,
                    volume_delta: d.volume_delta,
                    reason: d.reason.to_string(),
                },
            });
        }
        let mut events = Vec::with_capacity(detection.events.len());
        for ev in detection.events {
            match plausible::event(&ev, &chain_scale) {
                Ok(()) => events.push(ev),
                Err(e) => errors.push(data_error(&ev.contract, e.to_string())),
            }
        }
        task.pending.extend(errors);
        // Largest first: the hits of one snapshot are judged in this order,
        // so a move's first post is its largest hit and the smaller ones of
        // the same instant join that episode (chain order posted the
        // smallest and escalated on each larger one: four posts for one
        // move in one second). It also ranks premiums against the day
        // correctly within one snapshot.
        events.sort_by(|a, b| b.premium.total_cmp(&a.premium).then_with(|| a.contract.cmp(&b.contract)));
        // Ranked after the plausibility check: a corrupt figure never
        // enters the underlying's flow distribution.
        if let Some(stats) = crate::unusual::rank_premiums(&mut self.book, &underlying, &mut events, now) {
            task.pending.push_back(Decision::SaveFlowStats(stats));
        }
        self.scan_seq += 1;
        let scan = Arc::new(ChainScan { seq: self.scan_seq, contracts, events, baselines: detection.baselines });
        self.chains.put(&task.symbol, now, scan.clone());
        scan
    }

    /// Starts evaluating `scan` for the task's bot, unless the bot already
    /// evaluated this very scan (a chain-cache hit on its next firing).
    fn begin(&mut self, task: &mut Task, scan: Arc<ChainScan>, now: DateTime<Utc>) -> Option<Stage> {
        let key = (task.bot, task.symbol.clone());
        if self.evaluated.get(&key) == Some(&scan.seq) {
            return None;
        }
        self.evaluated.insert(key, scan.seq);
        task.summary.events += scan.events.len();
        if task.bot == Bot::OraklFlow {
            self.repeats.prune(now);
        }
        Some(Stage::Event { scan, index: 0 })
    }

    /// The part of `bot`'s rule that needs no stored state and no request.
    pub(super) fn screen(&mut self, bot: Bot, ev: &FlowEvent, now: DateTime<Utc>) -> Result<Screened, Suppressed> {
        let r = &self.rules;
        // ORAKL Flow's repeats are hits each unusual for their contract:
        // the gate comes first, so routine prints on a busy contract never
        // add up to "bought again and again". The other families gate after
        // their own cheap part, which names the commoner reason.
        if bot == Bot::OraklFlow {
            crate::unusual::gate(bot, ev, &r.unusual)?;
        }
        let screened = match bot {
            Bot::GoldenSweeps => golden_sweeps::evaluate(&r.golden, ev).map(Screened::Golden),
            Bot::Sweeps => sweeps::screen(&r.sweeps, ev).map(|_| Screened::Sweeps),
            Bot::OraklFlow => orakl_flow::evaluate(&r.orakl_flow, ev, &mut self.repeats).map(Screened::Flow),
            Bot::Bullseye => bullseye::screen(&r.bullseye, ev, now, &self.spots).map(|_| Screened::Bullseye),
            Bot::Scalps => scalps::screen(&r.scalps, ev).map(|_| Screened::Scalps),
            Bot::Darkpool | Bot::Breakouts | Bot::Strat => Err(Suppressed::new("not an options family")),
        }?;
        if bot != Bot::OraklFlow {
            crate::unusual::gate(bot, ev, &r.unusual)?;
        }
        Ok(screened)
    }

    /// What the rest of the rule needs fetched, if anything: daily bars for
    /// Bullseye's ATR, 5-minute bars for Scalps (once per task). Sweep
    /// confirmations wait for the end of the scan ([`Stage::Confirm`]).
    fn data_need(&self, task: &Task, ev: &FlowEvent, screened: &Screened, now: DateTime<Utc>) -> Option<Need> {
        match screened {
            Screened::Golden(_) | Screened::Flow(_) | Screened::Sweeps => None,
            Screened::Bullseye => match self.cached_daily(&task.symbol, ev.trading_date) {
                None => Some(Engine::daily_need(&task.symbol, ev.trading_date)),
                Some(_)
                    if self.rules.bullseye.min_volume_surge > 0.0
                        && self.underlying_volume(&task.symbol, now).is_none() =>
                {
                    Some(Need::Snapshot { symbol: task.symbol.clone() })
                }
                Some(_) => None,
            },
            Screened::Scalps => match &task.scalp {
                Some(_) => None,
                // The volume gate's average comes from the daily bars the
                // stock families share; asked once per task when missing.
                None if self.rules.scalps.min_volume_pace > 0.0
                    && !task.daily_asked
                    && self.cached_daily(&task.symbol, ev.trading_date).is_none() =>
                {
                    Some(Engine::daily_need(&task.symbol, ev.trading_date))
                }
                None => {
                    let date = calendar::trading_date(now);
                    Some(Need::MinuteBars {
                        symbol: task.symbol.clone(),
                        ticker: flow::polygon_underlying(&task.symbol),
                        from: date,
                        to: date,
                    })
                }
            },
        }
    }

    /// The decision on a screened event whose cooldown allowed it, given the
    /// answer to its data need (None: it had none) and its sweep
    /// confirmation (None: not known): the rule judged as of `at`, when the
    /// event was taken up, and committed as of `now`.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        task: &mut Task,
        ev: &FlowEvent,
        screened: Screened,
        answer: Option<Answer>,
        confirmation: Option<Confirmation>,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Step {
        let bot = task.bot;
        let sw = &self.rules.sweeps;
        let alert = match screened {
            Screened::Golden(hit) => bots::check_sweep(sw.require_iso, sw.min_exchanges, confirmation)
                .map(|()| golden_sweeps::build_alert(&hit, ev, confirmation, sw.min_exchanges)),
            Screened::Flow(hit) => Ok(orakl_flow::build_alert(&hit, ev)),
            Screened::Sweeps => sweeps::evaluate(sw, ev, confirmation).map(|hit| sweeps::build_alert(&hit, ev)),
            Screened::Bullseye => {
                let daily = self.cached_daily(&task.symbol, ev.trading_date);
                let atr = daily.and_then(|d| daily_atr(&d));
                let pace = self.underlying_pace(&task.symbol, ev.trading_date, at);
                bullseye::check_volume_surge(pace, self.rules.bullseye.min_volume_surge)
                    .and_then(|()| bullseye::evaluate(&self.rules.bullseye, ev, at, &self.spots, atr))
                    .map(|hit| bullseye::build_alert(&hit, ev, pace))
            }
            Screened::Scalps => {
                if task.scalp.is_none() {
                    let minutes = match answer {
                        Some(Answer::Bars(b)) => b,
                        _ => Vec::new(),
                    };
                    task.scalp = Some(self.scalp_inputs(&task.symbol, &minutes, at));
                }
                let inputs = task.scalp.clone().unwrap_or_default();
                let ctx = ScalpContext::for_event(ev, inputs.rsi, inputs.bull.as_ref(), inputs.bear.as_ref());
                scalps::evaluate(&self.rules.scalps, ev, &ctx).map(|hit| scalps::build_alert(&hit, ev))
            }
        };
        match alert {
            Ok(alert) => Step::Decided(self.commit(
                bot,
                alert,
                &ev.contract,
                Some(ev.premium),
                ev.quote.map(|q| (q.bid, q.ask)),
                now,
            )),
            Err(s) => suppressed(bot, ev, s),
        }
    }

    /// The Scalps inputs from today's 1-minute bars: RSI of the closed
    /// 5-minute bars and the latest Strat trigger each way among the last
    /// 3 of them, of the patterns `SCALPS_PATTERNS` allows, with when its
    /// bar closed (the rule judges how fresh it is against the flow).
    fn scalp_inputs(&self, symbol: &str, minutes: &[crate::polygon::Bar], now: DateTime<Utc>) -> ScalpInputs {
        let minutes: Vec<bars::Bar> =
            minutes.iter().filter_map(|b| bars::Bar::from_polygon(b, chrono::Duration::minutes(1))).collect();
        let bars = bars::aggregate(&minutes, bars::Frame::Min5, bars::Session::Extended, now);
        let adv = self.cached_adv(symbol, calendar::trading_date(now));
        let pace = |start| bars.iter().find(|b| b.start == start).and_then(|b| crate::bots::strat::volume_pace(b, adv));
        let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
        let trigger = |bullish| {
            strat::recent_trigger(&bars, SCALP_TRIGGER_BARS, bullish, &self.rules.scalps.patterns).map(|s| Trigger {
                pattern: s.kind,
                bullish: s.bullish,
                entry: s.entry,
                stop: s.stop,
                target: s.target,
                closed_at: s.trigger_end,
                volume_pace: pace(s.trigger_start),
            })
        };
        ScalpInputs {
            rsi: indicators::rsi_wilder(&closes, self.rules.scalps.rsi_period),
            bull: trigger(true),
            bear: trigger(false),
        }
    }
}

/// The task's candidates waiting for a confirmation, largest premium first:
/// they were deferred in scan order, which is already largest first
/// (`chain_arrived` sorts a snapshot's events).
fn confirmation_queue(task: &mut Task) -> VecDeque<Deferred> {
    std::mem::take(&mut task.confirm).into()
}

/// A candidate that did not become an alert.
fn suppressed(bot: Bot, ev: &FlowEvent, s: Suppressed) -> Step {
    Step::Decided(Decision::Suppressed {
        bot,
        what: Fields::new().text("contract", &ev.contract).num("premium", crate::logging::decimals(ev.premium, 0)),
        reason: s.reason,
    })
}
