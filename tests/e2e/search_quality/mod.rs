//! Search quality, measured: a generated corpus of about 2,000 files on two
//! paired devices (the nas offline while the queries run), 150+ queries
//! with the parse and the files a person means, and four figures — parse
//! accuracy, recall@10, MRR and nDCG@10 — that must not fall below the
//! committed baseline (`baseline.json` beside this file).
//!
//! recall@10 is over min(relevant, 10): a query with 300 right answers is
//! fully served by ten of them. Relevance is binary. The baseline holds the
//! figures measured when they last rose, cut to two decimals: BM25 scores
//! move in the fourth decimal between runs (the index's statistics depend
//! on how its segments formed), which may swap two near-equal hits.

mod corpus;
mod queries;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Sd, wait_for};
use serde_json::Value;

use crate::remote::{LOOPBACK, pair};
use corpus::{Entry, NOW};

/// The four figures, each a mean over the queries.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Figures {
    parse_accuracy: f64,
    recall_at_10: f64,
    mrr: f64,
    ndcg_at_10: f64,
}

impl Figures {
    fn from_json(v: &Value) -> Option<Figures> {
        Some(Figures {
            parse_accuracy: v["parse_accuracy"].as_f64()?,
            recall_at_10: v["recall_at_10"].as_f64()?,
            mrr: v["mrr"].as_f64()?,
            ndcg_at_10: v["ndcg_at_10"].as_f64()?,
        })
    }

    fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("parse_accuracy", self.parse_accuracy),
            ("recall_at_10", self.recall_at_10),
            ("mrr", self.mrr),
            ("ndcg_at_10", self.ndcg_at_10),
        ]
    }
}

/// One query's scores from its top ten (`judged`: relevant or not, best
/// first) and how many relevant files exist.
fn score(judged: &[bool], relevant: usize) -> (f64, f64, f64) {
    let top = &judged[..judged.len().min(10)];
    let found = top.iter().filter(|r| **r).count();
    let recall = found as f64 / relevant.min(10) as f64;
    let rr = top
        .iter()
        .position(|r| *r)
        .map_or(0.0, |i| 1.0 / (i as f64 + 1.0));
    let gain = |i: usize| 1.0 / (i as f64 + 2.0).log2();
    let dcg: f64 = top
        .iter()
        .enumerate()
        .filter(|(_, r)| **r)
        .map(|(i, _)| gain(i))
        .sum();
    let ideal: f64 = (0..relevant.min(10)).map(gain).sum();
    (recall, rr, dcg / ideal)
}

/// The parse lines of `sd search --explain` output.
fn parse_lines(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("parsed as:"))
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.starts_with("    "))
        .map(|l| l.trim().to_owned())
        .filter(|l| l != "(nothing: every file)")
        .collect()
}

/// Two devices with the corpus: the laptop's daemon running, the nas's
/// files synced to it and the nas gone.
fn two_devices(entries: &mut [Entry]) -> Result<(Sd, sdfs_tests::Daemon)> {
    let laptop = Sd::init("laptop")?;
    let nas = Sd::init("nas")?;
    for (sd, device) in [(&laptop, "laptop"), (&nas, "nas")] {
        let base = sd.path("files");
        corpus::write(entries, device, |location| base.join(location))?;
        for location in corpus::locations(device) {
            let dir = base.join(location);
            std::fs::create_dir_all(&dir)?;
            sd.add_location(&dir, location)?;
        }
        // Indexed before the daemons start, so tagging finds every file.
        sd.ok(["index"])?;
    }
    let nas_daemon = nas.daemon_with(&["--listen", LOOPBACK, "--sync-every", "3600"])?;
    let laptop_daemon = laptop.daemon_with(&["--listen", LOOPBACK, "--sync-every", "3600"])?;
    pair(&laptop, &nas)?;
    for (sd, device) in [(&laptop, "laptop"), (&nas, "nas")] {
        for e in entries.iter().filter(|e| e.device == device) {
            if e.tags.is_empty() {
                continue;
            }
            let path = sd.path("files").join(e.location).join(&e.rel);
            let mut args = vec!["tag".into(), "add".into(), path.into_os_string()];
            args.extend(e.tags.iter().map(Into::into));
            sd.ok(args)?;
        }
    }
    for (child, parent) in [
        ("receipts", "tax"),
        ("italy", "holiday"),
        ("beach", "holiday"),
    ] {
        laptop.ok(["tag", "parent", child, parent])?;
    }
    // Everything of the nas's, with its tags, is on the laptop before the
    // nas goes away.
    let nas_files = entries.iter().filter(|e| e.device == "nas").count();
    let nas_tagged = entries
        .iter()
        .filter(|e| e.device == "nas" && !e.tags.is_empty())
        .count();
    let count = |query: &str| -> usize {
        laptop
            .json(["search", "--lexical", "--limit", "100000", query])
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0)
    };
    wait_for(Duration::from_secs(120), || {
        count("device:nas kind:image")
            + count("device:nas kind:video")
            + count("device:nas kind:document")
            + count("device:nas kind:archive")
            >= nas_files
            && count("device:nas tag:italy") + count("device:nas tag:beach") >= nas_tagged
    })
    .context("the nas's files and tags never all reached the laptop")?;
    // And what they say (read by the nas, synced by content): each
    // camera's photos are found by its make.
    let mut by_make: HashMap<&str, usize> = HashMap::new();
    for e in entries.iter().filter(|e| e.device == "nas") {
        if let Some(make) = e.camera.and_then(|c| c.split(' ').next()) {
            *by_make.entry(make).or_default() += 1;
        }
    }
    let by_camera = |make: &str| count(&format!("device:nas kind:image {make}"));
    wait_for(Duration::from_secs(120), || {
        by_make.iter().all(|(make, n)| by_camera(make) >= *n)
    })
    .with_context(|| {
        let found: Vec<String> = by_make
            .iter()
            .map(|(make, n)| format!("{make}: {} of {n}", by_camera(make)))
            .collect();
        format!("what the nas's photos say never reached the laptop ({found:?})")
    })?;
    drop(nas_daemon);
    Ok((laptop, laptop_daemon))
}

#[test]
fn search_quality_holds_against_the_committed_baseline() -> Result<()> {
    let mut entries = corpus::generate();
    let cases = queries::all();
    ensure!(entries.len() >= 2000, "{} files", entries.len());
    ensure!(cases.len() >= 150, "{} queries", cases.len());
    let unanswerable: Vec<&str> = cases
        .iter()
        .filter(|c| !entries.iter().any(|e| (c.relevant)(e)))
        .map(|c| c.query)
        .collect();
    ensure!(
        unanswerable.is_empty(),
        "no file is relevant to {unanswerable:?}"
    );
    let (laptop, _daemon) = two_devices(&mut entries)?;
    let by_uri: HashMap<String, &Entry> = entries.iter().map(|e| (e.uri(), e)).collect();

    let mut total = Figures::default();
    // Hits the corpus knows: none would mean URIs are judged wrongly.
    let mut known = 0;
    let mut report = String::new();
    for case in &cases {
        let relevant: HashSet<String> = entries
            .iter()
            .filter(|e| (case.relevant)(e))
            .map(Entry::uri)
            .collect();
        ensure!(
            !relevant.is_empty(),
            "{:?} has no relevant file",
            case.query
        );
        let explained = laptop.ok(["search", "--explain", "--now", NOW, case.query])?;
        let parse = parse_lines(&String::from_utf8_lossy(&explained.stdout));
        let parse_ok = parse == case.parse;
        let hits = laptop.json(["search", "--limit", "10", "--now", NOW, case.query])?;
        let uris: Vec<&str> = hits
            .as_array()
            .context("hits")?
            .iter()
            .filter_map(|h| h["uri"].as_str())
            .collect();
        known += uris.iter().filter(|u| by_uri.contains_key(**u)).count();
        let judged: Vec<bool> = uris.iter().map(|u| relevant.contains(*u)).collect();
        let (recall, rr, ndcg) = score(&judged, relevant.len());
        total.parse_accuracy += f64::from(u8::from(parse_ok));
        total.recall_at_10 += recall;
        total.mrr += rr;
        total.ndcg_at_10 += ndcg;
        if !parse_ok || recall < 1.0 {
            let _ = writeln!(
                report,
                "{:?}: recall {recall:.2} rr {rr:.2} ndcg {ndcg:.2} ({} relevant; first hits {:?}){}",
                case.query,
                relevant.len(),
                &uris[..uris.len().min(3)],
                if parse_ok {
                    String::new()
                } else {
                    format!("\n  parsed as {parse:?}\n  expected  {:?}", case.parse)
                }
            );
        }
    }
    ensure!(known > 0, "no hit is a corpus file: URIs do not match");
    let n = cases.len() as f64;
    let got = Figures {
        parse_accuracy: total.parse_accuracy / n,
        recall_at_10: total.recall_at_10 / n,
        mrr: total.mrr / n,
        ndcg_at_10: total.ndcg_at_10 / n,
    };
    let figures: String = got
        .named()
        .iter()
        .map(|(k, v)| format!("  {k}: {v:.4}\n"))
        .collect();
    let summary = format!(
        "{} queries over {} files:\n{figures}\nqueries not fully served:\n{report}",
        cases.len(),
        entries.len()
    );
    // Kept for reading after the run (the figures go into BENCHMARKS.md).
    let _ = std::fs::write(
        sdfs_tests::sd_bin().with_file_name("search-quality.txt"),
        &summary,
    );
    eprintln!("{summary}");

    let baseline: Value = serde_json::from_str(include_str!("baseline.json"))?;
    let floor = Figures::from_json(&baseline).context("baseline.json")?;
    for ((name, now), (_, was)) in got.named().iter().zip(floor.named()) {
        ensure!(
            *now >= was - 1e-9,
            "search quality fell: {name} {now:.4} < baseline {was:.4}\n{summary}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod metrics {
    use super::score;

    #[test]
    fn scores_are_the_textbook_ones() {
        // All ten right of many: perfect.
        assert_eq!(score(&[true; 10], 300), (1.0, 1.0, 1.0));
        // Nothing right.
        assert_eq!(score(&[false; 10], 3), (0.0, 0.0, 0.0));
        // The only relevant file second: rr 1/2, ndcg 1/log2(3).
        let (recall, rr, ndcg) = score(&[false, true], 1);
        assert_eq!((recall, rr), (1.0, 0.5));
        assert!((ndcg - 1.0 / 3f64.log2()).abs() < 1e-12);
        // Two of four found, first and third.
        let (recall, _, ndcg) = score(&[true, false, true], 4);
        assert_eq!(recall, 0.5);
        let ideal = 1.0 + 1.0 / 3f64.log2() + 0.5 + 1.0 / 5f64.log2();
        assert!((ndcg - (1.0 + 0.5) / ideal).abs() < 1e-12);
    }
}
