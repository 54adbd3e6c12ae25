//! Devices on separate network hosts: two network namespaces on a bridge,
//! a daemon in each, finding each other by mDNS as on a home LAN.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sdfs_tests::{Daemon, Sd, wait_for};

/// Two namespaces joined by a bridge; torn down on drop.
struct Lan {
    names: [String; 2],
    bridge: String,
}

fn ip(args: &str) -> Result<()> {
    let status = Command::new("ip").args(args.split(' ')).status()?;
    ensure!(status.success(), "ip {args}");
    Ok(())
}

impl Lan {
    fn new() -> Result<Lan> {
        let tag = std::process::id() % 100_000;
        let lan = Lan {
            names: [format!("sda{tag}"), format!("sdb{tag}")],
            bridge: format!("sdbr{tag}"),
        };
        ip(&format!("link add {} type bridge", lan.bridge))?;
        ip(&format!("link set {} up", lan.bridge))?;
        for (i, ns) in lan.names.iter().enumerate() {
            let (inside, outside) = (format!("{ns}i"), format!("{ns}o"));
            ip(&format!("netns add {ns}"))?;
            ip(&format!("link add {inside} type veth peer name {outside}"))?;
            ip(&format!("link set {inside} netns {ns}"))?;
            ip(&format!("link set {outside} master {}", lan.bridge))?;
            ip(&format!("link set {outside} up"))?;
            ip(&format!("netns exec {ns} ip link set lo up"))?;
            ip(&format!(
                "netns exec {ns} ip addr add 10.77.0.{}/24 dev {inside}",
                i + 1
            ))?;
            ip(&format!("netns exec {ns} ip link set {inside} up"))?;
            ip(&format!(
                "netns exec {ns} ip link set {inside} multicast on"
            ))?;
        }
        Ok(lan)
    }

    /// `sd daemon ARGS` of `sd`'s library inside namespace `i`.
    fn daemon(&self, sd: &Sd, i: usize, args: &[&str]) -> Result<Daemon> {
        let listen = format!("/ip4/10.77.0.{}/tcp/0", i + 1);
        let mut all = vec!["--listen", &listen];
        all.extend_from_slice(args);
        sd.daemon_in(&["ip", "netns", "exec", &self.names[i]], &all)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = ip(&format!("netns del {ns}"));
        }
        let _ = ip(&format!("link del {}", self.bridge));
    }
}

#[test]
fn devices_on_a_lan_pair_by_code_alone() -> Result<()> {
    if !sdfs_tests::is_root() {
        eprintln!("skipped: network namespaces need root");
        return Ok(());
    }
    let lan = Lan::new()?;
    let a = Sd::init("laptop")?;
    let b = Sd::init("nas")?;
    let photos = b.path("photos");
    for i in 0..20 {
        sdfs_tests::write_file(
            &photos,
            format!("album-{}/p{i}.txt", i % 3).as_bytes(),
            format!("picture {i} {}\n", if i % 4 == 0 { "cat" } else { "dog" }).as_bytes(),
        )?;
    }
    b.add_location(&photos, "Photos")?;
    let mnt = a.path("mnt");
    std::fs::create_dir_all(&mnt)?;
    let mnt_arg = mnt.to_str().context("utf-8")?.to_owned();
    let da = lan.daemon(&a, 0, &["--mount", &mnt_arg])?;
    let _db = lan.daemon(&b, 1, &[])?;
    let code = a.json(["pair", "invite"])?["code"]
        .as_str()
        .context("code")?
        .to_owned();
    // No --addr: B finds A by mDNS across the bridge (retrying while the
    // first query and answer cross).
    let mut last = String::new();
    let joined = wait_for(Duration::from_secs(30), || {
        match b.json(["pair", "join", &code]) {
            Ok(v) => v["device"]["name"] == "laptop",
            Err(e) => {
                last = e.to_string();
                false
            }
        }
    });
    joined.with_context(|| format!("never paired over mDNS: {last}"))?;
    let devices = a.json(["devices"])?;
    let nas = devices
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["name"] == "nas")
        .context("A knows nas")?;
    assert_eq!(nas["online"], true);

    // The nas's files in the laptop's mount. The mount lives in the mount
    // namespace `ip netns exec` gave the laptop's daemon; /proc/PID/root
    // reaches into it.
    let remote = std::path::PathBuf::from(format!("/proc/{}/root{}/nas/Photos", da.pid(), mnt_arg));
    let listing = |dir: &std::path::Path| {
        sdfs_tests::sh(&format!(
            "cd {} && find . -mindepth 1 -type f -printf '%P %s\\n' | LC_ALL=C sort",
            sdfs_tests::q(dir)
        ))
    };
    let native = listing(&photos)?;
    wait_for(Duration::from_secs(30), || {
        listing(&remote).ok().as_deref() == Some(native.as_str())
    })
    .with_context(|| format!("find across the LAN: {:?}", listing(&remote)))?;
    let grep = |dir: &std::path::Path| {
        sdfs_tests::sh(&format!(
            "cd {} && grep -r cat . | LC_ALL=C sort",
            sdfs_tests::q(dir)
        ))
    };
    assert_eq!(grep(&remote)?, grep(&photos)?);

    // A save on the laptop crosses the LAN to the nas's disk: an editor's
    // write-then-rename over an existing file, and a new file.
    // album-0/p0.txt was written above, inside one of the albums.
    let first = std::path::Path::new("album-0/p0.txt");
    assert!(photos.join(first).is_file());
    let edited = remote.join(first);
    sdfs_tests::sh(&format!(
        "printf 'edited on the laptop\\n' > {tmp} && mv {tmp} {target} && \
         printf 'new over the LAN\\n' > {new}",
        tmp = sdfs_tests::q(&remote.join("album-0/.edit.tmp")),
        target = sdfs_tests::q(&edited),
        new = sdfs_tests::q(&remote.join("from-laptop.txt")),
    ))?;
    wait_for(Duration::from_secs(60), || {
        std::fs::read(photos.join(first)).ok().as_deref() == Some(&b"edited on the laptop\n"[..])
            && std::fs::read(photos.join("from-laptop.txt"))
                .ok()
                .as_deref()
                == Some(&b"new over the LAN\n"[..])
            && !photos.join("album-0/.edit.tmp").exists()
    })
    .context("the laptop's saves never reached the nas")?;
    Ok(())
}
