//! What contents say (their [`ExtractRecord`]s), for search: this device's
//! own, written as the search index reads its files, and other devices'
//! as sync brought them, searchable while those devices are away.

use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase};

use crate::error::Result;
use crate::ids::{ContentId, DeviceId};
use crate::library::{Library, schema};
use crate::model::extract::ExtractRecord;
use crate::sync::{DeviceData, Resource, replica};

/// A consistent read of every device's extracts.
pub struct Extracts {
    me: DeviceId,
    own: ReadOnlyTable<u128, &'static [u8]>,
    replicated: ReadOnlyTable<(u128, u8, u128), &'static [u8]>,
}

impl Extracts {
    pub fn open(lib: &Library) -> Result<Extracts> {
        let txn: ReadTransaction = lib.db().begin_read()?;
        Ok(Extracts {
            me: lib.device_id(),
            own: schema::EXTRACTS.read(&txn)?,
            replicated: txn.open_table(replica::REPLICA)?,
        })
    }

    /// What `content` says, for a file of `owner`: the owner's word, else
    /// this device's own extract of the same content.
    pub fn get(&self, owner: DeviceId, content: ContentId) -> Result<Option<ExtractRecord>> {
        let c = content.0.as_u128();
        if owner != self.me {
            let key = (owner.0.as_u128(), Resource::Extract.code(), c);
            if let Some(v) = self.replicated.get(key)? {
                return ExtractRecord::decode(v.value()).map(Some);
            }
        }
        self.own
            .get(c)?
            .map(|v| ExtractRecord::decode(v.value()))
            .transpose()
    }
}

/// Keeps what this device's `records` say (bounded; empty ones are not
/// kept), in one transaction; content this device no longer holds is
/// skipped. Returns how many changed.
pub fn store(lib: &Library, records: &[(ContentId, ExtractRecord)]) -> Result<usize> {
    if records.is_empty() {
        return Ok(0);
    }
    let txn = lib.db().begin_write()?;
    let mut changed = 0;
    {
        let mut data = DeviceData::open(&txn)?;
        for (content, record) in records {
            if record.is_empty() {
                continue;
            }
            let bytes = record.clone().bounded().encode();
            if data.put_extract(content.0.as_u128(), &bytes)? {
                changed += 1;
            }
        }
    }
    txn.commit()?;
    Ok(changed)
}
