//! The Guardian over a real laptop library with a paired nas's replica.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::Library;
use crate::model::device::DeviceRecord;

struct Pair {
    _tmp: tempfile::TempDir,
    laptop: Arc<Library>,
    nas: Arc<Library>,
    docs: PathBuf,
    share: PathBuf,
}

fn write(dir: &Path, files: &[(&str, &[u8])]) {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
    }
}

fn index(lib: &Library, name: &str) {
    let location = crate::locations::get_by_name(lib.db(), name).expect("location");
    crate::indexer::index_to_end(lib, location.id, false).expect("index");
}

fn pair() -> Pair {
    let tmp = tempfile::tempdir().expect("tmp");
    let docs = tmp.path().join("docs");
    let share = tmp.path().join("share");
    write(
        &docs,
        &[
            ("a.txt", b"only here\n"),
            ("Tax/2024.pdf", b"tax 2024\n"),
            ("Tax/2025.pdf", b"tax 2025\n"),
            ("Tax/receipts/r1.txt", b"receipt one\n"),
            ("dup1.bin", b"same bytes twice\n"),
            ("dup2.bin", b"same bytes twice\n"),
            ("shared.txt", b"on both devices\n"),
            ("empty", b""),
        ],
    );
    write(
        &share,
        &[
            ("shared-copy.txt", b"on both devices\n"),
            ("only-nas.txt", b"the nas alone\n"),
        ],
    );
    let laptop = Arc::new(Library::create(&tmp.path().join("laptop"), "laptop").expect("lib"));
    let nas = Arc::new(Library::create(&tmp.path().join("nas"), "nas").expect("lib"));
    for (lib, dir, name) in [(&laptop, &docs, "Docs"), (&nas, &share, "share")] {
        crate::locations::add(lib, dir, Some(name), Default::default(), Default::default())
            .expect("location");
        index(lib, name);
    }
    laptop
        .add_paired_device(&DeviceRecord::this_device(nas.device_id(), "nas"))
        .expect("pair");
    crate::sync::pull_all(&nas, &laptop);
    Pair {
        _tmp: tmp,
        laptop,
        nas,
        docs,
        share,
    }
}

fn item<'a>(report: &'a GuardianReport, uri: &str) -> Option<&'a AtRisk> {
    report.at_risk.iter().find(|i| i.uri == uri)
}

#[test]
fn single_copies_are_found_on_every_device_and_folders_stand_for_their_files() {
    let p = pair();
    let report = report(&p.laptop, None, 100).expect("report");
    // 7 identified files with bytes (the empty one has nothing to lose).
    assert_eq!(report.files, 7 + 2);
    let tax = item(&report, "sd://laptop/Docs/Tax").expect("Tax/ as one item");
    assert_eq!(
        (tax.kind, tax.risk, tax.copies, tax.files, tax.bytes),
        ("dir", Risk::SingleCopy, 1, 3, 9 + 9 + 12)
    );
    assert_eq!(tax.on, ["laptop"]);
    assert!(
        !report
            .at_risk
            .iter()
            .any(|i| i.uri.starts_with("sd://laptop/Docs/Tax/")),
        "Tax/'s files are not listed again: {:?}",
        report.at_risk
    );
    let a = item(&report, "sd://laptop/Docs/a.txt").expect("a.txt");
    assert_eq!((a.kind, a.risk, a.copies), ("file", Risk::SingleCopy, 1));
    // The nas's own single copy, seen from the laptop's replica.
    let nas_only = item(&report, "sd://nas/share/only-nas.txt").expect("nas file");
    assert_eq!(
        (nas_only.risk, nas_only.on.as_slice()),
        (Risk::SingleCopy, &["nas".to_owned()][..])
    );
    // Two copies on one disk are no backup.
    for dup in ["sd://laptop/Docs/dup1.bin", "sd://laptop/Docs/dup2.bin"] {
        let d = item(&report, dup).expect("dup");
        assert_eq!((d.risk, d.copies), (Risk::OneVolume, 2));
    }
    // On two devices: never single-copy or one-volume.
    for shared in [
        "sd://laptop/Docs/shared.txt",
        "sd://nas/share/shared-copy.txt",
    ] {
        assert!(
            item(&report, shared).is_none_or(|i| i.risk == Risk::OneClass),
            "{shared}: {:?}",
            item(&report, shared)
        );
    }
    let single = &report.by_risk[0];
    assert_eq!((single.risk, single.files), (Risk::SingleCopy, 3 + 1 + 1));
    assert_eq!(report.locations.len(), 2);
    // Tax/ is offered a copy on the nas, keeping its name.
    let s = tax.suggestion.as_ref().expect("a suggestion");
    assert_eq!(
        (s.from.as_str(), s.to.as_str()),
        ("sd://laptop/Docs/Tax", "sd://nas/share/Tax")
    );
    assert_eq!(s.device, "nas");
}

#[test]
fn a_suggested_copy_clears_the_risk_and_a_scope_narrows_the_report() {
    let p = pair();
    // Do what the Guardian suggests for Tax/: the nas now holds a copy.
    write(
        &p.share,
        &[
            ("Tax/2024.pdf", b"tax 2024\n"),
            ("Tax/2025.pdf", b"tax 2025\n"),
            ("Tax/receipts/r1.txt", b"receipt one\n"),
        ],
    );
    index(&p.nas, "share");
    crate::sync::pull_all(&p.nas, &p.laptop);
    let tax = report(
        &p.laptop,
        Some(&"sd://laptop/Docs/Tax".parse().expect("uri")),
        100,
    )
    .expect("report");
    assert_eq!((tax.files, tax.bytes), (3, 30));
    assert_eq!(
        tax.by_risk[0].files, 0,
        "no single copy left: {:?}",
        tax.at_risk
    );
    assert!(tax.at_risk.iter().all(|i| i.risk == Risk::OneClass));
    assert_eq!(tax.locations.len(), 1);
    // A file's report says where each copy is.
    let file = report(
        &p.laptop,
        Some(&"sd://laptop/Docs/Tax/2024.pdf".parse().expect("uri")),
        100,
    )
    .expect("report");
    let mut copies: Vec<_> = file.copies.iter().map(|c| c.uri.as_str()).collect();
    copies.sort();
    assert_eq!(
        copies,
        [
            "sd://laptop/Docs/Tax/2024.pdf",
            "sd://nas/share/Tax/2024.pdf"
        ]
    );
    // A name that is not there is an error, not an empty report.
    let missing = report(
        &p.laptop,
        Some(&"sd://laptop/Docs/nope".parse().expect("uri")),
        1,
    );
    assert!(matches!(missing, Err(Error::NotFound(_))), "{missing:?}");
    let _ = &p.docs;
}

#[test]
fn the_limit_keeps_the_worst_and_counts_the_rest() {
    let p = pair();
    let report = report(&p.laptop, None, 2).expect("report");
    assert_eq!(report.at_risk.len(), 2);
    assert!(report.at_risk.iter().all(|i| i.risk == Risk::SingleCopy));
    // Largest first: Tax/ (30 B) before the 14 B nas file and 10 B a.txt.
    assert_eq!(report.at_risk[0].uri, "sd://laptop/Docs/Tax");
    assert!(report.more_at_risk >= 3);
}

#[test]
fn dupes_cover_every_device_and_a_backup_is_no_waste() {
    let p = pair();
    let groups = dupes(&p.laptop, 1).expect("dupes");
    let shared = groups
        .iter()
        .find(|g| {
            g.uris
                .contains(&"sd://nas/share/shared-copy.txt".to_owned())
        })
        .expect("the shared file's group");
    assert_eq!(
        shared.uris,
        [
            "sd://laptop/Docs/shared.txt",
            "sd://nas/share/shared-copy.txt"
        ]
    );
    assert_eq!((shared.copies, shared.wasted), (2, 0));
    assert_eq!(shared.devices, ["laptop", "nas"]);
    let twice = &groups[0];
    assert_eq!(
        twice.uris,
        ["sd://laptop/Docs/dup1.bin", "sd://laptop/Docs/dup2.bin"]
    );
    assert_eq!((twice.copies, twice.wasted), (2, 17));
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(
        dupes(&p.laptop, 17)
            .expect("dupes")
            .iter()
            .all(|g| g.size >= 17)
    );
}
