//! Volumes: the filesystems a device has mounted, read from the mount table.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Result;
use crate::ids::{DeviceId, VolumeId};

/// How the storage underneath a volume behaves physically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhysicalClass {
    Ssd,
    Hdd,
    Network,
    Memory,
    Cloud,
    Unknown,
}

/// A mounted filesystem of a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub id: VolumeId,
    pub device: DeviceId,
    pub mount_point: Vec<u8>,
    pub fs_type: String,
    pub source: String,
    pub capacity: u64,
    pub free: u64,
    pub class: PhysicalClass,
}

impl VolumeRecord {
    pub fn encode(&self) -> Vec<u8> {
        super::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        super::decode("volumes", bytes)
    }
}

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
    /// `major:minor` of the device.
    pub dev: (u32, u32),
}

/// Parses the kernel's mount table (`/proc/self/mountinfo` format).
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let dev = fields.get(2)?.split_once(':')?;
            let mount_point = unescape_octal(fields.get(4)?);
            let mut rest = right.split(' ');
            let fs_type = rest.next()?.to_owned();
            let source = unescape_octal(rest.next().unwrap_or(""));
            Some(MountInfo {
                mount_point: PathBuf::from(
                    <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(mount_point),
                ),
                fs_type,
                source: String::from_utf8_lossy(&source).into_owned(),
                dev: (dev.0.parse().ok()?, dev.1.parse().ok()?),
            })
        })
        .collect()
}

/// The kernel escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            out.push(
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'),
            );
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The mount that holds `path`: the longest mount point that is a prefix of it.
pub fn mount_of(path: &Path) -> Option<MountInfo> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_mountinfo(&text)
        .into_iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len())
}

/// Reads the volume holding `path` for `device`. The volume id is stable for the
/// same device and mount point.
pub fn volume_of(path: &Path, device: DeviceId) -> Option<VolumeRecord> {
    let mount = mount_of(path)?;
    let (capacity, free) = statvfs(&mount.mount_point).unwrap_or((0, 0));
    let mut name = device.to_string().into_bytes();
    name.extend_from_slice(mount.mount_point.as_os_str().as_bytes());
    Some(VolumeRecord {
        id: VolumeId(Uuid::new_v5(&Uuid::NAMESPACE_OID, &name)),
        device,
        mount_point: mount.mount_point.as_os_str().as_bytes().to_vec(),
        class: physical_class(&mount),
        fs_type: mount.fs_type,
        source: mount.source,
        capacity,
        free,
    })
}

/// Total and available bytes of the filesystem holding `path`.
pub fn statvfs(path: &Path) -> std::io::Result<(u64, u64)> {
    let s = crate::sys::statfs(path)?;
    let frsize = u64::from(s.frsize);
    Ok((s.blocks * frsize, s.bavail * frsize))
}

fn physical_class(mount: &MountInfo) -> PhysicalClass {
    let fs = mount.fs_type.as_str();
    if matches!(
        fs,
        "nfs" | "nfs4" | "cifs" | "smb3" | "sshfs" | "9p" | "ceph" | "glusterfs"
    ) || fs.starts_with("fuse.")
    {
        return PhysicalClass::Network;
    }
    if matches!(fs, "tmpfs" | "ramfs") {
        return PhysicalClass::Memory;
    }
    // The kernel tells whether a block device rotates.
    let path = format!(
        "/sys/dev/block/{}:{}/queue/rotational",
        mount.dev.0, mount.dev.1
    );
    let whole_disk = format!(
        "/sys/dev/block/{}:{}/../queue/rotational",
        mount.dev.0, mount.dev.1
    );
    match std::fs::read_to_string(&path).or_else(|_| std::fs::read_to_string(&whole_disk)) {
        Ok(s) if s.trim() == "0" => PhysicalClass::Ssd,
        Ok(s) if s.trim() == "1" => PhysicalClass::Hdd,
        _ => PhysicalClass::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_with_escapes() {
        let text = "36 35 98:0 / /mnt/my\\040disk rw,noatime master:1 - ext4 /dev/vda rw,errors=continue\n\
                    40 35 0:35 / /proc rw shared:2 - proc proc rw\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/mnt/my disk"));
        assert_eq!(mounts[0].fs_type, "ext4");
        assert_eq!(mounts[0].source, "/dev/vda");
        assert_eq!(mounts[0].dev, (98, 0));
        assert_eq!(mounts[1].fs_type, "proc");
    }

    #[test]
    fn finds_the_volume_of_a_real_path() {
        let tmp = tempfile::tempdir().expect("tmp");
        let volume = volume_of(tmp.path(), DeviceId::new_random()).expect("some mount holds /tmp");
        assert!(volume.capacity > 0);
        assert!(!volume.fs_type.is_empty());
    }
}
