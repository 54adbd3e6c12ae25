//! sdfs FUSE adapter (to come, issue 3): translates kernel requests into the
//! core's namespace API. It owns the inode table and generations, the one
//! mapping from `sdfs_core::ErrorKind` to errno, entry/attr TTLs, readdir
//! offsets, kernel cache invalidation and passthrough backing ids — and
//! decides nothing else.
