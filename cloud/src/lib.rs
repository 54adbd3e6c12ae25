//! sdfs's cloud volumes through OpenDAL: S3 (and S3-compatible servers)
//! and WebDAV, behind core's [`CloudBackend`]. Core never sees OpenDAL;
//! this crate never decides what a file is.
//!
//! OpenDAL is async; core's callers are FUSE threads and jobs. Each call
//! runs on this crate's own small runtime and is waited for with a
//! deadline, so a dead server fails a read with an error, never a hang.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use opendal::Operator;
use sdfs_core::cloud::{
    CloudBackend, CloudConfig, CloudObject, Connector, Put, Secrets, Service, WriteIf,
};
use sdfs_core::{Error, ErrorKind, Result};
use std::fs::File;

/// The longest any one call may take, retries included.
const DEADLINE: Duration = Duration::from_secs(20);
/// A request with no progress for this long is given up (and retried).
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// A server-side copy may take this long (a large object, copied part by
/// part by the service).
const COPY_DEADLINE: Duration = Duration::from_secs(600);
/// Uploads go in parts of this size (S3's multipart), a few at once.
const PART_SIZE: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 8;

/// Opens volumes with OpenDAL.
#[derive(Debug)]
pub struct OpenDal {
    runtime: Arc<tokio::runtime::Runtime>,
}

impl OpenDal {
    pub fn new() -> std::io::Result<OpenDal> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sd-cloud")
            .enable_all()
            .build()?;
        Ok(OpenDal {
            runtime: Arc::new(runtime),
        })
    }
}

impl Connector for OpenDal {
    fn connect(&self, config: &CloudConfig, secrets: &Secrets) -> Result<Arc<dyn CloudBackend>> {
        let bare = operator(&config.service, secrets)?;
        Ok(Arc::new(Bucket {
            op: with_deadline(bare.clone(), DEADLINE),
            slow_op: with_deadline(bare, COPY_DEADLINE),
            runtime: Arc::clone(&self.runtime),
            source: config.service.source(),
        }))
    }
}

fn operator(service: &Service, secrets: &Secrets) -> Result<Operator> {
    let op = match (service, secrets) {
        (
            Service::S3 {
                bucket,
                endpoint,
                region,
                ..
            },
            Secrets::S3 {
                access_key_id,
                secret_access_key,
            },
        ) => {
            let builder = opendal::services::S3::default()
                .bucket(bucket)
                .endpoint(endpoint)
                .region(region.as_deref().unwrap_or("us-east-1"))
                .access_key_id(access_key_id)
                .secret_access_key(secret_access_key)
                .root(&service.root())
                // Only what the user gave: no profile files, no instance
                // metadata service to wait for.
                .disable_config_load()
                .disable_ec2_metadata();
            Operator::new(builder).map_err(convert)?
        }
        (Service::Webdav { endpoint, user, .. }, Secrets::Webdav { password }) => {
            let mut builder = opendal::services::Webdav::default()
                .endpoint(endpoint)
                .root(&service.root());
            if let Some(user) = user {
                builder = builder.username(user);
            }
            if let Some(password) = password {
                builder = builder.password(password);
            }
            Operator::new(builder).map_err(convert)?
        }
        _ => {
            return Err(Error::InvalidInput(
                "the secrets are for another kind of service".into(),
            ));
        }
    };
    Ok(op)
}

/// `op` with every call bounded by `deadline` (and a request with no
/// progress by [`IO_TIMEOUT`]), retried a little.
fn with_deadline(op: Operator, deadline: Duration) -> Operator {
    op.layer(
        opendal::layers::TimeoutLayer::new()
            .with_timeout(deadline)
            .with_io_timeout(IO_TIMEOUT),
    )
    .layer(
        opendal::layers::RetryLayer::new()
            .with_max_times(2)
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(1)),
    )
}

/// One volume's service.
#[derive(Debug)]
struct Bucket {
    op: Operator,
    /// For server-side copies, which take time in proportion to the
    /// object's size with nothing to show for it here.
    slow_op: Operator,
    runtime: Arc<tokio::runtime::Runtime>,
    source: String,
}

impl Bucket {
    /// Runs `fut` on the runtime and waits for it, at most [`DEADLINE`]
    /// and a little.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        self.run_within(DEADLINE, fut)
    }

    /// [`Bucket::run`] with another deadline.
    fn run_within<T: Send + 'static>(
        &self,
        deadline: Duration,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let task = self.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match rx.recv_timeout(deadline + Duration::from_secs(5)) {
            Ok(result) => result,
            Err(_) => {
                task.abort();
                Err(Error::fs(
                    ErrorKind::TimedOut,
                    format!("{} did not answer in time", self.source),
                ))
            }
        }
    }
}

fn text(path: &[u8]) -> Result<&str> {
    std::str::from_utf8(path).map_err(|_| {
        Error::fs(
            ErrorKind::InvalidInput,
            "a cloud object's name must be UTF-8",
        )
    })
}

impl CloudBackend for Bucket {
    fn list_dir(
        &self,
        dir: &[u8],
        visit: &mut dyn FnMut(Vec<CloudObject>) -> Result<()>,
    ) -> Result<()> {
        let dir = text(dir)?;
        let listed = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let op = self.op.clone();
        let mut lister = {
            let listed = listed.clone();
            self.run(async move { op.lister(&listed).await.map_err(convert) })?
        };
        // Pages of what the service returns: never the whole directory
        // held in one future.
        loop {
            let page = self.run(async move {
                let mut page = Vec::new();
                while page.len() < 1000 {
                    match lister.try_next().await.map_err(convert)? {
                        Some(entry) => page.push(entry),
                        None => return Ok((lister, page, true)),
                    }
                }
                Ok((lister, page, false))
            })?;
            let (back, entries, done) = page;
            lister = back;
            let objects = entries
                .into_iter()
                .filter(|e| e.path() != listed && !e.path().is_empty() && e.path() != "/")
                .filter_map(|e| object_of(&e))
                .collect();
            visit(objects)?;
            if done {
                return Ok(());
            }
        }
    }

    fn read(&self, path: &[u8], range: Range<u64>) -> Result<Vec<u8>> {
        let path = text(path)?.to_owned();
        let op = self.op.clone();
        self.run(async move {
            match op.read_with(&path).range(range).await {
                Ok(buffer) => Ok(buffer.to_vec()),
                // Services answer a ranged read of an object (or bucket)
                // that is gone in their own ways (a range error, say): the
                // object's own HEAD tells a missing one apart.
                Err(e) if e.kind() != opendal::ErrorKind::NotFound => match op.stat(&path).await {
                    Err(gone) if gone.kind() == opendal::ErrorKind::NotFound => Err(convert(gone)),
                    _ => Err(convert(e)),
                },
                Err(e) => Err(convert(e)),
            }
        })
    }

    fn stat(&self, path: &[u8]) -> Result<Option<CloudObject>> {
        let path = text(path)?.to_owned();
        let op = self.op.clone();
        self.run(async move {
            let name = path.rsplit('/').next().unwrap_or_default().to_owned();
            for candidate in [path.clone(), format!("{path}/")] {
                match op.stat(&candidate).await {
                    Ok(meta) => return Ok(Some(object_from(name.as_bytes(), &meta))),
                    Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
                    Err(e) => return Err(convert(e)),
                }
            }
            Ok(None)
        })
    }

    fn put(&self, path: &[u8], file: &File, condition: &WriteIf) -> Result<Put> {
        let path = text(path)?.to_owned();
        let capability = self.op.info().capability();
        let op = self.op.clone();
        let condition = condition.clone();
        let writer = {
            let path = path.clone();
            self.run(async move {
                let mut writer = op
                    .writer_with(&path)
                    .chunk(PART_SIZE)
                    .concurrent(PARTS_IN_FLIGHT);
                match condition {
                    WriteIf::Absent if capability.write_with_if_not_exists => {
                        writer = writer.if_not_exists(true);
                    }
                    WriteIf::Matches(etag) if capability.write_with_if_match => {
                        writer = writer.if_match(&etag);
                    }
                    _ => {}
                }
                writer.await.map_err(convert)
            })?
        };
        if let Err((writer, stopped)) = self.send(writer, file) {
            // A multipart upload left open would hold its parts on the
            // service: end it (a lost writer's parts expire there).
            if let Some(mut writer) = writer {
                let _ = self.run(async move {
                    let _ = writer.abort().await;
                    Ok(())
                });
            }
            return match stopped {
                Sent::Changed => Ok(Put::Changed),
                Sent::Failed(e) => Err(e),
            };
        }
        match self.stat(path.as_bytes())? {
            Some(object) => Ok(Put::Written(object)),
            None => Err(Error::fs(
                ErrorKind::Unavailable,
                format!("{} lost {path} right after it was written", self.source),
            )),
        }
    }

    fn copy(&self, from: &[u8], to: &[u8], condition: &WriteIf) -> Result<Put> {
        let (from, to) = (text(from)?.to_owned(), text(to)?.to_owned());
        let capability = self.slow_op.info().capability();
        let op = self.slow_op.clone();
        let condition = condition.clone();
        let target = to.clone();
        let copied = self.run_within(COPY_DEADLINE, async move {
            let mut copy = op.copy_with(&from, &target);
            match condition {
                WriteIf::Absent if capability.copy_with_if_not_exists => {
                    copy = copy.if_not_exists(true);
                }
                WriteIf::Matches(etag) if capability.copy_with_if_match => {
                    copy = copy.if_match(&etag);
                }
                _ => {}
            }
            match copy.await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == opendal::ErrorKind::ConditionNotMatch => Ok(false),
                Err(e) => Err(convert(e)),
            }
        })?;
        if !copied {
            return Ok(Put::Changed);
        }
        match self.stat(to.as_bytes())? {
            Some(object) => Ok(Put::Written(object)),
            None => Err(Error::fs(
                ErrorKind::Unavailable,
                format!("{} lost {to} right after it was copied", self.source),
            )),
        }
    }

    fn create_dir(&self, path: &[u8]) -> Result<()> {
        let path = format!("{}/", text(path)?);
        let op = self.op.clone();
        self.run(async move { op.create_dir(&path).await.map_err(convert) })
    }

    fn delete(&self, path: &[u8], dir: bool) -> Result<()> {
        let path = text(path)?;
        let path = if dir {
            format!("{path}/")
        } else {
            path.to_owned()
        };
        let op = self.op.clone();
        self.run(async move { op.delete(&path).await.map_err(convert) })
    }
}

/// Why an upload stopped.
enum Sent {
    /// The condition failed: the object changed meanwhile.
    Changed,
    Failed(Error),
}

/// A writer given back with why it stopped (`None` when a step outlived
/// its deadline and the writer went with it).
type Stopped = (Option<Box<opendal::Writer>>, Sent);

impl Bucket {
    /// Streams `file` through `writer` part by part, each part waited for
    /// with the deadline (so a large file is not bound by one deadline, and
    /// a dead server still fails it), then completes it.
    fn send(&self, mut writer: opendal::Writer, file: &File) -> std::result::Result<(), Stopped> {
        let failed = |e: opendal::Error| {
            if e.kind() == opendal::ErrorKind::ConditionNotMatch {
                Sent::Changed
            } else {
                Sent::Failed(convert(e))
            }
        };
        let mut offset = 0u64;
        loop {
            let mut buf = vec![0u8; PART_SIZE];
            let mut filled = 0;
            while filled < buf.len() {
                match std::os::unix::fs::FileExt::read_at(file, &mut buf[filled..], offset) {
                    Ok(0) => break,
                    Ok(n) => {
                        filled += n;
                        offset += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err((
                            Some(Box::new(writer)),
                            Sent::Failed(Error::io("a file to upload", e)),
                        ));
                    }
                }
            }
            buf.truncate(filled);
            let last = filled < PART_SIZE;
            if filled > 0 {
                // The writer is lent to the runtime for one part and back.
                let (back, result) = self
                    .run(async move {
                        let result = writer.write(buf).await;
                        Ok((writer, result))
                    })
                    .map_err(|e| (None, Sent::Failed(e)))?;
                writer = back;
                if let Err(e) = result {
                    return Err((Some(Box::new(writer)), failed(e)));
                }
            }
            if last {
                break;
            }
        }
        let (back, result) = self
            .run(async move {
                let result = writer.close().await;
                Ok((writer, result))
            })
            .map_err(|e| (None, Sent::Failed(e)))?;
        result
            .map(|_| ())
            .map_err(|e| (Some(Box::new(back)), failed(e)))
    }
}

fn object_of(entry: &opendal::Entry) -> Option<CloudObject> {
    let name = entry.name().trim_end_matches('/');
    if name.is_empty() {
        return None;
    }
    Some(object_from(name.as_bytes(), entry.metadata()))
}

fn object_from(name: &[u8], meta: &opendal::Metadata) -> CloudObject {
    let dir = meta.is_dir();
    CloudObject {
        name: name.to_vec(),
        dir,
        size: if dir { 0 } else { meta.content_length() },
        mtime: meta
            .last_modified()
            .map(|t| t.into_inner().as_nanosecond() as i64)
            .unwrap_or(0),
        etag: meta.etag().map(str::to_owned),
    }
}

/// OpenDAL's error as core's, by kind.
fn convert(e: opendal::Error) -> Error {
    let kind = match e.kind() {
        opendal::ErrorKind::NotFound => ErrorKind::NotFound,
        opendal::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        opendal::ErrorKind::ConfigInvalid | opendal::ErrorKind::Unsupported => {
            ErrorKind::InvalidInput
        }
        opendal::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        opendal::ErrorKind::RangeNotSatisfied => ErrorKind::InvalidInput,
        _ => ErrorKind::Unavailable,
    };
    Error::fs(kind, e.to_string())
}
