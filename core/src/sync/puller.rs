//! When to pull from one peer, as a sans-IO state machine: the caller
//! passes the time and what arrived, and sends what it is told to. One pull
//! is in flight at a time; a page that says `more` is followed at once, and
//! so is a poke (the peer announced a change); an answer that never comes
//! is given up after a timeout and retried.

use super::{PAGE_ITEMS, Pull, Watermarks};

/// Milliseconds on any monotonic clock the caller likes.
pub type Millis = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle { next_at: Millis },
    Waiting { tag: u64, deadline: Millis },
}

/// The pull schedule of one peer.
#[derive(Clone, Debug)]
pub struct Puller {
    state: State,
    /// Between pulls while nothing is known to have changed.
    every: Millis,
    /// How long an answer may take.
    timeout: Millis,
    next_tag: u64,
    /// Items per pull.
    limit: u32,
    /// Poked while a pull was in flight: its answer may predate the change.
    poked: bool,
}

impl Puller {
    /// A puller that pulls at once, then every `every` ms.
    pub fn new(now: Millis, every: Millis, timeout: Millis) -> Puller {
        Puller {
            state: State::Idle { next_at: now },
            every,
            timeout,
            next_tag: 1,
            limit: PAGE_ITEMS,
            poked: false,
        }
    }

    /// Asks for at most `limit` items per pull.
    pub fn with_limit(mut self, limit: u32) -> Puller {
        self.limit = limit;
        self
    }

    /// A device-owned pull after `after` (with the floors of a running
    /// full resync), sized by this schedule's limit.
    pub fn pull(&self, after: Watermarks, resync: Option<Watermarks>) -> Pull {
        Pull {
            after,
            limit: self.limit,
            resync,
        }
    }

    /// The request to send now, if any: `make` builds it (asked only when
    /// one is due; `None` means it cannot be built now, and the schedule
    /// retries later). Returned with a tag to match its answer.
    pub fn poll<T>(&mut self, now: Millis, make: impl FnOnce() -> Option<T>) -> Option<(u64, T)> {
        match self.state {
            State::Waiting { deadline, .. } if now >= deadline => {
                // Lost: try again now.
                self.state = State::Idle { next_at: now };
            }
            _ => {}
        }
        match self.state {
            State::Idle { next_at } if now >= next_at => {
                let Some(request) = make() else {
                    self.state = State::Idle {
                        next_at: now + self.every,
                    };
                    return None;
                };
                let tag = self.next_tag;
                self.next_tag += 1;
                self.state = State::Waiting {
                    tag,
                    deadline: now + self.timeout,
                };
                Some((tag, request))
            }
            _ => None,
        }
    }

    /// The peer announced a change: pull now, or right after the answer to
    /// the pull in flight. Pokes never add pulls beyond one in flight.
    pub fn poke(&mut self, now: Millis) {
        match &mut self.state {
            State::Idle { next_at } => *next_at = (*next_at).min(now),
            State::Waiting { .. } => self.poked = true,
        }
    }

    /// The answer to pull `tag` was applied; `more` says whether the owner
    /// has more. Returns false for an answer nobody waits for any more.
    pub fn on_page(&mut self, tag: u64, now: Millis, more: bool) -> bool {
        if !matches!(self.state, State::Waiting { tag: t, .. } if t == tag) {
            return false;
        }
        let poked = std::mem::take(&mut self.poked);
        let next_at = if more || poked { now } else { now + self.every };
        self.state = State::Idle { next_at };
        true
    }

    /// Pull `tag` failed (refused, malformed, connection lost): retry after
    /// the usual interval.
    pub fn on_failure(&mut self, tag: u64, now: Millis) {
        if let State::Waiting { tag: t, .. } = self.state
            && t == tag
        {
            self.poked = false;
            self.state = State::Idle {
                next_at: now + self.every,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Watermark;

    const MARKS: Watermarks = [Watermark(0); super::super::Resource::ALL.len()];

    #[test]
    fn pulls_at_once_then_on_schedule() {
        let mut p = Puller::new(0, 500, 2000);
        let (tag, _) = p.poll(0, || Some(MARKS)).expect("first pull");
        assert!(p.poll(10, || Some(MARKS)).is_none(), "one in flight");
        assert!(p.on_page(tag, 20, false));
        assert!(p.poll(100, || Some(MARKS)).is_none(), "not due yet");
        assert!(p.poll(520, || Some(MARKS)).is_some());
    }

    #[test]
    fn more_pulls_again_at_once_and_stale_answers_are_ignored() {
        let mut p = Puller::new(0, 500, 2000);
        let (tag, _) = p.poll(0, || Some(MARKS)).expect("pull");
        assert!(p.on_page(tag, 5, true));
        assert!(!p.on_page(tag, 6, true), "a duplicate answer");
        let (second, _) = p.poll(6, || Some(MARKS)).expect("more");
        assert_ne!(tag, second);
    }

    #[test]
    fn a_poke_pulls_now_or_right_after_the_pull_in_flight() {
        let mut p = Puller::new(0, 5000, 20_000);
        let (tag, _) = p.poll(0, || Some(MARKS)).expect("first pull");
        assert!(p.on_page(tag, 10, false));
        assert!(p.poll(20, || Some(MARKS)).is_none(), "idle until poked");
        p.poke(30);
        let (tag, _) = p.poll(30, || Some(MARKS)).expect("poked while idle");
        // Poked twice while that pull is in flight: one more pull, at once
        // after its answer, and no more than one in flight meanwhile.
        p.poke(40);
        p.poke(41);
        assert!(p.poll(42, || Some(MARKS)).is_none(), "one in flight");
        assert!(p.on_page(tag, 50, false));
        let (tag, _) = p.poll(50, || Some(MARKS)).expect("after the answer");
        assert!(p.on_page(tag, 60, false));
        assert!(p.poll(61, || Some(MARKS)).is_none(), "the poke was used up");
        assert!(p.poll(5060, || Some(MARKS)).is_some(), "back on schedule");
    }

    #[test]
    fn a_lost_pull_is_retried_after_the_timeout() {
        let mut p = Puller::new(0, 500, 2000);
        let (tag, _) = p.poll(0, || Some(MARKS)).expect("pull");
        assert!(p.poll(1999, || Some(MARKS)).is_none());
        let (retry, _) = p.poll(2000, || Some(MARKS)).expect("retry");
        assert_ne!(tag, retry);
        assert!(!p.on_page(tag, 2001, false), "the lost one came late");
        assert!(p.on_page(retry, 2002, false));
    }
}
