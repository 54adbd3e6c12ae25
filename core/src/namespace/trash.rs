//! The desktop Trash in the mount. `<mount>/.Trash-<uid>` — the
//! freedesktop.org trash specification's directory for a mount's top,
//! which `gio trash` and file managers use for any file under the mount —
//! is a real directory of the library, `<library>/trash/<uid>/` with
//! `files/` and `info/`, held like a location of this device. So Delete
//! and Restore are the rename(2) and the small file writes those programs
//! already do: this device's files move into the library and back on one
//! filesystem, keeping their inode, bytes and times. The trash itself
//! (claiming names, restoring, the retention) is `crate::trash`.

use super::node::Kind;
use super::{Attr, Caller, Namespace, Node, OpenFlags, RenameFlags, Renamed, SetAttr, SetTime};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::{EntryId, LocationId};
use crate::model::entry::EntryKind;
use crate::model::location::{IndexMode, LocationRecord};

/// How a mount's top-level trash directory is named, before the uid.
pub const TRASH_PREFIX: &str = ".Trash-";

/// The uid a top-level name `.Trash-<uid>` is the trash of.
pub(super) fn trash_uid(name: &[u8]) -> Option<u32> {
    let digits = name.strip_prefix(TRASH_PREFIX.as_bytes())?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits.len() > 10 {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Namespace {
    /// `uid`'s trash as a node: created (mode 0700, owned by `uid`, with
    /// `files/` and `info/`) on first use, then held as a location.
    pub(super) fn trash_dir(&self, uid: u32) -> Result<(Node, Attr)> {
        let dir = crate::trash::user_trash(self.lib.dir(), uid)?;
        let id = trash_location(self.lib.device_id().0.as_bytes(), uid);
        let known = self
            .trash
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|l| l.id == id);
        if !known {
            let record = LocationRecord {
                id,
                name: format!("{TRASH_PREFIX}{uid}"),
                path: crate::fsutil::path_bytes(&dir).to_vec(),
                root: EntryId(0),
                mode: IndexMode::Shallow,
                rules: Default::default(),
                volume: None,
                created_at: 0,
                last_indexed: None,
                remote_writes: false,
            };
            self.trash
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .push(record);
        }
        let md = std::fs::symlink_metadata(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok((Node::local(id, dir, &md), Attr::from_metadata(&md)))
    }
}

impl Namespace {
    /// Whether `node` is in one of this device's trash directories.
    pub(super) fn in_trash(&self, node: &Node) -> bool {
        let Kind::Local { location, .. } = &node.0 else {
            return false;
        };
        self.trash
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|l| l.id == *location)
    }

    /// A file manager's Delete of another device's file: a rename into
    /// `.Trash-<uid>/files/`. The bytes are read (verified, as every read
    /// of that device's files) into this device's trash and flushed to
    /// disk; only then is the file removed from its device, as the mount
    /// removes it (its owner keeps its copy in its own trash too). So the
    /// Trash lists it and Restore copies it back. A folder is refused as
    /// another filesystem: a rename must not carry a whole tree across
    /// the network.
    pub(super) fn trash_from_other_device(
        &self,
        parent: &Node,
        name: &[u8],
        trash_dir: &Node,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> Result<Renamed> {
        let (node, attr) = self.lookup(parent, name)?;
        if attr.kind != EntryKind::File || flags.exchange || flags.whiteout {
            return Err(Error::fs(ErrorKind::CrossDevice, "another device"));
        }
        let reader = self.open(&node, OpenFlags::read_only())?;
        let exclusive = OpenFlags {
            read: true,
            write: true,
            exclusive: true,
            ..OpenFlags::default()
        };
        let mode = attr.mode & 0o7777;
        let created = match self.create(trash_dir, new_name, mode, exclusive, Caller::daemon()) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists && !flags.noreplace => {
                self.unlink(trash_dir, new_name)?;
                self.create(trash_dir, new_name, mode, exclusive, Caller::daemon())
            }
            other => other,
        };
        let (copy, _, writer) = created?;
        let copied = reader
            .read_each(|offset, block| writer.write_at(offset, block).map(drop))
            .and_then(|_| writer.fsync(false))
            .and_then(|()| {
                let mtime = SetAttr {
                    mtime: SetTime::At(attr.mtime),
                    ..SetAttr::default()
                };
                self.setattr(&copy, &mtime, Some(&writer), Caller::daemon())
            });
        drop(writer);
        if let Err(e) = copied {
            // A device gone mid-read leaves nothing half-trashed.
            let _ = self.unlink(trash_dir, new_name);
            return Err(e);
        }
        let from = self.dir_target(parent)?.child(name);
        self.unlink(parent, name)?;
        Ok(Renamed::outgoing(
            from.device,
            from.location,
            from.path,
            super::outgoing::owner_entry(&node),
            copy,
        ))
    }
}

/// The location id standing for `uid`'s trash on this device.
fn trash_location(device: &[u8], uid: u32) -> LocationId {
    let mut name = device.to_vec();
    name.extend_from_slice(format!("/trash/{uid}").as_bytes());
    LocationId(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trash_names_parse_strictly() {
        assert_eq!(trash_uid(b".Trash-1000"), Some(1000));
        assert_eq!(trash_uid(b".Trash-0"), Some(0));
        for bad in [
            &b".Trash-"[..],
            b".Trash-+1",
            b".Trash-1a",
            b".Trash",
            b"Trash-1",
            b".Trash-99999999999",
        ] {
            assert_eq!(trash_uid(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
