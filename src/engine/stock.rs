//! The stock families' pipeline on one symbol: Darkpool (incremental trade
//! scans from a stored cursor), Breakouts (20 sessions of daily bars and
//! today's snapshot) and STRAT (bars built from 1-minute bars in ET). Each
//! alert they find is checked against its stored cooldown, like the options
//! families' candidates, before it is committed.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Answer, Decision, Engine, Need, State, Step, Task, daily_atr};
use crate::alert::Alert;
use crate::bars;
use crate::bots::breakouts::{self, BreakoutInput};
use crate::bots::darkpool::{self, Cursor};
use crate::bots::strat as strat_bot;
use crate::calendar;
use crate::engine::cooldown::CooldownPolicy;
use crate::flow;
use crate::job::Bot;
use crate::logging::Fields;

/// Minute bars fetched per STRAT scan: enough for several 4h and daily bars.
const STRAT_LOOKBACK_CALENDAR_DAYS: i64 = 7;
/// A first darkpool scan (or one on a new day) starts this far back rather
/// than paging through the whole day's prints.
const DARKPOOL_FIRST_SCAN_MINUTES: i64 = 5;
/// Pages of prints read per symbol per scan; the cursor resumes the rest.
const DARKPOOL_MAX_PAGES: usize = 4;

/// Where a stock task stands.
#[derive(Debug)]
pub(super) enum Stage {
    Start,
    // Each stage below carries `started`, the instant the task began: the
    // scan is judged as of then (its alerts' time), whatever its requests
    // took.
    AwaitCursor {
        started: DateTime<Utc>,
    },
    AwaitTrades {
        cursor: Option<Cursor>,
        started: DateTime<Utc>,
    },
    /// The stock's daily bars, for the relative gate of the prints fetched.
    AwaitDarkDaily {
        cursor: Option<Cursor>,
        trades: Vec<crate::polygon::models::Trade>,
        started: DateTime<Utc>,
    },
    DarkScan {
        cursor: Option<Cursor>,
        trades: Vec<crate::polygon::models::Trade>,
        started: DateTime<Utc>,
    },
    /// The stock's daily bars: Breakouts' levels, STRAT's volume pace.
    AwaitDaily {
        started: DateTime<Utc>,
    },
    AskSnapshot {
        started: DateTime<Utc>,
    },
    AwaitSnapshot {
        started: DateTime<Utc>,
    },
    AskMinutes {
        started: DateTime<Utc>,
    },
    AwaitMinutes {
        started: DateTime<Utc>,
    },
    /// The alerts found, each checked against its cooldown in turn, then
    /// what to store once they are committed (the darkpool cursor).
    Alerts {
        queue: VecDeque<Item>,
        checking: Option<Box<Found>>,
        after: Option<Decision>,
    },
}

/// One thing a scan found, in order.
#[derive(Debug)]
pub(super) enum Item {
    Alert(Box<Found>),
    Note(Decision),
}

/// An alert found and the cooldown it falls under.
#[derive(Debug)]
pub(super) struct Found {
    alert: Alert,
    key: String,
    /// What the 2× override compares (the print's notional for Darkpool).
    size: Option<f64>,
}

impl Engine {
    pub(super) fn poll_stock(&mut self, task: &mut Task, stage: Stage, now: DateTime<Utc>) -> Option<Step> {
        let mut stage = stage;
        loop {
            stage = match stage {
                Stage::Start => match task.bot {
                    Bot::Darkpool => {
                        task.state = State::Stock(Stage::AwaitCursor { started: now });
                        return Some(Step::Need(Need::Cursor { key: cursor_key(&task.symbol) }));
                    }
                    Bot::Breakouts => match self.cached_daily(&task.symbol, calendar::trading_date(now)) {
                        Some(_) => Stage::AskSnapshot { started: now },
                        None => {
                            task.state = State::Stock(Stage::AwaitDaily { started: now });
                            return Some(Step::Need(Engine::daily_need(&task.symbol, calendar::trading_date(now))));
                        }
                    },
                    // The daily bars (shared with Breakouts and Darkpool,
                    // fetched once a day) give the volume gate its average.
                    Bot::Strat => match self.cached_daily(&task.symbol, calendar::trading_date(now)) {
                        None if self.rules.strat.min_volume_pace > 0.0 => {
                            task.state = State::Stock(Stage::AwaitDaily { started: now });
                            return Some(Step::Need(Engine::daily_need(&task.symbol, calendar::trading_date(now))));
                        }
                        _ => Stage::AskMinutes { started: now },
                    },
                    _ => return None,
                },
                Stage::AskMinutes { started } => {
                    let date = calendar::trading_date(started);
                    task.state = State::Stock(Stage::AwaitMinutes { started });
                    return Some(Step::Need(Need::MinuteBars {
                        symbol: task.symbol.clone(),
                        ticker: flow::polygon_underlying(&task.symbol),
                        from: date - chrono::Duration::days(STRAT_LOOKBACK_CALENDAR_DAYS),
                        to: date,
                    }));
                }
                Stage::AwaitCursor { started } => {
                    let now = started;
                    let text = match task.take_answer() {
                        Answer::Cursor(text) => text,
                        _ => None,
                    };
                    let cursor = resumable(text.as_deref().and_then(parse_cursor), now);
                    let since = match &cursor {
                        Some(c) => c.sip_timestamp,
                        None => (now - chrono::Duration::minutes(DARKPOOL_FIRST_SCAN_MINUTES))
                            .timestamp_nanos_opt()
                            .unwrap_or(0),
                    };
                    task.state = State::Stock(Stage::AwaitTrades { cursor, started });
                    return Some(Step::Need(Need::StockTrades {
                        symbol: task.symbol.clone(),
                        from_ns: since,
                        until_ns: now.timestamp_nanos_opt(),
                        max_pages: DARKPOOL_MAX_PAGES,
                    }));
                }
                Stage::AwaitTrades { cursor, started } => {
                    let Answer::Trades(trades) = task.take_answer() else {
                        task.summary.failed = true;
                        return None;
                    };
                    // The relative gate needs the stock's daily volumes: asked
                    // for (once a day, cached) only when a print passed the
                    // absolute rules.
                    let date = calendar::trading_date(started);
                    if self.cached_daily(&task.symbol, date).is_none()
                        && darkpool::has_candidate(&self.rules.darkpool, cursor.as_ref(), &trades)
                    {
                        task.state = State::Stock(Stage::AwaitDarkDaily { cursor, trades, started });
                        return Some(Step::Need(Engine::daily_need(&task.symbol, date)));
                    }
                    Stage::DarkScan { cursor, trades, started }
                }
                Stage::AwaitDarkDaily { cursor, trades, started } => {
                    // Without the bars the relative gate fails closed: the
                    // prints still feed the day's tape and move the cursor.
                    if let Answer::Bars(daily) = task.take_answer() {
                        let date = calendar::trading_date(started);
                        self.keep_daily(&task.symbol, date, daily);
                    }
                    Stage::DarkScan { cursor, trades, started }
                }
                Stage::DarkScan { cursor, trades, started } => {
                    let adv = self.cached_adv(&task.symbol, calendar::trading_date(started));
                    let day = self.day_tapes.entry(task.symbol.clone()).or_default();
                    let scan =
                        darkpool::scan(&self.rules.darkpool, &task.symbol, cursor.as_ref(), &trades, day, adv, started);
                    let queue = scan
                        .alerts
                        .into_iter()
                        .map(|alert| {
                            let size = alert.notional;
                            Item::Alert(Box::new(Found {
                                alert,
                                key: CooldownPolicy::stock_key(&task.symbol, None),
                                size,
                            }))
                        })
                        .collect();
                    let after = scan.cursor.map(|c| Decision::SetCursor {
                        key: cursor_key(&task.symbol),
                        text: json!({"sip_timestamp": c.sip_timestamp, "ids": c.ids}).to_string(),
                    });
                    Stage::Alerts { queue, checking: None, after }
                }
                Stage::AwaitDaily { started } => match task.take_answer() {
                    Answer::Bars(daily) => {
                        let date = calendar::trading_date(started);
                        self.keep_daily(&task.symbol, date, daily);
                        // Breakouts go on to the snapshot, STRAT to its bars.
                        if task.bot == Bot::Strat {
                            Stage::AskMinutes { started }
                        } else {
                            Stage::AskSnapshot { started }
                        }
                    }
                    _ => {
                        task.summary.failed = true;
                        return None;
                    }
                },
                Stage::AskSnapshot { started } => {
                    task.state = State::Stock(Stage::AwaitSnapshot { started });
                    return Some(Step::Need(Need::Snapshot { symbol: task.symbol.clone() }));
                }
                Stage::AwaitSnapshot { started } => match task.take_answer() {
                    Answer::Snapshot(snap) => self.breakout(task, snap.as_deref(), started),
                    _ => {
                        task.summary.failed = true;
                        return None;
                    }
                },
                Stage::AwaitMinutes { started } => match task.take_answer() {
                    Answer::Bars(raw) => self.strat(task, &raw, started),
                    _ => {
                        task.summary.failed = true;
                        return None;
                    }
                },
                Stage::Alerts { mut queue, checking: Some(found), after } => {
                    let bot = task.bot;
                    let step = match task.take_answer() {
                        Answer::Cooldown(c) if CooldownPolicy::allows(c.as_ref(), now, found.size) => {
                            let Found { alert, key, size } = *found;
                            Some(self.commit(bot, alert, &key, size, None, now))
                        }
                        Answer::Cooldown(_) => Some(Decision::Suppressed {
                            bot,
                            what: Fields::new().text("ticker", &task.symbol).text("id", &found.alert.id),
                            reason: "cooldown".to_string(),
                        }),
                        // The store could not answer (logged by the shell):
                        // nothing is alerted.
                        _ => None,
                    };
                    let next = Stage::Alerts { queue: std::mem::take(&mut queue), checking: None, after };
                    match step {
                        Some(d) => {
                            task.state = State::Stock(next);
                            return Some(Step::Decided(d));
                        }
                        None => next,
                    }
                }
                Stage::Alerts { mut queue, checking: None, mut after } => match queue.pop_front() {
                    Some(Item::Note(d)) => {
                        task.state = State::Stock(Stage::Alerts { queue, checking: None, after });
                        return Some(Step::Decided(d));
                    }
                    Some(Item::Alert(found)) => {
                        let need = Need::Cooldown { bot: task.bot, key: found.key.clone() };
                        task.state = State::Stock(Stage::Alerts { queue, checking: Some(found), after });
                        return Some(Step::Need(need));
                    }
                    None => return after.take().map(Step::Decided),
                },
            };
        }
    }

    /// Breakouts on the symbol's snapshot, against the cached daily bars.
    fn breakout(&self, task: &Task, snap: Option<&crate::polygon::TickerSnapshot>, now: DateTime<Utc>) -> Stage {
        let mut queue = VecDeque::new();
        let symbol = &task.symbol;
        let note = |reason: String| {
            Item::Note(Decision::Suppressed { bot: Bot::Breakouts, what: Fields::new().text("ticker", symbol), reason })
        };
        let date = calendar::trading_date(now);
        let cached = self.cached_daily(symbol, date).unwrap_or_default();
        let daily: Vec<bars::Bar> = cached.iter().filter_map(bars::Bar::from_polygon_day).collect();
        let atr = daily_atr(&cached);
        if let Some(snap) = snap {
            match (snap.last_price(), snap.day.as_ref().and_then(|d| d.volume)) {
                (Some(last_price), Some(today_volume)) => {
                    let input = BreakoutInput { symbol: symbol.to_string(), daily, last_price, today_volume, atr, now };
                    match breakouts::evaluate(&self.rules.breakouts, &input) {
                        Ok(hit) => match breakouts::build_alert(&hit, &input, self.rules.breakouts.min_reward_risk) {
                            Ok(alert) => {
                                let key = CooldownPolicy::stock_key(symbol, Some(hit.direction.as_str()));
                                queue.push_back(Item::Alert(Box::new(Found { alert, key, size: None })));
                            }
                            Err(s) => queue.push_back(note(s.reason)),
                        },
                        Err(s) => queue.push_back(note(s.reason)),
                    }
                }
                _ => queue.push_back(note("snapshot lacks price or volume".to_string())),
            }
        }
        Stage::Alerts { queue, checking: None, after: None }
    }

    /// STRAT on every configured timeframe, from the symbol's minute bars.
    fn strat(&self, task: &Task, raw: &[crate::polygon::Bar], now: DateTime<Utc>) -> Stage {
        let symbol = &task.symbol;
        let minutes: Vec<bars::Bar> =
            raw.iter().filter_map(|b| bars::Bar::from_polygon(b, chrono::Duration::minutes(1))).collect();
        let spot = minutes.iter().rev().find(|b| b.is_closed(now)).map(|b| b.close);
        let adv = self.cached_adv(symbol, calendar::trading_date(now));
        let rules = &self.rules.strat;
        let mut queue = VecDeque::new();
        for frame in &rules.timeframes {
            let frame_bars = strat_bot::frame_bars(*frame, &minutes, now);
            let Some(hit) = strat_bot::evaluate(*frame, &frame_bars, now, &rules.patterns) else {
                continue;
            };
            let trigger = bars::closed(&frame_bars, now).last().cloned();
            let pace = trigger.as_ref().and_then(|b| strat_bot::volume_pace(b, adv));
            let found = strat_bot::check_volume_pace(pace, rules.min_volume_pace, "STRAT_MIN_VOLUME_PACE")
                .and_then(|()| strat_bot::build_alert(symbol, &hit, spot, rules.min_reward_risk, pace, now));
            match found {
                Ok(alert) => {
                    let key = CooldownPolicy::stock_key(symbol, Some(frame.as_str()));
                    queue.push_back(Item::Alert(Box::new(Found { alert, key, size: None })));
                }
                Err(s) => queue.push_back(Item::Note(Decision::Suppressed {
                    bot: Bot::Strat,
                    what: Fields::new().text("ticker", symbol).text("frame", frame),
                    reason: s.reason,
                })),
            }
        }
        Stage::Alerts { queue, checking: None, after: None }
    }
}

/// Where a symbol's darkpool cursor is stored.
fn cursor_key(symbol: &str) -> String {
    format!("darkpool:{symbol}")
}

/// The darkpool cursor as stored: `{"sip_timestamp": ns, "ids": [...]}`.
fn parse_cursor(text: &str) -> Option<Cursor> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let ids = v["ids"].as_array()?.iter().filter_map(|i| i.as_str().map(str::to_string)).collect();
    Some(Cursor { sip_timestamp: v["sip_timestamp"].as_i64()?, ids })
}

/// The cursor to resume from at `now`: one from an earlier trading day is
/// not resumed, since yesterday's prints are history, not alerts.
fn resumable(cursor: Option<Cursor>, now: DateTime<Utc>) -> Option<Cursor> {
    cursor.filter(|c| super::of_today(c.sip_timestamp, now))
}
