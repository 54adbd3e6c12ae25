//! Preview equals outcome: over generated trees, what a preview promises
//! (files, bytes, skipped, conflicts) is exactly what the run does.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::Library;
use crate::content_store::ContentStore;
use crate::ids::DeviceId;
use crate::namespace::Namespace;

struct AllOnline;

impl Links for AllOnline {
    fn online(&self, _: DeviceId) -> bool {
        true
    }
    fn speed(&self, _: DeviceId, _: DeviceId) -> Option<f64> {
        Some(100e6)
    }
}

/// A tree: relative path → content (which of a few byte strings).
type Tree = BTreeMap<String, u8>;

fn bytes_of(content: u8) -> Vec<u8> {
    format!("content {content}\n")
        .repeat(usize::from(content) + 1)
        .into_bytes()
}

fn write_tree(root: &Path, tree: &Tree) {
    for (rel, content) in tree {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes_of(*content)).expect("write");
    }
}

fn read_tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                let content = (0..8u8).find(|c| bytes_of(*c) == bytes).unwrap_or(255);
                let rel = path
                    .strip_prefix(root)
                    .expect("below")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, content);
            }
        }
    }
    out
}

fn tree() -> impl Strategy<Value = Tree> {
    let name = prop::sample::select(vec!["a", "b", "c", "d"]);
    let path = prop::collection::vec(name, 1..4).prop_map(|parts| {
        let mut p = parts.join("/");
        p.push_str(".txt");
        p
    });
    prop::collection::btree_map(path, 0..6u8, 1..12)
}

struct World {
    _tmp: tempfile::TempDir,
    ns: Namespace,
    src: std::path::PathBuf,
    dst: std::path::PathBuf,
}

fn world(src_tree: &Tree, dst_tree: &Tree) -> World {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    write_tree(&src.join("top"), src_tree);
    std::fs::create_dir_all(&dst).expect("dst");
    write_tree(&dst.join("top"), dst_tree);
    let lib = Arc::new(Library::create(&tmp.path().join("lib"), "laptop").expect("lib"));
    for (dir, name) in [(&src, "Src"), (&dst, "Dst")] {
        let l = crate::locations::add(
            &lib,
            dir,
            Some(name),
            Default::default(),
            Default::default(),
        )
        .expect("location");
        crate::indexer::index_to_end(&lib, l.id, false).expect("index");
    }
    let ns = Namespace::new(Arc::new(ContentStore::open(lib).expect("store"))).expect("ns");
    World {
        _tmp: tmp,
        ns,
        src,
        dst,
    }
}

fn act(w: &World, kind: ActionKind) -> (Preview, RunReport, ActionRecord) {
    let lib = w.ns.library();
    let from: crate::uri::SdUri = "sd://laptop/Src/top".parse().expect("uri");
    let to: crate::uri::SdUri = "sd://laptop/Dst".parse().expect("uri");
    let preview = preview(lib, kind, &[from], &to, &AllOnline).expect("preview");
    let (report, record) = run_logged(w, &preview, None);
    (preview, report, record)
}

/// Runs `preview` as a logged action (undoing `undoes`, which then says
/// by which).
fn run_logged(
    w: &World,
    preview: &Preview,
    undoes: Option<&mut ActionRecord>,
) -> (RunReport, ActionRecord) {
    let lib = w.ns.library();
    let log = Actions::new(lib.db().clone());
    let mut record = ActionRecord::new(preview, lib.device_name());
    record.undoes = undoes.as_ref().map(|u| u.id);
    log.append(&mut record).expect("log");
    if let Some(undone) = undoes {
        undone.undone_by = Some(record.id);
        log.update(undone).expect("log");
    }
    let stop = AtomicBool::new(false);
    let options = RunOptions {
        progress: None,
        limit: None,
        delivery_wait: Duration::from_secs(1),
        stop: &stop,
    };
    let report = run(&w.ns, preview, &mut record, &options).expect("run");
    (report, record)
}

/// [`run_logged`], for its record.
fn commit(w: &World, preview: &Preview, undoes: Option<&mut ActionRecord>) -> ActionRecord {
    run_logged(w, preview, undoes).1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_copy_does_what_its_preview_promised(src in tree(), dst in tree()) {
        let w = world(&src, &dst);
        let (preview, report, record) = act(&w, ActionKind::Copy);
        // Files whose path is taken at the destination: the same content
        // is skipped, other content (or a folder/file clash) is a conflict.
        prop_assert_eq!(report.files, preview.files);
        prop_assert_eq!(report.bytes, preview.bytes);
        prop_assert_eq!(report.verified, preview.files);
        prop_assert!(report.errors.is_empty(), "{:?}", report.errors);
        prop_assert_eq!(preview.space_needed, preview.bytes);
        let after = read_tree(&w.dst.join("top"));
        let mut promised = 0;
        for (rel, content) in &src {
            let had = dst.get(rel);
            match had {
                // Untouched: skipped (same) or a conflict (other).
                Some(before) => prop_assert_eq!(after.get(rel), Some(before)),
                None if after.get(rel) == Some(content) => promised += 1,
                // Blocked by a file where a folder goes, or a folder where
                // a file goes: a conflict, reported.
                None => prop_assert!(!preview.conflicts.is_empty()),
            }
        }
        prop_assert_eq!(promised, preview.files);
        let same = src.iter().filter(|(r, c)| dst.get(*r) == Some(*c)).count() as u64;
        prop_assert_eq!(preview.skipped, same);
        // The destination's own files are all still there.
        for (rel, content) in &dst {
            prop_assert_eq!(after.get(rel), Some(content));
        }
        // The source is untouched by a copy.
        prop_assert_eq!(read_tree(&w.src.join("top")), src);
        prop_assert_eq!(record.status, ActionStatus::Done);
        prop_assert_eq!(record.done_files, preview.files);
    }

    #[test]
    fn a_preview_to_show_says_what_the_plan_to_run_says(src in tree(), dst in tree()) {
        let w = world(&src, &dst);
        let lib = w.ns.library();
        let from: crate::uri::SdUri = "sd://laptop/Src/top".parse().expect("uri");
        let to: crate::uri::SdUri = "sd://laptop/Dst".parse().expect("uri");
        for kind in [ActionKind::Copy, ActionKind::Move] {
            let full = preview(lib, kind, std::slice::from_ref(&from), &to, &AllOnline).expect("plan");
            let shown = preview_counts(lib, kind, std::slice::from_ref(&from), &to, &AllOnline).expect("counts");
            prop_assert_eq!(
                (full.files, full.bytes, full.skipped, full.skipped_bytes, full.dirs, full.space_needed),
                (shown.files, shown.bytes, shown.skipped, shown.skipped_bytes, shown.dirs, shown.space_needed)
            );
            prop_assert_eq!(&full.conflicts, &shown.conflicts);
            prop_assert_eq!(&full.warnings, &shown.warnings);
            prop_assert_eq!(full.plan.items.len() as u64, full.files);
            prop_assert!(shown.plan.items.is_empty());
        }
    }

    #[test]
    fn a_move_removes_only_sources_whose_copies_are_verified(src in tree(), dst in tree()) {
        let w = world(&src, &dst);
        let (preview, report, _) = act(&w, ActionKind::Move);
        prop_assert_eq!(report.files, preview.files);
        let after = read_tree(&w.dst.join("top"));
        let left = if w.src.join("top").exists() { read_tree(&w.src.join("top")) } else { Tree::new() };
        for (rel, content) in &src {
            // Every source file is either at the destination with its
            // bytes (and gone from the source) or still at the source.
            let moved = after.get(rel) == Some(content) && !left.contains_key(rel);
            let kept = left.get(rel) == Some(content);
            prop_assert!(moved || kept, "{rel}: moved {moved}, kept {kept}");
            // Kept only where the destination holds something else there.
            if kept {
                prop_assert!(dst.contains_key(rel) || !preview.conflicts.is_empty());
            }
        }
    }
}

#[test]
fn a_folder_into_itself_is_a_conflict_a_rerun_overwrites_nothing_and_the_log_keeps_every_action() {
    let mut src = Tree::new();
    src.insert("x/y.txt".into(), 1);
    let w = world(&src, &Tree::new());
    let lib = w.ns.library();
    let top: crate::uri::SdUri = "sd://laptop/Src/top".parse().expect("uri");
    let inside: crate::uri::SdUri = "sd://laptop/Src/top/x".parse().expect("uri");
    let p = preview(
        lib,
        ActionKind::Copy,
        std::slice::from_ref(&top),
        &inside,
        &AllOnline,
    )
    .expect("preview");
    assert_eq!(p.files, 0);
    assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
    // Several sources need a folder to go into.
    let file: crate::uri::SdUri = "sd://laptop/Dst/new.txt".parse().expect("uri");
    assert!(
        preview(
            lib,
            ActionKind::Copy,
            &[top.clone(), inside.clone()],
            &file,
            &AllOnline
        )
        .is_err()
    );
    // A single file to a new name is fine.
    let one: crate::uri::SdUri = "sd://laptop/Src/top/x/y.txt".parse().expect("uri");
    let p = preview(lib, ActionKind::Copy, &[one], &file, &AllOnline).expect("to a name");
    assert_eq!((p.files, p.bytes), (1, bytes_of(1).len() as u64));
    assert_eq!(p.plan.items[0].to.to_string(), "sd://laptop/Dst/new.txt");
    assert!(p.estimate_s.is_some());
    let (_, _, first) = act(&w, ActionKind::Copy);
    // A file the destination's index has not seen yet, with the same
    // bytes, is found where it goes, and nothing is overwritten.
    std::fs::write(w.src.join("top/x/new.txt"), bytes_of(4)).expect("write");
    let src = crate::locations::get_by_name(lib.db(), "Src").expect("Src");
    crate::indexer::index_to_end(lib, src.id, false).expect("index");
    std::fs::write(w.dst.join("top/x/new.txt"), bytes_of(4)).expect("write");
    let (p, again, _) = act(&w, ActionKind::Copy);
    assert_eq!((p.files, again.files, again.already_there), (1, 0, 1));
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    // The run refreshed the index: the next preview knows.
    let (_, _, second) = act(&w, ActionKind::Copy);
    let log = Actions::new(lib.db().clone()).list().expect("log");
    assert_eq!(log.len(), 3);
    assert_eq!((log[0].id, log[2].id), (first.id, second.id));
    assert_eq!(log[2].skipped, 2, "the third copy finds the work done");
    assert_eq!(log[2].files, 0);
    assert!(log.iter().all(|r| r.status == ActionStatus::Done));
}

#[test]
fn a_move_is_undone_by_the_move_back_and_only_once() {
    let mut src = Tree::new();
    src.insert("x/y.txt".into(), 1);
    src.insert("z.txt".into(), 2);
    let w = world(&src, &Tree::new());
    let lib = w.ns.library();
    let (_, report, mut moved) = act(&w, ActionKind::Move);
    assert_eq!(report.removed, 2, "{report:?}");
    assert!(!w.src.join("top").exists());
    // The watcher's work in a daemon.
    for name in ["Src", "Dst"] {
        let l = crate::locations::get_by_name(lib.db(), name).expect("location");
        crate::indexer::index_to_end(lib, l.id, false).expect("index");
    }
    let back = plan_undo(lib, &moved, &AllOnline).expect("undo plan");
    assert_eq!(back.request.sources, ["sd://laptop/Dst/top"]);
    assert_eq!(back.request.destination, "sd://laptop/Src");
    assert_eq!((back.files, back.conflicts.len()), (2, 0));
    let undo = commit(&w, &back, Some(&mut moved));
    assert_eq!(moved.undone_by, Some(undo.id));
    assert_eq!(read_tree(&w.src.join("top")), src);
    assert!(!w.dst.join("top").exists());
    assert!(plan_undo(lib, &moved, &AllOnline).is_err(), "undone twice");
    // A copy removed nothing: nothing to undo.
    for name in ["Src", "Dst"] {
        let l = crate::locations::get_by_name(lib.db(), name).expect("location");
        crate::indexer::index_to_end(lib, l.id, false).expect("index");
    }
    let (_, _, copied) = act(&w, ActionKind::Copy);
    assert!(plan_undo(lib, &copied, &AllOnline).is_err());
}

#[test]
fn a_move_never_trusts_a_stale_index_for_what_the_destination_holds() {
    let mut src = Tree::new();
    src.insert("x.txt".into(), 3);
    // The destination's index says it holds the same file...
    let w = world(&src, &src);
    // ...but it is gone from its disk since.
    std::fs::remove_file(w.dst.join("top/x.txt")).expect("rm");
    let (preview, report, _) = act(&w, ActionKind::Move);
    assert_eq!((preview.files, preview.skipped), (0, 1));
    // Copied after all, then the source removed: nothing lost.
    assert_eq!(report.files, 1, "{report:?}");
    assert_eq!(read_tree(&w.dst.join("top")), src);
    assert!(!w.src.join("top/x.txt").exists());
}

#[test]
fn a_delete_goes_to_the_trash_and_its_undo_puts_back_only_what_nothing_replaced() {
    let mut src = Tree::new();
    src.insert("x/y.txt".into(), 1);
    src.insert("x/w.txt".into(), 3);
    src.insert("z.txt".into(), 2);
    let w = world(&src, &Tree::new());
    let lib = w.ns.library();
    let uri = |s: &str| s.parse::<crate::uri::SdUri>().expect("uri");
    let sources = [
        uri("sd://laptop/Src/top/x"),
        uri("sd://laptop/Src/top/z.txt"),
    ];
    let preview = preview_delete(lib, &sources, &AllOnline).expect("preview");
    assert_eq!((preview.files, preview.conflicts.len()), (3, 0));
    let size = |c| bytes_of(c).len() as u64;
    assert_eq!(preview.bytes, size(1) + size(3) + size(2));
    // A whole location is not deleted by `sd rm`.
    let root = preview_delete(lib, &[uri("sd://laptop/Src")], &AllOnline).expect("preview");
    assert_eq!((root.files, root.conflicts.len()), (0, 1));

    let mut deleted = commit(&w, &preview, None);
    assert_eq!(deleted.status, ActionStatus::Done, "{:?}", deleted.errors);
    assert_eq!(deleted.trashed.len(), 2);
    assert!(!w.src.join("top/x").exists() && !w.src.join("top/z.txt").exists());
    // In the library trash, as a file manager lists it.
    let trash = crate::trash::trash_root(lib.dir()).join(crate::sys::process_ids().0.to_string());
    assert_eq!(
        std::fs::read(trash.join("files/x/y.txt")).expect("trashed"),
        bytes_of(1)
    );
    let info = std::fs::read_to_string(trash.join("info/z.txt.trashinfo")).expect("info");
    assert!(info.contains("Path=laptop/Src/top/z.txt\n"), "{info}");
    // The index saw it go.
    let gone = preview_delete(lib, &sources[1..], &AllOnline);
    assert!(gone.is_err(), "z.txt is still in the index");

    // Something new takes z.txt's name: the undo leaves that alone.
    std::fs::write(w.src.join("top/z.txt"), b"new").expect("write");
    let l = crate::locations::get_by_name(lib.db(), "Src").expect("location");
    crate::indexer::index_to_end(lib, l.id, false).expect("index");
    let back = plan_undo(lib, &deleted, &AllOnline).expect("undo plan");
    assert_eq!(back.request.kind, ActionKind::Restore);
    assert_eq!((back.files, back.conflicts.len()), (2, 1), "{back:?}");
    let restored = commit(&w, &back, Some(&mut deleted));
    assert_eq!(restored.status, ActionStatus::Done, "{:?}", restored.errors);
    assert_eq!(
        std::fs::read(w.src.join("top/x/w.txt")).expect("back"),
        bytes_of(3)
    );
    assert_eq!(
        std::fs::read(w.src.join("top/z.txt")).expect("kept"),
        b"new"
    );
    assert!(
        trash.join("files/z.txt").exists(),
        "the replaced one stays in the trash"
    );
    assert!(!trash.join("files/x").exists());
    assert!(
        plan_undo(lib, &deleted, &AllOnline).is_err(),
        "undone twice"
    );
    assert!(
        plan_undo(lib, &restored, &AllOnline).is_err(),
        "a restore is not undone"
    );
}

#[test]
fn a_run_goes_on_from_a_copy_an_earlier_run_left_half_written() {
    let mut src = Tree::new();
    src.insert("half.txt".into(), 5);
    src.insert("other.txt".into(), 4);
    let w = world(&src, &Tree::new());
    let lib = w.ns.library();
    let from: crate::uri::SdUri = "sd://laptop/Src/top".parse().expect("uri");
    let to: crate::uri::SdUri = "sd://laptop/Dst".parse().expect("uri");
    let plan = preview(lib, ActionKind::Copy, &[from], &to, &AllOnline).expect("preview");
    // What a crash mid-file leaves: the start of one copy; and a file of
    // other bytes that took the other's name since the preview.
    let full = bytes_of(5);
    std::fs::create_dir_all(w.dst.join("top")).expect("mkdir");
    std::fs::write(w.dst.join("top/half.txt"), &full[..full.len() / 2]).expect("write");
    std::fs::write(w.dst.join("top/other.txt"), b"not a copy").expect("write");
    let (report, _) = run_logged(&w, &plan, None);
    assert_eq!(
        std::fs::read(w.dst.join("top/half.txt")).expect("read"),
        full
    );
    assert_eq!((report.files, report.verified), (1, 1), "{report:?}");
    assert_eq!(
        std::fs::read(w.dst.join("top/other.txt")).expect("read"),
        b"not a copy",
        "overwritten"
    );
    assert_eq!(report.errors.len(), 1, "{report:?}");
}

/// Runs one pass of `conduit`, then indexes both sides (the watcher's
/// work in a daemon); returns the run's preview.
fn pass(w: &World, conduit: &Conduit) -> Preview {
    let lib = w.ns.library();
    let plan = conduit.preview(lib, &AllOnline).expect("preview");
    commit(w, &plan, None);
    for name in ["Src", "Dst"] {
        let l = crate::locations::get_by_name(lib.db(), name).expect("location");
        crate::indexer::index_to_end(lib, l.id, false).expect("index");
    }
    plan
}

#[test]
fn conduits_converge_in_each_mode() {
    let mut src = Tree::new();
    src.insert("a/x.txt".into(), 1);
    src.insert("b.txt".into(), 2);
    src.insert("c.txt".into(), 3);
    for mode in [
        ConduitMode::Mirror,
        ConduitMode::Archive,
        ConduitMode::Selective,
    ] {
        let mut dst = Tree::new();
        dst.insert("stale.txt".into(), 4);
        let w = world(&src, &Tree::new());
        write_tree(&w.dst, &dst);
        let lib = w.ns.library();
        let l = crate::locations::get_by_name(lib.db(), "Dst").expect("location");
        crate::indexer::index_to_end(lib, l.id, false).expect("index");
        let include = match mode {
            ConduitMode::Selective => {
                vec!["b.txt".to_owned(), "stale*".to_owned(), "x.*".to_owned()]
            }
            _ => Vec::new(),
        };
        let uri = |s: &str| s.parse::<crate::uri::SdUri>().expect("uri");
        let conduit = Conduit::new(
            &uri("sd://laptop/Src/top"),
            &uri("sd://laptop/Dst"),
            mode,
            include,
        )
        .expect("conduit");

        // The first pass brings the tree (a selective one, what matches).
        let first = pass(&w, &conduit);
        let brought = if mode == ConduitMode::Selective { 2 } else { 3 };
        let trimmed = u64::from(mode != ConduitMode::Archive);
        assert_eq!(
            (first.files, first.to_trash),
            (brought, trimmed),
            "{mode:?} {first:?}"
        );
        // Edit one, delete one, add one at the source.
        std::fs::write(w.src.join("top/b.txt"), bytes_of(5)).expect("edit");
        std::fs::remove_file(w.src.join("top/c.txt")).expect("rm");
        std::fs::write(w.src.join("top/a/new.txt"), bytes_of(0)).expect("add");
        let l = crate::locations::get_by_name(lib.db(), "Src").expect("location");
        crate::indexer::index_to_end(lib, l.id, false).expect("index");
        let second = pass(&w, &conduit);
        // Nothing left to do: converged.
        let third = conduit.preview(lib, &AllOnline).expect("preview");
        assert_eq!((third.files, third.to_trash), (0, 0), "{mode:?} {third:?}");

        let mut want = read_tree(&w.src.join("top"));
        match mode {
            ConduitMode::Mirror => {
                assert_eq!((second.files, second.to_trash), (2, 1), "{second:?}");
            }
            ConduitMode::Archive => {
                assert_eq!((second.files, second.to_trash), (2, 0), "{second:?}");
                want.insert("c.txt".into(), 3);
                want.insert("stale.txt".into(), 4);
            }
            ConduitMode::Bidirectional => unreachable!("tested on its own"),
            ConduitMode::Selective => {
                // b.txt changed; new.txt does not match, nor c.txt (gone).
                assert_eq!((second.files, second.to_trash), (1, 0), "{second:?}");
                want.remove("a/new.txt");
            }
        }
        assert_eq!(read_tree(&w.dst), want, "{mode:?}");
        if mode != ConduitMode::Archive {
            let trash =
                crate::trash::trash_root(lib.dir()).join(crate::sys::process_ids().0.to_string());
            assert!(
                trash.join("files/stale.txt").exists(),
                "{mode:?}: trimmed, not kept"
            );
        }
    }
}

#[test]
fn dedupe_trashes_only_true_duplicates_and_its_undo_brings_them_back() {
    let mut src = Tree::new();
    src.insert("a.txt".into(), 1);
    src.insert("b/a-copy.txt".into(), 1);
    src.insert("c.txt".into(), 2);
    src.insert("d.txt".into(), 2);
    src.insert("e.txt".into(), 3);
    let w = {
        let w = world(&src, &Tree::new());
        // Two files the sampled hash cannot tell apart (an edit it does not
        // sample), and a true copy.
        let big: Vec<u8> = (0..2 * 1024 * 1024 + 5u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut edited = big.clone();
        edited[1_000_000..1_000_010].copy_from_slice(b"0123456789");
        std::fs::write(w.src.join("top/big.bin"), &big).expect("write");
        std::fs::write(w.src.join("top/big-copy.bin"), &big).expect("write");
        std::fs::write(w.src.join("top/big-edited.bin"), &edited).expect("write");
        let lib = w.ns.library();
        let l = crate::locations::get_by_name(lib.db(), "Src").expect("location");
        crate::indexer::index_to_end(lib, l.id, false).expect("index");
        w
    };
    let lib = w.ns.library();
    let scope: crate::uri::SdUri = "sd://laptop/Src/top".parse().expect("uri");
    let plan = preview_dedupe(lib, &scope, &AllOnline).expect("preview");
    let pairs: Vec<(String, String)> = plan
        .plan
        .duplicates
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert!(
        pairs.contains(&(
            "sd://laptop/Src/top/b/a-copy.txt".into(),
            "sd://laptop/Src/top/a.txt".into()
        )),
        "{pairs:?}"
    );
    let mut done = commit(&w, &plan, None);
    assert_eq!(done.trashed.len(), 3, "{:?}", done.trashed);
    assert!(!w.src.join("top/b/a-copy.txt").exists() && !w.src.join("top/d.txt").exists());
    assert!(w.src.join("top/a.txt").exists() && w.src.join("top/c.txt").exists());
    // The sampled hash grouped it; its bytes differ: it stays, said so.
    assert!(w.src.join("top/big-edited.bin").exists());
    assert_eq!(done.errors.len(), 1, "{:?}", done.errors);
    let kept_big = ["big.bin", "big-copy.bin"]
        .iter()
        .filter(|n| w.src.join("top").join(n).exists())
        .count();
    assert_eq!(kept_big, 1);

    let back = plan_undo(lib, &done, &AllOnline).expect("undo plan");
    assert_eq!(back.files, 3, "{back:?}");
    commit(&w, &back, Some(&mut done));
    assert_eq!(read_tree(&w.src.join("top")).len(), src.len() + 3);
}

#[test]
fn a_bidirectional_conduit_carries_changes_and_deletions_both_ways_and_keeps_both_sides_of_a_conflict()
 {
    let mut src = Tree::new();
    src.insert("a/x.txt".into(), 1);
    src.insert("b.txt".into(), 2);
    src.insert("c.txt".into(), 3);
    let w = world(&src, &Tree::new());
    std::fs::write(w.dst.join("stale.txt"), bytes_of(4)).expect("write");
    let lib = w.ns.library();
    let index = |name: &str| {
        let l = crate::locations::get_by_name(lib.db(), name).expect("location");
        crate::indexer::index_to_end(lib, l.id, false).expect("index");
    };
    index("Dst");
    let uri = |s: &str| s.parse::<crate::uri::SdUri>().expect("uri");
    let conduits = Conduits::new(lib.db().clone());
    let mut conduit = Conduit::new(
        &uri("sd://laptop/Src/top"),
        &uri("sd://laptop/Dst"),
        ConduitMode::Bidirectional,
        Vec::new(),
    )
    .expect("conduit");
    conduits.add(&mut conduit).expect("add");
    let run = || {
        let plan = conduit.preview(lib, &AllOnline).expect("preview");
        let done = commit(&w, &plan, None);
        assert!(done.errors.is_empty(), "{:?}", done.errors);
        if let Some(base) = &plan.plan.base {
            conduits.set_base(conduit.id, base).expect("base");
        }
        index("Src");
        index("Dst");
        plan
    };
    // The first run unites both sides; the next finds nothing to do.
    let first = run();
    assert_eq!(first.files, 4, "{first:?}");
    assert_eq!(read_tree(&w.src.join("top")), read_tree(&w.dst));
    let second = run();
    assert_eq!((second.files, second.to_trash), (0, 0), "{second:?}");

    // An edit here, a deletion and a new file there, and both sides edit
    // one file (the destination's edit is the newer).
    std::fs::write(w.src.join("top/b.txt"), bytes_of(5)).expect("edit");
    std::fs::remove_file(w.dst.join("c.txt")).expect("rm");
    std::fs::write(w.dst.join("new.txt"), bytes_of(0)).expect("add");
    std::fs::write(w.src.join("top/stale.txt"), bytes_of(6)).expect("edit");
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(w.dst.join("stale.txt"), bytes_of(7)).expect("edit");
    index("Src");
    index("Dst");
    let third = run();
    assert_eq!((third.files, third.to_trash), (3, 1), "{third:?}");
    // The conflict copy travels on the next run; then nothing is left.
    let fourth = run();
    assert_eq!(fourth.files, 1, "{fourth:?}");
    let fifth = run();
    assert_eq!((fifth.files, fifth.to_trash), (0, 0), "{fifth:?}");

    let here = read_tree(&w.src.join("top"));
    assert_eq!(here, read_tree(&w.dst), "both sides alike");
    assert_eq!(here.get("b.txt"), Some(&5));
    assert_eq!(here.get("new.txt"), Some(&0));
    assert_eq!(here.get("stale.txt"), Some(&7), "the newer keeps the name");
    assert!(!here.contains_key("c.txt"), "{here:?}");
    let conflict: Vec<_> = here
        .iter()
        .filter(|(k, _)| k.contains("sync-conflict"))
        .collect();
    assert_eq!(conflict.len(), 1, "{here:?}");
    assert_eq!(*conflict[0].1, 6, "the other edit is kept beside it");
}
