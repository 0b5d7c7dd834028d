//! The market-wide prints lane (SPEC §14): one `market_prints` poll reads
//! Massive's unusual option trades since the stored cursor (one request,
//! a page or two, for the whole market), groups them into orders
//! ([`crate::orders`]), and judges each complete order for Sweeps and Golden
//! Sweeps with the same rules as their snapshot path: relative gates,
//! cooldowns, episodes, side-derived direction.
//!
//! The order of the work keeps requests for the orders worth them: the
//! cheap part first (scope, premium, DTE, and with `SWEEPS_REQUIRE_ISO` a
//! sweep), then the contract's context (the chain cache when it saw the
//! contract after the order, else the single-contract snapshot), the
//! families' rules with the best side the quote could give, and only then
//! the NBBO at the print (one request), the cooldown and the decision. At
//! most `PRINTS_MAX_LOOKUPS` orders are looked up per poll; the rest wait
//! for the next poll (the cursor stays before them), never dropped.
//!
//! The cursor never moves past a print whose order is not judged: an order
//! whose last print is within [`orders::ORDER_GAP_NS`] of the read's end
//! may still be filling, so it and every print after its first wait for
//! the next poll. Prints of judged orders beyond the cursor are remembered
//! here for the day, so a re-read does not judge them twice.

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Utc};

use super::options::Screened;
use super::{Answer, Decision, Engine, Need, State, Step, Task};
use crate::bots::{self, Confirmation, Suppressed, golden_sweeps, sweeps};
use crate::calendar;
use crate::config::PrintsScope;
use crate::engine::cooldown::CooldownPolicy;
use crate::flow::{self, FlowEvent};
use crate::job::Bot;
use crate::logging::Fields;
use crate::orders::{self, Order, OrderKind, PrintsCursor};
use crate::polygon::UnusualTrade;

/// Where the lane's cursor is stored.
pub const CURSOR_KEY: &str = "market_prints";
/// A first read (or the first of a new day) starts this far back rather
/// than at the open: prints older than that are history, not alerts.
const FIRST_READ_MINUTES: i64 = 5;
/// Pages read per poll; a backlog is read over the next polls.
pub const MAX_PAGES: usize = 4;
/// Records per page asked for: a poll's new prints fit in one page on a
/// busy day (the whole market prints a few unusual trades a second).
pub const PAGE_LIMIT: usize = 1_000;
/// The families the lane feeds, in the order an order is judged.
const FAMILIES: [Bot; 2] = [Bot::GoldenSweeps, Bot::Sweeps];

/// What the lane keeps between polls.
#[derive(Debug, Default)]
pub(super) struct Lane {
    /// Prints judged at or after the stored cursor: (SIP ns, key).
    judged: BTreeSet<(i64, String)>,
}

/// Where a prints task stands.
#[derive(Debug)]
pub(super) enum Stage {
    Start,
    AwaitHistory,
    AwaitCursor {
        started: DateTime<Utc>,
    },
    AwaitPrints {
        cursor: PrintsCursor,
        started: DateTime<Utc>,
    },
    Next(Box<Work>),
    AwaitContext(Box<Work>, Box<Candidate>),
    AwaitQuote(Box<Work>, Box<Candidate>),
    AwaitCooldown(Box<Work>, Box<Candidate>),
    /// Where to go on after a decision was handed out.
    Resume(Box<Next>),
}

/// What a step of the work leads to: go on, or wait for a need's answer
/// in a stage.
#[derive(Debug)]
pub(super) enum Next {
    Go(Stage),
    Wait(Stage, Need),
}

/// One poll's orders and what was judged.
#[derive(Debug)]
pub(super) struct Work {
    orders: VecDeque<Order>,
    cursor: PrintsCursor,
    /// The first print not judged this poll (an order still filling, or
    /// one left for lack of lookups): the cursor stays before it.
    hold_from: i64,
    /// Prints taken up this poll (judged, or outside the scope).
    judged: Vec<UnusualTrade>,
    /// Orders judged.
    orders_judged: usize,
    lookups_left: usize,
}

/// An order that passed the cheap part.
#[derive(Debug)]
pub(super) struct Candidate {
    order: Order,
    confirmation: Confirmation,
    kind: OrderKind,
    ev: Option<FlowEvent>,
    quote: Option<(f64, f64)>,
    /// Families whose rule it may still pass, and the one whose cooldown
    /// was asked for.
    families: VecDeque<(Bot, Screened)>,
    current: Option<(Bot, Screened)>,
}

/// Goes on with the stage a step leads to, or returns its need.
macro_rules! go {
    ($task:expr, $next:expr) => {
        match wait($task, $next) {
            Ok(stage) => stage,
            Err(step) => return Some(step),
        }
    };
}

impl Engine {
    /// The prints lane's task for one poll. Its bot is Sweeps, the family
    /// its orders feed first, for the shell's log lines.
    pub fn start_prints(&mut self) -> Task {
        let mut task = self.start(Bot::Sweeps, "market");
        task.state = State::Prints(Stage::Start);
        task
    }

    pub(super) fn poll_prints(&mut self, task: &mut Task, stage: Stage, now: DateTime<Utc>) -> Option<Step> {
        let mut stage = stage;
        loop {
            stage = match stage {
                Stage::Start if let Some(need) = self.history_need(now) => {
                    task.state = State::Prints(Stage::AwaitHistory);
                    return Some(Step::Need(need));
                }
                Stage::AwaitHistory => {
                    self.load_history(task, now);
                    Stage::Start
                }
                Stage::Start => {
                    task.state = State::Prints(Stage::AwaitCursor { started: now });
                    return Some(Step::Need(Need::Cursor { key: CURSOR_KEY.to_string() }));
                }
                Stage::Resume(next) => go!(task, *next),
                Stage::AwaitCursor { started } => {
                    let text = match task.take_answer() {
                        Answer::Cursor(text) => text,
                        _ => None,
                    };
                    let cursor = resumable(text.as_deref().and_then(PrintsCursor::parse), started);
                    self.lane.judged.retain(|(ns, _)| *ns >= cursor.sip_timestamp);
                    let until_ns = started.timestamp_nanos_opt().unwrap_or(i64::MAX);
                    let need = Need::UnusualTrades { from_ns: cursor.sip_timestamp, until_ns, max_pages: MAX_PAGES };
                    task.state = State::Prints(Stage::AwaitPrints { cursor, started });
                    return Some(Step::Need(need));
                }
                Stage::AwaitPrints { cursor, started } => {
                    let Answer::Prints(read) = task.take_answer() else {
                        task.summary.failed = true;
                        return None;
                    };
                    Stage::Next(Box::new(self.take_up(task, read, cursor, started)))
                }
                Stage::Next(mut work) => {
                    let Some(order) = work.orders.pop_front() else {
                        return self.finish(task, *work);
                    };
                    match self.cheap(&order) {
                        Err(s) => {
                            work.orders_judged += 1;
                            let step = suppressed_order(Bot::Sweeps, &order, s);
                            work.judged.extend(order.prints);
                            task.state = State::Prints(Stage::Next(work));
                            return Some(step);
                        }
                        Ok(()) if work.lookups_left == 0 => {
                            // Out of lookups: this order and every later one
                            // wait for the next poll.
                            task.summary.deferred += 1 + work.orders.len();
                            work.hold_from = work.hold_from.min(order.first_ns());
                            work.orders.clear();
                            Stage::Next(work)
                        }
                        Ok(()) => {
                            work.orders_judged += 1;
                            work.lookups_left -= 1;
                            task.summary.lookups += 1;
                            let candidate = Box::new(Candidate {
                                confirmation: order.confirmation(),
                                kind: order.kind(self.rules.sweeps.min_exchanges),
                                order,
                                ev: None,
                                quote: None,
                                families: VecDeque::new(),
                                current: None,
                            });
                            match self.cached_context(&candidate.order, now) {
                                Some(obs) => {
                                    let next = self.with_context(task, work, candidate, Some(obs), now);
                                    go!(task, next)
                                }
                                None => {
                                    let need = context_need(&candidate.order);
                                    task.state = State::Prints(Stage::AwaitContext(work, candidate));
                                    return Some(Step::Need(need));
                                }
                            }
                        }
                    }
                }
                Stage::AwaitContext(work, candidate) => {
                    let obs = match task.take_answer() {
                        Answer::Contract(obs) => obs.map(|o| *o),
                        _ => None,
                    };
                    let next = self.with_context(task, work, candidate, obs, now);
                    go!(task, next)
                }
                Stage::AwaitQuote(work, mut candidate) => {
                    let quote = match task.take_answer() {
                        Answer::Quote(q) => q,
                        _ => None,
                    };
                    let side = candidate.order.side(quote.as_ref());
                    if let Some(ev) = candidate.ev.as_mut() {
                        ev.side = side;
                        ev.sentiment = flow::sentiment(ev.contract_type, side);
                    }
                    candidate.quote = quote.as_ref().and_then(|q| Some((q.bid_price?, q.ask_price?)));
                    go!(task, next_family(work, candidate))
                }
                Stage::AwaitCooldown(work, mut candidate) => {
                    let answer = task.take_answer();
                    let (Some((bot, screened)), Some(premium)) =
                        (candidate.current.take(), candidate.ev.as_ref().map(|e| e.premium))
                    else {
                        stage = go!(task, next_family(work, candidate));
                        continue;
                    };
                    let step = match answer {
                        Answer::Cooldown(c) if CooldownPolicy::allows(c.as_ref(), now, Some(premium)) => {
                            self.decide_order(bot, screened, &candidate, now)
                        }
                        Answer::Cooldown(_) => suppressed_order(bot, &candidate.order, Suppressed::new("cooldown")),
                        // The store could not answer (logged by the shell):
                        // nothing is alerted.
                        _ => {
                            stage = go!(task, next_family(work, candidate));
                            continue;
                        }
                    };
                    // The decision first; the next need is asked on the
                    // next poll, from the stage it leaves.
                    task.state = State::Prints(Stage::Resume(Box::new(next_family(work, candidate))));
                    return Some(step);
                }
            };
        }
    }

    /// The prints read this poll, minus those judged before, as orders;
    /// prints outside `PRINTS_SCOPE` are taken up without a judgement.
    fn take_up(
        &mut self,
        task: &mut Task,
        read: Vec<UnusualTrade>,
        cursor: PrintsCursor,
        started: DateTime<Utc>,
    ) -> Work {
        // A read that filled every page may stop inside an order: its end
        // is the newest print read, not the poll's time.
        let truncated = read.len() >= PAGE_LIMIT * MAX_PAGES;
        let until_ns = match read.iter().map(|p| p.sip_timestamp).max() {
            Some(last) if truncated => last,
            _ => started.timestamp_nanos_opt().unwrap_or(i64::MAX),
        };
        let (mut fresh, mut judged) = (Vec::new(), Vec::new());
        for p in read {
            if cursor.covers(&p) || self.lane.judged.contains(&(p.sip_timestamp, orders::print_key(&p))) {
                continue;
            }
            if self.in_scope(&p) { fresh.push(p) } else { judged.push(p) }
        }
        task.summary.prints = fresh.len();
        let orders::Completion { done: orders, open_from: hold_from, open } =
            orders::complete(orders::group(&fresh), until_ns);
        // Polled again as soon as a filling order that may alert settles;
        // the rest wait for the next poll (a busy tape always has some).
        task.summary.settles_at_ns = open.iter().filter(|o| self.cheap(o).is_ok()).map(Order::settles_at).min();
        // Out-of-scope prints after an order still filling wait with it, so
        // the cursor's rule stays one: nothing at or after `hold_from` moves
        // it. Nor does anything of the last second: a print the feed
        // publishes a moment after a later one is read on the next poll
        // (those judged meanwhile are remembered, not judged twice).
        let settled = until_ns.saturating_sub(orders::ORDER_GAP_NS);
        let hold_from = hold_from.map_or(settled, |h| h.min(settled));
        Work {
            orders: orders.into(),
            cursor,
            hold_from,
            judged,
            orders_judged: 0,
            lookups_left: self.rules.prints_max_lookups,
        }
    }

    /// Whether a print's underlying is one the lane takes up.
    fn in_scope(&self, p: &UnusualTrade) -> bool {
        match self.rules.prints_scope {
            PrintsScope::Market => true,
            PrintsScope::Watchlist => orders::underlying_names(p).iter().any(|n| {
                let shown = flow::display_symbol(n);
                self.rules.watchlist.iter().any(|w| flow::display_symbol(w) == shown)
            }),
        }
    }

    /// The part of the families' rules that needs no request: an order no
    /// family could alert is not looked up.
    fn cheap(&self, order: &Order) -> Result<(), Suppressed> {
        let r = &self.rules;
        let families: Vec<Bot> = FAMILIES.into_iter().filter(|b| self.options_bots.contains(b)).collect();
        if families.is_empty() {
            return Err(Suppressed::new("neither Sweeps nor Golden Sweeps is in the timetable"));
        }
        let min_premium = families
            .iter()
            .map(|b| if *b == Bot::GoldenSweeps { r.golden.min_premium } else { r.sweeps.min_premium })
            .fold(f64::INFINITY, f64::min);
        let premium = order.standard_premium();
        if premium < min_premium {
            return Err(Suppressed::new(format!("premium {premium:.0} below {min_premium:.0}")));
        }
        let Some(expiration) = orders::expiration(&order.contract) else {
            return Err(Suppressed::new("the ticker names no expiration"));
        };
        let first = DateTime::from_timestamp_nanos(order.first_ns());
        let dte = (expiration - calendar::trading_date(first)).num_days();
        let in_range = families.iter().any(|b| match b {
            Bot::GoldenSweeps => (r.golden.min_dte..=r.golden.max_dte).contains(&dte),
            _ => (r.sweeps.min_dte..=r.sweeps.max_dte).contains(&dte),
        });
        if !in_range {
            return Err(Suppressed::new(format!("DTE {dte} outside both families' ranges")));
        }
        bots::check_sweep(r.sweeps.require_iso, r.sweeps.min_exchanges, Some(order.confirmation()))
    }

    /// The contract as the chain cache saw it after the order, if it did.
    fn cached_context(&mut self, order: &Order, now: DateTime<Utc>) -> Option<flow::Observation> {
        let symbol = order.underlying_names().into_iter().map(|n| flow::display_symbol(&n).to_string()).next()?;
        let scan = self.chains.get(&symbol, now)?;
        let after = DateTime::from_timestamp_nanos(order.last_ns());
        scan.events
            .iter()
            .find(|e| e.contract == order.contract && e.observed_at >= after)
            .map(|e| e.observation.clone())
    }

    /// The order as a flow event on its context, screened by each family;
    /// the quote is asked for when one may still alert.
    fn with_context(
        &mut self,
        task: &mut Task,
        mut work: Box<Work>,
        mut candidate: Box<Candidate>,
        context: Option<flow::Observation>,
        now: DateTime<Utc>,
    ) -> Next {
        let order = &candidate.order;
        let ev = context.as_ref().and_then(|c| orders::event(order, c, now, calendar::trading_date(now)));
        let Some(mut ev) = ev else {
            let why = if context.is_none() { "no context: the contract's snapshot" } else { "no contract type" };
            task.pending.push_back(order_decision(Bot::Sweeps, order, Suppressed::new(why)));
            work.judged.extend(candidate.order.prints);
            return Next::Go(Stage::Next(work));
        };
        if !self.book.needs_history(ev.trading_date) {
            ev.unusual.premium = self.book.rank(&ev.underlying, ev.premium);
        }
        let families: Vec<Bot> = FAMILIES.into_iter().filter(|b| self.options_bots.contains(b)).collect();
        for bot in families {
            let screened =
                self.screen(bot, &ev, now).and_then(|s| self.could_pass(bot, &ev, candidate.confirmation).map(|()| s));
            match screened {
                Ok(s) => candidate.families.push_back((bot, s)),
                Err(s) => task.pending.push_back(order_decision(bot, order, s)),
            }
        }
        if candidate.families.is_empty() {
            work.judged.extend(candidate.order.prints);
            return Next::Go(Stage::Next(work));
        }
        let need = Need::Quote { contract: candidate.order.contract.clone(), at_ns: candidate.order.first_ns() };
        candidate.ev = Some(ev);
        Next::Wait(Stage::AwaitQuote(work, candidate), need)
    }

    /// Whether `bot`'s rule could pass with the best side the quote may
    /// give (the ask): an order that fails even so is not worth a quote.
    fn could_pass(&self, bot: Bot, ev: &FlowEvent, confirmation: Confirmation) -> Result<(), Suppressed> {
        let sw = &self.rules.sweeps;
        match bot {
            Bot::Sweeps => {
                let mut best = ev.clone();
                best.side = crate::alert::Side::Ask;
                best.sentiment = flow::sentiment(best.contract_type, best.side);
                sweeps::evaluate(sw, &best, Some(confirmation)).map(|_| ())
            }
            _ => bots::check_sweep(sw.require_iso, sw.min_exchanges, Some(confirmation)),
        }
    }

    /// `bot`'s decision on an order whose cooldown allowed it.
    fn decide_order(&mut self, bot: Bot, screened: Screened, candidate: &Candidate, now: DateTime<Utc>) -> Step {
        let Some(ev) = candidate.ev.as_ref() else {
            return suppressed_order(bot, &candidate.order, Suppressed::new("no context"));
        };
        let sw = &self.rules.sweeps;
        let conf = Some(candidate.confirmation);
        let alert = match screened {
            Screened::Golden(hit) => bots::check_sweep(sw.require_iso, sw.min_exchanges, conf)
                .map(|()| golden_sweeps::build_alert(&hit, ev, conf, sw.min_exchanges)),
            _ => sweeps::evaluate(sw, ev, conf).map(|hit| sweeps::build_alert(&hit, ev)),
        };
        match alert {
            Ok(mut alert) => {
                let order = &candidate.order;
                alert.id = bots::order_alert_id(bot, &order.contract, order.first_ns());
                if candidate.kind == OrderKind::Block {
                    alert.label = block_label(order);
                }
                alert.details.notes.push(("trade tape".to_string(), tape_note(order, candidate.kind)));
                Step::Decided(self.commit(bot, alert, &order.contract, Some(ev.premium), candidate.quote, now))
            }
            Err(s) => suppressed_order(bot, &candidate.order, s),
        }
    }

    /// Every order judged: the cursor moves past the prints taken up before
    /// the first one held back.
    fn finish(&mut self, task: &mut Task, work: Work) -> Option<Step> {
        let Work { cursor, hold_from, judged, orders_judged, .. } = work;
        let before = |p: &&UnusualTrade| p.sip_timestamp < hold_from;
        let next = cursor.advanced(judged.iter().filter(before));
        for p in judged.iter().filter(|p| p.sip_timestamp >= next.sip_timestamp) {
            self.lane.judged.insert((p.sip_timestamp, orders::print_key(p)));
        }
        self.lane.judged.retain(|(ns, _)| *ns >= next.sip_timestamp);
        task.summary.orders = orders_judged;
        task.state = State::Done;
        (next != cursor)
            .then(|| Step::Decided(Decision::SetCursor { key: CURSOR_KEY.to_string(), text: next.to_text() }))
    }
}

/// The next family's cooldown, or the next order.
fn next_family(mut work: Box<Work>, mut candidate: Box<Candidate>) -> Next {
    match candidate.families.pop_front() {
        Some((bot, screened)) => {
            let need = Need::Cooldown { bot, key: candidate.order.contract.clone() };
            candidate.current = Some((bot, screened));
            Next::Wait(Stage::AwaitCooldown(work, candidate), need)
        }
        None => {
            work.judged.extend(candidate.order.prints);
            Next::Go(Stage::Next(work))
        }
    }
}

/// Goes on with the stage, or leaves the task waiting in it for the need
/// (None: return that step).
fn wait(task: &mut Task, next: Next) -> Result<Stage, Step> {
    match next {
        Next::Go(stage) => Ok(stage),
        Next::Wait(stage, need) => {
            task.state = State::Prints(stage);
            Err(Step::Need(need))
        }
    }
}

/// The stored cursor when it is from today's session and not later than
/// `now`, else a first read's start. A cursor ahead of the clock (a replay
/// started again from an earlier moment, a clock stepped back) would read
/// nothing until the clock caught up; the first read's start reads the
/// prints again instead, and their alerts' ids make a second commit a no-op.
fn resumable(cursor: Option<PrintsCursor>, now: DateTime<Utc>) -> PrintsCursor {
    let now_ns = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    match cursor {
        Some(c) if super::of_today(c.sip_timestamp, now) && c.sip_timestamp <= now_ns => c,
        _ => PrintsCursor {
            sip_timestamp: (now - chrono::Duration::minutes(FIRST_READ_MINUTES)).timestamp_nanos_opt().unwrap_or(0),
            keys: BTreeSet::new(),
        },
    }
}

/// The single-contract snapshot of the order's contract.
fn context_need(order: &Order) -> Need {
    let root = order.underlying_names().into_iter().next().unwrap_or_default();
    Need::Contract { underlying: flow::polygon_underlying(&root), contract: order.contract.clone() }
}

/// A block's honest label: what printed, not a sweep.
fn block_label(order: &Order) -> String {
    let n = order.prints.len();
    let largest = order.prints.iter().map(|p| p.size).fold(0.0, f64::max);
    let prints = if n == 1 { "print" } else { "prints" };
    format!("{}: {n} {prints} (largest {largest:.0} contracts) on {} exchange(s)", bots::BLOCK_LABEL, order.exchanges())
}

/// Where the alert came from, for the trader.
fn tape_note(order: &Order, kind: OrderKind) -> String {
    let at = DateTime::from_timestamp_nanos(order.first_ns()).with_timezone(&calendar::MARKET_TZ);
    format!(
        "{} of {} print(s) on {} exchange(s) at {} ET",
        kind.as_str(),
        order.prints.len(),
        order.exchanges(),
        at.format("%H:%M:%S%.3f")
    )
}

fn order_decision(bot: Bot, order: &Order, s: Suppressed) -> Decision {
    Decision::Suppressed {
        bot,
        what: Fields::new()
            .text("contract", &order.contract)
            .num("premium", crate::logging::decimals(order.standard_premium(), 0))
            .int("prints", order.prints.len()),
        reason: s.reason,
    }
}

fn suppressed_order(bot: Bot, order: &Order, s: Suppressed) -> Step {
    Step::Decided(order_decision(bot, order, s))
}
