//! A throwaway sshd on loopback for the baselines a user would reach for
//! instead (`rsync -a` over ssh, `sshfs`): its own host and client keys,
//! key login only, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

pub struct Sshd {
    child: Child,
    pub port: u16,
    key: PathBuf,
}

const SSHD: &str = "/usr/sbin/sshd";

impl Sshd {
    /// `None` when sshd, ssh or sshfs is not installed here.
    pub fn available() -> bool {
        Path::new(SSHD).exists() && which("ssh") && which("sshfs") && which("rsync")
    }

    pub fn start(dir: &Path) -> Result<Sshd> {
        std::fs::create_dir_all(dir)?;
        for key in ["host_key", "client_key"] {
            let path = dir.join(key);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("pub"));
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&path)
                .status()?;
            ensure!(status.success(), "ssh-keygen");
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\n\
                 AuthorizedKeysFile {auth}\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 StrictModes no\nUsePAM no\nPidFile {dir}/sshd.pid\n\
                 Subsystem sftp internal-sftp\n",
                host = dir.join("host_key").display(),
                auth = dir.join("authorized_keys").display(),
                dir = dir.display(),
            ),
        )?;
        // Privilege separation wants its directory.
        std::fs::create_dir_all("/run/sshd")?;
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sshd")?;
        let sshd = Sshd {
            child,
            port,
            key: dir.join("client_key"),
        };
        super::wait(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .context("sshd never listened")?;
        Ok(sshd)
    }

    /// The options every ssh client here needs.
    fn options(&self) -> Vec<String> {
        vec![
            "-p".into(),
            self.port.to_string(),
            "-i".into(),
            self.key.display().to_string(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ]
    }

    /// `rsync -a SRC/ DEST/` over ssh to this server.
    pub fn rsync(&self, src: &Path, dest: &Path) -> Result<()> {
        let ssh = format!("ssh {}", self.options().join(" "));
        let status = Command::new("rsync")
            .arg("-a")
            .arg("-e")
            .arg(ssh)
            .arg(format!("{}/", src.display()))
            .arg(format!("root@127.0.0.1:{}/", dest.display()))
            .status()?;
        ensure!(status.success(), "rsync over ssh failed");
        Ok(())
    }

    /// `rsync -a --stats SRC/ DEST/` over ssh; returns the bytes rsync
    /// says it sent.
    pub fn rsync_sent(&self, src: &Path, dest: &Path) -> Result<u64> {
        let ssh = format!("ssh {}", self.options().join(" "));
        let out = Command::new("rsync")
            .args(["-a", "--stats", "-e", &ssh])
            .arg(format!("{}/", src.display()))
            .arg(format!("root@127.0.0.1:{}/", dest.display()))
            .output()?;
        ensure!(out.status.success(), "rsync over ssh failed");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("Total bytes sent: "))
            .map(|n| n.replace(',', "").trim().parse::<u64>())
            .context("rsync --stats said no bytes sent")?
            .context("rsync's byte count")
    }

    /// Mounts `remote` of this server at `at` with sshfs.
    pub fn sshfs(&self, remote: &Path, at: &Path) -> Result<SshfsMount> {
        std::fs::create_dir_all(at)?;
        let status = Command::new("sshfs")
            .arg(format!("root@127.0.0.1:{}", remote.display()))
            .arg(at)
            .args(["-p", &self.port.to_string()])
            .arg("-o")
            .arg(format!(
                "IdentityFile={},StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR",
                self.key.display()
            ))
            .status()?;
        ensure!(status.success(), "sshfs failed");
        Ok(SshfsMount(at.to_owned()))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct SshfsMount(PathBuf);

impl Drop for SshfsMount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
