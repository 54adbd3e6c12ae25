//! What each ProjFS callback does, platform-neutral: the binding turns
//! Windows' arguments into these calls and their results into its writes,
//! and the simulated driver in the tests calls them directly.

use std::sync::Arc;

use sdfs_core::Result;
use sdfs_core::namespace::{Namespace, OpenFlags};

use crate::enumeration::{self, EntrySink, Enumerations};
use crate::hresult::{self, HResult};
use crate::placeholder::BasicInfo;

/// Bytes handed to ProjFS per write while hydrating a file.
pub const WRITE_BLOCK: usize = 1 << 20;

/// A placeholder to write: what it says, and where.
pub struct Placeholder {
    pub info: BasicInfo,
    /// Its path below the root, backslash-separated, in the stored case.
    pub path: Vec<u16>,
}

/// One virtualization instance over the namespace.
pub struct Adapter {
    ns: Arc<Namespace>,
    enumerations: Enumerations,
}

impl Adapter {
    pub fn new(ns: Arc<Namespace>) -> Adapter {
        Adapter {
            ns,
            enumerations: Enumerations::default(),
        }
    }

    pub fn namespace(&self) -> &Arc<Namespace> {
        &self.ns
    }

    /// `StartDirectoryEnumerationCallback` for directory `path`.
    pub fn start_enumeration(&self, path: &[u16], id: u128) -> HResult {
        let started = enumeration::resolve(&self.ns, path)
            .and_then(|dir| self.enumerations.start(&self.ns, &dir, id));
        result(started)
    }

    /// `GetDirectoryEnumerationCallback`.
    pub fn get_enumeration(
        &self,
        id: u128,
        search: Option<&[u16]>,
        restart: bool,
        sink: &mut dyn EntrySink,
    ) -> HResult {
        self.enumerations.get(id, search, restart, sink)
    }

    /// `EndDirectoryEnumerationCallback`.
    pub fn end_enumeration(&self, id: u128) -> HResult {
        self.enumerations.end(id);
        hresult::S_OK
    }

    /// What a placeholder for `path` says.
    pub fn placeholder_info(&self, path: &[u16]) -> Result<BasicInfo> {
        Ok(self.placeholder(path)?.info)
    }

    /// `GetPlaceholderInfoCallback`: what a placeholder for `path` says,
    /// and the path to write it under, in the case the core stores (Windows
    /// may ask in any case; the placeholder keeps the stored one).
    pub fn placeholder(&self, path: &[u16]) -> Result<Placeholder> {
        let (node, stored) = enumeration::walk_named(&self.ns, crate::names::components(path)?)?;
        let attr = self.ns.getattr(&node)?;
        let mut path = Vec::with_capacity(path.len());
        for (i, name) in stored.iter().enumerate() {
            if i > 0 {
                path.push(u16::from(b'\\'));
            }
            path.extend(crate::names::to_wide(name));
        }
        Ok(Placeholder {
            info: BasicInfo::of(&attr, !self.ns.takes_changes(&node)),
            path,
        })
    }

    /// `GetFileDataCallback`: the bytes of `path` in `[offset, offset +
    /// length)`, handed to `write` in blocks of at most [`WRITE_BLOCK`]
    /// (each at its own offset). Every byte of another device's file was
    /// checked against its manifest by the core before it gets here.
    pub fn file_data(
        &self,
        path: &[u16],
        offset: u64,
        length: u32,
        write: &mut dyn FnMut(u64, &[u8]) -> HResult,
    ) -> HResult {
        let opened = enumeration::resolve(&self.ns, path)
            .and_then(|node| self.ns.open(&node, OpenFlags::read_only()));
        let file = match opened {
            Ok(f) => f,
            Err(e) => return hresult::of(&e),
        };
        let end = offset.saturating_add(u64::from(length));
        let mut buf = vec![0u8; WRITE_BLOCK.min(length as usize)];
        let mut at = offset;
        while at < end {
            let want = ((end - at) as usize).min(buf.len());
            let n = match file.read_at(at, &mut buf[..want]) {
                Ok(0) => return hresult::of_kind(sdfs_core::ErrorKind::NoSuchOffset),
                Ok(n) => n,
                Err(e) => return hresult::of(&e),
            };
            let rc = write(at, &buf[..n]);
            if rc != hresult::S_OK {
                return rc;
            }
            at += n as u64;
        }
        hresult::S_OK
    }
}

fn result(r: Result<()>) -> HResult {
    match r {
        Ok(()) => hresult::S_OK,
        Err(e) => hresult::of(&e),
    }
}
