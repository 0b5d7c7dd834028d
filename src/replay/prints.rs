//! The prints lane's data in a replay: Massive's unusual option trades
//! (market-wide) and option quotes. Both are few — a simulated day has a
//! few thousand unusual prints and a quote record per qualifying print's
//! contract — so they are kept in memory, each as the JSON its endpoint
//! writes, in time order, with the time its record became known; nothing is
//! read back from the tape for them.

use std::collections::HashSet;

use super::*;

/// One kept record item (an unusual print or a quote).
pub(super) struct Kept {
    /// Its `sip_timestamp`, ns.
    pub(super) sip_ns: i64,
    /// When the tape record that brought it became known, ns.
    pub(super) known_ns: i64,
    /// The option ticker (unusual prints; empty for quotes, whose book is
    /// per ticker already).
    pub(super) ticker: Box<str>,
    pub(super) json: Box<str>,
}

/// An item of a record as the reader thread hands it over: its time, its
/// ticker and its JSON, written off the replay's own thread.
pub(super) struct Arriving {
    pub(super) sip_ns: i64,
    pub(super) ticker: Box<str>,
    pub(super) json: Box<str>,
}

impl Arriving {
    pub(super) fn print(p: &UnusualTrade) -> Arriving {
        // A model of strings, numbers and lists always serialises.
        let json = serde_json::to_string(p).unwrap_or_default().into_boxed_str();
        Arriving { sip_ns: p.sip_timestamp, ticker: p.ticker.as_str().into(), json }
    }

    pub(super) fn quote(q: &Quote) -> Arriving {
        let json = serde_json::to_string(q).unwrap_or_default().into_boxed_str();
        Arriving { sip_ns: q.sip_timestamp, ticker: Box::default(), json }
    }
}

/// The union of the records of one kind (the unusual trades, or one
/// option's quotes): sorted by `sip_ns`, equal times in arrival order.
/// Repeats are dropped: a live recording polls with a cursor at the last
/// print's time (`sip_timestamp.gte`), so consecutive responses overlap.
/// Two items are the same when their JSON is (the models serialise
/// canonically, and a print carries its sequence number or id when the API
/// sends one).
#[derive(Default)]
pub(super) struct TimeBook {
    kept: Vec<Kept>,
    /// A fixed hash of each kept item's JSON: a repeat is looked for only
    /// when its hash is known.
    hashes: HashSet<u64>,
}

impl TimeBook {
    pub(super) fn add(&mut self, known_ns: i64, arriving: Vec<Arriving>) {
        let mut fresh: Vec<Kept> = Vec::with_capacity(arriving.len());
        for a in arriving {
            let hash = key_hash(&a.json);
            if self.hashes.contains(&hash) && self.holds(&a, &fresh) {
                continue;
            }
            self.hashes.insert(hash);
            fresh.push(Kept { sip_ns: a.sip_ns, known_ns, ticker: a.ticker, json: a.json });
        }
        // Stable: equal times keep their arrival order, after those kept
        // before. Records mostly arrive in time order, so this appends.
        fresh.sort_by_key(|k| k.sip_ns);
        let Some(first) = fresh.first() else { return };
        let from = self.kept.partition_point(|k| k.sip_ns <= first.sip_ns);
        let tail = self.kept.split_off(from);
        self.kept.reserve(tail.len() + fresh.len());
        let (mut old, mut new) = (tail.into_iter().peekable(), fresh.into_iter().peekable());
        while let (Some(o), Some(n)) = (old.peek(), new.peek()) {
            let next = if o.sip_ns <= n.sip_ns { old.next() } else { new.next() };
            self.kept.extend(next);
        }
        self.kept.extend(old);
        self.kept.extend(new);
    }

    /// True when `a` is kept already, or among `fresh` (its own record).
    fn holds(&self, a: &Arriving, fresh: &[Kept]) -> bool {
        self.within(a.sip_ns, a.sip_ns).iter().chain(fresh).any(|k| k.sip_ns == a.sip_ns && k.json == a.json)
    }

    /// The kept items with `sip_ns` in `[lo, hi]`, in time order.
    pub(super) fn within(&self, lo: i64, hi: i64) -> &[Kept] {
        let start = self.kept.partition_point(|k| k.sip_ns < lo);
        let end = self.kept.partition_point(|k| k.sip_ns <= hi).max(start);
        &self.kept[start..end]
    }
}

/// The `ticker` filters of the unusual-trades endpoint: exact, `any_of` (a
/// comma-separated list) and the `gt/gte/lt/lte` bounds, which compare the
/// tickers as text.
pub(super) struct TickerFilter {
    eq: Option<String>,
    any_of: Option<Vec<String>>,
    gt: Option<String>,
    gte: Option<String>,
    lt: Option<String>,
    lte: Option<String>,
}

impl TickerFilter {
    pub(super) fn parse(q: &Target) -> TickerFilter {
        let get = |key: &str| q.get(key).map(str::to_string);
        TickerFilter {
            eq: get("ticker"),
            any_of: q.get("ticker.any_of").map(|v| v.split(',').map(|t| t.trim().to_string()).collect()),
            gt: get("ticker.gt"),
            gte: get("ticker.gte"),
            lt: get("ticker.lt"),
            lte: get("ticker.lte"),
        }
    }

    pub(super) fn accepts(&self, ticker: &str) -> bool {
        self.eq.as_deref().is_none_or(|t| ticker == t)
            && self.any_of.as_ref().is_none_or(|all| all.iter().any(|t| t == ticker))
            && self.gt.as_deref().is_none_or(|t| ticker > t)
            && self.gte.as_deref().is_none_or(|t| ticker >= t)
            && self.lt.as_deref().is_none_or(|t| ticker < t)
            && self.lte.as_deref().is_none_or(|t| ticker <= t)
    }
}

/// `order`: ascending unless `desc`; anything else is a bad request.
pub(super) fn descending(q: &Target) -> Result<bool, String> {
    match q.get("order") {
        None | Some("asc") => Ok(false),
        Some("desc") => Ok(true),
        Some(other) => Err(format!("invalid order {other:?}")),
    }
}

/// `sort`: only by the one time these endpoints keep (`sip_timestamp` for
/// unusual trades, `timestamp` for quotes), or absent.
pub(super) fn check_sort(q: &Target, by: &str) -> Result<(), String> {
    match q.get("sort") {
        None => Ok(()),
        Some(s) if s == by => Ok(()),
        Some(other) => Err(format!("invalid sort {other:?}")),
    }
}

/// One page of the kept items that pass `accept` in `[lo, hi]` and were
/// known at the page's time cap: the first page pins the request's time
/// (`t`) in its cursor, so later pages neither gain records that arrived
/// since nor shift under their offset.
pub(super) fn time_page(
    book: Option<&TimeBook>,
    q: &Target,
    t: DateTime<Utc>,
    (lo, hi): (i64, i64),
    desc: bool,
    limit: usize,
    accept: impl Fn(&Kept) -> bool,
) -> Result<Response, Refusal> {
    let (cap_ns, offset) = match q.get("cursor") {
        Some(cursor) => parse_cursor(cursor).ok_or_else(|| format!("invalid cursor {cursor:?}"))?,
        None => (unix_nanos(t).max(0) as u64, 0),
    };
    let cap_ns = i64::try_from(cap_ns).unwrap_or(i64::MAX);
    let Some(book) = book.filter(|_| lo <= hi) else { return Ok(raw_page_reply(std::iter::empty(), None)) };
    let matching: Vec<&str> =
        book.within(lo, hi).iter().filter(|k| k.known_ns <= cap_ns && accept(k)).map(|k| &*k.json).collect();
    Ok(page_reply_at(q, matching, desc, offset, limit, cap_ns))
}

/// One page of `matching` (records in ascending time, known by `cap_ns`),
/// reversed for `order=desc`, from `offset`, with the cursor of the next
/// page (`{cap_ns}-{offset}`, so every page answers as of the first): the
/// trades and the prints lane's lists page alike.
pub(super) fn page_reply_at(
    q: &Target,
    mut matching: Vec<&str>,
    desc: bool,
    offset: usize,
    limit: usize,
    cap_ns: i64,
) -> Response {
    if desc {
        matching.reverse();
    }
    let end = offset.saturating_add(limit).min(matching.len());
    let page = matching.get(offset..end).unwrap_or_default().iter().copied();
    let next = (end < matching.len()).then(|| q.next_url(&format!("{cap_ns}-{end}")));
    raw_page_reply(page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arriving(sip_ns: i64, ticker: &str, tag: u32) -> Arriving {
        Arriving { sip_ns, ticker: ticker.into(), json: format!(r#"{{"t":{sip_ns},"x":{tag}}}"#).into_boxed_str() }
    }

    fn order(book: &TimeBook) -> Vec<(i64, i64, String)> {
        book.within(i64::MIN, i64::MAX).iter().map(|k| (k.sip_ns, k.known_ns, k.json.to_string())).collect()
    }

    #[test]
    fn the_book_merges_in_time_order_and_drops_repeats() {
        let mut book = TimeBook::default();
        book.add(10, vec![arriving(5, "A", 1), arriving(3, "A", 1), arriving(5, "A", 2), arriving(5, "A", 1)]);
        // A later poll repeats the print at 5 and brings one before it.
        book.add(20, vec![arriving(5, "A", 1), arriving(4, "B", 1), arriving(9, "A", 1), arriving(5, "A", 3)]);
        let got: Vec<(i64, i64)> = order(&book).iter().map(|(s, k, _)| (*s, *k)).collect();
        assert_eq!(got, [(3, 10), (4, 20), (5, 10), (5, 10), (5, 20), (9, 20)]);
        let tags: Vec<String> = book.within(5, 5).iter().map(|k| k.json.to_string()).collect();
        assert_eq!(tags, [r#"{"t":5,"x":1}"#, r#"{"t":5,"x":2}"#, r#"{"t":5,"x":3}"#], "arrival order at one time");
        assert!(book.within(6, 8).is_empty() && book.within(9, 1).is_empty());
    }

    #[test]
    fn ticker_filters_compare_text() {
        let f = |query: &str| TickerFilter::parse(&Target::parse(&format!("/options/v1/unusual-trades?{query}")));
        let (a, b, c) = ("O:AAPL260313C00200000", "O:SPY260313C00600000", "O:TSLA260313P00300000");
        let pick = |query: &str| [a, b, c].into_iter().filter(|t| f(query).accepts(t)).collect::<Vec<_>>();
        assert_eq!(pick(""), [a, b, c]);
        assert_eq!(pick(&format!("ticker={b}")), [b]);
        assert_eq!(pick(&format!("ticker.any_of={a}%2C{c}")), [a, c]);
        assert_eq!(pick(&format!("ticker.any_of={a},{c}")), [a, c]);
        assert_eq!(pick("ticker.gte=O:S"), [b, c]);
        assert_eq!(pick(&format!("ticker.gt={b}&ticker.lte={c}")), [c]);
        assert_eq!(pick(&format!("ticker.lt={b}")), [a]);
    }
}
