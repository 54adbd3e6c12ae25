//! Semantic ranking with the real all-MiniLM-L6-v2 weights (installed by
//! `cargo xtask ci` into `$SD_MODELS`, or by `sd model install`): words
//! that mean the same thing find each other, a file that is not the pinned
//! one is refused, and the live index finds by meaning what no word
//! matches.

mod common;

use std::sync::Arc;

use sdfs_core::Library;
use sdfs_search::embed::{self, EmbedError, Embedder, cosine};
use sdfs_search::live::{LiveIndex, Ranking};

fn model() -> Embedder {
    let dir = embed::model_dir();
    Embedder::load(&dir).unwrap_or_else(|e| {
        panic!("{e}: install it with `cargo xtask ci` or `sd model install DIR`")
    })
}

#[test]
fn meanings_are_near_and_unrelated_words_far() {
    let model = model();
    let v = model
        .embed(&["holiday photos", "vacation pictures", "tax return"])
        .expect("embed");
    assert_eq!(v[0].len(), embed::DIMS);
    let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    let near = cosine(&v[0], &v[1]);
    let far = cosine(&v[0], &v[2]);
    assert!(near > 0.5 && far < 0.3 && near > far + 0.3, "{near} {far}");
}

#[test]
fn a_model_file_that_is_not_the_pinned_one_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("model");
    embed::install(&embed::model_dir(), &dir).expect("install a copy");
    assert!(Embedder::load(&dir).is_ok());
    let config = dir.join("config.json");
    let mut bytes = std::fs::read(&config).expect("read");
    bytes.push(b' ');
    std::fs::write(&config, bytes).expect("write");
    assert!(matches!(
        Embedder::load(&dir),
        Err(EmbedError::Mismatch(path, _)) if path == config
    ));
    // Nor is a copy made from it.
    let again = embed::install(&dir, &tmp.path().join("again"));
    assert!(matches!(again, Err(EmbedError::Mismatch(..))));
    assert!(matches!(
        Embedder::load(&tmp.path().join("none")),
        Err(EmbedError::Missing(_))
    ));
}

fn names(live: &LiveIndex, words: &str) -> Vec<String> {
    let query = common::query(words);
    live.search(&query, 3, true, Ranking::Blended)
        .expect("search")
        .into_iter()
        .map(|h| h.name)
        .collect()
}

#[test]
fn the_live_index_finds_by_meaning_what_no_word_matches() {
    let tmp = tempfile::tempdir().expect("tmp");
    let docs = tmp.path().join("docs");
    for name in [
        "Summer holiday at the seaside/IMG_0001.jpg",
        "Tax Return 2024.pdf",
        "Quarterly invoice Acme.pdf",
        "kitchen renovation quote.pdf",
        "birthday party.mp4",
    ] {
        let path = docs.join(name);
        common::write(&path, &path.to_string_lossy());
    }
    let lib = Arc::new(Library::create(&tmp.path().join("lib"), "laptop").expect("library"));
    common::add_location(&lib, &docs, "Docs");
    let live = LiveIndex::open(Arc::clone(&lib)).expect("open");
    // No file says "vacation" or "beach": the one about a seaside holiday
    // is what they mean.
    assert_eq!(names(&live, "vacation at the beach")[0], "IMG_0001.jpg");
    assert_eq!(names(&live, "taxes")[0], "Tax Return 2024.pdf");
    assert_eq!(
        names(&live, "bill from acme")[0],
        "Quarterly invoice Acme.pdf"
    );
    // Nothing near in meaning is nothing found.
    assert!(
        names(&live, "zebra").is_empty(),
        "{:?}",
        names(&live, "zebra")
    );
    // With the model there, nothing needs saying.
    assert_eq!(live.take_notice(), None);
}

#[test]
fn files_filed_under_a_folder_that_means_the_query_are_found() {
    let tmp = tempfile::tempdir().expect("tmp");
    let docs = tmp.path().join("docs");
    // Photos say nothing by name, and no word of the query is anywhere;
    // only a folder's name says what the photos in it are. Many newer
    // files are not what is meant.
    for i in 0..700 {
        common::write(
            &docs.join(format!("2025/Invoices/scan_{i:04}.jpg")),
            &format!("invoice {i}"),
        );
    }
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    for i in 0..3 {
        let path = docs.join(format!("2020/Ski trip/IMG_{i:04}.jpg"));
        common::write(&path, &format!("jpeg {i}"));
        let file = std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_modified(long_ago).expect("mtime");
    }
    let lib = Arc::new(Library::create(&tmp.path().join("lib"), "laptop").expect("library"));
    common::add_location(&lib, &docs, "Docs");
    let live = LiveIndex::open(Arc::clone(&lib)).expect("open");
    let hits = live
        .search(
            &common::query("snow holiday photos"),
            10,
            false,
            Ranking::Blended,
        )
        .expect("search");
    let paths: Vec<&str> = hits.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths.iter().all(|p| p.contains("/Ski trip/")), "{paths:?}");
}

#[test]
fn what_a_file_says_is_part_of_what_it_means() {
    let tmp = tempfile::tempdir().expect("tmp");
    let docs = tmp.path().join("docs");
    // Names that say nothing; only the text says what each is.
    for (name, text) in [
        (
            "note 1.txt",
            "Prescription and follow-up appointment with the clinic.",
        ),
        ("note 2.txt", "Invoice for consulting services, total due."),
        ("note 3.txt", "Recipe: garlic, basil and tomatoes."),
    ] {
        common::write(&docs.join(name), text);
    }
    let lib = Arc::new(Library::create(&tmp.path().join("lib"), "laptop").expect("library"));
    common::add_location(&lib, &docs, "Docs");
    let live = LiveIndex::open(Arc::clone(&lib)).expect("open");
    assert_eq!(names(&live, "doctor visit"), ["note 1.txt"]);
    assert_eq!(names(&live, "italian cooking"), ["note 3.txt"]);
    assert_eq!(names(&live, "payment request"), ["note 2.txt"]);
}
