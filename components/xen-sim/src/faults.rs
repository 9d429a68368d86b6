//! Deterministic fault injection: faults planned by call number, and random faults drawn from a
//! seeded generator owned by the simulator (no global RNG, so a seed replays exactly).
//!
//! Every fault is something real Xen can do: a reservation call that completes only a prefix of
//! its extents (an allocation failed, or a page could not be removed), a decrease whose failing
//! extent had already freed some of its pages, a host out of memory, or a host too fragmented
//! for extents of order > 0 while single pages are still free.
//!
//! Calls are numbered from 0 in the order the simulator receives reservation calls (ops 0, 1 and
//! 6), across all domains, whatever their outcome.

use std::ops::Range;

/// A planned fault. Calls are numbered from 0 in the order the simulator receives reservation
/// calls (ops 0, 1 and 6) from any domain, whatever their outcome; [`crate::XenSim::next_call`]
/// tells the number the next one gets. A shortening aimed at an increase or populate call only
/// shortens it (no pages of a failed allocation are kept).
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Reservation call `call` completes at most `completed` extents: the next one fails with no
    /// effect (`completed: 0` fails the whole call).
    Shorten {
        /// The call number.
        call: u64,
        /// Extents the call may complete.
        completed: u64,
    },
    /// Decrease call `call` completes at most `completed` extents, and the next one fails after
    /// freeing its first `pages` pages (as when page `pages` of it cannot be removed).
    PartialExtent {
        /// The call number.
        call: u64,
        /// Extents the call may complete.
        completed: u64,
        /// Pages of the failing extent freed before it fails.
        pages: u64,
    },
    /// The host pool is empty for every allocation during calls `calls`.
    HostExhausted {
        /// The call numbers.
        calls: Range<u64>,
    },
    /// The host pool has no contiguous memory: allocations of order > 0 fail during `calls`,
    /// order 0 still succeeds.
    Fragmented {
        /// The call numbers.
        calls: Range<u64>,
    },
}

/// Faults that hold until changed, for windows of time rather than of calls (the simulator's
/// scenarios switch them as their clock passes a window's edges).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StandingFaults {
    /// Every allocation fails (the host pool is held by others).
    pub exhausted: bool,
    /// Allocations of order > 0 fail (the host is fragmented).
    pub fragmented: bool,
    /// Every n-th reservation call (by call number) completes only half its extents.
    pub shorten_every: Option<u64>,
}

/// What faults apply to one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallFaults {
    /// Extents the call may complete before one fails.
    pub stop_after: Option<u64>,
    /// Pages of the failing extent a decrease frees first.
    pub pages_into_failure: u64,
    /// Every allocation fails.
    pub exhausted: bool,
    /// Allocations of order > 0 fail.
    pub fragmented: bool,
}

impl CallFaults {
    fn shorten(&mut self, completed: u64, pages: u64) {
        if self.stop_after.is_none_or(|k| completed < k) {
            self.stop_after = Some(completed);
            self.pages_into_failure = pages;
        }
    }

    /// Whether anything was injected.
    pub fn any(&self) -> bool {
        self.stop_after.is_some() || self.exhausted || self.fragmented
    }
}

/// SplitMix64: a small, well-mixed generator, enough to pick faults reproducibly.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A draw in `[0, bound)` (0 for a `bound` of 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next().checked_rem(bound).unwrap_or(0)
    }
}

/// The faults of a simulator: the plan, the random mode and the call counter.
#[derive(Clone, Debug)]
pub struct FaultState {
    planned: Vec<Fault>,
    standing: StandingFaults,
    probability: f64,
    rng: SplitMix64,
    next_call: u64,
}

impl FaultState {
    /// Faults from a plan, random faults with `probability` per call drawn from `seed`.
    pub fn new(seed: u64, planned: Vec<Fault>, probability: f64) -> FaultState {
        FaultState {
            planned,
            standing: StandingFaults::default(),
            probability,
            rng: SplitMix64(seed),
            next_call: 0,
        }
    }

    /// The number the next reservation call will get.
    pub fn next_call(&self) -> u64 {
        self.next_call
    }

    /// Add a planned fault.
    pub fn plan(&mut self, fault: Fault) {
        self.planned.push(fault);
    }

    /// Replace the standing faults.
    pub fn set_standing(&mut self, standing: StandingFaults) {
        self.standing = standing;
    }

    /// Set the probability of a random fault per call.
    pub fn set_probability(&mut self, probability: f64) {
        self.probability = probability;
    }

    /// Number the next reservation call and decide its faults. `remaining` is the number of
    /// extents it asks for beyond its start, `order` their order. The random draws happen for
    /// every call, so that a run's faults depend only on the seed and the call sequence.
    pub fn begin_call(&mut self, remaining: u64, order: u32) -> CallFaults {
        let call = self.next_call;
        // One per call: a u64 does not fill.
        self.next_call = self.next_call.saturating_add(1);
        let mut faults = CallFaults::default();
        for fault in &self.planned {
            match fault {
                Fault::Shorten { call: c, completed } if *c == call => {
                    faults.shorten(*completed, 0)
                }
                Fault::PartialExtent {
                    call: c,
                    completed,
                    pages,
                } if *c == call => faults.shorten(*completed, *pages),
                Fault::HostExhausted { calls } if calls.contains(&call) => faults.exhausted = true,
                Fault::Fragmented { calls } if calls.contains(&call) => faults.fragmented = true,
                _ => {}
            }
        }
        faults.exhausted |= self.standing.exhausted;
        faults.fragmented |= self.standing.fragmented;
        if self
            .standing
            .shorten_every
            .is_some_and(|n| n > 0 && call.is_multiple_of(n))
        {
            faults.shorten(remaining / 2, 0);
        }
        let hit = self.rng.unit() < self.probability;
        let completed = self.rng.below(remaining.max(1));
        let pages = self.rng.below(1u64 << order.min(63));
        if hit && remaining > 0 {
            faults.shorten(completed, pages);
        }
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_faults_hit_their_call_only() {
        let mut f = FaultState::new(
            1,
            vec![
                Fault::Shorten {
                    call: 1,
                    completed: 2,
                },
                Fault::Fragmented { calls: 1..3 },
            ],
            0.0,
        );
        assert!(!f.begin_call(8, 0).any());
        let second = f.begin_call(8, 0);
        assert_eq!(second.stop_after, Some(2));
        assert!(second.fragmented && !second.exhausted);
        assert_eq!(
            f.begin_call(8, 0),
            CallFaults {
                fragmented: true,
                ..CallFaults::default()
            }
        );
        assert!(!f.begin_call(8, 0).any());
        assert_eq!(f.next_call(), 4);
    }

    #[test]
    fn standing_faults_hold_until_changed() {
        let mut f = FaultState::new(0, Vec::new(), 0.0);
        f.set_standing(StandingFaults {
            exhausted: false,
            fragmented: true,
            shorten_every: Some(2),
        });
        let first = f.begin_call(8, 9);
        assert!(first.fragmented && !first.exhausted);
        assert_eq!(first.stop_after, Some(4));
        assert_eq!(f.begin_call(8, 9).stop_after, None);
        f.set_standing(StandingFaults::default());
        assert!(!f.begin_call(8, 9).any());
    }

    #[test]
    fn the_tightest_shortening_wins() {
        let mut f = FaultState::new(
            0,
            vec![
                Fault::Shorten {
                    call: 0,
                    completed: 5,
                },
                Fault::PartialExtent {
                    call: 0,
                    completed: 1,
                    pages: 3,
                },
            ],
            0.0,
        );
        let faults = f.begin_call(8, 9);
        assert_eq!((faults.stop_after, faults.pages_into_failure), (Some(1), 3));
    }

    #[test]
    fn random_faults_replay_from_the_seed_and_stay_inside_the_call() {
        let draw = |seed| {
            let mut f = FaultState::new(seed, Vec::new(), 0.5);
            (0..64).map(|_| f.begin_call(10, 9)).collect::<Vec<_>>()
        };
        let a = draw(42);
        assert_eq!(a, draw(42));
        assert_ne!(a, draw(43));
        let hits = a.iter().filter(|c| c.any()).count();
        assert!(hits > 8 && hits < 56, "{hits} of 64 calls hit at p = 0.5");
        assert!(a
            .iter()
            .all(|c| c.stop_after.is_none_or(|k| k < 10) && c.pages_into_failure < 512));
    }
}
