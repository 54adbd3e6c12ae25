//! `sd cp` between two daemons on loopback, until every file is on the
//! destination's disk, against `rsync -a` over ssh to an sshd on the same
//! loopback, in the same run; then the same again after editing 1% of
//! the files, which rsync sends as deltas.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::common::{settle, wait};
use crate::devices::ssh::Sshd;
use crate::devices::writes::{count, distinct_file, pending};
use crate::devices::{Device, du, pair};

pub struct CopyRows {
    files: u64,
    bytes: u64,
    preview_ms: f64,
    sdfs: f64,
    rsync: Option<f64>,
    edited: u64,
    rsync_again: Option<(f64, u64)>,
    /// The mirror conduit's run after the edit: seconds, bytes sent.
    sdfs_again: (f64, u64),
}

pub fn measure(sd: &Path, work: &Path, files: u64, mib: u64) -> Result<CopyRows> {
    let work = work.join("copy");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let src = work.join("src");
    let per_file = (mib << 20) / files.max(1);
    for i in 0..files {
        let dir = src.join(format!("d{:02}", i % 20));
        std::fs::create_dir_all(&dir)?;
        distinct_file(&dir.join(format!("f{i:05}.bin")), per_file, i)?;
    }
    let bytes = du(&src);
    let laptop = Device::new(sd, &work, "laptop")?;
    let nas = Device::new(sd, &work, "nas")?;
    let backup = work.join("backup");
    std::fs::create_dir_all(&backup)?;
    laptop.run(&[
        "location",
        "add",
        src.to_str().context("utf-8")?,
        "--name",
        "Src",
    ])?;
    laptop.run(&["index"])?;
    nas.run(&[
        "location",
        "add",
        backup.to_str().context("utf-8")?,
        "--name",
        "Backup",
    ])?;
    nas.run(&["index"])?;
    let _nas_daemon = nas.daemon(&[])?;
    let _laptop_daemon = laptop.daemon(&[])?;
    pair(&laptop, &nas)?;
    wait(Duration::from_secs(60), || {
        laptop.json(&["ls", "sd://nas/Backup"]).is_ok()
    })
    .context("the nas's index never arrived")?;

    let start = Instant::now();
    let preview = laptop.json(&["cp", "sd://laptop/Src", "sd://nas/Backup", "--preview"])?;
    let preview_ms = start.elapsed().as_secs_f64() * 1000.0;
    ensure!(
        preview["files"].as_u64() == Some(files),
        "preview: {preview}"
    );

    settle();
    let landed = backup.join("Src");
    let start = Instant::now();
    let done = laptop.json(&["cp", "sd://laptop/Src", "sd://nas/Backup", "--yes"])?;
    ensure!(done["status"] == "done", "sd cp: {done}");
    wait(Duration::from_secs(3600), || {
        count(&landed) == files && du(&landed) == bytes && pending(&laptop).is_ok_and(|n| n == 0)
    })
    .context("the copy never all reached the nas")?;
    let sdfs = start.elapsed().as_secs_f64();

    let sshd = Sshd::available()
        .then(|| Sshd::start(&work.join("ssh")))
        .transpose()?;
    let dest = work.join("rsync-dest");
    std::fs::create_dir_all(&dest)?;
    let rsync = match &sshd {
        Some(sshd) => {
            settle();
            let start = Instant::now();
            sshd.rsync(&src, &dest)?;
            ensure!(
                du(&dest) == bytes,
                "rsync copied {} of {bytes} bytes",
                du(&dest)
            );
            Some(start.elapsed().as_secs_f64())
        }
        None => None,
    };

    // 1% of the files change: 4 KiB in the middle of each.
    let edited = (files / 100).max(1);
    for i in 0..edited {
        let path = src
            .join(format!("d{:02}", i % 20))
            .join(format!("f{i:05}.bin"));
        let mut data = std::fs::read(&path)?;
        let mid = data.len() / 2;
        let end = (mid + 4096).min(data.len());
        for b in &mut data[mid..end] {
            *b ^= 0xa5;
        }
        std::fs::write(&path, data)?;
    }
    laptop.run(&["index"])?;
    // The same tree again, as a mirror conduit keeps it: only what
    // changed is replaced, and its owner takes only the chunks it lacks.
    let sent = || -> Result<u64> {
        let t = &laptop.json(&["status"])?["p2p"]["transfer"];
        Ok(t["chunk_bytes_served"].as_u64().unwrap_or(0)
            + t["delivery_bytes_sent"].as_u64().unwrap_or(0))
    };
    settle();
    let before = sent()?;
    let start = Instant::now();
    let run = laptop.json(&[
        "conduit",
        "add",
        "sd://laptop/Src",
        "sd://nas/Backup/Src",
        "--mode",
        "mirror",
        "--yes",
    ])?;
    ensure!(run["status"] == "done", "sd conduit add: {run}");
    ensure!(
        run["result"]["files"].as_u64() == Some(edited),
        "the conduit replaced other than the edited files: {run}"
    );
    let edited_here = |i: u64| {
        let rel = Path::new(&format!("d{:02}", i % 20)).join(format!("f{i:05}.bin"));
        std::fs::read(src.join(&rel)).ok() == std::fs::read(landed.join(&rel)).ok()
    };
    wait(Duration::from_secs(3600), || {
        (0..edited).all(edited_here) && pending(&laptop).is_ok_and(|n| n == 0)
    })
    .context("the edits never all reached the nas")?;
    let sdfs_again = (start.elapsed().as_secs_f64(), sent()? - before);
    let rsync_again = match &sshd {
        Some(sshd) => {
            settle();
            let start = Instant::now();
            let sent = sshd.rsync_sent(&src, &dest)?;
            Some((start.elapsed().as_secs_f64(), sent))
        }
        None => None,
    };
    Ok(CopyRows {
        files,
        bytes,
        preview_ms,
        sdfs,
        rsync,
        edited,
        rsync_again,
        sdfs_again,
    })
}

impl CopyRows {
    pub fn render(&self) -> String {
        let mib = self.bytes as f64 / (1 << 20) as f64;
        let (rsync, ratio) = match self.rsync {
            Some(r) => (
                format!("`rsync -a` over ssh {r:.1} s ({:.0} MiB/s)", mib / r),
                format!("{:.2}× rsync", r / self.sdfs),
            ),
            None => ("sshd or rsync not installed".into(), "—".into()),
        };
        let again = match self.rsync_again {
            Some((secs, sent)) => format!(
                "`rsync -a` {secs:.1} s, {:.1} MiB sent ({:.2}% of the tree)",
                sent as f64 / (1 << 20) as f64,
                100.0 * sent as f64 / self.bytes as f64
            ),
            None => "sshd or rsync not installed".into(),
        };
        format!(
            "| `sd cp` of {files} files / {mib:.0} MiB laptop → nas (two daemons on loopback), until all are on the nas's disk | {s:.1} s ({sr:.0} MiB/s) | {rsync} | {ratio} | ahead of rsync |\n\
| its preview (`sd cp --preview`, from the index) | {p:.0} ms | — | — | ≤ 100 ms |\n\
| the same tree after editing {edited} files (1%), as a mirror conduit's run (`sd conduit add --mode mirror`) | {ag:.1} s, {agm:.1} MiB sent ({agp:.2}% of the tree) | {again} | — | < 5% of the bytes |\n",
            files = self.files,
            s = self.sdfs,
            sr = mib / self.sdfs,
            p = self.preview_ms,
            edited = self.edited,
            ag = self.sdfs_again.0,
            agm = self.sdfs_again.1 as f64 / (1 << 20) as f64,
            agp = 100.0 * self.sdfs_again.1 as f64 / self.bytes as f64,
        )
    }
}
