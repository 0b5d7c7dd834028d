//! The trades a replay has read, one book per ticker: each trade's JSON
//! and its times in one sorted vector, repeats across records dropped.

use super::*;

/// One trade of a record, with its dedup key and its JSON as the trades
/// endpoint writes it.
pub(super) struct ArrivingTrade {
    pub(super) key: TradeKey,
    pub(super) sip_ns: i64,
    pub(super) json: Box<str>,
}

impl ArrivingTrade {
    pub(super) fn of(t: &Trade) -> ArrivingTrade {
        // Serialising a `Trade` cannot fail: it has no maps and serde_json
        // writes non-finite floats as null.
        let json = serde_json::to_string(t).unwrap_or_default().into_boxed_str();
        ArrivingTrade { key: TradeKey::of(t), sip_ns: t.sip_timestamp, json }
    }
}

/// How a trade is recognised when several records carry it: Polygon's id
/// is unique per ticker, exchange and TRF; without an id, the print itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum TradeKey {
    Id { id: String, exchange: Option<i32>, trf_id: Option<i32> },
    Print { sip_ns: i64, price_bits: u64, size_bits: u64 },
}

impl TradeKey {
    pub(super) fn of(t: &Trade) -> TradeKey {
        match &t.id {
            Some(id) => TradeKey::Id { id: id.clone(), exchange: t.exchange, trf_id: t.trf_id },
            None => {
                TradeKey::Print { sip_ns: t.sip_timestamp, price_bits: t.price.to_bits(), size_bits: t.size.to_bits() }
            }
        }
    }

    /// A fixed hash (the same in every run), for [`TradeBook::ids`].
    pub(super) fn hash64(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }

    /// True when `kept` is the trade this key names. Its key fields are read
    /// back from its JSON; a price or size is compared as the text serde_json
    /// writes for it, which differs for any two finite `f64`s, so no float is
    /// read back.
    pub(super) fn names(&self, kept: &KeptTrade) -> bool {
        #[derive(serde::Deserialize)]
        struct Fields<'a> {
            #[serde(default)]
            exchange: Option<i32>,
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            trf_id: Option<i32>,
            #[serde(borrow)]
            price: &'a serde_json::value::RawValue,
            #[serde(borrow)]
            size: &'a serde_json::value::RawValue,
        }
        let Ok(f) = serde_json::from_str::<Fields>(&kept.json) else { return false };
        let text = |bits: u64| serde_json::to_string(&f64::from_bits(bits)).unwrap_or_default();
        match self {
            TradeKey::Id { id, exchange, trf_id } => {
                f.id.as_deref() == Some(id.as_str()) && f.exchange == *exchange && f.trf_id == *trf_id
            }
            TradeKey::Print { sip_ns, price_bits, size_bits } => {
                f.id.is_none()
                    && kept.sip_ns == *sip_ns
                    && f.price.get() == text(*price_bits)
                    && f.size.get() == text(*size_bits)
            }
        }
    }
}

/// One kept trade: its SIP time, when the record that brought it became
/// known (both ns), and its JSON as the trades endpoint writes it.
pub(super) struct KeptTrade {
    pub(super) sip_ns: i64,
    pub(super) known_ns: i64,
    pub(super) json: Box<str>,
}

/// The union of the trade records a trades request reads back, one ticker's:
/// each trade is its JSON and two numbers in one sorted vector (a window is
/// two binary searches), repeats across records dropped.
#[derive(Default)]
pub(super) struct TradeBook {
    /// By `sip_ns`; equal timestamps in arrival order.
    pub(super) trades: Vec<KeptTrade>,
    /// For the trades with an id: the hash of the key → the `sip_ns` of the
    /// first trade kept with that hash, where a repeat of it is looked for.
    pub(super) ids: HashMap<u64, i64>,
}

impl TradeBook {
    pub(super) fn add(&mut self, known_ns: i64, arriving: Vec<ArrivingTrade>) {
        let mut fresh: Vec<KeptTrade> = Vec::with_capacity(arriving.len());
        let mut fresh_keys: HashSet<TradeKey> = HashSet::with_capacity(arriving.len());
        for a in arriving {
            if fresh_keys.contains(&a.key) || self.holds(&a.key) {
                continue;
            }
            if matches!(a.key, TradeKey::Id { .. }) {
                self.ids.entry(a.key.hash64()).or_insert(a.sip_ns);
            }
            fresh_keys.insert(a.key);
            fresh.push(KeptTrade { sip_ns: a.sip_ns, known_ns, json: a.json });
        }
        // Stable: equal timestamps keep their arrival order, after the ones
        // kept before.
        fresh.sort_by_key(|k| k.sip_ns);
        let Some(first) = fresh.first() else { return };
        let from = self.trades.partition_point(|k| k.sip_ns <= first.sip_ns);
        if from == self.trades.len() {
            self.trades.append(&mut fresh);
            return;
        }
        let tail = self.trades.split_off(from);
        self.trades.reserve(tail.len() + fresh.len());
        let (mut old, mut new) = (tail.into_iter().peekable(), fresh.into_iter().peekable());
        while let (Some(o), Some(n)) = (old.peek(), new.peek()) {
            let next = if o.sip_ns <= n.sip_ns { old.next() } else { new.next() };
            self.trades.extend(next);
        }
        self.trades.extend(old);
        self.trades.extend(new);
    }

    /// The kept trades with `sip_ns` in `[lo, hi]`, in time order.
    pub(super) fn within(&self, lo: i64, hi: i64) -> &[KeptTrade] {
        let start = self.trades.partition_point(|k| k.sip_ns < lo);
        let end = self.trades.partition_point(|k| k.sip_ns <= hi).max(start);
        &self.trades[start..end]
    }

    /// True when a trade with this key is kept already.
    pub(super) fn holds(&self, key: &TradeKey) -> bool {
        let at = match key {
            TradeKey::Print { sip_ns, .. } => *sip_ns,
            TradeKey::Id { .. } => match self.ids.get(&key.hash64()) {
                Some(sip_ns) => *sip_ns,
                None => return false,
            },
        };
        if self.within(at, at).iter().any(|k| key.names(k)) {
            return true;
        }
        // Two id keys with one hash: the map names only the first, so the
        // other is looked for everywhere. Practically never reached.
        matches!(key, TradeKey::Id { .. }) && self.trades.iter().any(|k| key.names(k))
    }
}
