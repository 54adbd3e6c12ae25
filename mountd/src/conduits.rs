//! `sd conduit add|ls|rm` on the command line, and the daemon's side:
//! keeping a conduit, and the loop that runs each whenever its plan has
//! work (every run a `sync` action of the audit log).

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use sdfs_core::actions::{Conduit, ConduitMode, Conduits, Preview};

use crate::actions::Pace;
use crate::cli::{ConduitCommand, ConduitModeArg};
use crate::host::Host;
use crate::outcome::Done;
use crate::request::Request;

/// How often the daemon looks for conduits with work.
pub const CONDUIT_EVERY: Duration = Duration::from_secs(3);
/// How long a run's plan is not run again while the destination's index
/// has not shown it yet (another device indexes, then syncs).
const SETTLE: Duration = Duration::from_secs(120);

/// `sd conduit ...`.
pub fn command(dir: &Path, action: ConduitCommand, json: bool) -> Result<ExitCode> {
    let request = match action {
        ConduitCommand::Add {
            source,
            destination,
            mode,
            include,
            preview,
            yes,
        } => {
            let (source, destination) = (
                crate::target_bytes(&source)?,
                crate::target_bytes(&destination)?,
            );
            let mode = match mode {
                ConduitModeArg::Mirror => ConduitMode::Mirror,
                ConduitModeArg::Archive => ConduitMode::Archive,
                ConduitModeArg::Selective => ConduitMode::Selective,
                ConduitModeArg::Bidirectional => ConduitMode::Bidirectional,
            };
            let request = |commit| Request::ConduitAdd {
                source: source.clone(),
                destination: destination.clone(),
                mode,
                include: include.clone(),
                commit,
            };
            return crate::actions::previewed_then_run(dir, &request, preview, yes, json);
        }
        ConduitCommand::Ls => Request::Conduits,
        ConduitCommand::Rm { id } => Request::ConduitRm { id },
    };
    match crate::send(dir, request, json)? {
        Ok(done) => {
            done.print(json)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}

impl Host {
    /// Previews a conduit's first run, and with `commit` keeps the
    /// conduit and runs it.
    pub fn conduit_add(
        &self,
        source: &[u8],
        destination: &[u8],
        mode: ConduitMode,
        include: Vec<String>,
        commit: bool,
    ) -> Result<Done> {
        let mount = self.mountpoint.as_deref();
        let uri = |arg: &[u8]| sdfs_core::query::target::uri_of(&self.lib, arg, mount);
        let mut conduit = Conduit::new(&uri(source)?, &uri(destination)?, mode, include)?;
        let preview = conduit.preview(&self.lib, &self.links())?;
        if !commit {
            return self.logged(preview, false, &Pace::default(), None);
        }
        let _one_run = self.conduit_runs.lock().unwrap_or_else(|e| e.into_inner());
        let conduits = Conduits::new(self.lib.db().clone());
        conduits.add(&mut conduit)?;
        let mut done = self.conduit_run(&mut conduit, preview)?;
        done.text = format!(
            "conduit {}: {} → {} ({}), kept in step from now on\n{}",
            conduit.id,
            conduit.source,
            conduit.destination,
            conduit.mode.as_str(),
            done.text
        );
        done.json["conduit"] = serde_json::to_value(&conduit)?;
        Ok(done)
    }

    /// Every conduit, with what its next run would do.
    pub fn conduits(&self) -> Result<Done> {
        let links = self.links();
        let rows = Conduits::new(self.lib.db().clone())
            .list()?
            .into_iter()
            .map(|conduit| {
                let next = conduit
                    .preview(&self.lib, &links)
                    .map_err(|e| e.to_string());
                crate::replies::conduits::Row { conduit, next }
            })
            .collect();
        Done::of(&crate::replies::conduits::List(rows))
    }

    /// Runs each conduit whose plan has work (`recent`: each conduit's
    /// last plan and when it ran, so a plan the destination's index has
    /// not caught up with is not run again at once).
    pub fn run_conduits(&self, recent: &mut HashMap<u64, (Vec<String>, Instant)>) {
        let conduits = Conduits::new(self.lib.db().clone());
        let Ok(all) = conduits.list() else {
            return;
        };
        for mut conduit in all {
            let _one_run = self.conduit_runs.lock().unwrap_or_else(|e| e.into_inner());
            let preview = match conduit.preview(&self.lib, &self.links()) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!("conduit {}: {e}", conduit.id);
                    continue;
                }
            };
            let work = steps(&preview);
            if work.is_empty() {
                // In step: what both sides now show agreeing is the base
                // the next change is judged against.
                if let Some(base) = &preview.plan.base
                    && let Err(e) = conduits.set_base(conduit.id, base)
                {
                    tracing::warn!("conduit {}: {e}", conduit.id);
                }
                continue;
            }
            if recent
                .get(&conduit.id)
                .is_some_and(|(last, at)| *last == work && at.elapsed() < SETTLE)
            {
                continue;
            }
            recent.insert(conduit.id, (work, Instant::now()));
            match self.conduit_run(&mut conduit, preview) {
                Ok(done) => tracing::info!("conduit {}: {}", conduit.id, done.text.trim()),
                Err(e) => tracing::warn!("conduit {}: {e:#}", conduit.id),
            }
        }
    }
}

impl Host {
    /// Runs `preview` as `conduit`'s next run (a logged sync action); a
    /// run that went through without an error becomes the base of a
    /// bidirectional conduit.
    fn conduit_run(&self, conduit: &mut Conduit, mut preview: Preview) -> Result<Done> {
        let base = preview.plan.base.take();
        let done = self.logged(preview, true, &Pace::default(), None)?;
        let conduits = Conduits::new(self.lib.db().clone());
        if let Some(base) = base.filter(|_| done.json["status"] == "done") {
            conduits.set_base(conduit.id, &base)?;
        }
        conduit.last_action = done.json["id"].as_u64();
        conduits.update(conduit)?;
        Ok(done)
    }
}

/// What a sync's plan would change, by destination.
fn steps(preview: &Preview) -> Vec<String> {
    let plan = &preview.plan;
    let mut out: Vec<String> = plan
        .items
        .iter()
        .chain(&plan.updates)
        .map(|i| i.to.to_string())
        .chain(plan.removals.iter().map(ToString::to_string))
        .chain(plan.dirs.iter().map(ToString::to_string))
        .chain(plan.renames.iter().map(|(from, _)| from.to_string()))
        .collect();
    out.sort();
    out
}
