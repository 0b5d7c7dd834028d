//! `orakl simulate`: a realistic synthetic market day written as a tape
//! (SPEC §9), with unusual events of every alert family injected at known
//! times and, optionally, a truth file listing them with the bots each one
//! should fire.
//!
//! The day, in the order it is built:
//!
//! 1. each symbol's price second by second (`market`): a random walk, or a
//!    planned story (Strat setups, a 20-day break) on a few symbols;
//! 2. minute volume, minute bars and 30 sessions of daily history built to
//!    fit the day (the 20-day extremes sit where the stories need them);
//! 3. each symbol's option chain (`chain`), Black–Scholes with a smile;
//! 4. the injected events (`events`), planned against 1–3, and what each
//!    event's contract does after it (follow-on trading, a drift of its
//!    implied volatility: runs, fades, pops, sideways);
//! 5. the tape, in time order: history at the start, then every minute the
//!    minute bar, a sample of stock prints (every block among them) and a
//!    stock snapshot, and every `chain_interval_seconds` each chain (after
//!    its background trading, whose large prints are recorded as their
//!    options' trades, and any injected prints, which are too), followed by
//!    the 1-minute bars of its options; after the chains, the interval's unusual option trades
//!    across all symbols as Massive's stream lists them, and the quote at
//!    each of their prints ([`prints`]).
//!
//! The background trades like the real market (README, "Simulator
//! realism"): each symbol's option volume by tier (SPY millions of
//! contracts a day, small caps thousands), a 0DTE share for the index ETFs,
//! heavy-tailed print sizes booked in aggregate per contract and minute
//! ([`background`]), sides that persist and lean with the underlying. The
//! injected events sit inside it. `orakl simulate --stats` prints what a
//! day traded ([`realism`]).
//!
//! Option minute bars: every contract of every chain, one `aggs` record
//! (`O:...`, multiplier 1, `minute`) per contract and minute it traded in,
//! built from the very prints that move the snapshots' day volume, VWAP and
//! last trade (so a minute's `v` is the day volume's growth over it, its `c`
//! the last trade of the minute). A bar is recorded at the first snapshot
//! time at or after its close: at the close itself when the chain interval
//! divides a minute (the default 30 s); minutes that closed before the
//! recording starts come in one record per contract at the first moment,
//! as the stocks' earlier minutes do. There is no subset: on the default day
//! (seed 7) the option bars are some 340,000 small records (nearly every
//! contract near the money trades every minute) beside 12,000 records of
//! option trades and 779 of unusual trades (5,670 prints, each with its
//! quote in one of 5,623 quotes records), in a 161 MB gzip tape. Trading
//! after the last snapshot is not simulated, so its minute has no bar.
//! Each injected event's contract trades in every minute from its event to
//! the end, and its truth line carries `after`: what those bars show (SPEC
//! §8 levels) and `prints_at`: its earliest injected print.
//!
//! Determinism: one seed feeds one generator ([`rng`]); every collection
//! that reaches the output is a `Vec` or a `BTreeMap`; nothing reads the
//! clock. The same options give the same bytes.

mod background;
mod chain;
mod events;
mod market;
mod pricing;
pub mod prints;
pub mod realism;
pub mod rng;
mod sample;

pub use events::TruthEvent;
pub use market::DEFAULT_SYMBOLS;
pub use sample::{benchmark_watchlist, chain_sizes, chain_snapshots};

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{NaiveDate, NaiveTime};
use serde_json::Value;

use crate::polygon::{Bar, OptionSnapshot, Trade};
use crate::tape::{Contents, Header, Payload, Record, TapeError, TapeWriter};
use chain::Chain;
use events::{Fill, Observed, Plan, World};
use market::{Day, InjectedPrint, PrintIds, StoryKind};
use prints::{Candidate, Stream};
use realism::{Realism, StockTally, SymbolFigures};
use rng::Rng;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// The one seed every random draw comes from.
    pub seed: u64,
    /// A trading day (NYSE session).
    pub date: NaiveDate,
    /// Underlyings, in order (stories go to the 2nd, 3rd and 4th).
    pub symbols: Vec<String>,
    /// First recorded moment, ET, inside the regular session.
    pub start: NaiveTime,
    /// Minutes recorded from `start` (cut at the closing bell).
    pub minutes: u32,
    /// Seconds between chain snapshots. The options bots fire every 15 s
    /// but share one chain fetch per symbol for `CHAIN_CACHE_TTL_SECONDS`
    /// (30, exclusive), so a symbol's chain is fetched every 30 s: snapshots
    /// every 30 s give the same alerts as every 15 s at half the tape. Use 15
    /// (or less) to replay with a shorter chain-cache TTL.
    pub chain_interval_seconds: u32,
    /// Contracts per chain relative to the default (1.0: about 15–17
    /// expirations of 26–34 contracts, 420–510 contracts a symbol). The
    /// symbol's option volume does not depend on it: a thinner chain trades
    /// the same day in fewer contracts.
    pub chain_scale: f64,
    /// Per-symbol sizes (keyed by the symbol in upper case) that override
    /// `chain_scale`, see [`benchmark_watchlist`]: a few chains of
    /// 5,000–8,000 contracts and many of hundreds. Empty by default, and
    /// then left out of the header, so the default day's bytes do not
    /// depend on it.
    pub chain_scales: BTreeMap<String, f64>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 0,
            // A Monday: a Wednesday and a Friday weekly are 2 and 4 days out.
            date: NaiveDate::from_ymd_opt(2026, 3, 9).unwrap_or_default(),
            symbols: market::DEFAULT_SYMBOLS.iter().map(|s| s.to_string()).collect(),
            start: NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default(),
            minutes: 390,
            chain_interval_seconds: 30,
            chain_scale: 1.0,
            chain_scales: BTreeMap::new(),
        }
    }
}

/// What was written, for the CLI to print.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSummary {
    /// Records after the header.
    pub records: u64,
    pub contracts_per_symbol: BTreeMap<String, usize>,
    /// Lines of the truth file (written or not).
    pub events_injected: usize,
    /// Size of the tape file.
    pub bytes: u64,
    /// What the day traded, against the public figures (`--stats`).
    pub realism: Realism,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{date} is not a trading day (the NYSE is closed)")]
    NotATradingDay { date: NaiveDate },
    #[error("start {start} ET is outside the regular session of {date} (09:30 to {close} ET)")]
    StartOutsideSession { date: NaiveDate, start: NaiveTime, close: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Tape(#[from] TapeError),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// The range of a per-symbol scale (`chain_scales`): from a handful of
/// contracts a symbol to about 8,000 (SPY near 16). The global
/// `chain_scale` stays within 0.05..=10.
pub const MIN_CHAIN_SCALE: f64 = 0.05;
pub const MAX_CHAIN_SCALE: f64 = 16.0;

/// Pre-start background trading is simulated in steps this long (no
/// snapshot is written, so a coarse step costs nothing in realism).
const PRESTART_STEP_S: u32 = 300;

fn validate(opts: &SimOptions) -> Result<(Vec<String>, Day, u32, u32), SimError> {
    if opts.symbols.is_empty() {
        return Err(SimError::Invalid("no symbols to simulate".to_string()));
    }
    let mut symbols: Vec<String> = Vec::new();
    for s in &opts.symbols {
        let s = s.trim().to_ascii_uppercase();
        // An OCC option root is at most six characters.
        let ok = (1..=6).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
        if !ok {
            return Err(SimError::Invalid(format!("symbol `{s}`: expected 1 to 6 letters, digits or dots")));
        }
        if !symbols.contains(&s) {
            symbols.push(s);
        }
    }
    if opts.minutes == 0 {
        return Err(SimError::Invalid("minutes must be at least 1".to_string()));
    }
    if !(1..=3600).contains(&opts.chain_interval_seconds) {
        return Err(SimError::Invalid(format!(
            "chain_interval_seconds={} outside 1..=3600",
            opts.chain_interval_seconds
        )));
    }
    if !(opts.chain_scale.is_finite() && (MIN_CHAIN_SCALE..=10.0).contains(&opts.chain_scale)) {
        return Err(SimError::Invalid(format!("chain_scale={} outside 0.05..=10", opts.chain_scale)));
    }
    for (symbol, scale) in &opts.chain_scales {
        if !(scale.is_finite() && (MIN_CHAIN_SCALE..=MAX_CHAIN_SCALE).contains(scale)) {
            return Err(SimError::Invalid(format!(
                "chain_scale of {symbol}={scale} outside {MIN_CHAIN_SCALE}..={MAX_CHAIN_SCALE}"
            )));
        }
    }
    let day = Day::new(opts.date).ok_or(SimError::NotATradingDay { date: opts.date })?;
    let since_open = opts.start.signed_duration_since(NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default());
    let start_s = u32::try_from(since_open.num_seconds()).ok().filter(|s| *s < day.session_s).ok_or_else(|| {
        let close = day.at(day.session_s).with_timezone(&crate::calendar::MARKET_TZ).format("%H:%M").to_string();
        SimError::StartOutsideSession { date: opts.date, start: opts.start, close }
    })?;
    let end_s = (u64::from(start_s) + u64::from(opts.minutes) * 60).min(u64::from(day.session_s)) as u32;
    Ok((symbols, day, start_s, end_s))
}

/// What the recording loop keeps per symbol besides the planned day: the
/// generators of its prints and its background option trading, and the
/// state of its print stream.
struct SymbolTape {
    profile: market::Profile,
    print_rng: Rng,
    bg_rng: Rng,
    ids: PrintIds,
    last_print: Option<Trade>,
    stock: StockTally,
}

/// Simulates the day described by `opts` into the tape `out` (gzip when it
/// ends in `.gz`) and, when asked, the truth file `truth` (JSON Lines).
pub fn simulate(opts: &SimOptions, out: &Path, truth: Option<&Path>) -> Result<SimSummary, SimError> {
    let (symbols, day, start_s, end_s) = validate(opts)?;
    let interval = opts.chain_interval_seconds;
    let mut root = Rng::new(opts.seed);
    let stories = events::place_stories(symbols.len(), &day, start_s, end_s, interval);

    let n = symbols.len();
    let (mut paths, mut minutes, mut history, mut facts) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut tapes: Vec<SymbolTape> = Vec::with_capacity(n);
    let mut chains: Vec<Chain> = Vec::with_capacity(n);
    let mut blocks: Vec<Vec<market::Block>> = Vec::with_capacity(n);
    for (i, symbol) in symbols.iter().enumerate() {
        let mut rng = root.fork();
        let profile = market::profile(symbol);
        let story = stories[i];
        let (path, story_facts) = market::generate_path(&profile, &day, story, &mut rng);
        // Story symbols trade heavily (Bull, Bear: a breakout's volume surge,
        // heavier still in the trigger hour) or plainly (Fake: its break
        // must not find the surge).
        let mut vol_rng = rng.fork();
        let everyday = vol_rng.range(0.8, 1.15);
        let mult = move |m: u32| match story {
            Some(s) if s.kind == StoryKind::Fake => 0.9,
            Some(s) => {
                let c0 = s.c_start_s() / 60;
                if (c0..c0 + 60).contains(&i64::from(m)) { 3.3 } else { 2.2 }
            }
            None => everyday,
        };
        let volumes = market::minute_volumes(&profile, &day, &mult, &mut vol_rng);
        minutes.push(market::minute_bars(&path, &volumes));
        history.push(market::daily_history(&profile, &day, &path, story_facts.as_ref(), &mut rng));
        let mut chain_rng = rng.fork();
        let scale = opts.chain_scales.get(symbol).copied().unwrap_or(opts.chain_scale);
        chains.push(Chain::build(&profile, &day, path[0], scale, &mut chain_rng));
        paths.push(path);
        facts.push(story_facts);
        let (print_rng, bg_rng) = (rng.fork(), rng.fork());
        blocks.push(market::blocks(&profile, minutes.last().map_or(&[][..], Vec::as_slice), &mut rng.fork()));
        tapes.push(SymbolTape {
            profile,
            print_rng,
            bg_rng,
            ids: PrintIds::default(),
            last_print: None,
            stock: StockTally::default(),
        });
    }
    let world = World {
        day: &day,
        start_s,
        end_s,
        interval,
        symbols: &symbols,
        paths: &paths,
        minutes: &minutes,
        history: &history,
        facts: &facts,
        blocks: &blocks,
    };
    let mut plan_rng = root.fork();
    let plan = events::plan(&world, &mut chains, &mut plan_rng);
    // Forked after everything above, so the streams before are unchanged.
    let mut after_rng = root.fork();
    events::plan_after(&world, &mut chains, &plan, &mut after_rng.fork());
    let follow: Vec<Rng> = (0..n).map(|_| after_rng.fork()).collect();

    let mut meta = BTreeMap::new();
    meta.insert("source".to_string(), Value::from("simulate"));
    meta.insert("seed".to_string(), Value::from(opts.seed));
    meta.insert("date".to_string(), Value::from(opts.date.to_string()));
    meta.insert("symbols".to_string(), Value::from(symbols.clone()));
    let start_et = day.at(start_s).with_timezone(&crate::calendar::MARKET_TZ).format("%H:%M:%S").to_string();
    meta.insert("start".to_string(), Value::from(start_et));
    meta.insert("minutes".to_string(), Value::from((end_s - start_s) / 60));
    meta.insert("chain_interval_seconds".to_string(), Value::from(interval));
    meta.insert("chain_scale".to_string(), Value::from(opts.chain_scale));
    if !opts.chain_scales.is_empty() {
        let scales: serde_json::Map<String, Value> =
            opts.chain_scales.iter().map(|(s, v)| (s.clone(), Value::from(*v))).collect();
        meta.insert("chain_scales".to_string(), Value::Object(scales));
    }
    // Every chain time and every minute close, in order.
    let mut times: BTreeSet<u32> = (0..).map(|k| start_s + k * interval).take_while(|t| *t <= end_s).collect();
    times.extend((start_s / 60 + 1..=end_s / 60).map(|m| m * 60));
    let mut header = Header::new(meta);
    // Known before the first record, so a replay need not scan the tape for
    // it: the history is written at `start_s`, and every time below writes a
    // stock snapshot or a chain for each symbol, the last one included.
    // Option tickers, whose trades and bars are also written, are not symbols.
    header.set_contents(&Contents {
        symbols: symbols.iter().cloned().collect(),
        first_at: day.at(start_s),
        last_at: day.at(times.last().copied().unwrap_or(start_s)),
    });
    // Written under a temporary name beside the tape and renamed when
    // complete: an interrupted run leaves no partial tape under its name.
    let partial = partial_path(out);
    let writer = TapeWriter::create(&partial, &header)?;

    let mut rec = Recording::new(&world, &plan, writer, tapes, chains, follow);
    // Trading before the first recorded moment still builds the day's volume.
    rec.trade_until(start_s);
    // On a terminal only (hidden otherwise): the tape's bytes never depend on it.
    let bar = crate::logging::progress("simulate", times.len() as u64);
    for (i, t) in times.into_iter().enumerate() {
        if i % 60 == 0 {
            let et = day.at(t).with_timezone(&crate::calendar::MARKET_TZ).format("%H:%M %Z").to_string();
            bar.set(i as u64, et);
        }
        if t == start_s {
            rec.history(t)?;
        }
        if t > start_s && t % 60 == 0 {
            rec.minute(t / 60 - 1)?;
        }
        if t == start_s || t % 60 == 0 {
            rec.stock_snapshots(t)?;
        }
        if (t - start_s) % interval == 0 {
            rec.chains(t)?;
        }
    }
    drop(bar);
    let finished = rec.finish();
    let Finished { records, chains, truth: mut truth_lines, tapes, unusual } = match finished {
        Ok(done) => done,
        Err(e) => {
            // Worthless now; failing to remove it changes nothing.
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, out).map_err(|e| io_err(out, e))?;

    truth_lines.sort_by(|a, b| (a.at, &a.kind, &a.symbol, &a.contract).cmp(&(b.at, &b.kind, &b.symbol, &b.contract)));
    for (k, line) in truth_lines.iter_mut().enumerate() {
        line.id = format!("e{:02}", k + 1);
    }
    if let Some(path) = truth {
        write_truth(path, &truth_lines)?;
    }
    let bytes = std::fs::metadata(out).map_err(|e| io_err(out, e))?.len();
    let mut realism = measure(&day, start_s, end_s, &symbols, &paths, &chains, &tapes);
    realism.unusual = unusual;
    Ok(SimSummary {
        records,
        contracts_per_symbol: symbols.iter().cloned().zip(chains.iter().map(Chain::len)).collect(),
        events_injected: truth_lines.len(),
        bytes,
        realism,
    })
}

/// The temporary name a tape is written under: in the same directory (a
/// rename across file systems is not atomic), hidden, ending with the
/// tape's own name so its compression is the same.
fn partial_path(out: &Path) -> std::path::PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "tape".to_string());
    out.with_file_name(format!(".partial-{}-{name}", std::process::id()))
}

/// The realism figures of the day: volumes scaled from the traded part of
/// the session (the bell to `end_s`) to a whole one by the intraday profile.
fn measure(
    day: &Day,
    start_s: u32,
    end_s: u32,
    symbols: &[String],
    paths: &[Vec<f64>],
    chains: &[Chain],
    tapes: &[SymbolTape],
) -> Realism {
    let weights = Chain::weights(day);
    let traded_minutes = (end_s / 60) as usize;
    let share: f64 = weights.iter().take(traded_minutes).sum::<f64>().max(1e-9);
    let mut all_minutes: Vec<f64> = Vec::new();
    let mut figures = Vec::with_capacity(symbols.len());
    for (k, symbol) in symbols.iter().enumerate() {
        let (chain, tape) = (&chains[k], &tapes[k]);
        let t = &chain.tally;
        let volume: f64 = chain.contracts.iter().map(|c| c.volume).sum();
        let open_interest: f64 = chain.contracts.iter().map(|c| c.open_interest).sum();
        for (m, v) in t.minute_volume.iter().enumerate() {
            if all_minutes.len() <= m {
                all_minutes.resize(m + 1, 0.0);
            }
            all_minutes[m] += v;
        }
        let leans: Vec<f64> = t.leans.iter().map(|(x, _)| *x).collect();
        let bg = t.background_volume.max(1.0);
        figures.push(SymbolFigures {
            symbol: symbol.clone(),
            option_volume: volume,
            option_volume_session: volume / share,
            open_interest,
            zero_dte_share: t.zero_dte_volume / volume.max(1.0),
            retail_share: t.retail_volume / bg,
            iso_share: t.iso_volume / bg,
            premium_prints_session: t.premium_prints.map(|n| n as f64 / share),
            side_persistence: realism::autocorrelation(&leans),
            side_vs_underlying: realism::correlation(&t.leans),
            vol_clustering: realism::vol_clustering(&paths[k], start_s as usize, end_s as usize),
            off_exchange_share: tape.stock.off_exchange / tape.stock.volume.max(1.0),
            block_share: tape.stock.blocks as f64 / tape.stock.prints.max(1.0),
        });
    }
    let total: f64 = all_minutes.iter().sum();
    let n = all_minutes.len();
    let edges: f64 = all_minutes.iter().enumerate().filter(|(m, _)| *m < 60 || *m + 60 >= n).map(|(_, v)| v).sum();
    Realism {
        symbols: figures,
        first_last_hour_share: edges / total.max(1.0),
        whole_session: start_s == 0 && end_s == day.session_s,
        unusual: Default::default(),
    }
}

/// What a finished recording hands back: records written, the chains, the
/// truth lines, each symbol's tape state and the unusual-trades stream's
/// counts.
struct Finished {
    records: u64,
    chains: Vec<Chain>,
    truth: Vec<TruthEvent>,
    tapes: Vec<SymbolTape>,
    unusual: realism::UnusualTally,
}

/// The recording loop's state: the tape being written, each symbol's day
/// and chain as they advance, and the truth lines of what has printed.
struct Recording<'w> {
    world: &'w World<'w>,
    plan: &'w Plan,
    writer: TapeWriter,
    tapes: Vec<SymbolTape>,
    chains: Vec<Chain>,
    /// Each symbol's generator of follow-on trading on event contracts.
    follow: Vec<Rng>,
    /// The unusual-trades stream: sequence numbers and counts.
    stream: Stream,
    /// The last second each chain's background trading reached.
    traded_to: Vec<u32>,
    weights: Vec<f64>,
    /// Planned option events by (chain time, symbol).
    by_time: BTreeMap<(u32, usize), Vec<usize>>,
    /// Planned dark prints by (symbol, minute).
    dark: BTreeMap<(usize, u32), Vec<&'w InjectedPrint>>,
    truth: Vec<TruthEvent>,
    /// Times of the qualifying ORAKL Flow events per (symbol, contract).
    qualifying: BTreeMap<(usize, usize), Vec<u32>>,
    /// (time, premium) of the members of each repeat cluster so far.
    members: BTreeMap<usize, Vec<(u32, f64)>>,
    /// The minute bars recorded for the contracts of option events, by
    /// (symbol, contract).
    event_bars: BTreeMap<(usize, usize), Vec<Bar>>,
    /// Option truth lines awaiting `after`: (line, symbol, contract, entry,
    /// event second).
    pending_after: Vec<(usize, usize, usize, f64, u32)>,
    /// The contracts of option events, with their day (volume, VWAP) at the
    /// last snapshot: the flow the bots measure on them, background
    /// included.
    watched: BTreeMap<(usize, usize), Option<(f64, f64)>>,
}

impl<'w> Recording<'w> {
    fn new(
        world: &'w World<'w>,
        plan: &'w Plan,
        writer: TapeWriter,
        tapes: Vec<SymbolTape>,
        chains: Vec<Chain>,
        follow: Vec<Rng>,
    ) -> Self {
        let mut by_time: BTreeMap<(u32, usize), Vec<usize>> = BTreeMap::new();
        for (k, p) in plan.options.iter().enumerate() {
            by_time.entry((p.at, p.sym)).or_default().push(k);
        }
        let mut dark: BTreeMap<(usize, u32), Vec<&InjectedPrint>> = BTreeMap::new();
        for d in &plan.dark {
            dark.entry((d.sym, d.print.second / 60)).or_default().push(&d.print);
        }
        let n = chains.len();
        let watched = plan.options.iter().map(|p| ((p.sym, p.contract), None)).collect();
        Recording {
            world,
            plan,
            writer,
            tapes,
            chains,
            follow,
            stream: Stream::default(),
            traded_to: vec![0; n],
            weights: Chain::weights(world.day),
            by_time,
            dark,
            truth: plan.truth.clone(),
            qualifying: BTreeMap::new(),
            members: BTreeMap::new(),
            event_bars: BTreeMap::new(),
            pending_after: Vec::new(),
            watched,
        }
    }

    fn write(&mut self, t: u32, payload: Payload) -> Result<(), SimError> {
        Ok(self.writer.write(&Record { at: self.world.day.at(t), payload })?)
    }

    /// Background option trading up to (not including) `until`, in coarse
    /// steps: nothing is written, so nothing finer is needed.
    fn trade_until(&mut self, until: u32) {
        let day = self.world.day;
        for (i, chain) in self.chains.iter_mut().enumerate() {
            let (path, d) = (&self.world.paths[i], &mut self.tapes[i]);
            while self.traded_to[i] + PRESTART_STEP_S < until {
                let t = self.traded_to[i] + PRESTART_STEP_S;
                chain.price_all(path[t as usize], t);
                // Before the recording: nothing is written, the prints only
                // build the day.
                chain.background(day, self.traded_to[i], t, &self.weights, &mut d.bg_rng);
                self.traded_to[i] = t;
            }
        }
    }

    /// At the first moment: the daily history, the minute bars already
    /// closed when the recording starts later than the bell, and an empty
    /// unusual-trades record: the day's plan has the endpoint (a replay of a
    /// tape without one answers it as a plan without it, with a 403).
    fn history(&mut self, t: u32) -> Result<(), SimError> {
        self.write(t, Payload::UnusualTrades { results: Vec::new() })?;
        let (day, w) = (self.world.day, self.world);
        for i in 0..self.tapes.len() {
            let d = &mut self.tapes[i];
            d.last_print = Some(market::opening_print(&d.profile, day, t, w.paths[i][t as usize]));
            let bars = w.history[i].iter().map(|b| b.to_bar()).collect();
            let earlier: Vec<_> =
                w.minutes[i].iter().filter(|b| b.end_s <= i64::from(t)).map(|b| b.to_bar(day)).collect();
            let symbol = &self.world.symbols[i];
            self.write(t, aggs(symbol, "day", bars))?;
            if !earlier.is_empty() {
                self.write(t, aggs(symbol, "minute", earlier))?;
            }
        }
        Ok(())
    }

    /// At the close of minute `m`: its bar and a sample of its prints (every
    /// block among them). An injected dark print behind a background block
    /// that a dark-pool scan alerts on in the cooldown before it (and that
    /// it is not twice the size of) is held back by that cooldown: its truth
    /// line says so.
    fn minute(&mut self, m: u32) -> Result<(), SimError> {
        let (day, w, t) = (self.world.day, self.world, (m + 1) * 60);
        for i in 0..self.tapes.len() {
            let injected = self.dark.get(&(i, m)).cloned().unwrap_or_default();
            let d = &mut self.tapes[i];
            // An injected print is volume the minute traded: its bar counts
            // it (a block of 1% of a day is several ordinary minutes). The
            // oracle's volume gates read the modelled minutes without it: at
            // most 1% of a day in one bar.
            let extra: f64 = injected.iter().map(|p| p.size).sum();
            let bar = w.minutes[i].get(m as usize).map(|b| {
                let mut bar = b.to_bar(day);
                bar.volume += extra;
                bar
            });
            let volume = w.minutes[i].get(m as usize).map_or(0.0, |b| b.v);
            let all = &w.blocks[i];
            let (a, b) = (all.partition_point(|b| b.second < m * 60), all.partition_point(|b| b.second < t));
            let (prints, modelled) = market::stock_prints(
                &d.profile,
                day,
                m,
                volume,
                &all[a..b],
                &w.paths[i],
                &injected,
                &mut d.ids,
                &mut d.print_rng,
            );
            d.stock.volume += modelled.volume;
            d.stock.off_exchange += modelled.off_exchange;
            d.stock.prints += modelled.prints;
            d.stock.blocks += u64::from(modelled.blocks);
            for inj in &injected {
                if let Some(s) = events::cooling_block(all, inj.second, inj.size) {
                    events::held_back(&mut self.truth, &w.symbols[i], day.at(inj.second), day.at(s));
                }
            }
            d.last_print = prints.last().cloned().or(d.last_print.take());
            let symbol = self.world.symbols[i].clone();
            if let Some(bar) = bar {
                self.write(t, aggs(&symbol, "minute", vec![bar]))?;
            }
            self.write(t, Payload::Trades { ticker: symbol, results: prints })?;
        }
        Ok(())
    }

    fn stock_snapshots(&mut self, t: u32) -> Result<(), SimError> {
        let (day, w) = (self.world.day, self.world);
        for i in 0..self.tapes.len() {
            let d = &self.tapes[i];
            let spot = w.paths[i][t as usize];
            let snap = market::stock_snapshot(
                &d.profile,
                day,
                t,
                &w.minutes[i],
                w.history[i].last(),
                d.last_print.as_ref(),
                spot,
            );
            let ticker = self.world.symbols[i].clone();
            self.write(t, Payload::StockSnapshot { ticker, results: Box::new(snap) })?;
        }
        Ok(())
    }

    /// At chain time `t`, for each symbol: background and follow-on trading
    /// since the last snapshot (the background's large prints written as
    /// their options' trades), the planned prints (also written as the
    /// option's trades), the flow on the event contracts and the truth of
    /// each event, the chain snapshot, and the option minute bars closed by
    /// then.
    fn chains(&mut self, t: u32) -> Result<(), SimError> {
        let day = self.world.day;
        // The interval's recorded option prints, for the unusual trades.
        let mut printed: Vec<Candidate> = Vec::new();
        for i in 0..self.chains.len() {
            let spot = self.world.paths[i][t as usize];
            let chain = &mut self.chains[i];
            let from = self.traded_to[i];
            chain.price_all(spot, t);
            let drawn = chain.background(day, from, t, &self.weights, &mut self.tapes[i].bg_rng);
            chain.follow_on(day, from, t, &mut self.follow[i]);
            self.traded_to[i] = t;
            for (c, results) in drawn {
                printed.extend(self.candidates(i, c, &results));
                let ticker = self.chains[i].contracts[c].ticker.clone();
                self.write(t, Payload::Trades { ticker, results })?;
            }
            let planned = self.by_time.get(&(t, i)).cloned().unwrap_or_default();
            for &k in &planned {
                let p = &self.plan.options[k];
                let trades = self.chains[i].execute(day, p.contract, t, &p.prints);
                printed.extend(self.candidates(i, p.contract, &trades));
                let ticker = self.chains[i].contracts[p.contract].ticker.clone();
                self.write(t, Payload::Trades { ticker, results: trades })?;
            }
            let snaps = self.chains[i].snapshot(day, t, spot);
            let flows = self.flows(i, t, spot, &snaps);
            for &k in &planned {
                self.observe(i, k, t, &flows);
            }
            let underlying = self.world.symbols[i].clone();
            let record = Record { at: day.at(t), payload: Payload::OptionChain { underlying, results: snaps } };
            self.writer.write(&record)?;
            if let Payload::OptionChain { results, .. } = record.payload {
                self.chains[i].restore(results);
            }
            for (c, bars) in self.chains[i].take_bars(t) {
                let contract = &self.chains[i].contracts[c];
                let ticker = contract.ticker.clone();
                if contract.follow_from.is_some() {
                    self.event_bars.entry((i, c)).or_default().extend(bars.iter().cloned());
                }
                self.write(t, aggs(&ticker, "minute", bars))?;
            }
        }
        for payload in self.stream.records(printed) {
            self.write(t, payload)?;
        }
        Ok(())
    }

    /// Symbol `i`'s prints on contract `c` as candidates for the unusual
    /// trades, each with the quote the chain priced the interval at (what
    /// the print paid: background and injected prints alike take it).
    fn candidates(&self, i: usize, c: usize, trades: &[Trade]) -> Vec<Candidate> {
        let (Some(contract), Some(q)) = (self.chains[i].contracts.get(c), self.chains[i].priced(c)) else {
            return Vec::new();
        };
        trades
            .iter()
            .map(|trade| Candidate {
                sym: i,
                contract: c,
                ticker: contract.ticker.clone(),
                underlying: self.world.symbols[i].clone(),
                trade: trade.clone(),
                bid: q.bid,
                ask: q.ask,
            })
            .collect()
    }

    /// The flow on symbol `i`'s event contracts between the last snapshot
    /// and this one, measured as the bots measure it (SPEC §5): ΔV of the
    /// day volume, the premium from the VWAP difference (the last trade's
    /// price when that is out of the day's range or there was no VWAP), and
    /// the side of the last trade against the quote. Flow that counts toward
    /// ORAKL Flow's repeats is remembered, background or injected.
    fn flows(&mut self, i: usize, t: u32, spot: f64, snaps: &[OptionSnapshot]) -> BTreeMap<usize, Observed> {
        let mut out = BTreeMap::new();
        let keys: Vec<(usize, usize)> = self.watched.range((i, 0)..(i + 1, 0)).map(|(k, _)| *k).collect();
        for (sym, c) in keys {
            let (Some(snap), Some(contract)) = (snaps.get(c), self.chains[sym].contracts.get(c)) else { continue };
            let now = day_totals(snap);
            let before = self.watched.insert((sym, c), Some(now)).flatten();
            let Some((dv, premium)) = before.and_then(|b| flow_since(b, snap)) else { continue };
            let (v0, last) = (before.map_or(0.0, |b| b.0), last_price(snap));
            let (bid, ask) =
                snap.last_quote.as_ref().map_or((0.0, 0.0), |q| (q.bid.unwrap_or(0.0), q.ask.unwrap_or(0.0)));
            let o = Observed {
                call: contract.call,
                fill: if last >= ask && ask > 0.0 { Fill::Ask } else { Fill::Mid },
                premium,
                volume_delta: dv,
                previous_volume: v0,
                interval_s: self.world.interval,
                day_volume: contract.volume,
                open_interest: contract.open_interest,
                dte: contract.dte,
                strike: contract.strike,
                spot,
                iv: snap.implied_volatility.unwrap_or(0.0),
                delta: snap.greeks.as_ref().and_then(|g| g.delta).unwrap_or(0.0),
                bid,
                ask,
                iso_exchanges: 0,
                at: t,
                repeats: 0,
            };
            if events::qualifies_for_flow(&o) {
                self.qualifying.entry((sym, c)).or_default().push(t);
            }
            out.insert(c, o);
        }
        out
    }

    /// The truth line of planned event `k` of symbol `i`, from what the
    /// snapshot at `t` shows (a repeat cluster's at its last member): the
    /// flow the bots measure on the contract, background included.
    fn observe(&mut self, i: usize, k: usize, t: u32, flows: &BTreeMap<usize, Observed>) {
        let p = &self.plan.options[k];
        let chain = &self.chains[i];
        let (Some(q), Some(mut o)) = (chain.priced(p.contract), flows.get(&p.contract).cloned()) else {
            return;
        };
        // The injected sweep's ISO prints are among the interval's trades.
        o.iso_exchanges = p.iso_exchanges();
        let entry = q.ask;
        let hits = self.qualifying.get(&(i, p.contract)).map(Vec::as_slice).unwrap_or(&[]);
        o.repeats = hits.iter().filter(|&&h| h + events::FLOW_WINDOW_S > t).count();
        // The event's earliest print, as `execute` timed it. A repeat
        // cluster's line is the hit that completes it: its last member's.
        let first_ns = p.prints.iter().map(|x| self.world.day.ns(t, -x.before_ns)).min();
        let at = |ns: Option<i64>| ns.map(chrono::DateTime::from_timestamp_nanos);
        match p.group {
            Some((g, remaining)) => {
                let list = self.members.entry(g).or_default();
                list.push((t, o.premium));
                if remaining == 0 {
                    let line = events::option_truth(self.world, p, chain, &o, list);
                    self.truth.push(TruthEvent { prints_at: at(first_ns), ..line });
                }
            }
            None => {
                let line = events::option_truth(self.world, p, chain, &o, &[]);
                self.truth.push(TruthEvent { prints_at: at(first_ns), ..line });
            }
        }
        if events::writes_truth(p) {
            self.pending_after.push((self.truth.len() - 1, i, p.contract, entry, t));
        }
    }

    /// Closes the tape: records written, the chains, the truth lines (each
    /// option event's with what its contract's bars show after it).
    fn finish(mut self) -> Result<Finished, SimError> {
        let records = self.writer.finish()?;
        let open_ms = self.world.day.open.timestamp_millis();
        for &(line, sym, contract, entry, t) in &self.pending_after {
            let from_ms = open_ms + i64::from(t / 60 + 1) * 60_000;
            let bars: Vec<Bar> = self
                .event_bars
                .get(&(sym, contract))
                .map(|b| b.iter().filter(|b| b.start_ms >= from_ms).cloned().collect())
                .unwrap_or_default();
            if let Some(l) = self.truth.get_mut(line) {
                l.after = Some(events::after_event(entry, &bars));
            }
        }
        Ok(Finished { records, chains: self.chains, truth: self.truth, tapes: self.tapes, unusual: self.stream.tally })
    }
}

/// A snapshot's day volume and VWAP. A contract that has not traded today
/// has no day bar: its day volume is 0, as the bots read it, so its first
/// trade is flow like any other (skipping it lost the first buy of a repeat
/// on a contract that had not traded, and with it the repeat's truth line).
fn day_totals(snap: &OptionSnapshot) -> (f64, f64) {
    snap.day.as_ref().map_or((0.0, 0.0), |d| (d.volume.unwrap_or(0.0), d.vwap.unwrap_or(0.0)))
}

fn last_price(snap: &OptionSnapshot) -> f64 {
    snap.last_trade.as_ref().and_then(|tr| tr.price).unwrap_or(0.0)
}

/// The contracts traded since `before` (day volume and VWAP then) and
/// their premium, as the bots measure it: from the VWAP difference, or the
/// last trade's price when there was no VWAP or the average falls outside
/// the day's range. None when nothing traded.
fn flow_since((v0, w0): (f64, f64), snap: &OptionSnapshot) -> Option<(f64, f64)> {
    let (volume, vwap) = day_totals(snap);
    let dv = volume - v0;
    let d = snap.day.as_ref().filter(|_| dv > 0.0)?;
    let avg = (vwap * volume - w0 * v0) / dv;
    let in_range = d.low.is_none_or(|lo| avg >= lo) && d.high.is_none_or(|hi| avg <= hi);
    let price = if v0 > 0.0 && avg.is_finite() && avg > 0.0 && in_range { avg } else { last_price(snap) };
    Some((dv, price * dv * 100.0))
}

fn aggs(ticker: &str, timespan: &str, results: Vec<crate::polygon::Bar>) -> Payload {
    Payload::Aggs { ticker: ticker.to_string(), multiplier: 1, timespan: timespan.to_string(), results }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> SimError {
    SimError::Io { path: path.display().to_string(), message: e.to_string() }
}

fn write_truth(path: &Path, lines: &[TruthEvent]) -> Result<(), SimError> {
    let file = File::create(path).map_err(|e| io_err(path, e))?;
    let mut w = BufWriter::new(file);
    for line in lines {
        let text = serde_json::to_string(line).map_err(|e| io_err(path, e))?;
        writeln!(w, "{text}").map_err(|e| io_err(path, e))?;
    }
    w.flush().map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contracts_first_trade_of_the_day_is_flow() {
        let quiet: OptionSnapshot = serde_json::from_value(serde_json::json!({"open_interest": 700.0})).unwrap();
        let traded: OptionSnapshot = serde_json::from_value(serde_json::json!({
            "day": {"volume": 45.0, "vwap": 3.6, "low": 3.5, "high": 3.8},
            "last_trade": {"price": 3.6, "size": 45}
        }))
        .unwrap();
        // Not traded yet: a day volume of 0, the baseline the first buy
        // is measured from, and no flow of its own.
        assert_eq!(day_totals(&quiet), (0.0, 0.0));
        assert_eq!(flow_since((0.0, 0.0), &quiet), None);
        // The first buy: all of its volume, at the last trade's price.
        let (dv, premium) = flow_since(day_totals(&quiet), &traded).unwrap();
        assert_eq!(dv, 45.0);
        assert!((premium - 16_200.0).abs() < 1e-6, "{premium}");
        // Later flow: the VWAP difference.
        let mut more = traded.clone();
        more.day.as_mut().unwrap().volume = Some(90.0);
        more.day.as_mut().unwrap().vwap = Some(3.65);
        let (dv, premium) = flow_since(day_totals(&traded), &more).unwrap();
        assert_eq!(dv, 45.0);
        assert!((premium - 3.7 * 45.0 * 100.0).abs() < 1e-6, "{premium}");
    }

    #[test]
    fn the_header_states_what_a_pass_over_the_records_finds() {
        let dir = std::env::temp_dir().join(format!("orakl-sim-contents-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let time = |h, m, s| NaiveTime::from_hms_opt(h, m, s).unwrap();
        let cases = [
            ("2026-03-09", time(9, 30, 0), 2, 45),
            ("2026-03-09", time(10, 0, 20), 3, 50),
            // Cut at the 13:00 bell of an early close, off the minute grid.
            ("2026-11-27", time(12, 58, 30), 5, 40),
        ];
        for (k, (date, start, minutes, interval)) in cases.into_iter().enumerate() {
            let opts = SimOptions {
                seed: 11,
                date: date.parse().unwrap(),
                symbols: vec!["spy".to_string(), "ZZZQ".to_string()],
                start,
                minutes,
                chain_interval_seconds: interval,
                chain_scale: MIN_CHAIN_SCALE,
                ..SimOptions::default()
            };
            let out = dir.join(format!("{k}.jsonl"));
            simulate(&opts, &out, None).unwrap();
            let (header, symbols, first, last) = crate::replay::tape_symbols(&out).unwrap();
            let stated = header.contents().unwrap();
            assert_eq!((stated.symbols, stated.first_at, stated.last_at), (symbols, first, last), "case {k}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
