//! `sd cp` and `sd mv` on the command line (preview, ask, commit), and
//! the daemon's side: links as the p2p node sees them, running an action,
//! and resuming those a crash or an absent device left unfinished.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};
use sdfs_core::actions::{
    self, ActionKind, ActionRecord, ActionStatus, Actions, LinkSpeeds, Links, Preview, RunOptions,
    RunProgress,
};
use sdfs_core::ids::DeviceId;
use sdfs_core::namespace::Namespace;
use sdfs_core::uri::SdUri;

use crate::cli::{ActionArgs, DedupeArgs, RmArgs};
use crate::host::Host;
use crate::replies::actions::{Committed, Previewed};
use crate::request::Request;

/// How long a move waits for another device to take its copies before
/// keeping the sources for a later run.
const DELIVERY_WAIT: Duration = Duration::from_secs(120);

/// `sd cp` / `sd mv`: the preview, then (with `--yes`, or a "y" on a
/// terminal) the run.
pub fn command(dir: &Path, kind: ActionKind, args: ActionArgs, json: bool) -> Result<ExitCode> {
    let mut paths = args
        .paths
        .iter()
        .map(|p| crate::target_bytes(p))
        .collect::<Result<Vec<_>>>()?;
    let destination = paths.pop().context("a destination")?;
    let limit = args
        .limit
        .as_deref()
        .map(crate::cache::parse_size)
        .transpose()?;
    let request = |commit| Request::Action {
        kind,
        sources: paths.clone(),
        destination: destination.clone(),
        commit,
        limit,
    };
    previewed_then_run(dir, &request, args.preview, args.yes, json)
}

/// `sd rm`: the preview, then (with `--yes`, or a "y" on a terminal)
/// the move to the trash.
pub fn remove(dir: &Path, args: RmArgs, json: bool) -> Result<ExitCode> {
    let paths = args
        .paths
        .iter()
        .map(|p| crate::target_bytes(p))
        .collect::<Result<Vec<_>>>()?;
    let request = |commit| Request::Action {
        kind: ActionKind::Delete,
        sources: paths.clone(),
        destination: Vec::new(),
        commit,
        limit: None,
    };
    previewed_then_run(dir, &request, args.preview, args.yes, json)
}

/// `sd dedupe PATH`: the preview, then the extra copies to the trash.
pub fn dedupe(dir: &Path, args: DedupeArgs, json: bool) -> Result<ExitCode> {
    let path = crate::target_bytes(&args.path)?;
    let request = |commit| Request::Action {
        kind: ActionKind::Dedupe,
        sources: vec![path.clone()],
        destination: Vec::new(),
        commit,
        limit: None,
    };
    previewed_then_run(dir, &request, args.preview, args.yes, json)
}

/// `sd undo ID`: previewed and run as any action.
pub fn undo(dir: &Path, id: u64, preview: bool, yes: bool, json: bool) -> Result<ExitCode> {
    previewed_then_run(
        dir,
        &|commit| Request::Undo { id, commit },
        preview,
        yes,
        json,
    )
}

/// The preview, then (with `yes`, or a "y" on a terminal) the run.
pub(crate) fn previewed_then_run(
    dir: &Path,
    request: &dyn Fn(bool) -> Request,
    preview: bool,
    yes: bool,
    json: bool,
) -> Result<ExitCode> {
    let ask = !yes
        && !preview
        && !json
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    if !yes {
        let done = match crate::send(dir, request(false), json)? {
            Ok(done) => done,
            Err(code) => return Ok(code),
        };
        done.print(json)?;
        let conflicts = done.json["conflicts"].as_array().map_or(0, Vec::len);
        if !ask || !confirm(conflicts)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    match crate::send(dir, request(true), json)? {
        Ok(done) => {
            done.print(json)?;
            let failed = done.json["status"] == "failed";
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(code) => Ok(code),
    }
}

fn confirm(conflicts: usize) -> Result<bool> {
    let mut out = std::io::stdout().lock();
    if conflicts > 0 {
        write!(
            out,
            "Go ahead without the {conflicts} conflicting item(s)? [y/N] "
        )?;
    } else {
        write!(out, "Go ahead? [y/N] ")?;
    }
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// How fast a run goes, and who watches it.
#[derive(Default)]
pub(crate) struct Pace<'a> {
    /// Bytes per second at most.
    pub limit: Option<u64>,
    pub progress: Option<&'a dyn Fn(&RunProgress)>,
}

/// Links as this daemon knows them: paired devices it is connected to,
/// and the throughput the last transfers measured.
pub(crate) struct DaemonLinks<'a> {
    host: &'a Host,
    connected: Vec<String>,
    speeds: LinkSpeeds,
}

impl Links for DaemonLinks<'_> {
    fn online(&self, device: DeviceId) -> bool {
        if device == self.host.lib.device_id() {
            return true;
        }
        self.host.lib.devices().ok().is_some_and(|all| {
            all.iter().any(|d| {
                d.id == device
                    && d.peer_id
                        .as_ref()
                        .is_some_and(|p| self.connected.contains(p))
            })
        })
    }

    fn speed(&self, from: DeviceId, to: DeviceId) -> Option<f64> {
        self.speeds.get(from, to).ok().flatten()
    }
}

impl Host {
    pub(crate) fn links(&self) -> DaemonLinks<'_> {
        DaemonLinks {
            host: self,
            connected: self
                .p2p
                .as_ref()
                .and_then(|n| n.status().ok())
                .map(|s| s.connected)
                .unwrap_or_default(),
            speeds: LinkSpeeds::new(self.lib.db().clone()),
        }
    }

    /// The namespace actions run through: the daemon's, else one over this
    /// device alone (another device's files then need the daemon).
    fn action_namespace(&self) -> Result<Arc<Namespace>> {
        if let Some(ns) = &self.namespace {
            return Ok(Arc::clone(ns));
        }
        Ok(Arc::new(Namespace::new(self.content()?)?))
    }

    /// The plan of an action; with `steps`, every step (to run it), else
    /// its figures alone (to show them).
    fn plan(
        &self,
        kind: ActionKind,
        sources: &[SdUri],
        destination: Option<&SdUri>,
        steps: bool,
    ) -> Result<Preview> {
        match (kind, sources) {
            (ActionKind::Delete, _) => {
                return Ok(actions::preview_delete(&self.lib, sources, &self.links())?);
            }
            (ActionKind::Dedupe, [scope]) => {
                return Ok(actions::preview_dedupe(&self.lib, scope, &self.links())?);
            }
            (ActionKind::Dedupe, _) => anyhow::bail!("sd dedupe takes one folder"),
            _ => {}
        }
        let plan = if steps {
            actions::preview
        } else {
            actions::preview_counts
        };
        let destination = destination.context("a destination")?;
        Ok(plan(&self.lib, kind, sources, destination, &self.links())?)
    }

    /// Previews an action, and with `commit` runs it; either way it is in
    /// the audit log.
    pub fn action(
        &self,
        kind: ActionKind,
        sources: &[Vec<u8>],
        destination: &[u8],
        commit: bool,
        pace: &Pace<'_>,
    ) -> Result<crate::outcome::Done> {
        let mount = self.mountpoint.as_deref();
        let uri = |arg: &[u8]| sdfs_core::query::target::uri_of(&self.lib, arg, mount);
        let sources = sources
            .iter()
            .map(|s| uri(s))
            .collect::<sdfs_core::Result<Vec<_>>>()?;
        let destination = match kind {
            ActionKind::Delete | ActionKind::Dedupe => None,
            _ => Some(uri(destination)?),
        };
        let preview = self.plan(kind, &sources, destination.as_ref(), commit)?;
        self.logged(preview, commit, pace, None)
    }

    /// Logs `preview`, and with `commit` runs it (`undoes`: the action it
    /// undoes, which then says by which).
    pub(crate) fn logged(
        &self,
        preview: Preview,
        commit: bool,
        pace: &Pace<'_>,
        undoes: Option<ActionRecord>,
    ) -> Result<crate::outcome::Done> {
        let log = Actions::new(self.lib.db().clone());
        let mut record = ActionRecord::new(&preview, self.lib.device_name());
        record.undoes = undoes.as_ref().map(|u| u.id);
        if !commit {
            log.append(&mut record)?;
            return crate::outcome::Done::of(&Previewed {
                id: record.id,
                preview,
            });
        }
        record.status = ActionStatus::Committed;
        log.append(&mut record)?;
        if let Some(mut undone) = undoes {
            undone.undone_by = Some(record.id);
            log.update(&undone)?;
        }
        let report = self.run_action(&preview, &mut record, pace)?;
        crate::outcome::Done::of(&Committed {
            record,
            result: report,
            preview,
        })
    }

    fn run_action(
        &self,
        preview: &Preview,
        record: &mut ActionRecord,
        pace: &Pace<'_>,
    ) -> Result<actions::RunReport> {
        let ns = self.action_namespace()?;
        let stop = AtomicBool::new(false);
        let options = RunOptions {
            progress: pace.progress,
            limit: pace.limit,
            delivery_wait: DELIVERY_WAIT,
            stop: &stop,
        };
        Ok(actions::run(&ns, preview, record, &options)?)
    }

    /// Previews undoing action `id`, and with `commit` runs it; the undo is
    /// an action of its own in the log, and the undone one says by which.
    pub fn undo(&self, id: u64, commit: bool) -> Result<crate::outcome::Done> {
        let undone = Actions::new(self.lib.db().clone()).get(id)?;
        let preview = actions::plan_undo(&self.lib, &undone, &self.links())?;
        self.logged(preview, commit, &Pace::default(), Some(undone))
    }

    /// The plan of an unfinished action, made afresh.
    fn replan(&self, record: &ActionRecord, sources: &[SdUri]) -> Result<Preview> {
        match record.request.kind {
            ActionKind::Copy | ActionKind::Move => {
                let destination = record.request.destination.parse::<SdUri>()?;
                self.plan(record.request.kind, sources, Some(&destination), true)
            }
            ActionKind::Delete | ActionKind::Dedupe => {
                self.plan(record.request.kind, sources, None, true)
            }
            // Done as it is asked: never left unfinished.
            ActionKind::Tag => anyhow::bail!("a tag action has nothing to resume"),
            // Its conduit plans the next run afresh.
            ActionKind::Sync => anyhow::bail!("a conduit's run is planned again by its conduit"),
            // What is still in the trash of what the undone delete trashed.
            ActionKind::Restore => {
                let undone = record.undoes.context("a restore undoes a delete")?;
                let undone = Actions::new(self.lib.db().clone()).get(undone)?;
                Ok(actions::preview_restore(&self.lib, &undone.trashed)?)
            }
        }
    }

    /// Runs again every action a crash or an absent device left
    /// unfinished, planned afresh: what already arrived is skipped.
    pub fn resume_actions(&self) {
        let log = Actions::new(self.lib.db().clone());
        let Ok(all) = log.list() else {
            return;
        };
        for mut record in all.into_iter().filter(|r| r.status.is_unfinished()) {
            let parsed: Result<Vec<SdUri>> = record
                .request
                .sources
                .iter()
                .map(|s| Ok(s.parse::<SdUri>()?))
                .collect();
            let outcome = parsed.and_then(|sources| {
                let preview = self.replan(&record, &sources)?;
                self.run_action(&preview, &mut record, &Pace::default())
            });
            match outcome {
                Ok(report) => tracing::info!(
                    "action {} resumed: {} files, {} verified, {} errors",
                    record.id,
                    report.files,
                    report.verified,
                    report.errors.len()
                ),
                Err(e) => {
                    // A move whose sources are all gone already went
                    // through; anything else is reported.
                    let gone = e
                        .downcast_ref::<sdfs_core::Error>()
                        .is_some_and(|e| matches!(e, sdfs_core::Error::NotFound(_)));
                    let removes =
                        matches!(record.request.kind, ActionKind::Move | ActionKind::Delete);
                    record.status = if gone && removes {
                        ActionStatus::Done
                    } else {
                        ActionStatus::Failed
                    };
                    record.errors.push(format!("resuming: {e:#}"));
                    record.finished_at = Some(sdfs_core::time::unix_now_secs());
                    if let Err(e) = log.update(&record) {
                        tracing::warn!("action {}: {e}", record.id);
                    }
                }
            }
        }
    }
}
