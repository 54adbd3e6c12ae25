//! What Windows did in the virtualization root, applied to the core. Files
//! written there are real NTFS files; ProjFS tells the provider, and the
//! provider carries the change to the location the projection stands for.
//! Pre-notifications can refuse: a delete, rename, hard link or first
//! write (conversion to a full file) in a tree the namespace keeps
//! read-only (another device's files) fails before it happens. Post-notifications cannot (ProjFS has no pre-create), so a file
//! created in such a tree stays in the projection only, and the error says
//! so.

use std::io::Read;

use sdfs_core::namespace::{Caller, Namespace, Node, OpenFlags, RenameFlags, SetAttr};
use sdfs_core::{Error, ErrorKind, Result};

use crate::adapter::{Adapter, WRITE_BLOCK};
use crate::enumeration::{resolve, walk};
use crate::hresult::{self, HResult};
use crate::names;

/// A change ProjFS reports for the file at a path.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// Created in the projection (after the fact).
    NewFile { is_directory: bool },
    /// Opened for overwrite or supersede: its bytes are about to go.
    Overwritten,
    /// Before a delete; refusing fails it.
    PreDelete { is_directory: bool },
    /// Before a rename to `to` (empty when moved out of the root).
    PreRename { to: &'a [u16] },
    /// Before a new hard link `to`.
    PreHardlink { to: &'a [u16] },
    /// Before a placeholder becomes a full file (its first write); refusing
    /// keeps a read-only tree's file unedited.
    PreConvertToFull,
    /// Its last handle closed after a write: the projection holds its bytes.
    ClosedModified,
}

/// The files Windows wrote in the virtualization root.
pub trait Projection {
    fn open(&self, path: &[u16]) -> std::io::Result<std::fs::File>;
}

/// `path`'s parent directory node and final name.
fn parent_and_name(ns: &Namespace, path: &[u16]) -> Result<(Node, Vec<u8>)> {
    let mut parts = names::components(path)?;
    let name = parts
        .pop()
        .ok_or_else(|| Error::fs(ErrorKind::InvalidInput, "the root itself"))?;
    Ok((walk(ns, parts)?, name))
}

impl Adapter {
    /// Applies `change` of the file at `path` to the core.
    pub fn notify(&self, path: &[u16], change: Change<'_>, projection: &dyn Projection) -> HResult {
        match self.apply(path, change, projection) {
            Ok(()) => hresult::S_OK,
            Err(e) => {
                tracing::warn!(
                    "{}: {change:?} not applied: {e}",
                    String::from_utf16_lossy(path)
                );
                hresult::of(&e)
            }
        }
    }

    fn apply(&self, path: &[u16], change: Change<'_>, projection: &dyn Projection) -> Result<()> {
        let ns = self.namespace();
        let me = Caller::daemon();
        match change {
            Change::NewFile { is_directory } => {
                let (parent, name) = parent_and_name(ns, path)?;
                if is_directory {
                    ns.mkdir(&parent, &name, 0o755, me).map(drop)
                } else {
                    ns.create(&parent, &name, 0o644, OpenFlags::read_write(), me)
                        .map(drop)
                }
            }
            Change::PreDelete { is_directory } => {
                let (parent, name) = parent_and_name(ns, path)?;
                if is_directory {
                    ns.rmdir(&parent, &name).map(drop)
                } else {
                    ns.unlink(&parent, &name).map(drop)
                }
            }
            Change::PreRename { to: [] } => {
                // Moved out of the projection: gone from it.
                let node = resolve(ns, path)?;
                let is_directory =
                    ns.getattr(&node)?.kind == sdfs_core::model::entry::EntryKind::Directory;
                self.apply(path, Change::PreDelete { is_directory }, projection)
            }
            Change::PreRename { to } => {
                let (from_parent, from_name) = parent_and_name(ns, path)?;
                let (to_parent, to_name) = parent_and_name(ns, to)?;
                ns.rename(
                    &from_parent,
                    &from_name,
                    &to_parent,
                    &to_name,
                    RenameFlags::default(),
                )
                .map(drop)
            }
            Change::PreHardlink { to } => {
                let node = resolve(ns, path)?;
                let (to_parent, to_name) = parent_and_name(ns, to)?;
                ns.link(&node, &to_parent, &to_name, me).map(drop)
            }
            Change::PreConvertToFull => {
                let node = resolve(ns, path)?;
                if ns.takes_changes(&node) {
                    Ok(())
                } else {
                    Err(Error::fs(
                        ErrorKind::ReadOnly,
                        "another device's file, which takes no changes from here",
                    ))
                }
            }
            Change::Overwritten => {
                let node = resolve(ns, path)?;
                let truncate = SetAttr {
                    size: Some(0),
                    ..SetAttr::default()
                };
                ns.setattr(&node, &truncate, None, me).map(drop)
            }
            Change::ClosedModified => {
                let node = resolve(ns, path)?;
                let file = ns.open(
                    &node,
                    OpenFlags {
                        truncate: true,
                        ..OpenFlags::read_write()
                    },
                )?;
                let mut source = projection
                    .open(path)
                    .map_err(|e| Error::io(String::from_utf16_lossy(path), e))?;
                let mut buf = vec![0u8; WRITE_BLOCK];
                let mut at = 0u64;
                loop {
                    let n = source
                        .read(&mut buf)
                        .map_err(|e| Error::io(String::from_utf16_lossy(path), e))?;
                    if n == 0 {
                        break;
                    }
                    file.write_at(at, &buf[..n])?;
                    at += n as u64;
                }
                file.fsync(false)
            }
        }
    }
}
