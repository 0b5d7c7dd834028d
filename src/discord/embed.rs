//! Rendering an [`Alert`] as a Discord execute-webhook payload (and as plain
//! text for `--dry-run`), always within Discord's documented limits.
//!
//! Pure functions of the alert: no IO, no clock. The alert is first turned
//! into a [`Card`] (title, description, prioritised fields), which is then
//! either shortened to fit Discord and serialised, or printed in full as text.
//! Shortening happens here, before sending, because Discord answers an
//! oversize embed with a 400 and the alert would be lost; a shortened alert
//! is still worth posting.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use crate::alert::{Alert, Sentiment, Side, fmt_money, fmt_num};
use crate::bots::{label_confirms_sweep, label_is_block};
use crate::engine::episode::Update;
use crate::job::Bot;

/// Discord's limits for one message's embeds, counted in characters
/// (Unicode scalar values), not bytes.
pub mod limits {
    pub const TITLE: usize = 256;
    pub const DESCRIPTION: usize = 4096;
    pub const FIELDS: usize = 25;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER_TEXT: usize = 2048;
    pub const AUTHOR_NAME: usize = 256;
    /// Title + description + field names and values + footer text + author
    /// name, over all embeds of the message.
    pub const TOTAL: usize = 6000;
    pub const EMBEDS: usize = 10;
    pub const CONTENT: usize = 2000;
    pub const USERNAME: usize = 80;
    pub const COLOR_MAX: u64 = 0xFF_FF_FF;
}

pub const GREEN: u32 = 0x2E_CC_71;
pub const RED: u32 = 0xE7_4C_3C;
pub const GREY: u32 = 0x95_A5_A6;

/// What marks a shortened text.
const ELLIPSIS: char = '…';

/// Ends every footer; kept whole when a long alert id must be cut.
const FOOTER_SUFFIX: &str = " · not financial advice";

/// Field priorities: when fields must go, the lowest goes first (the last
/// one among equals), so the numbers a trader acts on survive longest.
mod priority {
    pub const ESSENTIAL: u8 = 10;
    pub const HIGH: u8 = 8;
    pub const MEDIUM: u8 = 6;
    pub const LOW: u8 = 4;
    pub const NOTE: u8 = 2;
}

/// One embed field before it is fitted to Discord's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub inline: bool,
    priority: u8,
}

/// An alert laid out for display, independent of the output medium.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub username: String,
    pub title: String,
    pub description: Option<String>,
    pub color: u32,
    pub fields: Vec<Field>,
    pub footer: String,
    /// RFC 3339, UTC, whole seconds.
    pub timestamp: String,
}

/// The execute-webhook JSON body for `alert`, within every limit that
/// [`check_limits`] checks.
pub fn render(alert: &Alert) -> Value {
    render_batch(std::slice::from_ref(alert))
}

/// One execute-webhook body carrying `alerts` as its embeds, in their
/// order, within every limit that [`check_limits`] checks. The message's
/// sender name is the first alert's: a batch is made of alerts that share
/// it (see [`sender_name`]). The caller keeps a batch to [`limits::EMBEDS`]
/// alerts, packed with [`pack`].
pub fn render_batch(alerts: &[Alert]) -> Value {
    let mut cards: Vec<Card> = alerts.iter().map(card).collect();
    cards.iter_mut().for_each(fit);
    fit_message(&mut cards);
    message(&cards)
}

/// The name a message posting `alert` is sent under (as fitted to
/// Discord's limit): alerts batched into one message share it.
pub fn sender_name(alert: &Alert) -> String {
    // The card's username, as `fit` cuts it; a family's name is never empty.
    truncate(family_name(alert), limits::USERNAME)
}

/// Splits alerts, by the characters of their fitted embeds (`sizes`, from
/// [`embed_chars`]), in order, into consecutive messages of at most
/// [`limits::EMBEDS`] embeds and [`limits::TOTAL`] characters: a message is
/// closed when the next embed would break either limit. Returns each
/// message's number of alerts.
pub fn pack(sizes: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let (mut n, mut total) = (0usize, 0usize);
    for &size in sizes {
        if n > 0 && (n == limits::EMBEDS || total + size > limits::TOTAL) {
            out.push(n);
            (n, total) = (0, 0);
        }
        n += 1;
        total += size;
    }
    if n > 0 {
        out.push(n);
    }
    out
}

/// The characters `alert`'s embed counts towards a message's
/// [`limits::TOTAL`], once fitted.
pub fn embed_chars(alert: &Alert) -> usize {
    let mut c = card(alert);
    fit(&mut c);
    card_total(&c)
}

/// The same alert as plain, deterministic text for `--dry-run`: the title,
/// the description, one `name: value` line per field (in full, since no
/// limit applies to a terminal), the footer and the time.
pub fn render_text(alert: &Alert) -> String {
    let card = card(alert);
    let mut out = String::new();
    out.push_str(&card.title);
    out.push('\n');
    if let Some(d) = &card.description {
        out.push_str(d);
        out.push('\n');
    }
    for f in &card.fields {
        // Multi-line values (score parts) stay readable when indented.
        let value = f.value.replace('\n', "\n    ");
        out.push_str(&format!("  {}: {}\n", f.name, value));
    }
    out.push_str(&format!("  {} · {}\n", card.footer, card.timestamp));
    out
}

/// The edit-webhook-message JSON body of a message that posted several
/// alerts (a batch): every embed again, in the message's order, each with
/// its episode when it has one (Discord's edit replaces the whole `embeds`
/// array, so an embed left out would vanish from the message). Within the
/// same limits as a post: an episode field can make the message longer
/// than when it was posted.
pub fn render_message_update(embeds: &[(&Alert, Option<&Update>)]) -> Value {
    let mut cards: Vec<Card> = embeds
        .iter()
        .map(|(post, update)| {
            let mut c = card(post);
            if let Some(update) = update {
                with_episode(&mut c, update);
            }
            fit(&mut c);
            c
        })
        .collect();
    fit_message(&mut cards);
    let mut body = message(&cards);
    if let Some(obj) = body.as_object_mut() {
        obj.remove("username");
    }
    body
}

/// Puts episode `update` first among `card`'s fields.
fn with_episode(card: &mut Card, update: &Update) {
    let name = format!("Episode · Updated {}", update.at.to_rfc3339_opts(SecondsFormat::Secs, true));
    card.fields.insert(0, Field { name, value: update.summary(), inline: false, priority: priority::ESSENTIAL });
    // The episode takes the place of the least important field.
    while card.fields.len() > MAX_FIELDS {
        drop_lowest(&mut card.fields);
    }
}

/// An episode update as the text of `--dry-run` and `replay`.
pub fn render_update_text(update: &Update) -> String {
    format!(
        "{} update of {}: {} · {}\n  {} · {}\n",
        update.bot.display_name(),
        update.update_of,
        update.ticker,
        update.summary(),
        update.id,
        update.at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// Lays out `alert` without applying any limit.
pub fn card(alert: &Alert) -> Card {
    let sentiment = shown_sentiment(alert);
    Card {
        username: family_name(alert).to_string(),
        title: title(alert),
        description: headline(alert),
        color: color(sentiment),
        fields: fields(alert),
        footer: format!("{}{FOOTER_SUFFIX}", alert.id),
        timestamp: alert.at.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// The embed colour for a sentiment.
pub fn color(sentiment: Sentiment) -> u32 {
    match sentiment {
        Sentiment::Bullish => GREEN,
        Sentiment::Bearish => RED,
        Sentiment::Neutral => GREY,
    }
}

/// The sentiment the embed may claim. Dark prints carry no direction, and an
/// options alert without a known side cannot honestly be called bullish or
/// bearish, whatever the record says.
fn shown_sentiment(alert: &Alert) -> Sentiment {
    let directionless = alert.bot == Bot::Darkpool || (alert.bot.is_options() && alert.side == Side::Unknown);
    if directionless { Sentiment::Neutral } else { alert.sentiment }
}

/// The family's name as the alert may claim it: Sweeps and Golden Sweeps
/// whose ISO prints were not seen are flow, not sweeps (SPEC §5), so they
/// read "Unusual Flow" and "Golden Flow", and a block read from the trade
/// tape reads "Block" and "Golden Block"; family and webhook stay the same.
fn family_name(alert: &Alert) -> &'static str {
    match alert.bot {
        Bot::Sweeps if label_is_block(&alert.label) => "Block",
        Bot::GoldenSweeps if label_is_block(&alert.label) => "Golden Block",
        Bot::Sweeps if !label_confirms_sweep(&alert.label) => "Unusual Flow",
        Bot::GoldenSweeps if !label_confirms_sweep(&alert.label) => "Golden Flow",
        bot => bot.display_name(),
    }
}

/// What a plan's levels are prices of: the option (the flow families'
/// premium plans) or the underlying (the rest), as their outcomes measure
/// them.
fn plan_terms(bot: Bot) -> &'static str {
    match crate::outcomes::Kind::of(bot) {
        Some(crate::outcomes::Kind::Premium) => "option",
        _ => "underlying",
    }
}

/// `Golden Sweeps · SPY 670C 2025-11-21`, or `Darkpool · AAPL` for stocks.
fn title(alert: &Alert) -> String {
    let mut t = format!("{} · {}", family_name(alert), alert.ticker);
    if let Some(k) = finite(alert.strike) {
        t.push(' ');
        t.push_str(&fmt_num(k));
        if let Some(ct) = alert.contract_type {
            t.push(ct.letter());
        }
    } else if let Some(ct) = alert.contract_type {
        t.push(' ');
        t.push(ct.letter());
    }
    if let Some(e) = alert.expiration {
        t.push_str(&format!(" {e}"));
    }
    t
}

/// The one-line headline, in the spirit of the flow services traders know.
/// Options: `639 @ $2.80 · $178.9K · ASK · 18 DTE · 2.6% OTM` (size at the
/// average fill, premium, side, days to expiry, signed moneyness). Dark
/// prints: size at price and notional, with no direction. Stock setups: the
/// pattern and price. Whatever the record does not know is left out.
fn headline(alert: &Alert) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if alert.bot.is_options() {
        match (finite(alert.volume_delta), finite(alert.avg_price)) {
            (Some(n), Some(p)) => parts.push(format!("{} @ {}", fmt_money(n), dollars(p))),
            (Some(n), None) => parts.push(plural(n, "contract")),
            _ => {}
        }
        parts.extend(finite(alert.premium).map(compact_dollars));
        let side = match alert.side {
            Side::Ask => "ASK",
            Side::Mid => "MID",
            Side::Bid => "BID",
            Side::Unknown => "side unknown",
        };
        parts.push(side.to_string());
        parts.extend(alert.dte.map(|d| format!("{d} DTE")));
        parts.extend(moneyness(alert).map(fmt_moneyness));
    } else if alert.bot == Bot::Darkpool {
        match (finite(alert.size), finite(alert.price)) {
            (Some(n), Some(p)) => parts.push(format!("{} sh @ {}", fmt_money(n), dollars(p))),
            (Some(n), None) => parts.push(plural(n, "share")),
            (None, Some(p)) => parts.push(dollars(p)),
            _ => {}
        }
        parts.extend(finite(alert.notional).map(compact_dollars));
        parts.push("dark pool print · no direction".to_string());
    } else {
        parts.extend(alert.pattern.clone().filter(|p| !p.trim().is_empty()));
        parts.extend(finite(alert.price).or(finite(alert.spot)).map(dollars));
        parts.extend(finite(alert.size).map(|s| plural(s, "share")));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// How far the strike is from spot, signed by moneyness: positive out of
/// the money (a call's strike above spot, a put's below), negative in it.
/// A fraction of spot; `None` without a strike, a spot or a contract type.
pub fn moneyness(alert: &Alert) -> Option<f64> {
    let (strike, spot) = (finite(alert.strike)?, finite(alert.spot).filter(|s| *s > 0.0)?);
    let above = (strike - spot) / spot;
    match alert.contract_type? {
        crate::alert::ContractType::Call => Some(above),
        crate::alert::ContractType::Put => Some(-above),
    }
}

/// `2.6% OTM`, `1.2% ITM`, or `ATM` within half a basis point.
fn fmt_moneyness(m: f64) -> String {
    if m.abs() < 0.00005 {
        "ATM".to_string()
    } else if m > 0.0 {
        format!("{} OTM", percent(m))
    } else {
        format!("{} ITM", percent(-m))
    }
}

/// Dollars as a trader reads a premium at a glance: `$950`, `$178.9K`,
/// `$1.25M`, `$3.1B`.
pub fn compact_dollars(x: f64) -> String {
    let sign = if x < 0.0 { "-" } else { "" };
    let a = x.abs();
    let (v, unit) = match a {
        a if a >= 1e9 => (a / 1e9, "B"),
        a if a >= 1e6 => (a / 1e6, "M"),
        a if a >= 1e3 => (a / 1e3, "K"),
        a => return format!("{sign}${}", fmt_money(a)),
    };
    // Two decimals under 10 (1.25M), one above (178.9K).
    let digits = if v < 10.0 { 2 } else { 1 };
    let text = format!("{v:.digits$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{sign}${text}{unit}")
}

/// The plan in one line: which way it trades, then its levels, e.g.
/// `Long · Entry $5.10 · Stop $2.55 · Targets $7.65 → $10.20`.
fn plan_line(a: &Alert) -> Option<String> {
    let mut parts = Vec::new();
    let targets: Vec<f64> = a.targets.iter().flatten().copied().filter(|t| t.is_finite()).collect();
    if let (Some(entry), Some(stop), Some(first)) = (finite(a.entry), finite(a.stop), targets.first()) {
        let (long, _) = crate::alert::Plan::shape(entry, stop, *first);
        parts.push(if long { "Long" } else { "Short" }.to_string());
    }
    parts.extend(finite(a.entry).map(|e| format!("Entry {}", dollars(e))));
    parts.extend(finite(a.stop).map(|s| format!("Stop {}", dollars(s))));
    if !targets.is_empty() {
        let word = if targets.len() == 1 { "Target" } else { "Targets" };
        let list: Vec<String> = targets.iter().map(|t| dollars(*t)).collect();
        parts.push(format!("{word} {}", list.join(" → ")));
    }
    // The direction comes only with the levels that show it.
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// The card's fields, at most [`MAX_FIELDS`], in Title Case, no value
/// repeating another's or the headline's.
fn fields(a: &Alert) -> Vec<Field> {
    use priority::*;
    let d = &a.details;
    let mut out: Vec<Field> = Vec::new();
    let mut push = |name: &str, value: Option<String>, inline: bool, priority: u8| {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            out.push(Field { name: name.to_string(), value, inline, priority });
        }
    };

    let quote = d.quote.filter(|(b, k)| b.is_finite() && k.is_finite() && *b >= 0.0 && *k > 0.0);
    push("Bid × Ask", quote.map(|(b, k)| format!("{} × {}", dollars(b), dollars(k))), true, HIGH);
    let oi = finite(a.open_interest);
    let volume = finite(a.volume_delta);
    push("Day Volume", finite(d.day_volume).map(fmt_money), true, MEDIUM);
    push("Open Interest", oi.map(fmt_money), true, MEDIUM);
    // Δvol/OI and vol/OI side by side: what this hit and the whole day did
    // against the open interest. The day's volume is not always in the
    // record, so vol/OI is only shown when given; but a positive Δvol
    // proves the day's volume exceeds a zero OI.
    let dvol = ratio(d.delta_vol_oi, volume, oi, true);
    let vol = ratio(d.vol_oi, volume, oi, false);
    let ratios = match (dvol, vol) {
        (Some(x), Some(y)) if x == y => Some(x),
        (x, y) => {
            let parts: Vec<String> =
                [x.map(|x| format!("Δ {x}")), y.map(|y| format!("day {y}"))].into_iter().flatten().collect();
            (!parts.is_empty()).then(|| parts.join(" · "))
        }
    };
    push("Vol/OI", ratios, true, MEDIUM);
    let spot_name = if a.bot.is_options() { "Spot" } else { "Price" };
    let spot = if a.bot.is_options() { finite(a.spot) } else { None };
    push(spot_name, spot.map(dollars), true, MEDIUM);
    let iv = finite(d.iv).map(percent);
    let itm = finite(d.prob_itm).map(percent);
    match (iv, itm) {
        (Some(iv), Some(itm)) => push("IV · P(ITM)", Some(format!("{iv} · {itm}")), true, LOW),
        (iv, itm) => {
            push("IV", iv, true, LOW);
            push("P(ITM)", itm, true, LOW);
        }
    }
    // Stock setups: what the pattern rests on.
    let stock_levels: Vec<String> =
        [finite(a.rsi).map(|r| format!("RSI {r:.1}")), finite(a.atr).map(|x| format!("ATR {}", dollars(x)))]
            .into_iter()
            .flatten()
            .collect();
    push("Indicators", (!stock_levels.is_empty()).then(|| stock_levels.join(" · ")), true, LOW);
    let score = finite(a.score).map(|s| {
        let parts: Vec<String> =
            d.score_parts.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| format!("{k} {}", fmt_num(*v))).collect();
        if parts.is_empty() { format!("{s:.0}/100") } else { format!("{s:.0}/100\n{}", parts.join(" · ")) }
    });
    push("Score", score, true, HIGH);
    push("Unusual", Some(d.unusual.join("\n")), false, HIGH);
    push("Label", Some(a.label.clone()), false, HIGH);
    push(&format!("Plan ({})", title_case(plan_terms(a.bot))), plan_line(a), false, ESSENTIAL);
    // The bots' free-form lines, one field: each keeps its own name.
    let notes: Vec<String> = d
        .notes
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(n, v)| if n.trim().is_empty() { v.clone() } else { format!("{}: {v}", title_case(n)) })
        .collect();
    push("Notes", Some(notes.join("\n")), false, NOTE);

    dedupe(&mut out, headline(a).as_deref());
    while out.len() > MAX_FIELDS {
        drop_lowest(&mut out);
    }
    out
}

/// Fields per card: as compact as the flow services traders know.
pub const MAX_FIELDS: usize = 10;

/// Drops a field whose value another field (or the headline) already
/// shows, so no figure is read twice: a label that is the headline's words,
/// a note that repeats a ratio.
fn dedupe(fields: &mut Vec<Field>, headline: Option<&str>) {
    let mut seen: Vec<String> = headline.map(|h| h.split(" · ").map(str::to_string).collect()).unwrap_or_default();
    if let Some(h) = headline {
        seen.push(h.to_string());
    }
    fields.retain(|f| {
        let dup = seen.iter().any(|s| s.eq_ignore_ascii_case(&f.value));
        seen.push(f.value.clone());
        !dup
    });
    // Note lines that repeat a field's value go too ("vol/OI: vol > OI").
    let values: Vec<String> = fields.iter().filter(|f| f.name != "Notes").map(|f| f.value.clone()).collect();
    for f in fields.iter_mut().filter(|f| f.name == "Notes") {
        let kept: Vec<&str> = f
            .value
            .lines()
            .filter(|l| !values.iter().any(|v| l.split_once(": ").is_some_and(|(_, rest)| rest == v)))
            .collect();
        f.value = kept.join("\n");
    }
    fields.retain(|f| !f.value.trim().is_empty());
}

/// `dark volume at $1.50` → `Dark Volume at $1.50`: every word capitalised
/// but the short joining words, acronyms left as they are.
pub fn title_case(s: &str) -> String {
    s.split(' ')
        .enumerate()
        .map(|(i, w)| {
            let mut c = w.chars();
            match c.next() {
                Some(f) if f.is_lowercase() && (i == 0 || !MINOR_WORDS.contains(&w)) => {
                    f.to_uppercase().chain(c).collect()
                }
                _ => w.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Words Title Case leaves in lower case inside a name.
pub const MINOR_WORDS: &[&str] = &["a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "vs"];

/// A volume/OI ratio as `1.25×`; with no open interest, `vol > OI` (the
/// ratio is unbounded, and "inf" reads like a bug). `compute` derives the
/// ratio from `volume` when the record did not carry it.
fn ratio(given: Option<f64>, volume: Option<f64>, oi: Option<f64>, compute: bool) -> Option<String> {
    let no_oi = oi.is_some_and(|o| o <= 0.0);
    let has_volume = given.is_some() || volume.is_some_and(|v| v > 0.0);
    if (no_oi && has_volume) || given.is_some_and(|r| r == f64::INFINITY) {
        return Some("vol > OI".to_string());
    }
    let r = finite(given).or_else(|| match (volume, oi) {
        (Some(v), Some(o)) if compute && o > 0.0 => Some(v / o),
        _ => None,
    })?;
    // Two decimals would show a small but real ratio as "0×"; keep two
    // significant digits below 0.1 instead.
    if r > 0.0 && r < 0.1 {
        return Some(format!("{}×", format!("{r:.1e}").parse::<f64>().map(|x| x.to_string()).unwrap_or_default()));
    }
    Some(format!("{}×", fmt_num(r)))
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

fn dollars(x: f64) -> String {
    if x < 0.0 { format!("-${:.2}", -x) } else { format!("${x:.2}") }
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

fn plural(n: f64, unit: &str) -> String {
    let s = if (n - 1.0).abs() < f64::EPSILON { "" } else { "s" };
    format!("{} {unit}{s}", fmt_money(n))
}

/// `s` cut to at most `max` characters, ending in "…" when cut. Works on
/// characters, so multi-byte text is never split inside a code point.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    // A cut right after a space would leave "word …".
    while out.ends_with(char::is_whitespace) {
        out.pop();
    }
    out.push(ELLIPSIS);
    out
}

/// Like [`truncate`], but cuts the alert id and keeps the disclaimer.
fn truncate_footer(footer: &str, max: usize) -> String {
    let suffix_chars = chars(FOOTER_SUFFIX);
    match footer.strip_suffix(FOOTER_SUFFIX) {
        Some(id) if max > suffix_chars => format!("{}{FOOTER_SUFFIX}", truncate(id, max - suffix_chars)),
        _ => truncate(footer, max),
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn card_total(c: &Card) -> usize {
    chars(&c.title)
        + c.description.as_deref().map_or(0, chars)
        + c.fields.iter().map(|f| chars(&f.name) + chars(&f.value)).sum::<usize>()
        + chars(&c.footer)
}

/// Shortens `card` until it satisfies every limit: each text to its own
/// limit, then the lowest-priority fields dropped past 25 and while the
/// total exceeds 6000, and only then the description, footer and title cut.
fn fit(card: &mut Card) {
    card.username = truncate(&card.username, limits::USERNAME);
    if card.username.trim().is_empty() {
        card.username = "orakl".to_string();
    }
    card.title = truncate(&card.title, limits::TITLE);
    card.description = card.description.as_deref().map(|d| truncate(d, limits::DESCRIPTION));
    card.footer = truncate_footer(&card.footer, limits::FOOTER_TEXT);
    for f in &mut card.fields {
        f.name = truncate(&f.name, limits::FIELD_NAME);
        f.value = truncate(&f.value, limits::FIELD_VALUE);
    }
    while card.fields.len() > limits::FIELDS || (card_total(card) > limits::TOTAL && !card.fields.is_empty()) {
        drop_lowest(&mut card.fields);
    }
    // Only a huge description, footer or title can still be over; cut them
    // in that order (the title names the contract and goes last).
    let mut over = card_total(card).saturating_sub(limits::TOTAL);
    if let Some(d) = card.description.as_deref().filter(|_| over > 0) {
        let keep = chars(d).saturating_sub(over);
        card.description = (keep > 0).then(|| truncate(d, keep));
        over = card_total(card).saturating_sub(limits::TOTAL);
    }
    if over > 0 {
        card.footer = truncate_footer(&card.footer, chars(&card.footer).saturating_sub(over));
        over = card_total(card).saturating_sub(limits::TOTAL);
    }
    if over > 0 {
        card.title = truncate(&card.title, chars(&card.title).saturating_sub(over));
    }
}

/// Removes the lowest-priority field, the last one among equals.
fn drop_lowest(fields: &mut Vec<Field>) {
    let lowest = fields.iter().enumerate().min_by(|(i, a), (j, b)| a.priority.cmp(&b.priority).then(j.cmp(i)));
    if let Some((i, _)) = lowest {
        fields.remove(i);
    }
}

/// Keeps a message's embeds within [`limits::TOTAL`] together: while they
/// are over, the lowest-priority field of the longest embed goes (each
/// embed alone is already fitted, so this only trims a batch whose episode
/// fields grew it after it was packed).
fn fit_message(cards: &mut [Card]) {
    while cards.iter().map(card_total).sum::<usize>() > limits::TOTAL {
        let longest = cards.iter_mut().filter(|c| !c.fields.is_empty()).max_by_key(|c| card_total(c));
        match longest {
            Some(c) => drop_lowest(&mut c.fields),
            None => break,
        }
    }
}

/// The message body for `cards`, one embed each, sent under the first
/// card's name.
fn message(cards: &[Card]) -> Value {
    let username = cards.first().map_or_else(|| "orakl".to_string(), |c| c.username.clone());
    json!({
        "username": username,
        "embeds": cards.iter().map(embed).collect::<Vec<Value>>(),
        // Nothing in an alert may ping anyone, even a label that happens to
        // contain "@everyone".
        "allowed_mentions": {"parse": []},
    })
}

fn embed(card: &Card) -> Value {
    let mut embed = serde_json::Map::new();
    if !card.title.is_empty() {
        embed.insert("title".into(), json!(card.title));
    }
    if let Some(d) = card.description.as_ref().filter(|d| !d.is_empty()) {
        embed.insert("description".into(), json!(d));
    }
    embed.insert("color".into(), json!(card.color));
    let fields: Vec<Value> =
        card.fields.iter().map(|f| json!({"name": f.name, "value": f.value, "inline": f.inline})).collect();
    if !fields.is_empty() {
        embed.insert("fields".into(), Value::Array(fields));
    }
    if !card.footer.is_empty() {
        embed.insert("footer".into(), json!({"text": card.footer}));
    }
    embed.insert("timestamp".into(), json!(card.timestamp));
    Value::Object(embed)
}

/// Every way `payload` breaks Discord's execute-webhook limits, as readable
/// sentences; empty when it may be sent.
pub fn check_limits(payload: &Value) -> Vec<String> {
    let mut v = Vec::new();
    let Some(obj) = payload.as_object() else {
        return vec!["payload is not a JSON object".to_string()];
    };
    check_len("content", obj.get("content"), 0, limits::CONTENT, &mut v);
    check_len("username", obj.get("username"), 1, limits::USERNAME, &mut v);
    let embeds = match obj.get("embeds") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            v.push("embeds is not an array".to_string());
            &Vec::new()
        }
    };
    if embeds.len() > limits::EMBEDS {
        v.push(format!("{} embeds (limit {})", embeds.len(), limits::EMBEDS));
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let Some(e) = e.as_object() else {
            v.push(format!("embeds[{i}] is not an object"));
            continue;
        };
        total += check_len(&format!("embeds[{i}].title"), e.get("title"), 0, limits::TITLE, &mut v);
        total += check_len(&format!("embeds[{i}].description"), e.get("description"), 0, limits::DESCRIPTION, &mut v);
        total += check_len(
            &format!("embeds[{i}].footer.text"),
            e.get("footer").and_then(|f| f.get("text")),
            0,
            limits::FOOTER_TEXT,
            &mut v,
        );
        total += check_len(
            &format!("embeds[{i}].author.name"),
            e.get("author").and_then(|a| a.get("name")),
            0,
            limits::AUTHOR_NAME,
            &mut v,
        );
        let color = e.get("color").filter(|c| !c.is_null());
        if color.is_some_and(|c| c.as_u64().is_none_or(|c| c > limits::COLOR_MAX)) {
            v.push(format!("embeds[{i}].color is not an integer in 0..=0xFFFFFF"));
        }
        match e.get("fields") {
            None | Some(Value::Null) => {}
            Some(Value::Array(fields)) => {
                if fields.len() > limits::FIELDS {
                    v.push(format!("embeds[{i}] has {} fields (limit {})", fields.len(), limits::FIELDS));
                }
                for (j, f) in fields.iter().enumerate() {
                    let name = f.get("name").filter(|n| !n.is_null());
                    let value = f.get("value").filter(|n| !n.is_null());
                    if name.is_none() || value.is_none() {
                        v.push(format!("embeds[{i}].fields[{j}] needs both a name and a value"));
                    }
                    total += check_len(&format!("embeds[{i}].fields[{j}].name"), name, 1, limits::FIELD_NAME, &mut v);
                    total +=
                        check_len(&format!("embeds[{i}].fields[{j}].value"), value, 1, limits::FIELD_VALUE, &mut v);
                }
            }
            Some(_) => v.push(format!("embeds[{i}].fields is not an array")),
        }
    }
    if total > limits::TOTAL {
        v.push(format!("embeds total {total} characters (limit {})", limits::TOTAL));
    }
    v
}

/// Checks one optional text against `min..=max` characters and returns its
/// length for the total. `min` > 0 also refuses blank text, which Discord
/// rejects in field names and values.
fn check_len(what: &str, s: Option<&Value>, min: usize, max: usize, v: &mut Vec<String>) -> usize {
    match s {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => {
            let n = chars(s);
            if n > max {
                v.push(format!("{what} is {n} characters (limit {max})"));
            }
            if n < min || (min > 0 && s.trim().is_empty()) {
                v.push(format!("{what} is empty"));
            }
            n
        }
        Some(_) => {
            v.push(format!("{what} is not a string"));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("é🚀é🚀", 3), "é🚀…");
        assert_eq!(truncate("ab cd", 4), "ab…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn lowest_priority_goes_first_and_the_last_among_equals() {
        let f = |name: &str, priority| Field { name: name.into(), value: "v".into(), inline: true, priority };
        let mut fields = vec![f("a", 5), f("b", 2), f("c", 9), f("d", 2)];
        drop_lowest(&mut fields);
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn titles_call_a_sweep_only_when_iso_prints_confirmed_it() {
        let at = "2026-03-09T15:00:00Z".parse().unwrap();
        let confirmed = "sweep confirmed: 3 ISO prints on 2 exchanges";
        let cases = [
            (Bot::Sweeps, confirmed, "Sweeps · SPY"),
            (Bot::Sweeps, "flow (unconfirmed)", "Unusual Flow · SPY"),
            (Bot::GoldenSweeps, confirmed, "Golden Sweeps · SPY"),
            (Bot::GoldenSweeps, "flow (unconfirmed)", "Golden Flow · SPY"),
            // A block from the trade tape (posted only without SWEEPS_REQUIRE_ISO).
            (Bot::Sweeps, "block: 1 print (largest 2000 contracts) on 1 exchange(s)", "Block · SPY"),
            (Bot::GoldenSweeps, "block: 1 print (largest 2000 contracts) on 1 exchange(s)", "Golden Block · SPY"),
            (Bot::OraklFlow, "flow (unconfirmed), 3 hits at the ask in 30 min totalling $60,000", "ORAKL Flow · SPY"),
        ];
        for (bot, label, want) in cases {
            let mut a = Alert::new("x".into(), bot, at, "SPY");
            a.label = label.to_string();
            let card = card(&a);
            assert_eq!(card.title, want, "{bot} {label}");
            assert_eq!(Some(card.username.as_str()), want.split(" · ").next());
        }
    }

    #[test]
    fn plans_say_which_way_and_on_what() {
        let at = "2026-03-09T15:00:00Z".parse().unwrap();
        let mut a = Alert::new("x".into(), Bot::Bullseye, at, "TSLA");
        (a.side, a.sentiment) = (Side::Ask, Sentiment::Bearish);
        (a.entry, a.stop, a.targets) = (Some(415.46), Some(419.0), Some(vec![410.0, 405.0]));
        let plan: Vec<(String, String)> =
            card(&a).fields.into_iter().filter(|f| f.name.starts_with("Plan")).map(|f| (f.name, f.value)).collect();
        let want = "Short · Entry $415.46 · Stop $419.00 · Targets $410.00 → $405.00";
        assert_eq!(plan, [("Plan (Underlying)".to_string(), want.to_string())]);
        a.bot = Bot::GoldenSweeps;
        (a.entry, a.stop, a.targets) = (Some(2.0), Some(1.0), Some(vec![3.0]));
        let plan: Vec<String> =
            card(&a).fields.into_iter().filter(|f| f.name.starts_with("Plan")).map(|f| f.name).collect();
        assert_eq!(plan, ["Plan (Option)"]);
        // Without a plan there is no plan field.
        (a.entry, a.stop, a.targets) = (None, None, None);
        assert!(card(&a).fields.iter().all(|f| !f.name.starts_with("Plan")));
    }

    #[test]
    fn the_headline_reads_like_a_flow_service_row() {
        let at = "2026-03-09T15:00:00Z".parse().unwrap();
        let mut a = Alert::new("x".into(), Bot::Sweeps, at, "NVDA");
        a.contract_type = Some(crate::alert::ContractType::Call);
        (a.strike, a.spot, a.dte) = (Some(185.0), Some(180.3), Some(18));
        (a.volume_delta, a.avg_price, a.premium, a.side) = (Some(639.0), Some(2.8), Some(178_920.0), Side::Ask);
        assert_eq!(headline(&a).as_deref(), Some("639 @ $2.80 · $178.9K · ASK · 18 DTE · 2.6% OTM"));
        // A put below spot is out of the money; above, in it.
        a.contract_type = Some(crate::alert::ContractType::Put);
        assert_eq!(headline(&a).as_deref(), Some("639 @ $2.80 · $178.9K · ASK · 18 DTE · 2.6% ITM"));
        a.strike = Some(175.0);
        assert!(moneyness(&a).unwrap() > 0.0);
        assert_eq!(compact_dollars(1_250_000.0), "$1.25M");
        assert_eq!(compact_dollars(950.0), "$950");
        assert_eq!(compact_dollars(100_000.0), "$100K");
    }

    #[test]
    fn names_are_title_case_but_for_joining_words() {
        assert_eq!(title_case("dark volume at $1.50"), "Dark Volume at $1.50");
        assert_eq!(title_case("vs VWAP"), "Vs VWAP");
        assert_eq!(title_case("Δvol/OI"), "Δvol/OI");
    }

    #[test]
    fn how_unusual_is_one_field_and_absent_when_there_is_nothing_to_say() {
        let mut ev = crate::flow::test_event();
        ev.unusual.volume_multiple = 7.0;
        ev.unusual.interval_seconds = 30.0;
        let alert = ev.to_alert(crate::job::Bot::Sweeps, "id".into());
        let unusual =
            |a: &Alert| card(a).fields.into_iter().filter(|f| f.name == "Unusual").map(|f| f.value).collect::<Vec<_>>();
        assert_eq!(unusual(&alert), ["7.0× this contract's usual volume for 30 s\nvolume 5.0× open interest"]);
        ev.unusual.volume_multiple = 1.0;
        ev.vol_oi = None;
        assert!(unusual(&ev.to_alert(crate::job::Bot::Sweeps, "id".into())).is_empty());
    }

    #[test]
    fn ratio_reads_vol_over_oi_without_open_interest() {
        assert_eq!(ratio(None, Some(10.0), Some(0.0), true), Some("vol > OI".into()));
        assert_eq!(ratio(None, Some(10.0), Some(0.0), false), Some("vol > OI".into()));
        assert_eq!(ratio(Some(f64::INFINITY), None, None, false), Some("vol > OI".into()));
        assert_eq!(ratio(None, Some(50.0), Some(200.0), true), Some("0.25×".into()));
        assert_eq!(ratio(Some(0.0012410797), None, Some(5000.0), false), Some("0.0012×".into()));
        assert_eq!(ratio(Some(0.0), None, Some(5000.0), false), Some("0×".into()));
        assert_eq!(ratio(None, Some(50.0), Some(200.0), false), None);
        assert_eq!(ratio(Some(f64::NAN), None, None, true), None);
    }
}
