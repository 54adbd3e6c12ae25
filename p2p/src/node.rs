//! The running libp2p node: a swarm on its own thread and tokio runtime,
//! driven by commands from the daemon.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use futures::StreamExt;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, mdns, noise, tcp, yamux};
use sdfs_core::Library;
use sdfs_core::content_store::ContentStore;
use sdfs_core::ids::DeviceId;
use sdfs_core::model::device::DeviceRecord;
use sdfs_core::pairing::{DeviceInfo, Invite, InviteSecret, Joiner, PairRequest, PairResponse};
use sdfs_core::sync::replica::Applied;
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::fetch::{NodeLink, Waiter};
use crate::gate::{Admission, Gate};
use crate::protocol::{ChunkRequest, ChunkResponse, SyncResponse};
use crate::pull::{PeerSync, PullKind, SyncCounters};

/// How long a `sd pair join` may take, dial included.
const JOIN_DEADLINE: Duration = Duration::from_secs(20);

/// How often paired devices that are not connected are dialled again.
const REDIAL_EVERY: Duration = Duration::from_secs(2);
/// How long revoking a device waits for its connections to close.
const DISCONNECT_WAIT: Duration = Duration::from_secs(2);

/// What `sd status` shows of the node.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeStatus {
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub connected: Vec<String>,
    pub sync: SyncCounters,
    pub transfer: TransferCounters,
}

/// File bytes this node sent to other devices (what a copy or a sync
/// costs the link, beside the index pages `sync` counts).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TransferCounters {
    /// Chunk and manifest bytes served to devices that asked for them.
    pub chunk_bytes_served: u64,
    /// Bytes of the deliveries sent (a small file travels inside one).
    pub delivery_bytes_sent: u64,
}

/// Called on the node's thread after a page from a device was applied
/// (the mount drops what the kernel cached of the changed entries).
pub type AppliedObserver = Box<dyn Fn(DeviceId, &Applied) + Send + Sync>;

/// How a node starts.
pub struct NodeConfig {
    /// Addresses to listen on (port 0 picks one).
    pub listen: Vec<Multiaddr>,
    /// An address that cannot be listened on is an error (otherwise a
    /// warning: the defaults must not stop a daemon on a machine without,
    /// say, UDP).
    pub strict: bool,
    /// Addresses to dial at start (`sd daemon --peer`).
    pub dial: Vec<Multiaddr>,
    pub on_applied: Option<AppliedObserver>,
    /// Pull from each paired device at least this often, in case an
    /// announcement of its changes was lost.
    pub sync_every: Duration,
}

/// The device a pairing reached.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PairedWith {
    pub device: DeviceInfo,
    pub peer_id: String,
}

/// An open invite, as `sd pair invite` prints it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InviteInfo {
    pub code: String,
    pub addrs: Vec<String>,
    pub expires_at: i64,
}

pub(crate) enum Command {
    Status(oneshot::Sender<NodeStatus>),
    Fetch {
        device: DeviceId,
        requests: Vec<ChunkRequest>,
        reply: std::sync::mpsc::Sender<(usize, Result<ChunkResponse, String>)>,
    },
    Deliver {
        device: DeviceId,
        request: crate::protocol::DeliverRequest,
        reply: std::sync::mpsc::Sender<Result<crate::protocol::DeliverResponse, String>>,
    },
    Invite(oneshot::Sender<Result<InviteInfo>>),
    Join {
        secret: InviteSecret,
        addr: Option<Multiaddr>,
        reply: oneshot::Sender<Result<PairedWith>>,
    },
    Disconnect(PeerId, oneshot::Sender<()>),
    Shutdown,
}

/// A handle on the running node. Dropping it stops the node.
pub struct Node {
    commands: mpsc::UnboundedSender<Command>,
    peer_id: PeerId,
    /// Other devices' deliveries being applied here now.
    receiving: Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peer_id", &self.peer_id)
            .finish()
    }
}

impl Node {
    /// Starts the node of the library behind `content` (`status` reports
    /// the real listen addresses).
    pub fn start(content: Arc<ContentStore>, config: NodeConfig) -> Result<Node> {
        let NodeConfig {
            listen,
            strict,
            dial,
            on_applied,
            sync_every,
        } = config;
        let lib = Arc::clone(content.library());
        let key = crate::identity::load_or_create(lib.dir())?;
        let peer_id = key.public().to_peer_id();
        let gate = Gate::default();
        {
            let mut admission = gate.admission.write().unwrap_or_else(|e| e.into_inner());
            admission.paired = lib
                .devices()?
                .iter()
                .filter_map(|d| d.peer_id.as_deref()?.parse().ok())
                .collect();
        }
        let admission = Arc::clone(&gate.admission);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sd-p2p")
            .enable_all()
            .build()?;
        let swarm = runtime.block_on(async {
            Ok::<_, anyhow::Error>(
                libp2p::SwarmBuilder::with_existing_identity(key)
                    .with_tokio()
                    .with_tcp(
                        tcp::Config::default().nodelay(true),
                        noise::Config::new,
                        yamux::Config::default,
                    )?
                    .with_quic()
                    .with_dns()?
                    .with_relay_client(noise::Config::new, yamux::Config::default)?
                    .with_behaviour(|key, relay| Behaviour::new(key, relay, gate))?
                    .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                    .build(),
            )
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let commands = tx.clone();
        let receiving = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counting = Arc::clone(&receiving);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sd-p2p".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut state =
                        State::new(content, swarm, admission, on_applied, sync_every, commands);
                    state.receiving = counting;
                    let mut ok = true;
                    for addr in listen {
                        if let Err(e) = state.swarm.listen_on(addr.clone()) {
                            if strict {
                                let _ = ready_tx.send(Err(anyhow!("listening on {addr}: {e}")));
                                ok = false;
                                break;
                            }
                            tracing::warn!("p2p: not listening on {addr}: {e}");
                        }
                    }
                    if ok {
                        for addr in dial {
                            if let Err(e) = state.swarm.dial(addr.clone()) {
                                tracing::warn!("p2p: dialling {addr}: {e}");
                            }
                        }
                        let _ = ready_tx.send(Ok(()));
                        state.run(rx).await;
                    }
                });
            })?;
        ready_rx
            .recv()
            .context("the p2p thread stopped while starting")??;
        Ok(Node {
            commands: tx,
            peer_id,
            receiving,
            thread: Some(thread),
        })
    }

    /// The node as the way reads reach other devices.
    pub fn link(&self) -> NodeLink {
        NodeLink {
            commands: self.commands.clone(),
        }
    }

    /// How many deliveries from other devices are being applied here.
    pub fn receiving(&self) -> usize {
        self.receiving.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn peer_id(&self) -> String {
        self.peer_id.to_string()
    }

    fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| anyhow!("the p2p node has stopped"))?;
        rx.blocking_recv()
            .map_err(|_| anyhow!("the p2p node has stopped"))
    }

    pub fn status(&self) -> Result<NodeStatus> {
        self.ask(Command::Status)
    }

    /// Opens an invite (replacing any open one).
    pub fn invite(&self) -> Result<InviteInfo> {
        self.ask(Command::Invite)?
    }

    /// Pairs with the device that showed `code`, at `addr` or found by mDNS.
    pub fn join(&self, code: &str, addr: Option<Multiaddr>) -> Result<PairedWith> {
        let secret = InviteSecret::parse(code)?;
        self.ask(|reply| Command::Join {
            secret,
            addr,
            reply,
        })?
    }

    /// Refuses `peer` from now on and closes its connections (a revoked
    /// device). Returns once the node has done so: the revocation holds
    /// for any connection that arrives after this call.
    pub fn disconnect(&self, peer: &str) -> Result<()> {
        let peer: PeerId = peer.parse().context("peer id")?;
        self.ask(|done| Command::Disconnect(peer, done))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One pairing this device joins.
struct Joining {
    secret: InviteSecret,
    joiner: Option<Joiner>,
    reply: oneshot::Sender<Result<PairedWith>>,
    deadline: Instant,
    /// Peers still to try (mDNS), when no address was given.
    candidates: Vec<PeerId>,
    peer: Option<PeerId>,
}

/// Work finished on the blocking pool, back to the swarm's loop.
pub(crate) enum Internal {
    SyncAnswer(ResponseChannel<SyncResponse>, SyncResponse),
    ChunkAnswer(ResponseChannel<ChunkResponse>, ChunkResponse),
    DeliverAnswer(
        ResponseChannel<crate::protocol::DeliverResponse>,
        crate::protocol::DeliverResponse,
    ),
    Applied {
        peer: PeerId,
        device: DeviceId,
        tag: u64,
        more: bool,
        result: std::result::Result<Applied, String>,
    },
    SharedApplied {
        peer: PeerId,
        tag: u64,
        more: bool,
        result: std::result::Result<usize, String>,
    },
}

pub(crate) struct State {
    pub(crate) lib: Arc<Library>,
    pub(crate) content: Arc<ContentStore>,
    pub(crate) swarm: Swarm<Behaviour>,
    me: DeviceInfo,
    invite: Option<Invite>,
    /// Joins waiting for their dial.
    dialing: HashMap<ConnectionId, Joining>,
    /// Joins waiting for a response.
    asking: HashMap<OutboundRequestId, Joining>,
    discovered: HashSet<PeerId>,
    listen_addrs: Vec<Multiaddr>,
    pub(crate) admission: Arc<std::sync::RwLock<Admission>>,
    /// Paired devices by peer id.
    pub(crate) paired_devices: HashMap<PeerId, DeviceId>,
    /// Where paired devices were last reached.
    known_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Addresses of connected peers not (yet) paired: kept once they pair.
    recent_addrs: HashMap<PeerId, Vec<Multiaddr>>,
    /// Connected paired devices and their pull schedules.
    pub(crate) syncing: HashMap<PeerId, PeerSync>,
    /// Devices with a page being applied (one at a time each, per kind).
    pub(crate) applying: HashSet<(PeerId, PullKind)>,
    pub(crate) pulls: HashMap<OutboundRequestId, (PeerId, u64, PullKind)>,
    /// Revoked devices whose connections are closing, with whom to tell
    /// once they are gone (or the deadline passed).
    closing: Vec<(PeerId, Instant, oneshot::Sender<()>)>,
    /// Between pulls from a device that announced nothing (ms).
    pub(crate) pull_every: u64,
    /// What we last told syncing devices had changed here: our change-log
    /// heads and shared version vector.
    pub(crate) announced: Option<(
        [u64; sdfs_core::sync::Resource::ALL.len()],
        sdfs_core::shared::VersionVector,
    )>,
    pub(crate) fetches: HashMap<OutboundRequestId, Waiter>,
    /// Deliveries sent, waiting for the owner's answer.
    pub(crate) deliveries: HashMap<OutboundRequestId, crate::deliver::DeliveryWaiter>,
    /// The node's own command queue: what the blocking pool uses to fetch
    /// a delivery's chunks through the swarm.
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) receiving: Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) internal: mpsc::UnboundedSender<Internal>,
    internal_rx: Option<mpsc::UnboundedReceiver<Internal>>,
    pub(crate) on_applied: Option<AppliedObserver>,
    pub(crate) counters: SyncCounters,
    pub(crate) transfer: TransferCounters,
    pub(crate) started: Instant,
    last_redial: Instant,
}

impl State {
    fn new(
        content: Arc<ContentStore>,
        swarm: Swarm<Behaviour>,
        admission: Arc<std::sync::RwLock<Admission>>,
        on_applied: Option<AppliedObserver>,
        sync_every: Duration,
        commands: mpsc::UnboundedSender<Command>,
    ) -> State {
        let lib = Arc::clone(content.library());
        let (internal, internal_rx) = mpsc::unbounded_channel();
        let known_addrs = crate::addrs::load(&lib);
        let me = DeviceInfo {
            id: lib.device_id(),
            name: lib.device_name().to_owned(),
            os: std::env::consts::OS.to_owned(),
        };
        let mut state = State {
            lib,
            content,
            swarm,
            me,
            invite: None,
            dialing: HashMap::new(),
            asking: HashMap::new(),
            discovered: HashSet::new(),
            listen_addrs: Vec::new(),
            admission,
            paired_devices: HashMap::new(),
            known_addrs,
            recent_addrs: HashMap::new(),
            syncing: HashMap::new(),
            applying: HashSet::new(),
            pulls: HashMap::new(),
            closing: Vec::new(),
            announced: None,
            pull_every: sync_every.as_millis().max(1) as u64,
            fetches: HashMap::new(),
            deliveries: HashMap::new(),
            commands,
            receiving: Arc::default(),
            internal,
            internal_rx: Some(internal_rx),
            on_applied,
            counters: SyncCounters::default(),
            transfer: TransferCounters::default(),
            started: Instant::now(),
            last_redial: Instant::now() - REDIAL_EVERY,
        };
        state.reload_paired();
        for (peer, addrs) in &state.known_addrs {
            for addr in addrs {
                state.swarm.add_peer_address(*peer, addr.clone());
            }
        }
        state
    }

    /// Keeps an address `peer` was reached at or listens on: in the library
    /// for a paired device, in memory (until it pairs or leaves) otherwise.
    fn note_addr(&mut self, peer: PeerId, addr: Multiaddr) {
        if self.paired_devices.contains_key(&peer) {
            self.swarm.add_peer_address(peer, addr.clone());
            crate::addrs::remember(&self.lib, &mut self.known_addrs, peer, addr);
        } else {
            let recent = self.recent_addrs.entry(peer).or_default();
            if !recent.contains(&addr) && recent.len() < 16 {
                recent.push(addr);
            }
        }
    }

    /// Re-reads which devices are paired.
    fn reload_paired(&mut self) {
        let me = self.lib.device_id();
        self.paired_devices = self
            .lib
            .devices()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.id != me)
            .filter_map(|d| Some((d.peer_id.as_deref()?.parse().ok()?, d.id)))
            .collect();
    }

    /// Dials paired devices that are not connected, at the addresses they
    /// were last reached at (and whatever mDNS found).
    fn redial(&mut self) {
        if self.last_redial.elapsed() < REDIAL_EVERY {
            return;
        }
        self.last_redial = Instant::now();
        let offline: Vec<PeerId> = self
            .paired_devices
            .keys()
            .filter(|p| !self.swarm.is_connected(p))
            .copied()
            .collect();
        for peer in offline {
            let addrs = self.known_addrs.get(&peer).cloned().unwrap_or_default();
            if addrs.is_empty() && !self.discovered.contains(&peer) {
                continue;
            }
            let opts = DialOpts::peer_id(peer)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .addresses(addrs)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!("p2p: redialling {peer}: {e}");
            }
        }
    }

    fn on_internal(&mut self, work: Internal) {
        match work {
            Internal::SyncAnswer(channel, response) => {
                self.count_served(&response);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Internal::DeliverAnswer(channel, response) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .deliver
                    .send_response(channel, response);
            }
            Internal::ChunkAnswer(channel, response) => {
                self.transfer.chunk_bytes_served += match &response {
                    ChunkResponse::Manifest(bytes) => bytes.len() as u64,
                    ChunkResponse::Chunk(bytes) => bytes.len() as u64,
                    ChunkResponse::Chunks(all) => all.iter().map(|b| b.len() as u64).sum(),
                    ChunkResponse::Listing(_) | ChunkResponse::Refused(_) => 0,
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .chunks
                    .send_response(channel, response);
            }
            Internal::Applied {
                peer,
                device,
                tag,
                more,
                result,
            } => {
                self.on_applied(peer, device, tag, more, result);
                // A page that says more is followed at once.
                self.drive_pulls();
            }
            Internal::SharedApplied {
                peer,
                tag,
                more,
                result,
            } => {
                self.on_shared_applied(peer, tag, more, result);
                self.drive_pulls();
            }
        }
    }

    async fn run(&mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let Some(mut internal) = self.internal_rx.take() else {
            return;
        };
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(Command::Shutdown) => return,
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                Some(work) = internal.recv() => self.on_internal(work),
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.closed(|_, deadline| *deadline <= now);
                    self.expire_joins();
                    self.announce_changes();
                    self.drive_pulls();
                    self.redial();
                }
            }
        }
    }

    /// Tells the waiters of revocations matching `done` that they are done.
    fn closed(&mut self, done: impl Fn(&PeerId, &Instant) -> bool) {
        for (peer, _, waiter) in self.closing.extract_if(.., |(p, d, _)| done(p, d)) {
            tracing::debug!("p2p: {peer} disconnected");
            let _ = waiter.send(());
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(NodeStatus {
                    peer_id: self.swarm.local_peer_id().to_string(),
                    listen_addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
                    connected: self
                        .swarm
                        .connected_peers()
                        .map(|p| p.to_string())
                        .collect(),
                    sync: self.counters.clone(),
                    transfer: self.transfer.clone(),
                });
            }
            Command::Fetch {
                device,
                requests,
                reply,
            } => self.fetch(device, requests, reply),
            Command::Deliver {
                device,
                request,
                reply,
            } => self.send_delivery(device, request, reply),
            Command::Invite(reply) => {
                let result = InviteSecret::random()
                    .map_err(anyhow::Error::from)
                    .map(|secret| {
                        let code = secret.code();
                        let invite = Invite::new(secret, sdfs_core::time::unix_now_secs());
                        let expires_at = invite.expires_at();
                        self.invite = Some(invite);
                        self.admit(|a| a.invite_until = expires_at);
                        InviteInfo {
                            code,
                            addrs: self.reachable_addrs(),
                            expires_at,
                        }
                    });
                let _ = reply.send(result);
            }
            Command::Join {
                secret,
                addr,
                reply,
            } => {
                let mut joining = Joining {
                    secret,
                    joiner: None,
                    reply,
                    deadline: Instant::now() + JOIN_DEADLINE,
                    candidates: Vec::new(),
                    peer: None,
                };
                match addr {
                    Some(addr) => {
                        let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
                        let id = opts.connection_id();
                        match self.swarm.dial(opts) {
                            Ok(()) => {
                                self.dialing.insert(id, joining);
                            }
                            Err(e) => {
                                let _ = joining.reply.send(Err(anyhow!("dialling {addr}: {e}")));
                            }
                        }
                    }
                    None => {
                        joining.candidates = self.discovered.iter().copied().collect();
                        self.try_next_candidate(joining);
                    }
                }
            }
            Command::Disconnect(peer, done) => {
                // Refused from now on, then cut off.
                self.admit(|a| {
                    a.paired.remove(&peer);
                });
                self.paired_devices.remove(&peer);
                self.syncing.remove(&peer);
                let _ = self.swarm.disconnect_peer_id(peer);
                // Done once its connections are gone: until then, a request
                // it had already sent could still reach a protocol (and be
                // refused there, not at the door).
                if self.swarm.is_connected(&peer) {
                    let deadline = Instant::now() + DISCONNECT_WAIT;
                    self.closing.push((peer, deadline, done));
                } else {
                    let _ = done.send(());
                }
            }
            Command::Shutdown => {}
        }
    }

    /// Listen addresses worth telling another device: unspecified ones
    /// (0.0.0.0) are replaced by what the swarm actually listens on.
    fn reachable_addrs(&self) -> Vec<String> {
        let me = *self.swarm.local_peer_id();
        self.listen_addrs
            .iter()
            .map(|a| a.clone().with_p2p(me).unwrap_or_else(|a| a).to_string())
            .collect()
    }

    fn try_next_candidate(&mut self, mut joining: Joining) {
        let Some(peer) = joining.candidates.pop() else {
            let _ = joining.reply.send(Err(anyhow!(
                "no device answered the code (give its address with --addr)"
            )));
            return;
        };
        self.send_hello(peer, joining);
    }

    fn send_hello(&mut self, peer: PeerId, mut joining: Joining) {
        let me = self.swarm.local_peer_id().to_string();
        let (joiner, hello) = Joiner::start(&joining.secret, &me, &peer.to_string());
        joining.joiner = Some(joiner);
        joining.peer = Some(peer);
        let id = self.swarm.behaviour_mut().pair.send_request(&peer, hello);
        self.asking.insert(id, joining);
    }

    fn expire_joins(&mut self) {
        let now = Instant::now();
        for j in take_late(&mut self.dialing, now) {
            let _ = j.reply.send(Err(anyhow!("timed out reaching the device")));
        }
        for j in take_late(&mut self.asking, now) {
            let _ = j.reply.send(Err(anyhow!("timed out pairing")));
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!("p2p: listening on {address}");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if let libp2p::core::ConnectedPoint::Dialer { address, .. } = &endpoint {
                    self.note_addr(peer_id, address.clone());
                }
                self.start_sync(peer_id);
                // Changes waiting for this device go now, not after a pause.
                if let Some(device) = self.paired_devices.get(&peer_id) {
                    self.content.outbox().reachable(*device);
                }
                if let Err(e) = self
                    .lib
                    .touch_device(&peer_id.to_string(), sdfs_core::time::unix_now_nanos())
                {
                    tracing::warn!("p2p: {e}");
                }
                if let Some(joining) = self.dialing.remove(&connection_id) {
                    self.send_hello(peer_id, joining);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.syncing.remove(&peer_id);
                    self.recent_addrs.remove(&peer_id);
                    self.closed(|p, _| *p == peer_id);
                }
                let _ = self
                    .lib
                    .touch_device(&peer_id.to_string(), sdfs_core::time::unix_now_nanos());
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some(joining) = self.dialing.remove(&connection_id) {
                    let _ = joining
                        .reply
                        .send(Err(anyhow!("could not reach the device: {error}")));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    self.swarm.add_peer_address(peer, addr);
                    self.discovered.insert(peer);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Expired(gone))) => {
                for (peer, _) in gone {
                    self.discovered.remove(&peer);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Pair(event)) => self.on_pair(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Chunks(event)) => self.on_chunks(event),
            SwarmEvent::Behaviour(BehaviourEvent::Deliver(event)) => self.on_deliver(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(
                libp2p::identify::Event::Received { peer_id, info, .. },
            )) => {
                // Where a device listens, for when it is gone and back.
                for addr in info.listen_addrs.into_iter().rev() {
                    self.note_addr(peer_id, addr);
                }
            }
            _ => {}
        }
    }

    fn on_pair(&mut self, event: request_response::Event<PairRequest, PairResponse>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let me = self.swarm.local_peer_id().to_string();
                let now = sdfs_core::time::unix_now_secs();
                let (response, joined) = match self.invite.as_mut() {
                    Some(invite) => {
                        invite.on_request(now, &me, &peer.to_string(), request, &self.me)
                    }
                    None => (
                        PairResponse::Refused {
                            reason: "no open invite".into(),
                        },
                        None,
                    ),
                };
                let response = match joined {
                    Some(device) => match self.remember(&device, peer) {
                        Ok(()) => {
                            // The invite is spent: strangers are refused again.
                            self.admit(|a| a.invite_until = 0);
                            tracing::info!("p2p: paired with {} ({peer})", device.name);
                            response
                        }
                        Err(e) => PairResponse::Refused {
                            reason: e.to_string(),
                        },
                    },
                    None => response,
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .pair
                    .send_response(channel, response);
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(joining) = self.asking.remove(&request_id) {
                    self.on_pair_response(joining, response);
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(joining) = self.asking.remove(&request_id) {
                    let why = match error {
                        request_response::OutboundFailure::ConnectionClosed => anyhow!(
                            "the device closed the connection: it has no open invite, or does not accept this device"
                        ),
                        other => anyhow!("pairing failed: {other}"),
                    };
                    self.fail_or_next(joining, why);
                }
            }
            _ => {}
        }
    }

    fn on_pair_response(&mut self, mut joining: Joining, response: PairResponse) {
        let Some(peer) = joining.peer else { return };
        let Some(joiner) = joining.joiner.as_mut() else {
            return;
        };
        match response {
            PairResponse::Challenge { .. } => match joiner.on_challenge(response, &self.me) {
                Ok(confirm) => {
                    let id = self.swarm.behaviour_mut().pair.send_request(&peer, confirm);
                    self.asking.insert(id, joining);
                }
                Err(e) => self.fail_or_next(joining, e.into()),
            },
            other => {
                let result = joiner
                    .on_welcome(other)
                    .map_err(anyhow::Error::from)
                    .and_then(|device| {
                        self.remember(&device, peer)?;
                        Ok(PairedWith {
                            device,
                            peer_id: peer.to_string(),
                        })
                    });
                match result {
                    Ok(paired) => {
                        tracing::info!("p2p: paired with {} ({peer})", paired.device.name);
                        let _ = joining.reply.send(Ok(paired));
                    }
                    Err(e) => self.fail_or_next(joining, e),
                }
            }
        }
    }

    /// A candidate said no: try the next one, or report `e`.
    fn fail_or_next(&mut self, joining: Joining, e: anyhow::Error) {
        if joining.candidates.is_empty() {
            let _ = joining.reply.send(Err(e));
        } else {
            self.try_next_candidate(joining);
        }
    }

    fn admit(&self, change: impl FnOnce(&mut Admission)) {
        change(&mut self.admission.write().unwrap_or_else(|e| e.into_inner()));
    }

    /// Stores a paired device, admits it and starts syncing with it.
    fn remember(&mut self, device: &DeviceInfo, peer: PeerId) -> Result<()> {
        self.admit(|a| {
            a.paired.insert(peer);
        });
        let record = DeviceRecord {
            id: device.id,
            name: device.name.clone(),
            peer_id: Some(peer.to_string()),
            os: device.os.clone(),
            last_seen: sdfs_core::time::unix_now_nanos(),
        };
        self.lib.add_paired_device(&record)?;
        self.paired_devices.insert(peer, device.id);
        for addr in self.recent_addrs.remove(&peer).unwrap_or_default() {
            self.note_addr(peer, addr);
        }
        if self.swarm.is_connected(&peer) {
            self.start_sync(peer);
        }
        Ok(())
    }
}

/// Removes and returns the joins whose deadline has passed.
fn take_late<K: Copy + Eq + std::hash::Hash>(
    joins: &mut HashMap<K, Joining>,
    now: Instant,
) -> Vec<Joining> {
    let late: Vec<K> = joins
        .iter()
        .filter(|(_, j)| j.deadline <= now)
        .map(|(id, _)| *id)
        .collect();
    late.iter().filter_map(|id| joins.remove(id)).collect()
}
