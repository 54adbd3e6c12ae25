//! Where paired devices were last reached, kept in the library so a
//! restarted daemon finds its peers without mDNS (over the internet, or on
//! loopback in tests).

use std::collections::HashMap;

use libp2p::{Multiaddr, PeerId};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use sdfs_core::Library;

/// Peer id → postcard `Vec<String>` of multiaddrs, newest first.
const DEVICE_ADDRS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("p2p_device_addrs");

/// At most this many addresses per device.
const KEEP: usize = 8;

pub(crate) fn load(lib: &Library) -> HashMap<PeerId, Vec<Multiaddr>> {
    let mut out = HashMap::new();
    let Ok(txn) = lib.db().begin_read() else {
        return out;
    };
    let Ok(table) = txn.open_table(DEVICE_ADDRS) else {
        return out;
    };
    let Ok(rows) = table.iter() else { return out };
    for row in rows.flatten() {
        let (peer, addrs) = row;
        let Ok(peer) = peer.value().parse::<PeerId>() else {
            continue;
        };
        let addrs: Vec<String> = postcard::from_bytes(addrs.value()).unwrap_or_default();
        out.insert(peer, addrs.iter().filter_map(|a| a.parse().ok()).collect());
    }
    out
}

/// Puts `addr` first in `peer`'s list; returns whether anything changed.
pub(crate) fn remember(
    lib: &Library,
    known: &mut HashMap<PeerId, Vec<Multiaddr>>,
    peer: PeerId,
    addr: Multiaddr,
) -> bool {
    let list = known.entry(peer).or_default();
    if list.first() == Some(&addr) {
        return false;
    }
    list.retain(|a| *a != addr);
    list.insert(0, addr);
    list.truncate(KEEP);
    let strings: Vec<String> = list.iter().map(|a| a.to_string()).collect();
    let Ok(bytes) = postcard::to_stdvec(&strings) else {
        return true;
    };
    let result = (|| -> Result<(), redb::Error> {
        let txn = lib.db().begin_write()?;
        txn.open_table(DEVICE_ADDRS)?
            .insert(peer.to_string().as_str(), bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!("p2p: remembering an address of {peer}: {e}");
    }
    true
}
