//! Hybrid logical clocks: wall-clock milliseconds, a counter for events in
//! the same millisecond, and the device as the tie-break, so every
//! operation of the library has a distinct, totally ordered stamp that
//! respects causality even when clocks disagree.

use serde::{Deserialize, Serialize};

/// One stamp. Ordered by (wall, counter, device).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
    pub device: u128,
}

impl Hlc {
    pub const ZERO: Hlc = Hlc {
        wall_ms: 0,
        counter: 0,
        device: 0,
    };
}

/// A device's clock: never goes backwards, and after seeing a stamp from
/// another device always issues later ones.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    last: Hlc,
}

impl Clock {
    pub fn new(device: u128, last: Hlc) -> Clock {
        Clock {
            last: Hlc { device, ..last },
        }
    }

    pub fn last(&self) -> Hlc {
        self.last
    }

    /// A new stamp for a local event at wall time `wall_ms`.
    pub fn tick(&mut self, wall_ms: u64) -> Hlc {
        if wall_ms > self.last.wall_ms {
            self.last.wall_ms = wall_ms;
            self.last.counter = 0;
        } else {
            self.last.counter = self.last.counter.saturating_add(1);
        }
        self.last
    }

    /// Takes in a stamp from another device (receive rule: the next local
    /// stamp is after both).
    pub fn observe(&mut self, remote: Hlc, wall_ms: u64) {
        let wall = wall_ms.max(remote.wall_ms).max(self.last.wall_ms);
        let counter = if wall == self.last.wall_ms && wall == remote.wall_ms {
            self.last.counter.max(remote.counter)
        } else if wall == self.last.wall_ms {
            self.last.counter
        } else if wall == remote.wall_ms {
            remote.counter
        } else {
            0
        };
        self.last.wall_ms = wall;
        self.last.counter = counter;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the walls do (skewed, stuck, going backwards) and
        /// whatever is observed, each tick is later than everything before.
        #[test]
        fn ticks_are_monotonic_and_after_what_was_observed(
            events in proptest::collection::vec((any::<bool>(), 0u64..10_000, 0u64..10_000, 0u32..5), 1..200)
        ) {
            let mut clock = Clock::new(7, Hlc::ZERO);
            let mut latest = Hlc::ZERO;
            let mut seen = Hlc::ZERO;
            for (local, wall, remote_wall, remote_counter) in events {
                if local {
                    let stamp = clock.tick(wall);
                    prop_assert!(stamp > latest);
                    prop_assert!((stamp.wall_ms, stamp.counter) > (seen.wall_ms, seen.counter));
                    latest = stamp;
                } else {
                    let remote = Hlc { wall_ms: remote_wall, counter: remote_counter, device: 9 };
                    clock.observe(remote, wall);
                    seen = seen.max(remote);
                }
            }
        }
    }
}
