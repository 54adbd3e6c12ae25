//! The control socket: `<library>/sd.sock`, one JSON request line per
//! connection, answered by JSON reply lines.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::host::Host;
use crate::request::{Reply, Request};

/// Longest request line accepted: requests are small; anything bigger is not ours.
const MAX_REQUEST: u64 = 1 << 20;

/// Serves requests on `socket` until the process exits.
pub fn serve(host: Arc<Host>, socket: &Path) -> Result<()> {
    // We hold the library lock, so any socket file left here is stale.
    let _ = std::fs::remove_file(socket);
    let listener =
        UnixListener::bind(socket).with_context(|| format!("binding {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("sd-control".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let host = Arc::clone(&host);
                let _ = std::thread::Builder::new()
                    .name("sd-request".into())
                    .spawn(move || handle(&host, stream));
            }
        })?;
    Ok(())
}

fn handle(host: &Arc<Host>, stream: UnixStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut line = String::new();
    let mut reader = BufReader::new(std::io::Read::take(read_half, MAX_REQUEST));
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut writer = std::io::BufWriter::new(stream);
    let mut send = |reply: Reply| {
        if let Ok(mut text) = serde_json::to_vec(&reply) {
            text.push(b'\n');
            let _ = writer.write_all(&text);
            let _ = writer.flush();
        }
    };
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(request) => match host.execute(request, &mut send) {
            Ok(done) => Reply::Ok(done),
            Err(e) => Reply::Error(format!("{e:#}")),
        },
        Err(e) => Reply::Error(format!("bad request: {e}")),
    };
    send(reply);
}

/// Connects to a daemon serving the library at `socket`, if one runs.
pub fn connect(socket: &Path) -> Option<UnixStream> {
    UnixStream::connect(socket).ok()
}

/// Sends `request` to a daemon and hands each event to `on_event`.
pub fn call(
    stream: UnixStream,
    request: &Request,
    on_event: &mut dyn FnMut(Reply),
) -> Result<crate::outcome::Done> {
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    (&stream)
        .write_all(&line)
        .context("sending to the daemon")?;
    for reply in BufReader::new(stream).lines() {
        let reply: Reply = serde_json::from_str(&reply.context("reading from the daemon")?)?;
        match reply {
            Reply::Ok(done) => return Ok(done),
            Reply::Error(message) => bail!("{message}"),
            event => on_event(event),
        }
    }
    bail!("the daemon closed the connection without answering")
}
