//! How many good copies each file has, where they are, and what that risks.
//!
//! A copy is another file with the same content identity whose full BLAKE3
//! agrees: two files the sampled hash groups but whose owners recorded
//! different full hashes are different contents. A copy whose full hash is
//! not known yet agrees with any. A copy the owner's integrity job found
//! corrupt is no copy at all.

use serde::Serialize;

use super::census::{Census, FileRow, NONE};
use crate::model::volume::PhysicalClass;

/// What losing one disk, or one kind of disk, would cost a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Copies on volumes of at least two physical classes (or classes this
    /// device cannot tell apart).
    Safe,
    /// Every copy on one physical class (all SSDs, say): a flaw of that
    /// class takes them all.
    OneClass,
    /// Every copy on one volume: that disk failing loses the file.
    OneVolume,
    /// One copy in the whole library.
    SingleCopy,
}

impl Risk {
    pub const AT_RISK: [Risk; 3] = [Risk::SingleCopy, Risk::OneVolume, Risk::OneClass];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Safe => "safe",
            Risk::OneClass => "one_class",
            Risk::OneVolume => "one_volume",
            Risk::SingleCopy => "single_copy",
        }
    }

    /// Index into per-risk counters (`AT_RISK` order), for at-risk files.
    pub(crate) fn slot(self) -> Option<usize> {
        Risk::AT_RISK.iter().position(|r| *r == self)
    }
}

/// One file's copies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Verdict {
    pub copies: u32,
    pub risk: Risk,
    /// Devices holding a copy, one bit per device (index modulo 64).
    pub holders: u64,
}

/// A verdict for every row of `census.files`.
pub(crate) fn judge(census: &Census) -> Vec<Verdict> {
    let files = &census.files;
    let mut order: Vec<u32> = (0..files.len() as u32).collect();
    order.sort_unstable_by_key(|&i| files[i as usize].content);
    let mut verdicts = vec![
        Verdict {
            copies: 0,
            risk: Risk::SingleCopy,
            holders: 0,
        };
        files.len()
    ];
    for group in order.chunk_by(|&a, &b| files[a as usize].content == files[b as usize].content) {
        let good = || group.iter().map(|&i| &files[i as usize]).filter(|f| !f.bad);
        let mut known = good().map(|f| f.full).filter(|&h| h != 0);
        let split = known
            .next()
            .is_some_and(|first| known.any(|other| other != first));
        if split {
            // Rare: owners disagree on the full hash. Each file counts the
            // copies that agree with it.
            for &i in group {
                let me = files[i as usize].full;
                let agrees = good().filter(|f| me == 0 || f.full == 0 || f.full == me);
                verdicts[i as usize] = verdict(census, agrees);
            }
        } else {
            let shared = verdict(census, good());
            for &i in group {
                verdicts[i as usize] = shared;
            }
        }
    }
    verdicts
}

fn verdict<'a>(census: &Census, copies: impl Iterator<Item = &'a FileRow>) -> Verdict {
    let mut count = 0u32;
    let mut holders = 0u64;
    let mut volume: Option<u64> = None;
    let mut one_volume = true;
    let mut class: Option<PhysicalClass> = None;
    let mut one_class = true;
    for copy in copies {
        count = count.saturating_add(1);
        holders |= 1 << (copy.device % 64);
        let place = &census.places[copy.place as usize];
        // A location without a volume record is a volume of its own.
        let v = if place.volume == NONE {
            (1 << 32) | u64::from(copy.place)
        } else {
            u64::from(place.volume)
        };
        one_volume &= *volume.get_or_insert(v) == v;
        one_class &= place.class != PhysicalClass::Unknown
            && *class.get_or_insert(place.class) == place.class;
    }
    let risk = match count {
        0 | 1 => Risk::SingleCopy,
        _ if one_volume => Risk::OneVolume,
        _ if one_class => Risk::OneClass,
        _ => Risk::Safe,
    };
    Verdict {
        copies: count,
        risk,
        holders,
    }
}
