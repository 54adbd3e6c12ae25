//! Putting back a file the integrity job found corrupt, from a good copy:
//! another file of this device with the same full hash, the chunk store,
//! or a paired device that holds it, read and verified as every read is.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::node::Kind;
use super::{Namespace, Node, OpenFile};
use crate::content_store::{IntegrityIssue, IssueKind};
use crate::error::{Error, ErrorKind, Result};

impl Namespace {
    /// Rewrites the file `issue` found corrupt with the bytes it should
    /// have. They are written beside it, checked against the full BLAKE3
    /// the content had, flushed, and renamed over it: a repair that fails
    /// half way leaves the file as it was. Its mode and modification time
    /// are kept. A collision is not repaired: those bytes are another
    /// file's, not damaged ones.
    pub fn repair(&self, issue: &IntegrityIssue) -> Result<()> {
        if issue.kind != IssueKind::Corruption {
            return Err(Error::InvalidInput(format!(
                "{}: only corruption is repaired (a collision is another file, not damage)",
                issue.path
            )));
        }
        let (_, path) = self
            .content
            .instances(issue.content_id)?
            .into_iter()
            .find(|(entry, _)| *entry == issue.entry)
            .ok_or_else(|| Error::NotFound(format!("{}: no longer indexed", issue.path)))?;
        let opened = self.open_content_anywhere(issue.content_id)?;
        let source = OpenFile::read_only(Node(Kind::Content(issue.content_id)).key(), opened);
        let before = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        let dir = path.parent().unwrap_or(Path::new("/"));
        let staging = dir.join(format!(".sd-repair-{}", issue.entry));
        let written = write_verified(&source, &staging, &issue.expected);
        let result = written.and_then(|file| {
            file.set_permissions(before.permissions())
                .and_then(|()| before.modified().and_then(|m| file.set_modified(m)))
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(&staging, e))?;
            std::fs::rename(&staging, &path).map_err(|e| Error::io(&path, e))?;
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(dir, e))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&staging);
        }
        result?;
        self.content.clear_issue(issue.entry)?;
        tracing::warn!(
            "integrity: repaired {} from a good copy (BLAKE3 {})",
            path.display(),
            issue.expected
        );
        Ok(())
    }
}

/// Copies `source` to a new file at `to`, hashing as it goes; fails
/// unless the whole is `expected` (hex BLAKE3).
fn write_verified(source: &OpenFile, to: &Path, expected: &str) -> Result<File> {
    let _ = std::fs::remove_file(to);
    let mut file = File::create_new(to).map_err(|e| Error::io(to, e))?;
    let got = source.read_each(|_, block| file.write_all(block).map_err(|e| Error::io(to, e)))?;
    let got = blake3::Hash::from_bytes(got).to_hex();
    if got.as_str() != expected {
        return Err(Error::fs(
            ErrorKind::Corrupt,
            format!("the copy read hashes to {got}, not {expected}"),
        ));
    }
    Ok(file)
}
