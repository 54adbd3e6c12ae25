//! The owner's side: what changed after a replica's watermarks.

use redb::{Database, ReadOnlyTable, ReadTransaction, ReadableDatabase};

use super::changes::{CHANGES, floors};
use super::{Batch, Item, PAGE_BYTES, PAGE_ITEMS, Page, Pull, Resource, Watermark, Watermarks};
use crate::error::Result;
use crate::library::schema;

/// The page answering `pull`: changes in resource order, at most
/// `pull.limit` items (capped by [`PAGE_ITEMS`]) and about [`PAGE_BYTES`]
/// of records. A replica that is current gets empty batches.
///
/// A replica below a floor (it may have missed a pruned deletion) gets a
/// page from the beginning of the log marked `resync`, and is then served
/// from its watermarks for as long as the floors stay where that page said.
pub fn page(db: &Database, pull: &Pull) -> Result<Page> {
    let txn = db.begin_read()?;
    let changes = txn.open_table(CHANGES)?;
    let records = Records::open(&txn)?;
    let floors = floors(&txn)?;
    let below_floor = pull.after.iter().zip(&floors).any(|(a, f)| a < f);
    let restart = match pull.resync {
        Some(began) => began != floors,
        None => below_floor,
    };
    let after = if restart {
        Watermarks::default()
    } else {
        pull.after
    };
    let mut budget_items = pull.limit.clamp(1, PAGE_ITEMS) as usize;
    let mut budget_bytes = PAGE_BYTES;
    let mut page = Page {
        batches: Vec::new(),
        more: false,
        resync: restart.then_some(floors),
    };
    for (resource, after) in Resource::ALL.into_iter().zip(after) {
        let r = resource.code();
        let mut batch = Batch {
            resource,
            after,
            next: after,
            items: Vec::new(),
        };
        let start = after.0.saturating_add(1);
        for row in changes.range((r, start)..=(r, u64::MAX))? {
            if budget_items == 0 || budget_bytes == 0 {
                page.more = true;
                break;
            }
            let (seq, key) = row?;
            let key = key.value();
            let record = records.get(resource, key)?;
            let weight = 24 + record.as_ref().map_or(0, Vec::len);
            budget_items -= 1;
            budget_bytes = budget_bytes.saturating_sub(weight);
            batch.items.push(Item { key, record });
            batch.next = Watermark(seq.value().1);
        }
        page.batches.push(batch);
    }
    Ok(page)
}

/// The owner's tables a page reads records from.
struct Records {
    volumes: ReadOnlyTable<u128, &'static [u8]>,
    locations: ReadOnlyTable<u128, &'static [u8]>,
    content: ReadOnlyTable<u128, &'static [u8]>,
    extracts: ReadOnlyTable<u128, &'static [u8]>,
    entries: ReadOnlyTable<u64, &'static [u8]>,
}

impl Records {
    fn open(txn: &ReadTransaction) -> Result<Records> {
        Ok(Records {
            volumes: schema::VOLUMES.read(txn)?,
            locations: schema::LOCATIONS.read(txn)?,
            content: schema::CONTENT.read(txn)?,
            extracts: schema::EXTRACTS.read(txn)?,
            entries: schema::ENTRIES.read(txn)?,
        })
    }

    /// The current encoded record of `key`, `None` when it is gone.
    fn get(&self, resource: Resource, key: u128) -> Result<Option<Vec<u8>>> {
        let row = match resource {
            Resource::Volume => self.volumes.get(key)?,
            Resource::Location => self.locations.get(key)?,
            Resource::Content => self.content.get(key)?,
            Resource::Extract => self.extracts.get(key)?,
            Resource::Entry => match u64::try_from(key) {
                Ok(id) => self.entries.get(id)?,
                Err(_) => None,
            },
        };
        Ok(row.map(|v| v.value().to_vec()))
    }
}
