//! `user.sd.tags` on any file of the mount, this device's or another's:
//! a comma-separated list, read from and written to the shared tag set.

use super::node::Kind;
use super::{Namespace, Node};
use crate::error::{Error, ErrorKind, Result};
use crate::shared::{Target, tags, target};

impl Namespace {
    /// The entry `node` is, if it is an indexed file or directory.
    fn target_of(&self, node: &Node) -> Result<Option<Target>> {
        match &node.0 {
            Kind::Remote { device, entry } => Ok(Some(Target {
                device: *device,
                entry: *entry,
            })),
            Kind::Local { location, path, .. } => {
                let Some(location) = self.location(*location) else {
                    return Ok(None);
                };
                let uri = self.local_uri(&location, path);
                Ok(target::resolve(&self.lib, &uri).ok())
            }
            _ => Ok(None),
        }
    }

    /// `node`'s tags; `None` when it cannot carry any (yet).
    pub fn tags(&self, node: &Node) -> Result<Option<Vec<String>>> {
        match self.target_of(node)? {
            Some(t) => Ok(Some(tags::tags_of(self.lib.db(), t)?)),
            None => Ok(None),
        }
    }

    /// Makes `node`'s tags exactly `wanted`. Works on other devices' files
    /// too: tags are shared data. A file of this device that the index has
    /// not caught up with yet (just created, say, by a copy tool setting
    /// the tags it copies) is indexed first.
    pub fn set_tags(&self, node: &Node, wanted: &[String]) -> Result<()> {
        let target = match self.target_of(node)? {
            Some(t) => Some(t),
            None => self.index_now(node)?,
        };
        let t = target.ok_or_else(|| {
            Error::fs(
                ErrorKind::InvalidInput,
                "only files and directories of a device carry tags",
            )
        })?;
        tags::set(self.lib.db(), self.lib.device_id(), t, wanted)?;
        Ok(())
    }

    /// Brings the index up to date for local `node` and resolves it again.
    fn index_now(&self, node: &Node) -> Result<Option<Target>> {
        let Kind::Local { location, path, .. } = &node.0 else {
            return Ok(None);
        };
        let Some(record) = self.location(*location) else {
            return Ok(None);
        };
        crate::indexer::live::refresh(&self.lib, &record, std::slice::from_ref(path))?;
        self.target_of(node)
    }
}

/// `a, b,c` → `["a", "b", "c"]` (empty items dropped).
pub fn parse_tags(value: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(value)
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}
