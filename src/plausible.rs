//! Data that cannot be true. A flow event built from it is a data error
//! (`processing_errors`, one `warn` line), never an alert: a day-volume jump
//! of 1e15 contracts once posted a "$1,000,000,000,000,000,000" Golden Sweep.
//!
//! The bounds are far outside any real session, so heavy days pass:
//!
//! - premium above [`MAX_PREMIUM_USD`] ($500M, SPEC §5) for one contract in
//!   one interval. The largest single option trades on record are in the
//!   tens to low hundreds of millions of dollars;
//! - a volume change far above the contract's scale: more than
//!   [`VOLUME_SCALE_FACTOR`] times the largest of its open interest, its own
//!   day volume before the interval and the largest day volume of any other
//!   contract in the same chain snapshot, and above
//!   [`VOLUME_FLOOR_CONTRACTS`] whatever the scale. The chain's busiest other
//!   contract is the scale because a real burst in one contract sits among
//!   busy neighbours (SPY's most active contracts trade hundreds of
//!   thousands a day each), while a corrupted field stands alone; the floor
//!   keeps an opening block in a quiet chain, or a chain of one contract,
//!   from being judged against a scale of nearly nothing;
//! - a day volume that is not a finite, non-negative number.

use std::fmt;

use crate::flow::{FlowEvent, Observation};

/// Dollars of premium one contract can plausibly trade in one interval.
pub const MAX_PREMIUM_USD: f64 = 500_000_000.0;
/// How many times its scale a contract's volume change may be.
pub const VOLUME_SCALE_FACTOR: f64 = 20.0;
/// Volume changes up to this many contracts are never judged by scale.
pub const VOLUME_FLOOR_CONTRACTS: f64 = 250_000.0;

/// Why a value cannot be true.
#[derive(Debug, Clone, PartialEq)]
pub enum Implausible {
    Premium { premium: f64 },
    VolumeJump { volume_delta: f64, scale: f64 },
    Volume { volume: f64 },
}

impl fmt::Display for Implausible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Implausible::Premium { premium } => {
                write!(f, "implausible premium={premium:.0} above {MAX_PREMIUM_USD:.0}")
            }
            Implausible::VolumeJump { volume_delta, scale } => write!(
                f,
                "implausible volume_delta={volume_delta:.0} above {VOLUME_SCALE_FACTOR}x the contract's scale={scale:.0} \
                 (open interest, its earlier volume, the chain's busiest other contract)"
            ),
            Implausible::Volume { volume } => write!(f, "implausible day volume={volume}"),
        }
    }
}

/// The largest two day volumes of one chain snapshot, so each contract can
/// be measured against the busiest *other* contract.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainScale {
    top: Option<(f64, String)>,
    second: f64,
}

impl ChainScale {
    pub fn of(observations: &[Observation]) -> ChainScale {
        let mut s = ChainScale::default();
        for o in observations.iter().filter(|o| o.volume.is_finite() && o.volume >= 0.0) {
            match &s.top {
                Some((v, _)) if o.volume <= *v => s.second = s.second.max(o.volume),
                _ => {
                    s.second = s.top.as_ref().map_or(0.0, |(v, _)| *v);
                    s.top = Some((o.volume, o.contract.clone()));
                }
            }
        }
        s
    }

    /// The largest day volume of any contract but `contract`.
    pub fn busiest_other(&self, contract: &str) -> f64 {
        match &self.top {
            Some((_, c)) if c == contract => self.second,
            Some((v, _)) => *v,
            None => 0.0,
        }
    }
}

/// An observation whose day volume cannot be compared with anything.
pub fn observation(obs: &Observation) -> Result<(), Implausible> {
    if obs.volume.is_finite() && obs.volume >= 0.0 { Ok(()) } else { Err(Implausible::Volume { volume: obs.volume }) }
}

/// Whether a flow event's figures can be true, given its chain's scale.
pub fn event(ev: &FlowEvent, chain: &ChainScale) -> Result<(), Implausible> {
    // A NaN premium is implausible too.
    if ev.premium.is_nan() || ev.premium > MAX_PREMIUM_USD {
        return Err(Implausible::Premium { premium: ev.premium });
    }
    let oi = ev.open_interest.filter(|x| x.is_finite()).unwrap_or(0.0);
    let scale = oi.max(ev.previous_volume).max(chain.busiest_other(&ev.contract));
    let bound = (VOLUME_SCALE_FACTOR * scale).max(VOLUME_FLOOR_CONTRACTS);
    if ev.volume_delta.is_nan() || ev.volume_delta > bound {
        return Err(Implausible::VolumeJump { volume_delta: ev.volume_delta, scale });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::test_event;

    fn obs(contract: &str, volume: f64) -> Observation {
        let mut o = test_event().observation;
        o.contract = contract.to_string();
        o.volume = volume;
        o
    }

    #[test]
    fn chain_scale_is_the_busiest_other_contract() {
        let chain = ChainScale::of(&[obs("a", 10.0), obs("b", 500.0), obs("c", f64::NAN), obs("d", 40.0)]);
        // (contract, busiest other)
        for (c, want) in [("b", 40.0), ("a", 500.0), ("x", 500.0)] {
            assert_eq!(chain.busiest_other(c), want, "{c}");
        }
        assert_eq!(ChainScale::of(&[obs("a", 7.0)]).busiest_other("a"), 0.0);
        assert_eq!(ChainScale::default().busiest_other("a"), 0.0);
    }

    #[test]
    fn implausible_events() {
        // (premium, ΔV, OI, earlier volume, busiest other, plausible)
        let cases = [
            // A heavy SPY 0DTE interval: 150,000 contracts against 20,000 OI
            // among neighbours of 300,000 a day.
            (90e6, 150_000.0, Some(20_000.0), 200_000.0, 300_000.0, true),
            // An opening block in a quiet chain: under the floor.
            (30e6, 60_000.0, Some(0.0), 0.0, 500.0, true),
            (1e6, 250_000.0, None, 0.0, 0.0, true),
            (1e6, 250_001.0, None, 0.0, 0.0, false),
            // 20x the scale is the edge.
            (1e6, 400_000.0, Some(20_000.0), 0.0, 1_000.0, true),
            (1e6, 400_001.0, Some(20_000.0), 0.0, 1_000.0, false),
            // $500M is the edge.
            (500e6, 1_000.0, Some(1_000.0), 0.0, 1_000.0, true),
            (500.01e6, 1_000.0, Some(1_000.0), 0.0, 1_000.0, false),
            (f64::NAN, 1_000.0, Some(1_000.0), 0.0, 1_000.0, false),
            // The 1e15 day-volume jump.
            (1e18, 1e15, Some(5_000.0), 1_000.0, 8_000.0, false),
            (1e6, 1e15, Some(5_000.0), 1_000.0, 8_000.0, false),
            (1e6, f64::INFINITY, Some(5_000.0), 1_000.0, 8_000.0, false),
        ];
        for (premium, dv, oi, before, other, want) in cases {
            let mut ev = test_event();
            (ev.premium, ev.volume_delta, ev.open_interest, ev.previous_volume) = (premium, dv, oi, before);
            let chain = ChainScale::of(&[obs(&ev.contract, before + dv), obs("O:OTHER", other)]);
            let got = event(&ev, &chain);
            assert_eq!(got.is_ok(), want, "premium={premium} dv={dv} oi={oi:?} before={before} other={other}: {got:?}");
        }
    }

    #[test]
    fn day_volume_must_be_a_count() {
        for (v, want) in [(0.0, true), (1e9, true), (-1.0, false), (f64::NAN, false), (f64::INFINITY, false)] {
            assert_eq!(observation(&obs("a", v)).is_ok(), want, "{v}");
        }
    }
}
