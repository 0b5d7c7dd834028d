//! The simulated stock market of one day: per-symbol profiles, the
//! underlying's price second by second, minute bars and their volume, the
//! daily history before the day, stock prints (lit and dark) and snapshots.
//!
//! Most of the day is a random walk. A symbol may carry a *story*: a stretch
//! of the day drawn to a plan so that the stock bots have something real to
//! find (an hourly Strat 3-1-2, a 5-minute 3-1-2 for a scalp, a break of the
//! 20-day high on heavy volume) or to narrowly miss. Plans are made of bars
//! with an exact open, high, low and close; the seconds inside a bar are a
//! Brownian bridge through those four points that never leaves the bar's
//! range, so the bars the API builds from the minutes are the planned ones.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::pricing::{cents, round_dp};
use super::rng::Rng;
use crate::bars;
use crate::calendar;
use crate::indicators::rsi_wilder;
use crate::polygon::models::{Bar, MinuteBar, SnapshotBar, SnapshotQuote, SnapshotTrade, TickerSnapshot, Trade};
use crate::strat::BarType;

/// Seconds from midnight ET to the 09:30 bell.
pub const OPEN_ET_SECONDS: u32 = 9 * 3600 + 1800;

/// A symbol's character: price level, volatility, liquidity, listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub symbol: String,
    /// Previous close, dollars.
    pub spot: f64,
    /// Standard deviation of one day's return.
    pub daily_vol: f64,
    /// Average daily share volume.
    pub adv: f64,
    /// Average daily option contracts traded across all of the symbol's
    /// listings (the figure OCC publishes per underlying): the simulated
    /// chain, a sample of the listing, carries all of it, so its day volume
    /// is the real one.
    pub option_adv: f64,
    /// Open interest across the chain as a multiple of `option_adv`: index
    /// ETFs turn their open interest over fastest.
    pub oi_ratio: f64,
    /// Share of the day's option volume in contracts expiring today (when
    /// one is listed): SPY's and QQQ's 0DTE business.
    pub zero_dte_share: f64,
    /// SPY and QQQ quote options in pennies at every price.
    pub penny_all: bool,
    /// Index ETFs list an expiry every trading day.
    pub daily_expiries: bool,
    /// The finest strike increment listed.
    pub strike_step: f64,
    /// Consolidated tape: 1 (NYSE), 2 (Arca/American), 3 (Nasdaq).
    pub tape: i32,
    /// Typical print size, shares.
    pub avg_print_shares: f64,
}

impl Profile {
    /// Annualised volatility, the at-the-money implied level.
    pub fn atm_vol(&self) -> f64 {
        self.daily_vol * 252f64.sqrt()
    }
}

/// The built-in set when no symbols are given. CSCO's ticker contains a "C"
/// (and its puts a "P"): the contract type must come from the details.
pub const DEFAULT_SYMBOLS: [&str; 6] = ["SPY", "QQQ", "AAPL", "TSLA", "NVDA", "CSCO"];

/// The profile of `symbol`: realistic early-2026 levels for the built-in
/// names; any other symbol gets one derived from a hash of its name, so the
/// same name always trades the same way.
pub fn profile(symbol: &str) -> Profile {
    let p = |spot,
             daily_vol,
             adv,
             (option_adv, oi_ratio),
             penny_all,
             daily_expiries,
             strike_step,
             tape,
             avg_print_shares| {
        Profile {
            symbol: symbol.to_string(),
            spot,
            daily_vol,
            adv,
            option_adv,
            oi_ratio,
            zero_dte_share: if daily_expiries { 0.43 } else { 0.0 },
            penny_all,
            daily_expiries,
            strike_step,
            tape,
            avg_print_shares,
        }
    };
    // Option volume by tier (README, "Simulator realism"): index ETFs
    // millions of contracts a day, the megacaps one to two million, large
    // caps tens to hundreds of thousands, mid and small caps thousands.
    match symbol {
        "SPY" => p(672.0, 0.010, 70e6, (7.0e6, 2.5), true, true, 1.0, 2, 120.0),
        "QQQ" => p(603.0, 0.013, 45e6, (3.5e6, 5.0), true, true, 1.0, 3, 110.0),
        "AAPL" => p(258.0, 0.015, 50e6, (0.8e6, 5.0), false, false, 2.5, 3, 90.0),
        "TSLA" => p(425.0, 0.035, 95e6, (1.6e6, 3.0), false, false, 2.5, 3, 80.0),
        "NVDA" => p(182.0, 0.026, 180e6, (1.8e6, 3.5), false, false, 1.0, 3, 110.0),
        "CSCO" => p(78.0, 0.013, 20e6, (60e3, 7.0), false, false, 0.5, 3, 100.0),
        _ => {
            let h = fnv1a(symbol);
            let spot = 20.0 + (h % 48_000) as f64 / 100.0;
            let daily_vol = 0.012 + ((h >> 20) % 180) as f64 / 10_000.0;
            let adv = 5e6 + ((h >> 32) % 25) as f64 * 1e6;
            let step = if spot < 50.0 {
                0.5
            } else if spot < 200.0 {
                1.0
            } else {
                2.5
            };
            // One name in ten a large cap (30,000–300,000 contracts a day),
            // four in ten mid caps (6,000–30,000), the rest small caps
            // (1,000–6,000); evenly in the log within a tier.
            let u = ((h >> 40) % 1000) as f64 / 1000.0;
            let tier = (h >> 52) % 10;
            let (lo, hi): (f64, f64) = match tier {
                0 => (30e3, 300e3),
                1..=4 => (6e3, 30e3),
                _ => (1e3, 6e3),
            };
            let option_adv = (lo.ln() + u * (hi / lo).ln()).exp().round();
            p(spot, daily_vol, adv, (option_adv, 6.0), false, false, step, if h % 3 == 0 { 1 } else { 3 }, 100.0)
        }
    }
}

/// FNV-1a: a fixed, platform-independent hash (std's hasher is randomly
/// keyed per process and would make the day depend on the run).
pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The session being simulated: its date, bells and clock conversions.
/// Times inside the simulator are whole seconds since the opening bell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub open: DateTime<Utc>,
    /// Seconds from the opening to the closing bell.
    pub session_s: u32,
}

impl Day {
    pub fn new(date: NaiveDate) -> Option<Day> {
        let s = calendar::session(date)?;
        let session_s = u32::try_from((s.close - s.open).num_seconds()).ok()?;
        Some(Day { date, open: s.open, session_s })
    }

    pub fn at(&self, s: u32) -> DateTime<Utc> {
        self.instant(i64::from(s))
    }

    /// The instant `s` seconds after the bell (before it when negative).
    /// Simulator times are within hours of the bell, so the fallback to the
    /// bell itself is never taken; it only keeps this free of a panic path.
    pub fn instant(&self, s: i64) -> DateTime<Utc> {
        Duration::try_seconds(s).and_then(|d| self.open.checked_add_signed(d)).unwrap_or(self.open)
    }

    /// Nanoseconds since the epoch of second `s` plus `ns`.
    pub fn ns(&self, s: u32, ns: i64) -> i64 {
        (self.open.timestamp() + i64::from(s)) * 1_000_000_000 + ns
    }

    /// Minutes in the regular session.
    pub fn minutes(&self) -> u32 {
        self.session_s / 60
    }
}

/// Seconds since the bell of an ET wall-clock hour (negative before it).
pub fn since_open_of_hour(hour: u32) -> i64 {
    i64::from(hour) * 3600 - i64::from(OPEN_ET_SECONDS)
}

/// One bar in simulator time: `start_s`/`end_s` are seconds since the bell
/// (a 60-minute bar aligned to the clock hour starts before the bell).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ohlc {
    pub start_s: i64,
    pub end_s: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
    pub vw: f64,
    pub n: f64,
}

impl Ohlc {
    /// The Polygon aggregate (start in epoch milliseconds).
    pub fn to_bar(self, day: &Day) -> Bar {
        Bar {
            start_ms: (day.open.timestamp() + self.start_s) * 1000,
            open: self.o,
            high: self.h,
            low: self.l,
            close: self.c,
            volume: self.v,
            vwap: Some(self.vw),
            transactions: Some(self.n),
            ticker: None,
            otc: None,
        }
    }
}

/// The kinds of planned stretch a symbol's day can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryKind {
    /// Hourly 3-1-2 up, a 5-minute 3-1-2 up inside the trigger hour, then a
    /// break of the 20-day high on heavy volume.
    Bull,
    /// The mirror image: everything down, a break of the 20-day low.
    Bear,
    /// Near-misses: an hourly 3-1 whose next bar only equals the inside bar's
    /// high (equal is not a break), then a break of the 20-day high on
    /// ordinary volume.
    Fake,
}

impl StoryKind {
    /// +1 for stories drawn upward, −1 for the mirror image.
    pub fn dir(self) -> f64 {
        if self == StoryKind::Bear { -1.0 } else { 1.0 }
    }
}

/// A story placed on a symbol: its kind and the ET hour of its trigger bar
/// ("C"). The three hours before it are P, A (outside) and B (inside); a
/// Fake story continues into hour D, where the level is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Story {
    pub kind: StoryKind,
    pub c_hour: u32,
}

impl Story {
    pub fn c_start_s(&self) -> i64 {
        since_open_of_hour(self.c_hour)
    }

    /// The hour in which the level is crossed (C, or D for a Fake).
    pub fn cross_hour_start_s(&self) -> i64 {
        self.c_start_s() + if self.kind == StoryKind::Fake { 3600 } else { 0 }
    }

    /// When the drawn stretch ends (seconds since the bell).
    pub fn end_s(&self) -> i64 {
        self.cross_hour_start_s() + 3600
    }

    /// Close of the 5-minute setup's trigger bar (bar 4 of the trigger hour).
    pub fn setup_close_s(&self) -> i64 {
        self.c_start_s() + 25 * 60
    }

    /// Whether the story fits a session of `session_s` seconds.
    pub fn fits(&self, session_s: u32) -> bool {
        self.c_start_s() - 2 * 3600 > 0 && self.end_s() <= i64::from(session_s)
    }
}

/// What a drawn story turned out to be, for the planner and the truth file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoryFacts {
    pub story: Story,
    /// The 20-day high (Bull, Fake) or low (Bear) the history is built to.
    pub level: f64,
    /// First second the price is beyond the level.
    pub cross_s: u32,
    /// RSI(14) of the 5-minute closes at the setup bar's close.
    pub setup_rsi: f64,
    /// Whether every planned bar type and the RSI band came out as drawn.
    pub verified: bool,
}

/// Prices of one symbol for every second of the session (index = seconds
/// since the bell, the last one at the closing bell), in cents.
pub fn generate_path(p: &Profile, day: &Day, story: Option<Story>, rng: &mut Rng) -> (Vec<f64>, Option<StoryFacts>) {
    let open = cents(p.spot * (1.0 + 0.25 * p.daily_vol * rng.normal()));
    let Some(story) = story.filter(|s| s.fits(day.session_s)) else {
        return (free_day(p, day, open, rng), None);
    };
    // A drawn day can miss its plan by a cent of rounding or an RSI outside
    // the band; draw again (the attempts are part of the seeded stream, so
    // this stays deterministic). Forty misses in a row do not happen with
    // these plans; if they did, the facts say so and the truth file follows.
    let mut last = None;
    for _ in 0..40 {
        let (prices, facts) = story_day(p, day, open, story, rng);
        let ok = facts.verified;
        last = Some((prices, facts));
        if ok {
            break;
        }
    }
    match last {
        Some((prices, facts)) => (prices, Some(facts)),
        None => (free_day(p, day, open, rng), None),
    }
}

/// Random walk σ per second, in dollars, at price `s`.
fn sigma_s(p: &Profile, s: f64) -> f64 {
    // Per second of a full 6.5-hour session; an early close is a shorter
    // day at the same pace, not a compressed one.
    s * p.daily_vol / 23_400f64.sqrt()
}

fn free_day(p: &Profile, day: &Day, open: f64, rng: &mut Rng) -> Vec<f64> {
    let mut prices = vec![open; day.session_s as usize + 1];
    let sigma = sigma_s(p, open);
    walk(&mut prices, 0, day.session_s as usize, sigma, rng);
    round_all(&mut prices);
    prices
}

fn round_all(prices: &mut [f64]) {
    for x in prices.iter_mut() {
        *x = cents(*x).max(0.01);
    }
}

/// Keeps `x` in [lo, hi] by reflecting off the bounds (a reflected walk
/// looks like a walk; a clamped one shows flat tops).
fn reflect(mut x: f64, lo: f64, hi: f64) -> f64 {
    if hi - lo <= 1e-9 {
        return lo;
    }
    for _ in 0..4 {
        if x > hi {
            x = 2.0 * hi - x;
        } else if x < lo {
            x = 2.0 * lo - x;
        } else {
            return x;
        }
    }
    x.clamp(lo, hi)
}

/// Geometric Brownian motion without drift from `p[a]` filling
/// `p[a+1..=b]`; `sigma` is in dollars at the price `p[a]`, so the step
/// scales with the price as it wanders. Volatility clusters: the step's
/// scale is `exp(h)`, where `h` is a stationary AR(1) redrawn every minute
/// (half-life about 23 minutes), centred so the day's variance is the
/// profile's: calm stretches and busy ones, as real tapes show.
fn walk(p: &mut [f64], a: usize, b: usize, sigma: f64, rng: &mut Rng) {
    const PHI: f64 = 0.97;
    const ETA: f64 = 0.12;
    let Some(&start) = p.get(a) else { return };
    let rel = sigma / start.max(0.01);
    let spread = ETA * ETA / (1.0 - PHI * PHI);
    let mut h = spread.sqrt() * rng.normal();
    for i in a + 1..=b.min(p.len() - 1) {
        if (i - a) % 60 == 0 {
            h = PHI * h + ETA * rng.normal();
        }
        let scale = (h - spread).exp();
        p[i] = (p[i - 1] * (1.0 + rel * scale * rng.normal())).max(0.01);
    }
}

/// A Brownian bridge from `p[a]` to `target` at `b`, kept inside `bounds`.
fn bridge(p: &mut [f64], a: usize, b: usize, target: f64, sigma: f64, bounds: (f64, f64), rng: &mut Rng) {
    if b <= a || b >= p.len() {
        return;
    }
    let n = (b - a) as f64;
    let start = p[a];
    let mut w = 0.0;
    let mut ws = Vec::with_capacity(b - a);
    for _ in a + 1..=b {
        w += sigma * rng.normal();
        ws.push(w);
    }
    let w_end = w;
    for (k, wk) in ws.iter().enumerate() {
        let frac = (k + 1) as f64 / n;
        let x = start + wk - frac * w_end + frac * (target - start);
        p[a + k + 1] = reflect(x, bounds.0, bounds.1);
    }
    p[b] = target;
}

/// A planned bar: exact open, high, low, close.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spec {
    o: f64,
    h: f64,
    l: f64,
    c: f64,
}

/// Draws seconds `[a, b)` as a bar with exactly `spec`'s open, high, low and
/// close: open at `a`, the extremes at random inner times (low first when
/// `low_first`), close at `b − 1`, bridges in between inside [low, high].
fn shape_bar(p: &mut [f64], a: usize, b: usize, spec: Spec, low_first: bool, sigma: f64, rng: &mut Rng) {
    if b < a + 8 || b > p.len() {
        return;
    }
    let n = (b - 1 - a) as f64;
    let t1 = a + (n * rng.range(0.15, 0.45)) as usize;
    let t2 = a + (n * rng.range(0.55, 0.85)) as usize;
    let (x1, x2) = if low_first { (spec.l, spec.h) } else { (spec.h, spec.l) };
    // Inside a planned bar the noise is scaled to the bar's range so the
    // path wanders within it instead of bouncing off its edges.
    let sigma = sigma.min((spec.h - spec.l).max(0.01) / (1.5 * n.sqrt()));
    let bounds = (spec.l, spec.h);
    p[a] = spec.o;
    bridge(p, a, t1, x1, sigma, bounds, rng);
    bridge(p, t1, t2, x2, sigma, bounds, rng);
    bridge(p, t2, b - 1, spec.c, sigma, bounds, rng);
}

/// Offsets (units of R, signed so that "up" is the story's direction) mapped
/// to prices around X.
#[derive(Debug, Clone, Copy)]
struct Frame {
    x: f64,
    r: f64,
    dir: f64,
}

impl Frame {
    fn price(&self, off: f64) -> f64 {
        cents(self.x + self.dir * off * self.r)
    }

    fn off(&self, price: f64) -> f64 {
        self.dir * (price - self.x) / self.r
    }

    /// A bar planned in offsets: for a downward story the offsets' high is
    /// the price's low.
    fn spec(&self, o: f64, h: f64, l: f64, c: f64) -> Spec {
        let (hp, lp) = if self.dir > 0.0 { (self.price(h), self.price(l)) } else { (self.price(l), self.price(h)) };
        Spec { o: self.price(o), h: hp, l: lp, c: self.price(c) }
    }

    /// Whether a bar planned "low first" in offsets reaches its price low first.
    fn low_first(&self, off_low_first: bool) -> bool {
        if self.dir > 0.0 { off_low_first } else { !off_low_first }
    }
}

/// One bar of a plan in offsets: (open, high, low, close).
type OffBar = (f64, f64, f64, f64);

/// The 12 five-minute bars of the hour in which the level is crossed, from
/// `base` (the previous close) to above `level`, all in offsets:
/// bars 0–1 dip, 2–4 are a 3-1-2 (outside, inside, break up), 5 climbs
/// below the level, 6 crosses it, 7–11 keep making higher highs and higher
/// lows above it (2U after 2U is no Strat trigger, so the setup at bar 4 is
/// the only one of the hour).
fn cross_hour_plan(base: f64, level: f64, rng: &mut Rng) -> Vec<OffBar> {
    let mut j = || rng.range(-0.01, 0.01);
    let mut bars: Vec<OffBar> = Vec::with_capacity(12);
    let c0 = base - 0.10 + j();
    bars.push((base, base.max(c0) + 0.04, base.min(c0) - 0.05, c0));
    let c1 = base - 0.03 + j();
    let (h1, l1) = (c0.max(c1) + 0.05, c0.min(c1) - 0.03);
    bars.push((c0, h1, l1, c1));
    let c2 = base - 0.05 + j();
    let (h2, l2) = (h1 + 0.08, l1 - 0.06);
    bars.push((c1, h2, l2, c2));
    let c3 = base + j();
    let (h3, l3) = (h2 - 0.04, l2 + 0.04);
    bars.push((c2, h3, l3, c3));
    let h4 = h3 + 0.12;
    let c4 = h4 - 0.02;
    bars.push((c3, h4, l3 + 0.03, c4));
    let c5 = c4 + 0.5 * (level - c4) - 0.03;
    bars.push((c4, (c4.max(c5) + 0.04).min(level - 0.04), c4.min(c5) - 0.04, c5));
    let c6 = level + 0.12 + j();
    bars.push((c5, level + 0.18, c5 - 0.03, c6));
    let mut prev_c = c6;
    for k in 0..5 {
        let step = 0.05 * k as f64;
        let (h, l, c) = (level + 0.24 + step, level + 0.04 + step, level + 0.20 + step + j());
        bars.push((prev_c, h, l, c));
        prev_c = c;
    }
    bars
}

fn story_day(p: &Profile, day: &Day, open: f64, story: Story, rng: &mut Rng) -> (Vec<f64>, StoryFacts) {
    let n = day.session_s as usize;
    let mut prices = vec![open; n + 1];
    let sigma = sigma_s(p, open);
    let r = (open * p.daily_vol * (3600f64 / 23_400f64).sqrt()).max(0.25);
    let dir = story.kind.dir();
    let c0 = story.c_start_s() as usize;
    let a0 = c0 - 2 * 3600;
    let p0 = (c0 as i64 - 3 * 3600).max(0) as usize;
    let b0 = c0 - 3600;
    // Morning: a bounded wander to X, the price at which hour P starts.
    let x = if p0 > 0 { cents(open + dir * r * rng.normal() * 0.15) } else { open };
    let frame = Frame { x, r, dir };
    if p0 > 0 {
        let (lo, hi) = if dir > 0.0 { (x - 1.2 * r, x + 0.5 * r) } else { (x - 0.5 * r, x + 1.2 * r) };
        bridge(&mut prices, 0, p0, x, sigma, (lo.min(open), hi.max(open)), rng);
    }
    let morning_max = prices[..=p0].iter().map(|&v| frame.off(v)).fold(f64::MIN, f64::max);
    let mut j = || rng.range(-0.05, 0.05);
    let pb = (0.0, 0.5 + j(), -0.5 + j(), 0.1 + j());
    let ab = (pb.3, 0.9 + j(), -0.9 + j(), -0.05 + j());
    let bb = (ab.3, 0.5 + j(), -0.45 + j(), 0.3 + j());
    let level_off = morning_max.max(ab.1) + 0.08;
    let hour_bars = [(p0, a0, pb), (a0, b0, ab), (b0, c0, bb)];
    for (a, b, (o, h, l, c)) in hour_bars {
        let lf = rng.chance(0.5);
        let spec = frame.spec(o, h, l, c);
        let spec = Spec { o: prices[a], ..spec };
        shape_bar(&mut prices, a, b, spec, frame.low_first(lf), sigma, rng);
        prices[b] = prices[b - 1];
    }
    let b_spec = frame.spec(bb.0, bb.1, bb.2, bb.3);
    let mut cross_start = c0;
    if story.kind == StoryKind::Fake {
        // Hour C: inside B, its high exactly B's high — a 1, not a 2U.
        let c_close = bb.3 - 0.08 + rng.range(-0.03, 0.03);
        let mut spec = frame.spec(bb.3, bb.1, bb.2 + 0.12, c_close);
        if dir > 0.0 {
            spec.h = b_spec.h;
        } else {
            spec.l = b_spec.l;
        }
        spec.o = prices[c0];
        let lf = rng.chance(0.5);
        shape_bar(&mut prices, c0, c0 + 3600, spec, lf, sigma, rng);
        prices[c0 + 3600] = prices[c0 + 3599];
        cross_start = c0 + 3600;
    }
    let base = frame.off(prices[cross_start]);
    for (k, (o, h, l, c)) in cross_hour_plan(base, level_off, rng).into_iter().enumerate() {
        let a = cross_start + k * 300;
        let spec = Spec { o: prices[a], ..frame.spec(o, h, l, c) };
        let lf = rng.chance(0.5);
        shape_bar(&mut prices, a, a + 300, spec, frame.low_first(lf), sigma, rng);
        prices[a + 300] = prices[a + 299];
    }
    let end = cross_start + 3600;
    walk(&mut prices, end, n, sigma, rng);
    round_all(&mut prices);
    let level = frame.price(level_off);
    let facts = verify_story(&prices, day, story, level);
    (prices, facts)
}

/// Checks a drawn story against its plan with the same bar building the API
/// uses, and measures the setup's RSI.
fn verify_story(prices: &[f64], day: &Day, story: Story, level: f64) -> StoryFacts {
    let dir = story.kind.dir();
    let beyond = |x: f64| if dir > 0.0 { x > level } else { x < level };
    let cross_s = prices.iter().position(|&x| beyond(x)).unwrap_or(prices.len()) as u32;
    let minutes = minute_bars(prices, &vec![1.0; day.minutes() as usize]);
    // Built and classified by the crate's own code, so a story is verified
    // on the bars the bots will build and by the rule they apply.
    let close = day.at(day.session_s);
    let hours = market_bars(&minutes, day, bars::Frame::Min60, close);
    let fives = market_bars(&minutes, day, bars::Frame::Min5, close);
    let c0 = story.c_start_s();
    let up = if dir > 0.0 { BarType::Up } else { BarType::Down };
    let mut ok = true;
    // Hours P, A, B, C: A is outside P, B inside A, and C breaks B (or, for
    // a Fake, stays inside with exactly B's extreme).
    let a_start = day.instant(c0 - 7200);
    match hours.iter().position(|b| b.start == a_start).filter(|&i| i >= 1 && i + 2 < hours.len()) {
        Some(ai) => {
            let t = |i: usize| BarType::classify(&hours[i - 1], &hours[i]);
            ok &= t(ai) == BarType::Outside && t(ai + 1) == BarType::Inside;
            let (b, c) = (&hours[ai + 1], &hours[ai + 2]);
            ok &= match story.kind {
                StoryKind::Fake => {
                    t(ai + 2) == BarType::Inside && if dir > 0.0 { c.high == b.high } else { c.low == b.low }
                }
                _ => t(ai + 2) == up,
            };
        }
        None => ok = false,
    }
    // The 5-minute setup: bars 2, 3, 4 of the crossing hour are 3, 1, 2-up.
    let cross_start = story.cross_hour_start_s();
    let setup_end = day.instant(cross_start + 25 * 60);
    let mut rsi = f64::NAN;
    if let Some(k4) = fives.iter().position(|b| b.end == setup_end).filter(|&k| k >= 3) {
        let t = |i: usize| BarType::classify(&fives[i - 1], &fives[i]);
        ok &= t(k4 - 2) == BarType::Outside && t(k4 - 1) == BarType::Inside && t(k4) == up;
        let closes: Vec<f64> = fives[..=k4].iter().map(|b| b.close).collect();
        rsi = rsi_wilder(&closes, 14).unwrap_or(f64::NAN);
    } else {
        ok = false;
    }
    // The level holds until the crossing hour's bar 6 and is beyond it after.
    let cross_bar = (cross_start + 30 * 60) as u32;
    ok &= cross_s >= cross_bar && cross_s < cross_bar + 300;
    ok &= prices[cross_bar as usize + 300..(cross_start + 3600) as usize].iter().all(|&x| beyond(x));
    if story.kind != StoryKind::Fake {
        let band = if dir > 0.0 { 52.0..=68.0 } else { 32.0..=48.0 };
        ok &= band.contains(&rsi);
    }
    StoryFacts { story, level, cross_s, setup_rsi: rsi, verified: ok }
}

/// Relative volume of each minute: the familiar U, heavy at the open and
/// into the close. Sums to 1.
pub fn intraday_weights(minutes: u32) -> Vec<f64> {
    let n = f64::from(minutes.max(1));
    let w: Vec<f64> = (0..minutes.max(1))
        .map(|m| {
            let m = f64::from(m);
            1.0 + 2.0 * (-m / 20.0).exp() + 1.2 * (-(n - 1.0 - m) / 25.0).exp()
        })
        .collect();
    let total: f64 = w.iter().sum();
    w.into_iter().map(|x| x / total).collect()
}

/// Share volume of every minute: the U-shaped profile times the symbol's
/// average volume, `mult(minute)` for stories, and day-to-day noise.
pub fn minute_volumes(p: &Profile, day: &Day, mult: &dyn Fn(u32) -> f64, rng: &mut Rng) -> Vec<f64> {
    let weights = intraday_weights(day.minutes());
    // An early close trades a shorter day, not the same volume faster.
    let day_volume = p.adv * f64::from(day.minutes()) / 390.0;
    weights
        .iter()
        .enumerate()
        .map(|(m, w)| {
            let noise = (0.3 * rng.normal() - 0.045).exp();
            (day_volume * w * mult(m as u32) * noise / 100.0).round().max(1.0) * 100.0
        })
        .collect()
}

/// Minute bars from the per-second prices (`prices[s]` at second `s`).
pub fn minute_bars(prices: &[f64], volumes: &[f64]) -> Vec<Ohlc> {
    volumes
        .iter()
        .enumerate()
        .filter_map(|(m, &v)| {
            let a = m * 60;
            let secs = prices.get(a..a + 60)?;
            let h = secs.iter().copied().fold(f64::MIN, f64::max);
            let l = secs.iter().copied().fold(f64::MAX, f64::min);
            let vw = (secs.iter().sum::<f64>() / 60.0).clamp(l, h);
            Some(Ohlc {
                start_s: a as i64,
                end_s: a as i64 + 60,
                o: secs[0],
                h,
                l,
                c: secs[59],
                v,
                vw: round_dp(vw, 4).clamp(l, h),
                n: (v / 90.0).round().max(1.0),
            })
        })
        .collect()
}

/// The day's `frame` bars (5m or 60m) closed by `now`, built as the Strat
/// and Scalps bots build theirs from the tape: each recorded 1-minute
/// aggregate ([`Ohlc::to_bar`]) through `bars::Bar::from_polygon`, then
/// `bars::aggregate` on the extended-session grid, where 60m bars fall on
/// the clock hour (the 9:00 bar holds 9:30–9:59). A minute that conversion
/// rejects would be invisible to the bots too; no simulated minute is one.
pub fn market_bars(minutes: &[Ohlc], day: &Day, frame: bars::Frame, now: DateTime<Utc>) -> Vec<bars::Bar> {
    let minutes: Vec<bars::Bar> =
        minutes.iter().filter_map(|m| bars::Bar::from_polygon(&m.to_bar(day), Duration::minutes(1))).collect();
    bars::aggregate(&minutes, frame, bars::Session::Extended, now)
}

/// One daily bar of the history before the simulated day: the generator's
/// own record (short names, the date it was made for), written out as the
/// wire `polygon::Bar` by [`DailyBar::to_bar`], whose VWAP and count are
/// derived at that point. The bots read it back as a `bars::Bar`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyBar {
    pub date: NaiveDate,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
}

impl DailyBar {
    /// Polygon's daily aggregate: `t` is midnight ET of the date.
    pub fn to_bar(self) -> Bar {
        let midnight = calendar::et_midnight(self.date);
        let vw = round_dp((self.h + self.l + 2.0 * self.c) / 4.0, 4);
        Bar {
            start_ms: midnight.map_or(0, |m| m.timestamp_millis()),
            open: self.o,
            high: self.h,
            low: self.l,
            close: self.c,
            volume: self.v,
            vwap: Some(vw),
            transactions: Some((self.v / 110.0).round()),
            ticker: None,
            otc: None,
        }
    }
}

/// Sessions of daily history recorded before the day: 20 for the breakout
/// lookback, and more so ATR(14) and the daily Strat have a run-in.
pub const HISTORY_SESSIONS: usize = 30;

/// The daily bars of the `HISTORY_SESSIONS` sessions before `day`, oldest
/// first, on real NYSE dates, built to fit today's path:
///
/// - a Bull or Fake story's level is exactly the highest high of the
///   history (one day touched it; none went above), a Bear's the lowest low;
/// - every other 20-day extreme lies beyond today's range, so no symbol
///   breaks out by accident.
pub fn daily_history(
    p: &Profile,
    day: &Day,
    today: &[f64],
    facts: Option<&StoryFacts>,
    rng: &mut Rng,
) -> Vec<DailyBar> {
    let mut dates = Vec::with_capacity(HISTORY_SESSIONS);
    let mut d = day.date;
    while dates.len() < HISTORY_SESSIONS {
        let Some(prev) = calendar::previous_trading_day(d) else { break };
        dates.push(prev);
        d = prev;
    }
    dates.reverse();
    let open = today.first().copied().unwrap_or(p.spot);
    let today_high = today.iter().copied().fold(f64::MIN, f64::max);
    let today_low = today.iter().copied().fold(f64::MAX, f64::min);
    let sd = p.daily_vol;
    // A ceiling (Bull/Fake) or floor (Bear) the history must respect.
    let (ceiling, floor) = match facts {
        Some(f) if f.story.kind == StoryKind::Bear => (None, Some(f.level)),
        Some(f) => (Some(f.level), None),
        None => (None, None),
    };
    let mut prev_close = open * (1.0 + 0.3 * sd * rng.normal());
    if let Some(c) = ceiling {
        prev_close = prev_close.min(c * (1.0 - 0.3 * sd));
    }
    if let Some(f) = floor {
        prev_close = prev_close.max(f * (1.0 + 0.3 * sd));
    }
    // Closes walk backwards from yesterday's, reflected off the level.
    let mut closes = vec![prev_close; dates.len()];
    for i in (0..dates.len().saturating_sub(1)).rev() {
        let mut c = closes[i + 1] * (sd * rng.normal()).exp();
        if let Some(cap) = ceiling.map(|x| x * (1.0 - 0.2 * sd))
            && c > cap
        {
            c = cap * cap / c;
        }
        if let Some(fl) = floor.map(|x| x * (1.0 + 0.2 * sd))
            && c < fl
        {
            c = fl * fl / c;
        }
        closes[i] = c;
    }
    let mut bars: Vec<DailyBar> = Vec::with_capacity(dates.len());
    for (i, date) in dates.iter().enumerate() {
        let c = cents(closes[i]);
        let mut o =
            if i == 0 { c * (1.0 + 0.5 * sd * rng.normal()) } else { bars[i - 1].c * (1.0 + 0.2 * sd * rng.normal()) };
        if let Some(cap) = ceiling {
            o = o.min(cap);
        }
        if let Some(fl) = floor {
            o = o.max(fl);
        }
        let o = cents(o);
        let mut h = cents(o.max(c) * (1.0 + 0.4 * sd * rng.normal().abs()));
        let mut l = cents(o.min(c) * (1.0 - 0.4 * sd * rng.normal().abs()));
        if let Some(cap) = ceiling {
            h = h.min(cap);
        }
        if let Some(fl) = floor {
            l = l.max(fl);
        }
        let v = (p.adv * (0.25 * rng.normal() - 0.03).exp()).round();
        bars.push(DailyBar { date: *date, o, h: h.max(o.max(c)), l: l.min(o.min(c)), c, v });
    }
    let n = bars.len();
    if n == 0 {
        return bars;
    }
    let recent = n.saturating_sub(20);
    let touch = |bars: &mut Vec<DailyBar>, rng: &mut Rng, f: &dyn Fn(&mut DailyBar)| {
        let i = recent + rng.below((n - recent).saturating_sub(2).max(1) as u64) as usize;
        if let Some(b) = bars.get_mut(i) {
            f(b);
        }
    };
    let margin = 0.004 * open;
    match (ceiling, floor) {
        (Some(cap), _) => touch(&mut bars, rng, &|b| b.h = cap),
        (_, Some(fl)) => touch(&mut bars, rng, &|b| b.l = fl),
        _ => {}
    }
    // Extremes beyond today's range (only where no level was set).
    let hi20 = bars[recent..].iter().map(|b| b.h).fold(f64::MIN, f64::max);
    let lo20 = bars[recent..].iter().map(|b| b.l).fold(f64::MAX, f64::min);
    if ceiling.is_none() && hi20 < today_high + margin {
        let target = cents(today_high + margin + 0.002 * open * rng.f64());
        touch(&mut bars, rng, &|b| b.h = target);
    }
    if floor.is_none() && lo20 > today_low - margin {
        let target = cents(today_low - margin - 0.002 * open * rng.f64());
        touch(&mut bars, rng, &|b| b.l = target);
    }
    bars
}

/// Lit exchanges for stock prints (Polygon ids) and FINRA TRF ids.
const LIT_EXCHANGES: [i32; 12] = [1, 2, 3, 7, 8, 9, 10, 11, 12, 15, 19, 21];
pub const TRF_EXCHANGE: i32 = 4;
const TRF_IDS: [i32; 3] = [201, 202, 203];

/// A print the planner places into the day (a dark-pool block).
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedPrint {
    /// Seconds since the bell.
    pub second: u32,
    pub size: f64,
    pub conditions: Vec<i32>,
}

/// Per-symbol counters that make print ids and sequence numbers unique.
#[derive(Debug, Clone, Default)]
pub struct PrintIds {
    pub next_id: u64,
    pub sequence: i64,
}

/// Off-exchange (TRF) share of a stock's share volume, on average: about
/// half of US equity volume trades away from the exchanges.
pub const OFF_EXCHANGE_SHARE: f64 = 0.48;
/// Chance that any one print is a block of 10,000 shares or more.
pub const BLOCK_CHANCE: f64 = 2.6e-4;
/// Where a block begins, shares.
pub const BLOCK_SHARES: f64 = 10_000.0;
/// Share of blocks printed off-exchange (negotiated, then reported to a TRF).
const BLOCK_OFF_EXCHANGE: f64 = 0.85;

/// A block the background prints (10,000 shares or more).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Block {
    /// Seconds since the bell.
    pub second: u32,
    pub size: f64,
    /// Reported to a TRF (what a dark-pool scan sees), else lit.
    pub off_exchange: bool,
}

/// The day's background blocks of a stock, in time order: each minute of
/// `volume` shares holds about `volume / avg_print_shares` prints, each a
/// block with [`BLOCK_CHANCE`], sized from 10,000 shares with a Pareto tail
/// (capped at 200,000, and at 60% of the minute's volume in all).
pub fn blocks(p: &Profile, minutes: &[Ohlc], rng: &mut Rng) -> Vec<Block> {
    let mut out = Vec::new();
    for (m, bar) in minutes.iter().enumerate() {
        let n = rng.poisson(bar.v / p.avg_print_shares * BLOCK_CHANCE);
        let mut used = 0.0;
        for _ in 0..n {
            let size = ((BLOCK_SHARES * (1.0 - rng.f64()).powf(-0.5)).min(20.0 * BLOCK_SHARES) / 100.0).round() * 100.0;
            let second = m as u32 * 60 + rng.below(60) as u32;
            let off_exchange = rng.chance(BLOCK_OFF_EXCHANGE);
            if used + size > 0.6 * bar.v {
                continue;
            }
            used += size;
            out.push(Block { second, size, off_exchange });
        }
    }
    out.sort_by_key(|b| b.second);
    out
}

/// One minute of a stock's modelled trading (all of it, of which the tape
/// holds a sample): what the realism figures count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StockMinute {
    pub volume: f64,
    pub off_exchange: f64,
    pub prints: f64,
    pub blocks: u32,
}

/// The stock's prints in minute `m` of `volume` shares: the minute is
/// modelled whole (about `volume / avg_print_shares` prints, its `blocks`
/// among them, an off-exchange share around [`OFF_EXCHANGE_SHARE`]) and
/// written as a sample: a dozen ordinary prints (lit, odd lots, ISO and TRF
/// ones, none as large as a block), every block, and any injected print, in
/// time order.
#[allow(clippy::too_many_arguments)]
pub fn stock_prints(
    p: &Profile,
    day: &Day,
    m: u32,
    volume: f64,
    blocks: &[Block],
    prices: &[f64],
    injected: &[&InjectedPrint],
    ids: &mut PrintIds,
    rng: &mut Rng,
) -> (Vec<Trade>, StockMinute) {
    let count = 6 + rng.below(14) as usize;
    let mut out: Vec<Trade> = Vec::with_capacity(count + blocks.len() + injected.len());
    let print = |sip: i64, price: f64, size: f64, conditions: Vec<i32>, exchange: i32, trf: Option<i32>| Trade {
        conditions: if conditions.is_empty() { None } else { Some(conditions) },
        exchange: Some(exchange),
        participant_timestamp: Some(sip - 150_000),
        price,
        sip_timestamp: sip,
        size,
        tape: Some(p.tape),
        trf_id: trf,
        trf_timestamp: trf.map(|_| sip - 40_000),
        ..Default::default()
    };
    let px_at = |s: u32| prices.get(s as usize).copied().unwrap_or(p.spot);
    let lit = |px: f64, rng: &mut Rng| cents(px + if rng.chance(0.5) { 0.005 } else { -0.005 });
    // Off-exchange prints often fill at the midpoint, a half cent.
    let dark = |px: f64, rng: &mut Rng| if rng.chance(0.3) { round_dp(px + 0.005, 4) } else { px };
    let off_share = (OFF_EXCHANGE_SHARE + 0.06 * rng.normal()).clamp(0.25, 0.75);
    let mut minute = StockMinute { volume, prints: (volume / p.avg_print_shares).max(1.0), ..Default::default() };
    let mut block_volume = 0.0;
    for b in blocks {
        block_volume += b.size;
        minute.blocks += 1;
        let sip = day.ns(b.second, rng.below(1_000_000_000) as i64);
        if b.off_exchange {
            minute.off_exchange += b.size;
            let trf = TRF_IDS[rng.below(3) as usize];
            let price = dark(px_at(b.second), rng);
            out.push(print(sip, price, b.size, Vec::new(), TRF_EXCHANGE, Some(trf)));
        } else {
            let exchange = LIT_EXCHANGES[rng.below(LIT_EXCHANGES.len() as u64) as usize];
            let price = lit(px_at(b.second), rng);
            out.push(print(sip, price, b.size, Vec::new(), exchange, None));
        }
    }
    minute.off_exchange += (volume - block_volume).max(0.0) * off_share;
    for _ in 0..count {
        let s = m * 60 + rng.below(60) as u32;
        let sip = day.ns(s, rng.below(1_000_000_000) as i64);
        let px = px_at(s);
        let off = rng.chance(off_share);
        let mut size = (rng.exp(p.avg_print_shares) + 1.0).round();
        if rng.chance(0.08) {
            size = (size * 10.0).min(4_900.0);
        }
        let mut conditions = Vec::new();
        if size < 100.0 {
            conditions.push(37);
        }
        if off {
            let trf = TRF_IDS[rng.below(3) as usize];
            let price = dark(px, rng);
            out.push(print(sip, price, size, conditions, TRF_EXCHANGE, Some(trf)));
        } else {
            if size >= 100.0 && rng.chance(0.15) {
                conditions.push(14);
            }
            // Lit prints land on the bid or the ask, a cent apart.
            let price = lit(px, rng);
            let exchange = LIT_EXCHANGES[rng.below(LIT_EXCHANGES.len() as u64) as usize];
            out.push(print(sip, price, size, conditions, exchange, None));
        }
    }
    for inj in injected {
        let px = px_at(inj.second);
        let trf = TRF_IDS[rng.below(3) as usize];
        out.push(print(day.ns(inj.second, 500_000_000), px, inj.size, inj.conditions.clone(), TRF_EXCHANGE, Some(trf)));
    }
    out.sort_by_key(|t| t.sip_timestamp);
    for t in &mut out {
        ids.next_id += 1;
        ids.sequence += 1 + rng.below(40) as i64;
        t.id = Some(ids.next_id.to_string());
        t.sequence_number = Some(ids.sequence);
    }
    (out, minute)
}

/// The print before the recording starts (the opening cross at the bell),
/// on the listing exchange: a stock snapshot always has a last trade.
pub fn opening_print(p: &Profile, day: &Day, s: u32, price: f64) -> Trade {
    let sip = day.ns(s, 0) - 1_000_000;
    let exchange = match p.tape {
        1 => 10,
        2 => 11,
        _ => 12,
    };
    Trade {
        exchange: Some(exchange),
        id: Some("0".to_string()),
        participant_timestamp: Some(sip - 150_000),
        price,
        sip_timestamp: sip,
        size: (p.avg_print_shares * 10.0).round(),
        tape: Some(p.tape),
        ..Default::default()
    }
}

/// The stock snapshot at second `t` (a minute boundary): the day so far from
/// the closed minutes, the last closed minute, yesterday, the last print and
/// a quote around the current price.
pub fn stock_snapshot(
    p: &Profile,
    day: &Day,
    t: u32,
    minutes: &[Ohlc],
    prev_day: Option<&DailyBar>,
    last_print: Option<&Trade>,
    spot: f64,
) -> TickerSnapshot {
    let closed: Vec<&Ohlc> = minutes.iter().filter(|b| b.end_s <= i64::from(t)).collect();
    let day_bar = (!closed.is_empty()).then(|| {
        let v: f64 = closed.iter().map(|b| b.v).sum();
        let notional: f64 = closed.iter().map(|b| b.v * b.vw).sum();
        SnapshotBar {
            open: Some(closed[0].o),
            high: Some(closed.iter().map(|b| b.h).fold(f64::MIN, f64::max)),
            low: Some(closed.iter().map(|b| b.l).fold(f64::MAX, f64::min)),
            close: closed.last().map(|b| b.c),
            volume: Some(v),
            vwap: Some(round_dp(notional / v.max(1.0), 4)),
            otc: None,
        }
    });
    let min = closed.last().map(|b| MinuteBar {
        accumulated_volume: Some(closed.iter().map(|b| b.v).sum()),
        start_ms: Some((day.open.timestamp() + b.start_s) * 1000),
        transactions: Some(b.n),
        open: Some(b.o),
        high: Some(b.h),
        low: Some(b.l),
        close: Some(b.c),
        volume: Some(b.v),
        vwap: Some(b.vw),
        otc: None,
    });
    let prev_close = prev_day.map(|d| d.c);
    let updated = day.ns(t, 0) - 1_000_000;
    TickerSnapshot {
        ticker: Some(p.symbol.clone()),
        day: day_bar,
        prev_day: prev_day.map(|d| SnapshotBar {
            open: Some(d.o),
            high: Some(d.h),
            low: Some(d.l),
            close: Some(d.c),
            volume: Some(d.v),
            vwap: d.to_bar().vwap,
            otc: None,
        }),
        min,
        last_trade: last_print.map(|tr| SnapshotTrade {
            conditions: tr.conditions.clone(),
            id: tr.id.clone(),
            price: Some(tr.price),
            size: Some(tr.size),
            sip_timestamp: Some(tr.sip_timestamp),
            exchange: tr.exchange,
        }),
        last_quote: Some(SnapshotQuote {
            ask: Some(cents(spot + 0.01)),
            ask_size: Some(3.0),
            bid: Some(cents(spot - 0.01).max(0.01)),
            bid_size: Some(4.0),
            sip_timestamp: Some(updated),
        }),
        todays_change: prev_close.map(|c| cents(spot - c)),
        todays_change_perc: prev_close.map(|c| round_dp((spot - c) / c * 100.0, 4)),
        updated: Some(updated),
        fmv: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> Day {
        Day::new(NaiveDate::from_ymd_opt(2026, 3, 9).unwrap()).unwrap()
    }

    #[test]
    fn the_bots_bars_fall_on_the_clock_hour() {
        let d = day();
        let prices: Vec<f64> = (0..=d.session_s).map(|s| 100.0 + f64::from(s % 600) / 100.0).collect();
        let minutes = minute_bars(&prices, &vec![100.0; d.minutes() as usize]);
        let close = d.at(d.session_s);
        // Stories are drawn on clock hours: the bots' 60m bars must be those
        // hours, the first holding only the half hour after the bell.
        let hours = market_bars(&minutes, &d, bars::Frame::Min60, close);
        assert_eq!(hours.len(), 7, "9:00 (half), 10:00 ... 15:00");
        assert_eq!((hours[0].start, hours[0].end, hours[0].volume), (d.instant(-1800), d.at(1800), 3000.0));
        assert_eq!(hours[1].start, d.instant(since_open_of_hour(10)));
        let first = &minutes[..30];
        let (high, low) = first.iter().fold((f64::MIN, f64::MAX), |(h, l), m| (h.max(m.h), l.min(m.l)));
        assert_eq!((hours[0].open, hours[0].high, hours[0].low, hours[0].close), (first[0].o, high, low, first[29].c));
        let fives = market_bars(&minutes, &d, bars::Frame::Min5, close);
        assert_eq!(fives.len(), 78);
        assert!(fives.iter().all(|b| b.end - b.start == Duration::minutes(5)));
        // At 10:02 only what has closed: the 9:00 hour and six 5-minute bars.
        let now = d.at(1920);
        assert_eq!(market_bars(&minutes, &d, bars::Frame::Min60, now).len(), 1);
        assert_eq!(market_bars(&minutes, &d, bars::Frame::Min5, now).len(), 6);
    }

    #[test]
    fn stories_come_out_as_planned() {
        let d = day();
        for (i, kind) in [StoryKind::Bull, StoryKind::Bear, StoryKind::Fake].into_iter().enumerate() {
            for seed in 0..4u64 {
                let mut rng = Rng::new(seed * 31 + i as u64);
                let story = Story { kind, c_hour: 12 + (seed % 2) as u32 };
                let (prices, facts) = generate_path(&profile("CSCO"), &d, Some(story), &mut rng);
                let facts = facts.unwrap();
                assert!(facts.verified, "{kind:?} seed {seed}: {facts:?}");
                assert_eq!(prices.len(), d.session_s as usize + 1);
                let hist = daily_history(&profile("CSCO"), &d, &prices, Some(&facts), &mut rng);
                assert_eq!(hist.len(), HISTORY_SESSIONS);
                let recent = &hist[HISTORY_SESSIONS - 20..];
                if kind == StoryKind::Bear {
                    assert_eq!(recent.iter().map(|b| b.l).fold(f64::MAX, f64::min), facts.level);
                } else {
                    assert_eq!(recent.iter().map(|b| b.h).fold(f64::MIN, f64::max), facts.level);
                }
            }
        }
    }

    #[test]
    fn quiet_symbols_never_reach_their_twenty_day_extremes() {
        let d = day();
        for seed in 0..6 {
            let mut rng = Rng::new(seed);
            let p = profile(DEFAULT_SYMBOLS[seed as usize]);
            let (prices, facts) = generate_path(&p, &d, None, &mut rng);
            assert!(facts.is_none());
            let hist = daily_history(&p, &d, &prices, None, &mut rng);
            let recent = &hist[HISTORY_SESSIONS - 20..];
            let hi = recent.iter().map(|b| b.h).fold(f64::MIN, f64::max);
            let lo = recent.iter().map(|b| b.l).fold(f64::MAX, f64::min);
            assert!(prices.iter().all(|&x| x < hi && x > lo), "{}", p.symbol);
            assert!(hist.windows(2).all(|w| w[0].date < w[1].date));
        }
    }
}
