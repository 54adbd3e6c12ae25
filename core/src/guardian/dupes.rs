//! `sd dupes` over every device and bucket: groups of files with one
//! content (the same full BLAKE3 where their owners know it).

use redb::ReadableDatabase;

use super::census::Census;
use crate::content_store::validate::read_issues;
use crate::error::Result;
use crate::ids::ContentId;
use crate::library::Library;
use crate::query::DupeGroup;

/// Groups of at least two identical files of at least `min_size` bytes,
/// most waste first. Waste is what the extra copies on one device take:
/// a copy on another device is a backup, not waste.
pub fn dupes(lib: &Library, min_size: u64) -> Result<Vec<DupeGroup>> {
    let txn = lib.db().begin_read()?;
    let bad: std::collections::HashSet<u64> = read_issues(&txn)?.iter().map(|i| i.entry).collect();
    let census = Census::take(lib, &txn, &bad)?;
    let files = &census.files;
    let mut order: Vec<u32> = (0..files.len() as u32)
        .filter(|&i| {
            let f = &files[i as usize];
            !f.bad && f.size >= min_size.max(1)
        })
        .collect();
    // Known full hashes first within a content: an unknown one joins the
    // first identity (it has not been told apart from it).
    order.sort_unstable_by_key(|&i| {
        let f = &files[i as usize];
        (f.content, f.full == 0, f.full)
    });
    let mut groups = Vec::new();
    for same in order.chunk_by(|&a, &b| files[a as usize].content == files[b as usize].content) {
        let known = same
            .iter()
            .map(|&i| files[i as usize].full)
            .filter(|&h| h != 0);
        let mut identities: Vec<(u64, Vec<u32>)> = Vec::new();
        for full in known {
            if identities.last().is_none_or(|(h, _)| *h != full) {
                identities.push((full, Vec::new()));
            }
        }
        if identities.is_empty() {
            identities.push((0, Vec::new()));
        }
        for &i in same {
            let full = files[i as usize].full;
            let at = identities.iter().position(|(h, _)| *h == full).unwrap_or(0);
            identities[at].1.push(i);
        }
        for (_, members) in identities.into_iter().filter(|(_, m)| m.len() >= 2) {
            let first = &files[members[0] as usize];
            let mut per_device = vec![0u64; census.devices.len()];
            let mut uris = Vec::with_capacity(members.len());
            for &i in &members {
                let f = &files[i as usize];
                per_device[f.device as usize] += 1;
                uris.push(census.uri(&txn, f.place as usize, f.node)?.to_string());
            }
            uris.sort();
            let devices = census
                .devices
                .iter()
                .zip(&per_device)
                .filter(|(_, n)| **n > 0)
                .map(|(d, _)| d.name.clone())
                .collect();
            groups.push(DupeGroup {
                content_id: ContentId(uuid::Uuid::from_u128(first.content)),
                size: first.size,
                copies: u32::try_from(members.len()).unwrap_or(u32::MAX),
                wasted: per_device
                    .iter()
                    .map(|n| first.size * n.saturating_sub(1))
                    .sum(),
                devices,
                uris,
            });
        }
    }
    groups.sort_by(|a, b| {
        b.wasted
            .cmp(&a.wasted)
            .then(b.copies.cmp(&a.copies))
            .then(a.content_id.cmp(&b.content_id))
    });
    Ok(groups)
}
