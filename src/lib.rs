//! orakl: an options-flow alert service.
//!
//! Code map (pure core first, then the shell that does IO):
//!
//! - `job`, `alert` — names of jobs and alert families; the alert record.
//! - `calendar` — the NYSE calendar from rules: holidays, early closes, sessions.
//! - `schedule` — `schedule.cron`: parsing, session gating, next firings across DST.
//! - `engine` — the detection engine: every bot's pipeline and the detection state; it says
//!   what it needs and what it decided, and does no IO; the one cooldown policy.
//! - `flow`, `cache` — flow detection between chain snapshots; the volume and chain caches.
//! - `orders` — the market-wide prints lane's pure part: unusual option trades grouped into
//!   orders (sweep, block), exact premium, side from the NBBO at the print, the read cursor.
//! - `plausible` — figures that cannot be true: data errors, never alerts.
//! - `unusual` — how unusual a flow event is for its contract and underlying; the options
//!   families' relative gates; the underlying's flow distribution (today and stored sessions).
//! - `bots` — one module per alert family's rule.
//! - `bars`, `indicators`, `strat` — ET bar aggregation, RSI/ATR (Wilder), Strat patterns.
//! - `discord` — embeds within Discord's limits; the webhook sender.
//! - `outcomes` — how an alert's plan turned out, from minute bars after it; the report.
//! - `chart` — the weekly report drawn as a PNG (plotters, a bundled font).
//! - `export` — alerts with their outcomes, one serde row, as CSV or JSON.
//! - `atomic_file` — files replaced whole (the metrics file, exports).
//! - `health`, `metrics` — the 0–100 health score; the Prometheus textfile.
//! - `polygon` — typed models and the rate-limited, retrying REST client.
//! - `backoff` — retry waits: exponential backoff, `Retry-After`, which waits may be slept
//!   inside a job, one request's time budget (the Polygon client and the Discord sender).
//! - `net` — address rules: loopback hosts, origins, percent-coding in URLs.
//! - `store` — the SQLite state: outbox, cooldowns, outcomes, cursors, runs, errors (the only SQL).
//! - `config` — environment, `.env`, credentials; typed settings; validation and redaction.
//! - `unknown_vars` — variables that look like a misspelled setting (warned by `run`, refused
//!   by `check`).
//! - `echo` — how much of the user's input an error message may repeat.
//! - `runner` — the deterministic main loop that walks the timetable.
//! - `scan` — chain contracts as observations, the shared chain scan, round-robin batches.
//! - `service` — the shell: fetches what the engine needs, commits what it decided, delivers
//!   the outbox through the `Deliver` trait, runs the other jobs.
//! - `logging` — one event per line with typed fields: text, JSON or the
//!   systemd journal; progress bars that log lines print above.
//! - `tape`, `replay`, `record`, `simulate` — market tapes: format, replay, recording, synthetic days.
//! - `evaluate` — a replayed day's alerts scored against its truth file.
//! - `clock` — the only place that reads the OS clock or sleeps.
//! - `http` — the only place that names `ureq`.
//! - `notify` — systemd READY/WATCHDOG/STOPPING.
//! - `cli` — the commands behind `main`; the only owner of exit codes.

pub mod alert;
pub mod atomic_file;
pub mod backoff;
pub mod bars;
pub mod bots;
pub mod cache;
pub mod calendar;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod config;
pub mod discord;
pub mod echo;
pub mod engine;
pub mod evaluate;
pub mod export;
pub mod flow;
pub mod health;
pub mod http;
pub mod indicators;
pub mod job;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod orders;
pub mod outcomes;
pub mod plausible;
pub mod polygon;
pub mod record;
pub mod replay;
pub mod runner;
pub mod scan;
pub mod schedule;
pub mod service;
pub mod simulate;
pub mod store;
pub mod strat;
pub mod tape;
pub mod unknown_vars;
pub mod unusual;
