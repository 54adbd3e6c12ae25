//! Job progress for people (an indicatif bar on a terminal, plain lines
//! otherwise) and for scripts (JSON event lines with `--json`).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sdfs_core::actions::RunProgress;
use sdfs_core::jobs::{JobEvent, Phase, Progress};
use sdfs_core::namespace::FetchProgress;

use crate::outcome::human_bytes;

/// Shows job events as they arrive.
pub enum ProgressView {
    Bar(Option<ProgressBar>),
    Lines(Option<Instant>),
    Json,
}

impl ProgressView {
    pub fn new(json: bool) -> Self {
        if json {
            ProgressView::Json
        } else if std::io::stderr().is_terminal() {
            ProgressView::Bar(None)
        } else {
            ProgressView::Lines(None)
        }
    }

    /// A fetch of other devices' files (`sd pin`): a bar of bytes.
    pub fn fetch(&mut self, progress: &FetchProgress) {
        match self {
            ProgressView::Json => {
                let mut line = serde_json::json!({ "event": "fetch" });
                if let (Some(map), Ok(serde_json::Value::Object(fields))) =
                    (line.as_object_mut(), serde_json::to_value(progress))
                {
                    map.extend(fields);
                }
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
            ProgressView::Lines(last) => {
                let finished = progress.files_done == progress.files;
                if finished || last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    *last = Some(Instant::now());
                    eprintln!("fetching: {}", describe_fetch(progress));
                }
            }
            ProgressView::Bar(bar) => {
                let bar = bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(progress.bytes);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} fetching [{bar:30}] {bytes}/{total_bytes} {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_length(progress.bytes);
                bar.set_position(progress.bytes_done);
                bar.set_message(format!(
                    "{}/{} files {}",
                    progress.files_done, progress.files, progress.current
                ));
                if progress.files_done == progress.files {
                    bar.finish_and_clear();
                }
            }
        }
    }

    /// A running action (`sd cp --yes`, ...): a bar of bytes on a
    /// terminal, a line a second otherwise; nothing in `--json` (its
    /// output is the action's record alone).
    pub fn action(&mut self, progress: &RunProgress) {
        match self {
            ProgressView::Json => {}
            ProgressView::Lines(last) => {
                let finished = progress.files_done == progress.files;
                if finished || last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    *last = Some(Instant::now());
                    eprintln!(
                        "{}/{} files, {} of {}",
                        progress.files_done,
                        progress.files,
                        human_bytes(progress.bytes_done),
                        human_bytes(progress.bytes)
                    );
                }
            }
            ProgressView::Bar(bar) => {
                let bar = bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(progress.bytes);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_length(progress.bytes.max(progress.bytes_done));
                bar.set_position(progress.bytes_done);
                bar.set_message(format!("{}/{} files", progress.files_done, progress.files));
                if progress.files_done >= progress.files {
                    bar.finish_and_clear();
                }
            }
        }
    }

    pub fn event(&mut self, event: &JobEvent) {
        match self {
            ProgressView::Json => {
                if let Ok(line) = serde_json::to_string(event) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                }
            }
            ProgressView::Lines(last) => match event {
                JobEvent::Progress(p) => {
                    if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        *last = Some(Instant::now());
                        eprintln!("job {}: {}", p.job, describe(p));
                    }
                }
                other => eprintln!("{}", describe_event(other)),
            },
            ProgressView::Bar(bar) => match event {
                JobEvent::Progress(p) => {
                    let bar = bar.get_or_insert_with(|| {
                        let bar = ProgressBar::new_spinner();
                        bar.enable_steady_tick(Duration::from_millis(120));
                        bar
                    });
                    if p.phase == Phase::ContentIdentification && p.counters.to_identify > 0 {
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                        bar.set_length(p.counters.to_identify);
                        bar.set_position(p.counters.identified);
                    } else {
                        bar.set_style(
                            ProgressStyle::with_template("{spinner} {prefix} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                    }
                    bar.set_prefix(p.phase.as_str());
                    bar.set_message(describe(p));
                }
                JobEvent::Finished { .. } => {
                    if let Some(bar) = bar.take() {
                        bar.finish_and_clear();
                    }
                    eprintln!("{}", describe_event(event));
                }
                other => match bar {
                    Some(bar) => bar.println(describe_event(other)),
                    None => eprintln!("{}", describe_event(other)),
                },
            },
        }
    }
}

fn describe(p: &Progress) -> String {
    let c = &p.counters;
    let mut text = format!(
        "{} files, {} dirs, {}",
        c.files,
        c.dirs,
        human_bytes(c.bytes)
    );
    if p.phase == Phase::ContentIdentification {
        text = format!("identified {}/{} files", c.identified, c.to_identify);
    }
    text.push_str(&format!(", {:.0}/s", p.rate));
    if let Some(eta) = p.eta_secs {
        text.push_str(&format!(", ETA {eta:.0}s"));
    }
    format!("{}: {text}", p.phase.as_str())
}

fn describe_event(event: &JobEvent) -> String {
    match event {
        JobEvent::Started {
            job,
            location,
            resumed,
        } => {
            format!(
                "{} job {job}: indexing {location}",
                if *resumed { "resuming" } else { "starting" }
            )
        }
        JobEvent::Progress(p) => describe(p),
        JobEvent::Warning { job, message } => format!("job {job}: warning: {message}"),
        JobEvent::Finished {
            job,
            state,
            counters: c,
            elapsed_secs,
        } => format!(
            "job {job} {}: {} files, {} dirs, {}; created {}, updated {}, moved {}, removed {}, identified {}, \
             errors {} in {elapsed_secs:.2}s",
            state.as_str(),
            c.files,
            c.dirs,
            human_bytes(c.bytes),
            c.created,
            c.updated,
            c.moved,
            c.removed,
            c.identified,
            c.errors
        ),
    }
}

fn describe_fetch(p: &FetchProgress) -> String {
    format!(
        "{}/{} files, {} of {} {}",
        p.files_done,
        p.files,
        human_bytes(p.bytes_done),
        human_bytes(p.bytes),
        p.current
    )
}
