//! Folders from files: what is at risk below each directory, and the
//! fewest items that name all of it ("Tax/ exists only on laptop" instead
//! of its 84 files one by one).

use super::census::{NONE, Tree};
use super::risk::{Risk, Verdict};

/// Sums below one node.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sums {
    pub files: u64,
    pub bytes: u64,
    /// Per [`Risk::AT_RISK`] slot.
    pub risk_files: [u64; 3],
    pub risk_bytes: [u64; 3],
}

impl Sums {
    pub fn at_risk_files(&self) -> u64 {
        self.risk_files.iter().sum()
    }

    pub fn at_risk_bytes(&self) -> u64 {
        self.risk_bytes.iter().sum()
    }

    pub fn add(&mut self, other: &Sums) {
        self.files += other.files;
        self.bytes += other.bytes;
        for slot in 0..3 {
            self.risk_files[slot] += other.risk_files[slot];
            self.risk_bytes[slot] += other.risk_bytes[slot];
        }
    }
}

/// Whether every file below a node is in the same danger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Uniform {
    /// No identified file below.
    Empty,
    /// All of them: this risk, on these devices (bits), at least `copies`.
    Same {
        risk: Risk,
        holders: u64,
        copies: u32,
    },
    Mixed,
}

impl Uniform {
    fn of(verdict: &Verdict) -> Uniform {
        Uniform::Same {
            risk: verdict.risk,
            holders: verdict.holders,
            copies: verdict.copies,
        }
    }

    fn join(self, other: Uniform) -> Uniform {
        match (self, other) {
            (Uniform::Empty, x) | (x, Uniform::Empty) => x,
            (
                Uniform::Same {
                    risk: r1,
                    holders: h1,
                    copies: c1,
                },
                Uniform::Same {
                    risk: r2,
                    holders: h2,
                    copies: c2,
                },
            ) if r1 == r2 && h1 == h2 => Uniform::Same {
                risk: r1,
                holders: h1,
                copies: c1.min(c2),
            },
            _ => Uniform::Mixed,
        }
    }
}

/// Per node of one tree.
pub(crate) struct Rollup {
    pub sums: Vec<Sums>,
    pub uniform: Vec<Uniform>,
}

/// Sums every node of `tree` bottom-up.
pub(crate) fn roll_up(tree: &Tree, sizes: impl Fn(u32) -> u64, verdicts: &[Verdict]) -> Rollup {
    let n = tree.ids.len();
    let mut sums = vec![Sums::default(); n];
    let mut uniform = vec![Uniform::Empty; n];
    for &node in tree.order.iter().rev() {
        let i = node as usize;
        let file = tree.file[i];
        if file != NONE {
            let verdict = &verdicts[file as usize];
            let bytes = sizes(file);
            let s = &mut sums[i];
            s.files = 1;
            s.bytes = bytes;
            if let Some(slot) = verdict.risk.slot() {
                s.risk_files[slot] = 1;
                s.risk_bytes[slot] = bytes;
            }
            uniform[i] = Uniform::of(verdict);
            continue;
        }
        let mut total = Sums::default();
        let mut same = Uniform::Empty;
        for child in tree.children(node) {
            total.add(&sums[child as usize]);
            same = same.join(uniform[child as usize]);
        }
        sums[i] = total;
        uniform[i] = same;
    }
    Rollup { sums, uniform }
}

/// An at-risk item: a node all of whose files share one danger.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub device: u16,
    pub node: u32,
    pub risk: Risk,
    pub holders: u64,
    pub copies: u32,
}

/// The fewest nodes below `start` (itself included) that cover every
/// at-risk file, each uniformly at risk.
pub(crate) fn at_risk_below(
    tree: &Tree,
    rollup: &Rollup,
    device: u16,
    start: u32,
    out: &mut Vec<Found>,
) {
    let mut stack = vec![start];
    while let Some(node) = stack.pop() {
        let i = node as usize;
        if rollup.sums[i].at_risk_files() == 0 {
            continue;
        }
        match rollup.uniform[i] {
            Uniform::Same {
                risk,
                holders,
                copies,
            } if risk != Risk::Safe => out.push(Found {
                device,
                node,
                risk,
                holders,
                copies,
            }),
            _ => stack.extend(tree.children(node)),
        }
    }
}
