//! `sd`: the sdfs command line and daemon.
//!
//! While a daemon holds the library, commands go through its control socket;
//! otherwise they open the library themselves (and hold its lock meanwhile).

mod actions;
mod cache;
mod cli;
mod cloud;
mod conduits;
mod control;
mod daemon;
mod host;
mod outcome;
mod progress;
mod replies;
mod request;
mod search;
mod signals;

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use sdfs_core::Library;
use sdfs_core::indexer::rules::IndexRules;
use sdfs_core::library::default_library_dir;

use cli::{CacheCommand, Cli, Command, DeviceCommand, JobsCommand, LocationCommand, PairCommand};
use host::Host;
use outcome::Done;
use progress::ProgressView;
use request::{Reply, Request};

fn main() -> ExitCode {
    signals::reset_sigpipe();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SD_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let dir = cli.library.clone().unwrap_or_else(default_library_dir);
    let json = cli.json;
    let request = match cli.command {
        Command::Init { name } => return init(&dir, name, json),
        Command::Hash { files } => return hash(&files),
        Command::Debug(cli::DebugCommand::Probe {
            addr,
            what,
            timeout,
        }) => {
            let addr = addr.parse().context("not a multiaddr")?;
            let probe = sdfs_p2p::probe::parse(&what)?;
            let outcome =
                sdfs_p2p::probe::probe(&dir, addr, probe, std::time::Duration::from_secs(timeout))?;
            println!("{}", serde_json::to_string(&outcome)?);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Daemon {
            mount,
            listen,
            peer,
            fetch_timeout,
            sync_every,
        } => {
            let lib = Library::open(&dir)?;
            if !(fetch_timeout > 0.0 && fetch_timeout <= 3600.0) {
                anyhow::bail!("--fetch-timeout must be between 0 and 3600 seconds");
            }
            if !(0.05..=86400.0).contains(&sync_every) {
                anyhow::bail!("--sync-every must be between 0.05 and 86400 seconds");
            }
            daemon::run(
                lib,
                daemon::Options {
                    mountpoint: mount,
                    listen,
                    peers: peer,
                    fetch_timeout: std::time::Duration::from_secs_f64(fetch_timeout),
                    sync_every: std::time::Duration::from_secs_f64(sync_every),
                },
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Mount { mountpoint } => {
            let lib = if Library::exists(&dir) {
                Library::open(&dir)?
            } else {
                Library::create(&dir, &hostname())?
            };
            let mountpoint = mountpoint.unwrap_or_else(default_mountpoint);
            daemon::run(
                lib,
                daemon::Options {
                    mountpoint: Some(mountpoint),
                    ..daemon::Options::default()
                },
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Unmount => Request::Shutdown,
        Command::Location(LocationCommand::Add(add)) => {
            let path =
                std::path::absolute(&add.path).with_context(|| add.path.display().to_string())?;
            let rules = IndexRules {
                skip_hidden: !add.index_hidden,
                skip_dev_dirs: !add.index_dev_dirs,
                skip_system: !add.index_system,
                skip_temp: !add.index_temp,
                gitignore: !add.no_gitignore,
            };
            let path = path.as_os_str().as_bytes().to_vec();
            Request::LocationAdd {
                path,
                name: add.name,
                mode: add.mode,
                rules,
            }
        }
        Command::Cloud(command) => match cloud::request(command)? {
            Some(request) => request,
            None => return Ok(ExitCode::FAILURE),
        },
        Command::Location(LocationCommand::List) => Request::LocationList,
        Command::Location(LocationCommand::Rm { name }) => Request::LocationRm { name },
        Command::Location(LocationCommand::Set {
            name,
            remote_writes,
        }) => Request::LocationSet {
            name,
            remote_writes,
        },
        Command::Conflicts => Request::Conflicts,
        Command::Index { location } => Request::Index { location },
        Command::Ls {
            uri,
            recursive,
            long,
        } => Request::Ls {
            uri,
            recursive,
            long,
        },
        Command::Stat { uri } => Request::Stat { uri },
        Command::Dupes { min_size } => Request::Dupes { min_size },
        Command::Cp(args) => {
            return actions::command(&dir, sdfs_core::actions::ActionKind::Copy, args, json);
        }
        Command::Mv(args) => {
            return actions::command(&dir, sdfs_core::actions::ActionKind::Move, args, json);
        }
        Command::Rm(args) => return actions::remove(&dir, args, json),
        Command::Dedupe(args) => return actions::dedupe(&dir, args, json),
        Command::Log => Request::Log,
        Command::Conduit { action } => return conduits::command(&dir, action, json),
        Command::Undo { id, preview, yes } => {
            return actions::undo(&dir, id, preview, yes, json);
        }
        Command::Guardian { path, limit } => Request::Guardian {
            target: path.as_deref().map(target_bytes).transpose()?,
            limit,
        },
        Command::Search {
            query,
            limit,
            explain,
            now,
            lexical,
        } => Request::Search {
            query: query.join(" "),
            limit,
            explain,
            now,
            lexical,
        },
        Command::Jobs { action } => match action {
            None | Some(JobsCommand::List) => Request::JobsList,
            Some(JobsCommand::Pause { id }) => Request::JobsPause { id },
            Some(JobsCommand::Resume { id }) => Request::JobsResume { id },
            Some(JobsCommand::Cancel { id }) => Request::JobsCancel { id },
        },
        Command::Status => Request::Status,
        Command::Manifest { file } => return cache::manifest(&file, json),
        Command::Model(action) => return model(action).map(|()| ExitCode::SUCCESS),
        Command::Pin { target } => Request::Pin {
            target: target_bytes(&target)?,
        },
        Command::Unpin { target } => Request::Unpin {
            target: target_bytes(&target)?,
        },
        Command::FreeUp { target } => Request::FreeUp {
            target: target_bytes(&target)?,
        },
        Command::Cache(CacheCommand::Stats) => Request::CacheStats,
        Command::Cache(CacheCommand::Gc) => Request::CacheGc,
        Command::Cache(CacheCommand::Verify) => Request::CacheVerify,
        Command::Cache(CacheCommand::Budget { size }) => {
            let bytes = size.as_deref().map(cache::parse_size).transpose()?;
            Request::CacheBudget { bytes }
        }
        Command::Pair(PairCommand::Invite) => Request::PairInvite,
        Command::Pair(PairCommand::Join { code, addr }) => Request::PairJoin {
            code: code.join(" "),
            addr,
        },
        Command::Devices => Request::Devices,
        Command::Tag(cli::TagCommand::Add { target, tags }) => Request::Tag {
            target: Some(target_bytes(&target)?),
            add: tags,
            remove: Vec::new(),
        },
        Command::Tag(cli::TagCommand::Rm { target, tags }) => Request::Tag {
            target: Some(target_bytes(&target)?),
            add: Vec::new(),
            remove: tags,
        },
        Command::Tag(cli::TagCommand::Ls { target }) => Request::Tag {
            target: target.as_deref().map(target_bytes).transpose()?,
            add: Vec::new(),
            remove: Vec::new(),
        },
        Command::Tag(cli::TagCommand::Parent { child, parent }) => Request::TagParent {
            child,
            parent,
            remove: false,
        },
        Command::Tag(cli::TagCommand::Unparent { child, parent }) => Request::TagParent {
            child,
            parent,
            remove: true,
        },
        Command::Device(DeviceCommand::Rm { name }) => Request::DeviceRm { name },
        Command::Validate { rate, reverify } => Request::Validate {
            rate: rate.map(|mib| mib.saturating_mul(1024 * 1024)),
            reverify,
        },
    };
    // URIs are checked before anything is opened, so a typo fails fast and clearly.
    if let Request::Ls { uri, .. } | Request::Stat { uri } = &request {
        uri.parse::<sdfs_core::uri::SdUri>()?;
    }
    match send(&dir, request, json)? {
        Ok(done) => done.print(json)?,
        Err(code) => return Ok(code),
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends `request` to the daemon holding the library, or runs it here when
/// none does. `Err(code)`: interrupted, with the exit code to end with.
pub(crate) fn send(dir: &Path, request: Request, json: bool) -> Result<Result<Done, ExitCode>> {
    let mut view = ProgressView::new(json);
    let mut on_reply = |reply: Reply| match reply {
        Reply::Event(event) => view.event(&event),
        Reply::Fetch(progress) => view.fetch(&progress),
        Reply::Action(progress) => view.action(&progress),
        Reply::Ok(_) | Reply::Error(_) => {}
    };
    let done = match control::connect(&dir.join(sdfs_core::library::SOCKET_FILE)) {
        Some(stream) => control::call(stream, &request, &mut on_reply)?,
        None => {
            let lib = Arc::new(Library::open(dir)?);
            let host = Arc::new(Host::new(Arc::clone(&lib), None, false));
            let interrupted = watch_interrupts(&host);
            let done = host.execute(request, &mut on_reply)?;
            let changed = host.index_changed();
            drop(host);
            if changed && !interrupted() {
                // Copy-on-write leaves the file full of freed pages after a
                // big index; hand them back while nobody else holds it.
                if let Ok(mut lib) = Arc::try_unwrap(lib) {
                    lib.compact()?;
                }
            }
            if interrupted() {
                done.print(json)?;
                eprintln!(
                    "sd: interrupted; the job is paused at its last checkpoint (run the command again to resume)"
                );
                return Ok(Err(ExitCode::from(130)));
            }
            done
        }
    };
    Ok(Ok(done))
}

/// A pin target as the daemon needs it: URIs as given, paths made absolute
/// here (the daemon has another working directory).
pub(crate) fn target_bytes(target: &std::ffi::OsStr) -> Result<Vec<u8>> {
    if target.as_bytes().starts_with(b"sd://") {
        return Ok(target.as_bytes().to_vec());
    }
    let path = std::path::absolute(target).with_context(|| target.display().to_string())?;
    Ok(path.as_os_str().as_bytes().to_vec())
}

/// Ctrl-C during a local job pauses it at its next checkpoint.
fn watch_interrupts(host: &Arc<Host>) -> impl Fn() -> bool + use<> {
    signals::install_termination_flag();
    // Weak: the host (and the library it holds) must be free to go once the
    // command is done.
    let host = Arc::downgrade(host);
    std::thread::spawn(move || {
        while signals::received().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if let Some(host) = host.upgrade() {
            host.pause_all();
        }
    });
    || signals::received().is_some()
}

fn init(dir: &Path, name: Option<String>, json: bool) -> Result<ExitCode> {
    if Library::exists(dir) {
        let lib = Library::open(dir)?;
        if let Some(name) = name
            && name != lib.device_name()
        {
            anyhow::bail!(
                "a library already exists at {} for device {:?}; it was not changed",
                dir.display(),
                lib.device_name()
            );
        }
        report_init(&lib, json, "already initialised")?;
        return Ok(ExitCode::SUCCESS);
    }
    let name = name.unwrap_or_else(hostname);
    let lib = Library::create(dir, &name)?;
    report_init(&lib, json, "initialised")?;
    Ok(ExitCode::SUCCESS)
}

fn report_init(lib: &Library, json: bool, what: &str) -> Result<()> {
    if json {
        let value = serde_json::json!({
            "library": lib.dir(), "library_id": lib.id(),
            "device_id": lib.device_id(), "device_name": lib.device_name(),
        });
        println!("{value}");
    } else {
        println!(
            "{what} library {} at {} for device {:?}",
            lib.id(),
            lib.dir().display(),
            lib.device_name()
        );
    }
    Ok(())
}

fn default_mountpoint() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
        .join("Spacedrive")
}

fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if sdfs_core::library::validate_device_name(&name).is_ok() {
        name
    } else {
        "this-device".into()
    }
}

fn hash(files: &[PathBuf]) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::new();
    let mut failed = false;
    for path in files {
        let result = std::fs::File::open(path).and_then(|file| {
            let size = file.metadata()?.len();
            sdfs_core::content_hash::content_hash_of_file(&file, size, &mut buf)
        });
        match result {
            Ok(hashed) => {
                let (hash, id) = match hashed.hash {
                    Some(h) => (h.to_string(), h.content_id().to_string()),
                    None => ("-".into(), "-".into()),
                };
                out.write_all(format!("{hash} {id} ").as_bytes())?;
                out.write_all(path.as_os_str().as_bytes())?;
                out.write_all(b"\n")?;
            }
            Err(e) => {
                eprintln!("sd: {}: {e}", path.display());
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `sd model`: installs and checks the embedding model (no daemon needed).
fn model(action: cli::ModelCommand) -> Result<()> {
    use sdfs_search::embed;
    let dir = embed::model_dir();
    match action {
        cli::ModelCommand::Install { from } => {
            embed::install(&from, &dir)?;
            println!("installed {} at {}", embed::MODEL, dir.display());
        }
        cli::ModelCommand::Status => match embed::Embedder::load(&dir) {
            Ok(_) => println!("{} at {}: ok", embed::MODEL, dir.display()),
            Err(e) => anyhow::bail!("{e}"),
        },
    }
    Ok(())
}
