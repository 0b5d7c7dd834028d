//! A seeded simulation over many seeds (TigerBeetle's VOPR idea): short
//! sessions of a random market, two symbols, all eight families, driven
//! through the real engine and a real store, with restarts (the engine's
//! memory lost, the store kept) and a flaky delivery. After each session:
//!
//! - no alert came from a baseline (an options alert's contract was seen
//!   in an earlier chain since the engine last started);
//! - every family's cooldown held: a second alert on one key inside the
//!   cooldown only with at least twice the first one's size;
//! - every pending alert was delivered or expired;
//! - no alert id was committed or delivered twice.
//!
//! A failure names its seed; `SWEEP_SEED=n cargo test --test it sweep`
//! reruns that one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::json;

use orakl::alert::ContractType;
use orakl::config::Config;
use orakl::engine::{Answer, Cooldown, Decision, Engine, Need, Rules, Step};
use orakl::flow::{Observation, QuotePoint, TradePoint};
use orakl::job::Bot;
use orakl::polygon::{Bar, TickerSnapshot, Trade};
use orakl::simulate::rng::Rng;
use orakl::store::{CooldownSet, Store};

const SEEDS: u64 = 60;
const SYMBOLS: [&str; 2] = ["AAA", "BBB"];
/// 10:30 ET on a Tuesday, inside the regular session.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 14, 30, 0).unwrap()
}
/// The session's length (Bullseye needs 30 minutes of its own spot
/// history) and the step between firings.
const SESSION_SECONDS: i64 = 40 * 60;
const HISTORY_MINUTES: i64 = 60;
const STEP_SECONDS: i64 = 15;
const MAX_AGE_SECONDS: i64 = 300;

/// One options contract of the random market.
struct Contract {
    ticker: String,
    kind: ContractType,
    strike: f64,
    expiration: NaiveDate,
    volume: f64,
    open_interest: f64,
}

/// One symbol of the random market.
struct Symbol {
    spot: f64,
    contracts: Vec<Contract>,
    /// Minute bars so far: (start, open, high, low, close).
    minutes: Vec<(DateTime<Utc>, f64, f64, f64, f64)>,
    day_volume: f64,
}

struct Market {
    rng: Rng,
    symbols: BTreeMap<String, Symbol>,
}

impl Market {
    fn new(seed: u64) -> Market {
        let mut rng = Rng::new(seed);
        let mut symbols = BTreeMap::new();
        for s in SYMBOLS {
            let spot = rng.range(50.0, 400.0);
            let mut contracts = Vec::new();
            for i in 0..8 {
                let kind = if i % 2 == 0 { ContractType::Call } else { ContractType::Put };
                let strike = (spot * rng.range(0.95, 1.05)).round();
                let expiration = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap() + Duration::days(rng.int(0, 20));
                let c = if kind == ContractType::Call { 'C' } else { 'P' };
                let ticker = format!("O:{s}{}{c}{:08}", expiration.format("%y%m%d"), (strike * 1000.0) as i64);
                contracts.push(Contract {
                    ticker,
                    kind,
                    strike,
                    expiration,
                    volume: 0.0,
                    open_interest: rng.range(0.0, 2_000.0).round(),
                });
            }
            let sym = Symbol { spot, contracts, minutes: Vec::new(), day_volume: rng.range(1e5, 1e6) };
            symbols.insert(s.to_string(), sym);
        }
        let mut m = Market { rng, symbols };
        // An hour of history before the session, so the bars have depth.
        for minute in (1..=HISTORY_MINUTES).rev() {
            m.walk(start() - Duration::minutes(minute));
        }
        m
    }

    /// Every symbol's price moves; the current minute bar follows it.
    fn walk(&mut self, now: DateTime<Utc>) {
        let minute = now - Duration::seconds(now.timestamp().rem_euclid(60));
        for sym in self.symbols.values_mut() {
            let open = sym.spot;
            sym.spot *= 1.0 + 0.002 * self.rng.normal();
            let spot = sym.spot;
            match sym.minutes.last_mut() {
                Some(bar) if bar.0 == minute => {
                    bar.2 = bar.2.max(spot);
                    bar.3 = bar.3.min(spot);
                    bar.4 = spot;
                }
                _ => sym.minutes.push((minute, open, open.max(spot), open.min(spot), spot)),
            }
        }
    }

    /// The market moves on by one step.
    fn step(&mut self, now: DateTime<Utc>) {
        self.walk(now);
        for sym in self.symbols.values_mut() {
            sym.day_volume += self.rng.range(1e3, 5e4);
            for c in &mut sym.contracts {
                // Mostly quiet, sometimes a burst of unusual size.
                let add =
                    if self.rng.chance(0.02) { self.rng.range(200.0, 5_000.0) } else { self.rng.range(0.0, 20.0) };
                c.volume += add.round();
            }
        }
    }

    fn observations(&mut self, symbol: &str, now: DateTime<Utc>) -> Vec<Observation> {
        let Some(sym) = self.symbols.get(symbol) else { return Vec::new() };
        let spot = sym.spot;
        let mut out = Vec::new();
        for c in &sym.contracts {
            let mut o = Observation::new(c.ticker.clone(), symbol, Some(c.kind), c.strike, c.expiration);
            let intrinsic = match c.kind {
                ContractType::Call => (spot - c.strike).max(0.0),
                _ => (c.strike - spot).max(0.0),
            };
            let mid = intrinsic + spot * 0.01 + 0.5;
            let ns = now.timestamp_nanos_opt().unwrap();
            let at_ask = self.rng.chance(0.6);
            o.volume = c.volume;
            o.quote = Some(QuotePoint { bid: mid * 0.98, ask: mid * 1.02, at_ns: ns });
            o.last_trade =
                Some(TradePoint { price: if at_ask { mid * 1.02 } else { mid * 0.98 }, size: 10.0, at_ns: ns });
            o.vwap = Some(mid);
            o.open_interest = Some(c.open_interest);
            let moneyness = (spot - c.strike) / spot;
            let call_delta = (0.5 + 8.0 * moneyness).clamp(0.05, 0.95);
            o.delta = Some(if c.kind == ContractType::Call { call_delta } else { call_delta - 1.0 });
            o.iv = Some(0.3);
            o.spot = Some(spot);
            out.push(o);
        }
        out
    }

    fn bars(&self, symbol: &str, daily: bool, date: NaiveDate) -> Vec<Bar> {
        let Some(sym) = self.symbols.get(symbol) else { return Vec::new() };
        let value = |t: i64, o: f64, h: f64, l: f64, c: f64, v: f64| {
            serde_json::from_value::<Bar>(json!({"t": t, "o": o, "h": h, "l": l, "c": c, "v": v})).unwrap()
        };
        if daily {
            // 30 sessions in a band around the first price.
            let base = sym.minutes.first().map_or(sym.spot, |c| c.1);
            (1..=30)
                .rev()
                .map(|d| {
                    let day = date - Duration::days(d);
                    let t = Utc.from_utc_datetime(&day.and_hms_opt(5, 0, 0).unwrap()).timestamp_millis();
                    let wave = 1.0 + 0.01 * ((d as f64) * 0.7).sin();
                    value(t, base * wave, base * wave * 1.01, base * wave * 0.99, base * wave, 2e5)
                })
                .collect()
        } else {
            sym.minutes.iter().map(|(t, o, h, l, c)| value(t.timestamp_millis(), *o, *h, *l, *c, 1_000.0)).collect()
        }
    }

    fn dark_prints(&mut self, symbol: &str, from_ns: i64, until_ns: i64) -> Vec<Trade> {
        let spot = self.symbols.get(symbol).map_or(100.0, |s| s.spot);
        let n = self.rng.int(0, 4);
        let mut out: Vec<Trade> = (0..n)
            .map(|i| {
                let t = from_ns + ((until_ns - from_ns).max(1) as f64 * self.rng.f64()) as i64;
                let size = if self.rng.chance(0.5) { self.rng.range(10_000.0, 60_000.0) } else { 500.0 };
                serde_json::from_value(json!({
                    "id": format!("{symbol}-{t}-{i}"),
                    "price": spot,
                    "size": size.round(),
                    "sip_timestamp": t,
                    "exchange": 4,
                    "trf_id": 201,
                }))
                .unwrap()
            })
            .collect();
        out.sort_by_key(|t| t.sip_timestamp);
        out
    }

    /// Half the time a sweep (ISO prints on two exchanges), else one
    /// ordinary print.
    fn option_trades(&mut self, after_ns: Option<i64>) -> Vec<Trade> {
        let iso = self.rng.chance(0.5);
        let t = after_ns.unwrap_or(0) + 1;
        let print = |exchange: i64, condition: i64| -> Trade {
            serde_json::from_value(json!({
                "price": 1.0, "size": 10.0, "sip_timestamp": t, "exchange": exchange, "conditions": [condition],
            }))
            .unwrap()
        };
        if iso { vec![print(5, 219), print(7, 219)] } else { vec![print(5, 209)] }
    }

    fn snapshot(&mut self, symbol: &str) -> Option<Box<TickerSnapshot>> {
        let sym = self.symbols.get(symbol)?;
        // Sometimes far outside the 30-day band, with heavy volume: a breakout.
        let price = if self.rng.chance(0.3) { sym.spot * 1.2 } else { sym.spot };
        let s: TickerSnapshot = serde_json::from_value(json!({
            "ticker": symbol,
            "day": {"c": price, "v": sym.day_volume * 20.0},
            "lastTrade": {"p": price},
        }))
        .ok()?;
        Some(Box::new(s))
    }
}

/// One committed alert as the test saw it.
#[derive(Debug, Clone)]
struct Committed {
    bot: Bot,
    key: String,
    size: Option<f64>,
    at: DateTime<Utc>,
    id: String,
    contract: Option<String>,
}

fn config(rng: &mut Rng) -> (Config, BTreeMap<Bot, i64>) {
    let mut vars: BTreeMap<String, String> = [
        ("WATCHLIST", "AAA,BBB"),
        ("MIN_PREMIUM", "1000"),
        ("REPEAT_SIGNAL_THRESHOLD", "2"),
        ("ORAKL_FLOW_MIN_DTE", "0"),
        ("ORAKL_FLOW_MIN_ITM_PROBABILITY", "0"),
        ("SWEEPS_MIN_PREMIUM", "5000"),
        ("SWEEPS_MIN_DTE", "0"),
        ("MIN_SWEEP_SCORE", "45"),
        ("GOLDEN_MIN_PREMIUM", "100000"),
        ("GOLDEN_MIN_DTE", "0"),
        ("GOLDEN_MAX_STRIKE_DISTANCE", "0.2"),
        ("BULLSEYE_MIN_DTE", "0"),
        ("BULLSEYE_MAX_DTE", "30"),
        ("BULLSEYE_DELTA_MIN", "0"),
        ("BULLSEYE_DELTA_MAX", "1"),
        ("BULLSEYE_MIN_VOI_RATIO", "0"),
        ("SCALPS_MAX_DTE", "30"),
        ("SCALPS_MAX_STRIKE_DISTANCE", "0.2"),
        ("SCALPS_RSI_PERIOD", "5"),
        // Every trigger, so Scalps alerts in a 40-minute random market (the
        // default 3-1-2 is rare by design).
        ("SCALPS_PATTERNS", "3-1-2,2-1-2,1-2-2,2-2"),
        ("SCALPS_MIN_VOLUME_PACE", "0"),
        ("DARKPOOL_MIN_SIZE", "5000"),
        ("BREAKOUT_MIN_VOLUME_SURGE", "0.1"),
        ("ALERT_MAX_AGE_SECONDS", "300"),
        ("STRAT_TIMEFRAMES", "5m"),
        // Every pattern on any volume, so STRAT alerts in the same market.
        ("STRAT_PATTERNS", "3-1-2,2-1-2,3-2-2,1-2-2,2-2"),
        ("STRAT_MIN_VOLUME_PACE", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Each family's cooldown is drawn per seed: short ones expire inside
    // the session, long ones hold through it.
    let mut cooldowns = BTreeMap::new();
    for bot in Bot::ALL {
        let secs = rng.int(30, 1_800);
        vars.insert(format!("{}_COOLDOWN_SECONDS", bot.as_str().to_ascii_uppercase()), secs.to_string());
        cooldowns.insert(bot, secs);
    }
    (Config::from_vars(&vars).expect("sweep config"), cooldowns)
}

/// Per family: alerts committed, summed over the seeds.
type Counts = BTreeMap<Bot, usize>;

fn run_seed(seed: u64, counts: &mut Counts) -> Result<(), String> {
    // On a memory file system when there is one: every commit is synced,
    // and the sweep makes thousands.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.map_err(|e| e.to_string())?;
    let mut store = Store::open(&dir.path().join("state.db")).map_err(|e| e.to_string())?;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let (config, cooldowns) = config(&mut rng);
    let rules = || Rules::from_config(&config).expect("rules");
    let mut engine = Engine::new(rules());
    let mut market = Market::new(seed);
    let mut committed: Vec<Committed> = Vec::new();
    let mut delivered: BTreeSet<String> = BTreeSet::new();
    // Per contract: when the running engine first saw it.
    let mut first_seen: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let end = start() + Duration::seconds(SESSION_SECONDS);
    let mut now = start();
    let mut step = 0i64;
    while now < end {
        market.step(now);
        if rng.chance(0.01) {
            // A restart: the engine's memory is gone, the store is not.
            engine = Engine::new(rules());
            first_seen.clear();
        }
        let mut bots: Vec<Bot> = vec![Bot::ALL[(step % 5) as usize]];
        if step % 20 == 0 {
            bots.extend([Bot::Darkpool, Bot::Breakouts, Bot::Strat]);
        }
        engine.maintain(now);
        for bot in bots {
            engine.start_firing(now);
            for symbol in engine.symbols(bot, bot as usize, None) {
                let mut task = engine.start(bot, &symbol);
                for _ in 0..100_000 {
                    match engine.poll(&mut task, now) {
                        Step::Done(_) => break,
                        Step::Need(need) => {
                            let answer = match need {
                                Need::Chain { symbol, .. } => {
                                    let observations = market.observations(&symbol, now);
                                    for o in &observations {
                                        first_seen.entry(o.contract.clone()).or_insert(now);
                                    }
                                    Answer::Chain { contracts: observations.len(), observations }
                                }
                                Need::Cooldown { bot, key } => match store.cooldown(bot, &key) {
                                    Ok(c) => Answer::Cooldown(c.map(|c| Cooldown { until: c.until, size: c.premium })),
                                    Err(_) => Answer::Unavailable,
                                },
                                Need::OptionTrades { after_ns, .. } => Answer::Trades(market.option_trades(after_ns)),
                                Need::DailyBars { symbol, to, .. } => {
                                    Answer::Bars(market.bars(&symbol, true, to + Duration::days(1)))
                                }
                                Need::MinuteBars { symbol, to, .. } => Answer::Bars(market.bars(&symbol, false, to)),
                                Need::StockTrades { symbol, from_ns, until_ns, .. } => {
                                    Answer::Trades(market.dark_prints(&symbol, from_ns, until_ns.unwrap_or(from_ns)))
                                }
                                Need::Snapshot { symbol } => Answer::Snapshot(market.snapshot(&symbol)),
                                Need::Cursor { key } => Answer::Cursor(store.cursor(&key).ok().flatten()),
                                Need::FlowHistory { before, sessions } => {
                                    Answer::FlowHistory(store.flow_history(before, sessions).unwrap_or_default())
                                }
                                // The prints lane is not run here.
                                Need::UnusualTrades { .. } | Need::Contract { .. } | Need::Quote { .. } => {
                                    Answer::Unavailable
                                }
                            };
                            task.answer(answer);
                        }
                        Step::Decided(Decision::Commit(c)) => {
                            let cd = CooldownSet {
                                key: c.cooldown.key.clone(),
                                until: c.cooldown.until,
                                premium: c.cooldown.size,
                            };
                            let ok = store
                                .commit_alert(&c.alert, Some(&cd), c.plan.as_ref(), now)
                                .map_err(|e| e.to_string())?;
                            if ok {
                                if c.bot.is_options() {
                                    let contract = c.alert.contract.clone().unwrap_or_default();
                                    match first_seen.get(&contract) {
                                        Some(seen) if *seen < c.alert.at => {}
                                        other => {
                                            return Err(format!(
                                                "{} alerted from a baseline (first seen {other:?}, alert at {})",
                                                c.alert.id, c.alert.at
                                            ));
                                        }
                                    }
                                }
                                committed.push(Committed {
                                    bot: c.bot,
                                    key: c.cooldown.key.clone(),
                                    size: c.cooldown.size,
                                    at: now,
                                    id: c.alert.id.clone(),
                                    contract: c.alert.contract.clone(),
                                });
                            }
                        }
                        Step::Decided(Decision::SetCursor { key, text }) => {
                            store.set_cursor(&key, &text, now).map_err(|e| e.to_string())?;
                        }
                        Step::Decided(_) => {}
                    }
                }
            }
        }
        deliver(&mut store, &mut rng, &mut delivered, now)?;
        now += Duration::seconds(STEP_SECONDS);
        step += 1;
    }
    // After the session: passes until everything left is old enough to expire.
    let after = now + Duration::seconds(MAX_AGE_SECONDS + 1);
    while now <= after {
        deliver(&mut store, &mut rng, &mut delivered, now)?;
        now += Duration::seconds(60);
    }
    let pending = store.pending_alerts().map_err(|e| e.to_string())?;
    if !pending.is_empty() {
        return Err(format!("{} alerts still pending after the max age", pending.len()));
    }

    let ids: BTreeSet<&str> = committed.iter().map(|c| c.id.as_str()).collect();
    if ids.len() != committed.len() {
        return Err("an alert id was committed twice".into());
    }
    check_cooldowns(&committed, &cooldowns)?;
    for c in &committed {
        *counts.entry(c.bot).or_default() += 1;
        let _ = &c.contract;
    }
    Ok(())
}

/// Consecutive alerts on one family and key: inside the cooldown the
/// second must be at least twice the first (and have a size at all).
fn check_cooldowns(committed: &[Committed], cooldowns: &BTreeMap<Bot, i64>) -> Result<(), String> {
    let mut by_key: BTreeMap<(Bot, &str), Vec<&Committed>> = BTreeMap::new();
    for c in committed {
        by_key.entry((c.bot, c.key.as_str())).or_default().push(c);
    }
    for ((bot, key), list) in by_key {
        for pair in list.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let inside = b.at < a.at + Duration::seconds(cooldowns[&bot]);
            let doubled = matches!((a.size, b.size), (Some(x), Some(y)) if y >= 2.0 * x);
            if inside && !doubled {
                return Err(format!(
                    "{bot} on {key}: {} at {} inside the cooldown of {} at {} ({:?} vs {:?})",
                    b.id, b.at, a.id, a.at, b.size, a.size
                ));
            }
        }
    }
    Ok(())
}

/// One outbox pass with a flaky delivery: sent, deferred or failed at
/// random; an id delivered twice is an error.
fn deliver(
    store: &mut Store,
    rng: &mut Rng,
    delivered: &mut BTreeSet<String>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let cutoff = now - Duration::seconds(MAX_AGE_SECONDS);
    store.expire_pending_older_than(cutoff, now).map_err(|e| e.to_string())?;
    for entry in store.pending_alerts().map_err(|e| e.to_string())? {
        let id = entry.alert.id;
        let r = rng.f64();
        if r < 0.6 {
            if !delivered.insert(id.clone()) {
                return Err(format!("{id} delivered twice"));
            }
            store.mark_sent(&id, None, now).map_err(|e| e.to_string())?;
        } else if r < 0.95 {
            store.record_attempt(&id, "503", now).map_err(|e| e.to_string())?;
        } else {
            store.mark_failed(&id, "400", now).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[test]
fn seeded_sessions_keep_the_invariants() {
    let seeds: Vec<u64> = match std::env::var("SWEEP_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (1..=SEEDS).collect(),
    };
    let mut counts = Counts::new();
    for seed in seeds.iter().copied() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut local = Counts::new();
            run_seed(seed, &mut local).map(|()| local)
        }));
        match result {
            Ok(Ok(local)) => {
                for (bot, n) in local {
                    *counts.entry(bot).or_default() += n;
                }
            }
            Ok(Err(e)) => panic!("seed {seed}: {e} (rerun: SWEEP_SEED={seed} cargo test --test it sweep)"),
            Err(_) => panic!("seed {seed} panicked (rerun: SWEEP_SEED={seed} cargo test --test it sweep)"),
        }
    }
    println!("sweep: {} seeds, alerts committed per family: {counts:?}", seeds.len());
    // The sweep only means something if every family alerted somewhere.
    if seeds.len() > 1 {
        for bot in Bot::ALL {
            assert!(
                counts.get(&bot).copied().unwrap_or(0) > 0,
                "{bot} never alerted over {} seeds: {counts:?}",
                seeds.len()
            );
        }
    }
}
