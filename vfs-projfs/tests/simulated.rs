//! A simulated ProjFS driver: it plays Windows' part, calling the adapter
//! in the sequences ProjFS uses (start, get until no more, end; restart
//! scans; buffers that fill part way) over two real libraries, a laptop
//! and a paired nas whose index reached the laptop by real sync pages.

use std::path::Path;
use std::sync::Arc;

use sdfs_core::content_store::ContentStore;
use sdfs_core::model::device::DeviceRecord;
use sdfs_core::namespace::Namespace;
use sdfs_core::{ErrorKind, Library};
use sdfs_vfs_projfs::enumeration::{EntrySink, Enumerations, resolve};
use sdfs_vfs_projfs::hresult;
use sdfs_vfs_projfs::placeholder::{BasicInfo, FILE_ATTRIBUTE_READONLY};

/// ProjFS's entry buffer: room for `capacity` entries per call.
struct Buffer {
    capacity: usize,
    got: Vec<(String, BasicInfo)>,
}

impl EntrySink for Buffer {
    fn add(&mut self, name: &[u16], info: &BasicInfo) -> bool {
        if self.got.len() == self.capacity {
            return false;
        }
        self.got.push((String::from_utf16_lossy(name), *info));
        true
    }
}

fn w(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn index(lib: &Arc<Library>, dir: &Path, name: &str) {
    let location =
        sdfs_core::locations::add(lib, dir, Some(name), Default::default(), Default::default())
            .expect("location");
    sdfs_core::indexer::index_to_end(lib, location.id, false).expect("index");
}

/// The nas, reached in process: its serving code answers directly.
struct InProcess(Arc<ContentStore>);

impl sdfs_core::remote::PeerLink for InProcess {
    fn manifest(
        &self,
        _: sdfs_core::ids::DeviceId,
        file: &sdfs_core::remote::FileRef,
        _: std::time::Duration,
    ) -> std::io::Result<Vec<u8>> {
        self.0.serve_manifest(file).map_err(std::io::Error::other)
    }

    fn chunks(
        &self,
        _: sdfs_core::ids::DeviceId,
        file: &sdfs_core::remote::FileRef,
        chunks: &[sdfs_cas::ChunkRef],
        _: std::time::Duration,
    ) -> Vec<std::io::Result<bytes::Bytes>> {
        chunks
            .iter()
            .map(|c| {
                self.0
                    .serve_chunk(file, c.offset, c.length)
                    .map(bytes::Bytes::from)
                    .map_err(std::io::Error::other)
            })
            .collect()
    }

    fn list(
        &self,
        _: sdfs_core::ids::DeviceId,
        location: u128,
        path: &[u8],
        _: std::time::Duration,
    ) -> std::io::Result<Vec<sdfs_core::remote::LiveEntry>> {
        self.0
            .serve_listing(location, path)
            .map_err(std::io::Error::other)
    }
}

struct World {
    _tmp: tempfile::TempDir,
    ns: Namespace,
    /// The laptop's location on disk.
    docs: std::path::PathBuf,
}

fn world() -> World {
    let tmp = tempfile::tempdir().expect("tmp");
    let docs = tmp.path().join("docs");
    let share = tmp.path().join("share");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::create_dir_all(&share).expect("mkdir");
    for n in 0..250 {
        std::fs::write(docs.join(format!("file{n:03}.txt")), b"x").expect("write");
    }
    std::fs::write(docs.join("Report.DOCX"), b"doc").expect("write");
    std::fs::create_dir(docs.join("Sub")).expect("mkdir");
    std::fs::write(share.join("movie.mkv"), b"frames").expect("write");
    // Big enough for several chunks and several 1 MiB writes to ProjFS.
    let footage: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(share.join("footage.bin"), &footage).expect("write");
    let laptop = Arc::new(Library::create(&tmp.path().join("laptop"), "laptop").expect("lib"));
    let nas = Arc::new(Library::create(&tmp.path().join("nas"), "nas").expect("lib"));
    index(&laptop, &docs, "Docs");
    index(&nas, &share, "share");
    // The nas takes no changes from other devices there: its tree is
    // read-only in the projection.
    sdfs_core::locations::set_remote_writes(&nas, "share", false).expect("remote writes off");
    laptop
        .add_paired_device(&DeviceRecord::this_device(nas.device_id(), "nas"))
        .expect("pair");
    loop {
        let (after, resync) =
            sdfs_core::sync::replica::pull_state(laptop.db(), nas.device_id()).expect("watermarks");
        let pull = sdfs_core::sync::Pull {
            after,
            limit: 1000,
            resync,
        };
        let page = sdfs_core::sync::owner::page(nas.db(), &pull).expect("page");
        sdfs_core::sync::replica::apply(laptop.db(), nas.device_id(), &page).expect("apply");
        if !page.more {
            break;
        }
    }
    let ns = Namespace::new(Arc::new(ContentStore::open(laptop).expect("store"))).expect("ns");
    // The nas answers in process, through its own serving code.
    let nas = Arc::new(ContentStore::open(nas).expect("nas store"));
    ns.set_remote_access(sdfs_core::namespace::RemoteAccess {
        link: Arc::new(InProcess(nas)),
        timeout: std::time::Duration::from_secs(3),
    });
    World {
        ns,
        docs: std::fs::canonicalize(&docs).expect("canonical"),
        _tmp: tmp,
    }
}

/// Enumerates `dir` the way ProjFS does, `capacity` entries per call.
fn enumerate(w: &World, dir: &str, search: &str, capacity: usize) -> Vec<(String, BasicInfo)> {
    let enums = Enumerations::default();
    let node = resolve(&w.ns, &self::w(dir)).expect("dir");
    let id = 0x1234_u128;
    enums.start(&w.ns, &node, id).expect("start");
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let mut buffer = Buffer {
            capacity,
            got: Vec::new(),
        };
        let rc = enums.get(id, Some(&self::w(search)), false, &mut buffer);
        assert_eq!(rc, hresult::S_OK);
        calls += 1;
        if buffer.got.is_empty() {
            break;
        }
        all.extend(buffer.got);
        assert!(calls < 10_000, "the enumeration never ends");
    }
    enums.end(id);
    assert_eq!(enums.open(), 0);
    all
}

#[test]
fn a_large_directory_in_small_buffers_comes_whole_and_in_order() {
    let w = world();
    let all = enumerate(&w, "laptop\\Docs", "", 7);
    assert_eq!(all.len(), 252);
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "file000.txt");
    // Case-insensitive order: "Report.DOCX" after the "file..." names,
    // "Sub" last.
    assert_eq!(&names[250..], ["Report.DOCX", "Sub"]);
    assert!(all[251].1.is_directory);
    assert_eq!(all[0].1.file_size, 1);
    assert_eq!(all[0].1.file_attributes & FILE_ATTRIBUTE_READONLY, 0);
}

#[test]
fn a_wildcard_filters_case_insensitively() {
    let w = world();
    let docx = enumerate(&w, "laptop\\Docs", "*.docx", 3);
    assert_eq!(
        docx.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["Report.DOCX"]
    );
    let some = enumerate(&w, "laptop\\Docs", "file00?.TXT", 4);
    assert_eq!(some.len(), 10);
}

#[test]
fn a_restart_scan_starts_over_with_a_new_expression() {
    let w = world();
    let enums = Enumerations::default();
    let node = resolve(&w.ns, &self::w("laptop\\Docs")).expect("dir");
    enums.start(&w.ns, &node, 9).expect("start");
    let mut first = Buffer {
        capacity: 5,
        got: Vec::new(),
    };
    enums.get(9, Some(&self::w("*.txt")), false, &mut first);
    assert_eq!(first.got.len(), 5);
    // ProjFS ignores the expression on later calls of a scan...
    let mut second = Buffer {
        capacity: 5,
        got: Vec::new(),
    };
    enums.get(9, Some(&self::w("Sub")), false, &mut second);
    assert_eq!(second.got[0].0, "file005.txt");
    // ...and takes a new one on a restart.
    let mut restarted = Buffer {
        capacity: 5,
        got: Vec::new(),
    };
    enums.get(9, Some(&self::w("Sub")), true, &mut restarted);
    assert_eq!(restarted.got.len(), 1);
    assert_eq!(restarted.got[0].0, "Sub");
    enums.end(9);
}

#[test]
fn a_buffer_too_small_for_one_entry_says_so() {
    let w = world();
    let enums = Enumerations::default();
    let node = resolve(&w.ns, &self::w("laptop\\Docs")).expect("dir");
    enums.start(&w.ns, &node, 1).expect("start");
    let mut none = Buffer {
        capacity: 0,
        got: Vec::new(),
    };
    assert_eq!(
        enums.get(1, None, false, &mut none),
        hresult::of_kind(ErrorKind::BufferTooSmall)
    );
    enums.end(1);
}

#[test]
fn another_device_s_tree_enumerates_read_only() {
    let w = world();
    let devices = enumerate(&w, "", "", 10);
    assert_eq!(
        devices.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["laptop", "nas"]
    );
    let share = enumerate(&w, "nas\\share", "", 10);
    assert_eq!(
        share.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["footage.bin", "movie.mkv"]
    );
    assert_eq!(share[1].1.file_size, 6);
    assert_ne!(share[1].1.file_attributes & FILE_ATTRIBUTE_READONLY, 0);
}

#[test]
fn a_name_that_is_not_valid_utf16_is_refused_before_any_lookup() {
    let w = world();
    let mut path = self::w("laptop\\Docs\\");
    path.push(0xD800);
    let err = resolve(&w.ns, &path).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(hresult::of(&err), hresult::of_kind(ErrorKind::InvalidInput));
}

#[test]
fn a_file_is_hydrated_by_ranges_and_placeholders_say_what_it_is() {
    let w = world();
    let adapter = sdfs_vfs_projfs::adapter::Adapter::new(Arc::new(w.ns));
    let info = adapter
        .placeholder_info(&self::w("laptop\\Docs\\Report.DOCX"))
        .expect("info");
    assert!(!info.is_directory);
    assert_eq!(info.file_size, 3);
    let dir = adapter
        .placeholder_info(&self::w("laptop\\Docs\\Sub"))
        .expect("dir");
    assert!(dir.is_directory);
    // ProjFS asks for ranges; each arrives at its own offset.
    let mut got = vec![0u8; 3];
    for (offset, length) in [(2u64, 1u32), (0, 2)] {
        let rc = adapter.file_data(
            &self::w("laptop\\Docs\\Report.DOCX"),
            offset,
            length,
            &mut |at, bytes| {
                got[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
                hresult::S_OK
            },
        );
        assert_eq!(rc, hresult::S_OK);
    }
    assert_eq!(got, b"doc");
    // A range past the end is an error, not zeroes.
    let rc = adapter.file_data(&self::w("laptop\\Docs\\Report.DOCX"), 3, 10, &mut |_, _| {
        hresult::S_OK
    });
    assert_eq!(rc, hresult::of_kind(ErrorKind::NoSuchOffset));
    let missing = adapter
        .placeholder_info(&self::w("laptop\\Docs\\nope"))
        .expect_err("missing");
    assert_eq!(hresult::of(&missing) as u32, 0x8007_0002);
}

/// The projection's files: a directory standing for the virtualization
/// root, as Windows would have written them.
struct Projected(std::path::PathBuf);

impl sdfs_vfs_projfs::notify::Projection for Projected {
    fn open(&self, path: &[u16]) -> std::io::Result<std::fs::File> {
        let rel = String::from_utf16_lossy(path).replace('\\', "/");
        std::fs::File::open(self.0.join(rel))
    }
}

#[test]
fn changes_in_the_projection_reach_the_location_and_other_devices_refuse_them() {
    use sdfs_vfs_projfs::notify::Change;
    let w = world();
    let docs = w.docs.clone();
    let adapter = sdfs_vfs_projfs::adapter::Adapter::new(Arc::new(w.ns));
    let projection = tempfile::tempdir().expect("tmp");
    let projected = Projected(projection.path().to_owned());
    // A delete and a rename on another device's tree fail before they happen.
    let read_only = hresult::of_kind(ErrorKind::ReadOnly);
    // So does its first write (a placeholder converted to a full file),
    // where this device's files take it.
    assert_eq!(
        adapter.notify(
            &self::w("nas\\share\\movie.mkv"),
            Change::PreConvertToFull,
            &projected
        ),
        read_only
    );
    assert_eq!(
        adapter.notify(
            &self::w("laptop\\Docs\\Report.DOCX"),
            Change::PreConvertToFull,
            &projected
        ),
        hresult::S_OK
    );
    assert_eq!(
        adapter.notify(
            &self::w("nas\\share\\movie.mkv"),
            Change::PreDelete {
                is_directory: false
            },
            &projected
        ),
        read_only
    );
    assert_eq!(
        adapter.notify(
            &self::w("nas\\share\\movie.mkv"),
            Change::PreRename {
                to: &self::w("nas\\share\\film.mkv")
            },
            &projected
        ),
        read_only
    );
    assert_eq!(enumerate_with(&adapter, "nas\\share").len(), 2);
    // A rename in this device's tree moves the file in its location.
    assert_eq!(
        adapter.notify(
            &self::w("laptop\\Docs\\Report.DOCX"),
            Change::PreRename {
                to: &self::w("laptop\\Docs\\Sub\\Report.docx")
            },
            &projected
        ),
        hresult::S_OK
    );
    assert_eq!(
        std::fs::read(docs.join("Sub/Report.docx")).expect("moved"),
        b"doc"
    );
    assert!(!docs.join("Report.DOCX").exists());
    // A file made and written in the projection lands in the location.
    std::fs::create_dir_all(projection.path().join("laptop/Docs")).expect("mkdir");
    std::fs::write(
        projection.path().join("laptop/Docs/new.txt"),
        b"written on Windows",
    )
    .expect("write");
    let new = self::w("laptop\\Docs\\new.txt");
    for change in [
        Change::NewFile {
            is_directory: false,
        },
        Change::ClosedModified,
    ] {
        assert_eq!(adapter.notify(&new, change, &projected), hresult::S_OK);
    }
    assert_eq!(
        std::fs::read(docs.join("new.txt")).expect("landed"),
        b"written on Windows"
    );
    // A hard link, then a delete, in this device's tree.
    assert_eq!(
        adapter.notify(
            &new,
            Change::PreHardlink {
                to: &self::w("laptop\\Docs\\alias.txt")
            },
            &projected
        ),
        hresult::S_OK
    );
    assert_eq!(
        std::fs::read(docs.join("alias.txt")).expect("link"),
        b"written on Windows"
    );
    assert_eq!(
        adapter.notify(
            &new,
            Change::PreDelete {
                is_directory: false
            },
            &projected
        ),
        hresult::S_OK
    );
    assert!(!docs.join("new.txt").exists());
    // A new directory in another device's tree cannot be refused before
    // it is made; the notification says it did not reach the device.
    assert_eq!(
        adapter.notify(
            &self::w("nas\\share\\made-here"),
            Change::NewFile { is_directory: true },
            &projected
        ),
        read_only
    );
}

/// Every entry of `dir` through the adapter's enumeration callbacks.
fn enumerate_with(adapter: &sdfs_vfs_projfs::adapter::Adapter, dir: &str) -> Vec<String> {
    let id = 77;
    assert_eq!(adapter.start_enumeration(&w(dir), id), hresult::S_OK);
    let mut buffer = Buffer {
        capacity: 1000,
        got: Vec::new(),
    };
    assert_eq!(
        adapter.get_enumeration(id, None, false, &mut buffer),
        hresult::S_OK
    );
    adapter.end_enumeration(id);
    buffer.got.into_iter().map(|(n, _)| n).collect()
}

#[test]
fn another_device_s_file_is_hydrated_from_verified_chunks() {
    let w = world();
    let adapter = sdfs_vfs_projfs::adapter::Adapter::new(Arc::new(w.ns));
    let path = self::w("nas\\share\\footage.bin");
    let info = adapter.placeholder_info(&path).expect("info");
    assert_eq!(info.file_size, 3_000_000);
    let expected: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    // ProjFS asks for the whole file, then a range again.
    let mut got = vec![0u8; expected.len()];
    let mut writes = 0;
    for (offset, length) in [(0u64, 3_000_000u32), (1_234_567, 10_000)] {
        let rc = adapter.file_data(&path, offset, length, &mut |at, bytes| {
            assert!(bytes.len() <= sdfs_vfs_projfs::adapter::WRITE_BLOCK);
            got[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
            writes += 1;
            hresult::S_OK
        });
        assert_eq!(rc, hresult::S_OK);
    }
    assert!(got == expected, "the hydrated bytes differ");
    assert!(writes >= 4, "{writes} writes");
}

#[test]
fn a_name_in_another_case_finds_the_file_and_its_placeholder_keeps_the_stored_case() {
    let w = world();
    let adapter = sdfs_vfs_projfs::adapter::Adapter::new(Arc::new(w.ns));
    // Windows names are case-insensitive: Explorer may ask for any case.
    let found = adapter
        .placeholder(&self::w("LAPTOP\\docs\\report.docx"))
        .expect("found in another case");
    assert_eq!(
        String::from_utf16_lossy(&found.path),
        "laptop\\Docs\\Report.DOCX"
    );
    assert_eq!(found.info.file_size, 3);
    let mut got = Vec::new();
    let rc = adapter.file_data(
        &self::w("laptop\\DOCS\\REPORT.docx"),
        0,
        3,
        &mut |_, bytes| {
            got.extend_from_slice(bytes);
            hresult::S_OK
        },
    );
    assert_eq!(rc, hresult::S_OK);
    assert_eq!(got, b"doc");
    let missing = adapter
        .placeholder(&self::w("laptop\\Docs\\Report.DOC"))
        .err()
        .map(|e| e.kind());
    assert_eq!(missing, Some(ErrorKind::NotFound));
}
