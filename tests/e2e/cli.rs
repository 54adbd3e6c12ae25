//! The CLI contract: commands, URIs, errors, the library lock and its version.

use anyhow::Result;
use sdfs_tests::{Sd, write_file};

#[test]
fn hash_prints_hash_id_and_path_with_a_dash_for_empty_files() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let a = write_file(sd.root.path(), b"a.txt", b"hello\n")?;
    let empty = write_file(sd.root.path(), b"empty", b"")?;
    let odd = write_file(sd.root.path(), b"caf\xe9", b"hello\n")?;
    let out = sd.ok([a.as_os_str(), empty.as_os_str(), odd.as_os_str()]
        .iter()
        .fold(vec![std::ffi::OsString::from("hash")], |mut v, p| {
            v.push(p.to_os_string());
            v
        }))?;
    let lines: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 3);
    // BLAKE3(size as u64 LE ++ content), first 16 hex, computed independently here.
    let mut input = 6u64.to_le_bytes().to_vec();
    input.extend_from_slice(b"hello\n");
    let expected = &blake3::hash(&input).to_hex()[..16];
    let first = String::from_utf8_lossy(lines[0]);
    let fields: Vec<&str> = first.split(' ').collect();
    assert_eq!(fields[0], expected);
    assert_eq!(
        fields[1],
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, expected.as_bytes()).to_string()
    );
    assert!(lines[1].starts_with(b"- - "));
    // The non-UTF-8 path comes back byte for byte.
    assert!(lines[2].ends_with(b"caf\xe9"), "{:?}", lines[2]);
    assert!(lines[2].starts_with(expected.as_bytes()));
    Ok(())
}

#[test]
fn malformed_uris_and_unknown_things_fail_with_one_clear_line() -> Result<()> {
    let sd = Sd::init("laptop")?;
    for (args, needle) in [
        (vec!["ls", "http://laptop/x"], "not an sd:// URI"),
        (vec!["stat", "sd://laptop/Docs/../etc"], "'..'"),
        (vec!["stat", "sd://content/nope"], "content id"),
        (vec!["ls", "sd://nas/Photos"], "no device named \"nas\""),
        (vec!["ls", "sd://laptop/Nope"], "no location named \"Nope\""),
        (vec!["location", "rm", "Nope"], "no location named"),
        (vec!["jobs", "pause", "99"], "no job 99"),
    ] {
        let err = sd.fails(&args)?;
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {err:?}"
        );
    }
    Ok(())
}

#[test]
fn a_library_written_by_a_newer_sd_is_refused_untouched() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let config = sd.lib.join("library.json");
    let text = std::fs::read_to_string(&config)?;
    let newer = text.replace("\"schema_version\": 1", "\"schema_version\": 99");
    assert_ne!(text, newer);
    std::fs::write(&config, &newer)?;
    let db_before = std::fs::read(sd.lib.join("library.redb"))?;
    let err = sd.fails(["location", "list"])?;
    assert!(
        err.contains("schema version 99, newer than this sd supports"),
        "{err}"
    );
    assert_eq!(std::fs::read(sd.lib.join("library.redb"))?, db_before);
    assert_eq!(std::fs::read_to_string(&config)?, newer);
    Ok(())
}

#[test]
fn a_second_daemon_is_told_who_holds_the_library() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let daemon = sd.daemon()?;
    let err = sd.fails(["daemon"])?;
    assert!(
        err.contains(&format!("library in use by pid {}", daemon.pid())),
        "{err}"
    );
    // Commands reach the daemon through its socket instead.
    let status = sd.json(["status"])?;
    assert_eq!(
        status["daemon"]["pid"].as_u64(),
        Some(u64::from(daemon.pid()))
    );
    assert_eq!(status["device"]["name"], "laptop");
    let exit = daemon.stop()?;
    assert!(exit.success(), "daemon exit {exit}");
    assert!(
        !sd.lib.join("sd.sock").exists(),
        "socket removed on shutdown"
    );
    // And without it they open the library directly.
    assert!(sd.json(["status"])?["daemon"].is_null());
    Ok(())
}

#[test]
fn init_twice_keeps_the_library_and_refuses_a_rename() -> Result<()> {
    let sd = Sd::init("laptop")?;
    let first = sd.json(["init"])?;
    assert_eq!(first["device_name"], "laptop");
    let err = sd.fails(["init", "--name", "desktop"])?;
    assert!(err.contains("already exists"), "{err}");
    let err = sd.fails(["init", "--name", "content"])?;
    assert!(
        err.contains("already exists") || err.contains("invalid device name"),
        "{err}"
    );
    Ok(())
}
