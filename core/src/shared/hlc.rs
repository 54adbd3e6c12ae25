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

/// How far ahead of this device's wall clock another device's stamp may be
/// (SPEC §4): further, and it is refused rather than adopted, so one device
/// with a clock years ahead cannot drag every other clock (and every later
/// last-writer-wins decision) with it. `SD_MAX_CLOCK_SKEW_MS` changes it.
pub const MAX_SKEW_MS: u64 = 500;

/// The bound in force: [`MAX_SKEW_MS`] unless the environment says otherwise.
pub fn max_skew_ms() -> u64 {
    std::env::var("SD_MAX_CLOCK_SKEW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MAX_SKEW_MS)
}

/// A stamp further ahead of the local wall clock than the bound allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a clock {ahead_ms} ms ahead of this device's (at most {bound_ms} ms is taken)")]
pub struct ClockAhead {
    pub ahead_ms: u64,
    pub bound_ms: u64,
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

    /// Whether `remote` is within `bound_ms` of wall time `wall_ms`.
    pub fn check(remote: Hlc, wall_ms: u64, bound_ms: u64) -> Result<(), ClockAhead> {
        let ahead_ms = remote.wall_ms.saturating_sub(wall_ms);
        if ahead_ms > bound_ms {
            return Err(ClockAhead { ahead_ms, bound_ms });
        }
        Ok(())
    }

    /// Takes in a stamp from another device (receive rule: the next local
    /// stamp is after both), unless it is further ahead of `wall_ms` than
    /// `bound_ms`: then it is refused and the clock stays as it was.
    pub fn observe(&mut self, remote: Hlc, wall_ms: u64, bound_ms: u64) -> Result<(), ClockAhead> {
        Clock::check(remote, wall_ms, bound_ms)?;
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
        Ok(())
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
                    let before = clock.last();
                    match clock.observe(remote, wall, 500) {
                        Ok(()) => seen = seen.max(remote),
                        // Refused: neither adopted nor a change to the clock.
                        Err(e) => {
                            prop_assert!(remote_wall > wall + 500);
                            prop_assert_eq!(e.ahead_ms, remote_wall - wall);
                            prop_assert_eq!(clock.last(), before);
                        }
                    }
                }
            }
        }

        /// A lying or skewed device cannot move the clock further ahead
        /// of the wall than the bound, however often it is observed.
        #[test]
        fn no_observed_stamp_moves_the_clock_past_the_bound(
            stamps in proptest::collection::vec((0u64..100_000, 0u32..5), 1..100),
            wall in 0u64..50_000,
        ) {
            let mut clock = Clock::new(7, Hlc::ZERO);
            for (remote_wall, counter) in stamps {
                let _ = clock.observe(Hlc { wall_ms: remote_wall, counter, device: 9 }, wall, 500);
                prop_assert!(clock.last().wall_ms <= wall + 500);
            }
        }
    }
}
