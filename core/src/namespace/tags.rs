//! `user.sd.tags` on any file of the mount, this device's or another's:
//! a comma-separated list, read from and written to the shared tag set.

use super::{Namespace, Node};
use crate::error::Result;
use crate::shared::{Target, tags, target};
use crate::uri::SdUri;

impl Namespace {
    /// The entry `node` is, if it is an indexed file or directory.
    fn target_of(&self, node: &Node) -> Result<Option<Target>> {
        match node {
            Node::Remote { device, entry } => Ok(Some(Target {
                device: *device,
                entry: *entry,
            })),
            Node::Local { location, path } => {
                let Some(location) = self.location(*location) else {
                    return Ok(None);
                };
                let rel = path
                    .strip_prefix(location.root_path())
                    .map(|p| std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec())
                    .unwrap_or_default();
                let uri = SdUri::device(self.lib.device_name(), location.name.as_bytes(), &rel);
                Ok(target::resolve(&self.lib, &uri).ok())
            }
            _ => Ok(None),
        }
    }

    /// `node`'s tags; `None` when it cannot carry any.
    pub fn tags(&self, node: &Node) -> Result<Option<Vec<String>>> {
        match self.target_of(node)? {
            Some(t) => Ok(Some(tags::tags_of(self.lib.db(), t)?)),
            None => Ok(None),
        }
    }

    /// Makes `node`'s tags exactly `wanted`. Works on other devices' files
    /// too: tags are shared data.
    pub fn set_tags(&self, node: &Node, wanted: &[String]) -> Result<()> {
        let t = self.target_of(node)?.ok_or_else(|| {
            crate::Error::InvalidInput("only indexed files and directories carry tags".into())
        })?;
        tags::set(self.lib.db(), self.lib.device_id(), t, wanted)?;
        Ok(())
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
