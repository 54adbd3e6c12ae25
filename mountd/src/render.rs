//! Human output of command results (the JSON form is the value itself).

use std::io::Write;

use serde_json::Value;

/// `1.5 GiB`-style sizes.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// Writes `value`, the result of `command`, for people.
pub fn render(command: &str, value: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    match command {
        "location add" => writeln!(
            out,
            "added location {} ({}) as {}",
            s(value, "name"),
            s(value, "path"),
            s(value, "uri")
        ),
        "location rm" => writeln!(
            out,
            "removed location {} ({}); its files are untouched",
            s(value, "removed"),
            s(value, "path")
        ),
        "location list" => {
            for row in value.as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{:<20} {:>9} files {:>10}  {:<8} {}",
                    s(row, "name"),
                    n(row, "files"),
                    human_bytes(n(row, "size")),
                    s(row, "mode"),
                    s(row, "path")
                )?;
            }
            Ok(())
        }
        "ls" => {
            for row in value.as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{:<8} {:>10}  {}  {}",
                    s(row, "kind"),
                    n(row, "size"),
                    s(row, "modified"),
                    s(row, "name")
                )?;
            }
            Ok(())
        }
        "stat" => {
            for key in [
                "uri",
                "entry_id",
                "local_path",
                "kind",
                "size",
                "modified",
                "changed",
                "inode",
                "mode",
                "indexed",
                "content_id",
                "content_hash",
                "file_kind",
                "copies",
                "files",
                "link_target",
            ] {
                if !value[key].is_null() {
                    writeln!(out, "{key:>12}: {}", s(value, key))?;
                }
            }
            Ok(())
        }
        "dupes" => {
            let groups = value.as_array().cloned().unwrap_or_default();
            let wasted: u64 = groups.iter().map(|g| n(g, "wasted")).sum();
            for group in &groups {
                writeln!(
                    out,
                    "{} copies of {} ({}), wasting {}:",
                    n(group, "copies"),
                    s(group, "content_id"),
                    human_bytes(n(group, "size")),
                    human_bytes(n(group, "wasted"))
                )?;
                for uri in group["uris"].as_array().into_iter().flatten() {
                    writeln!(out, "  {}", uri.as_str().unwrap_or_default())?;
                }
            }
            writeln!(
                out,
                "{} groups, {} wasted",
                groups.len(),
                human_bytes(wasted)
            )
        }
        "jobs" => {
            for job in value.as_array().into_iter().flatten() {
                render_job(job, out)?;
            }
            Ok(())
        }
        "jobs action" => render_job(value, out),
        "index" => Ok(()),
        "unmount" => writeln!(
            out,
            "daemon {} is stopping{}",
            s(value, "stopping"),
            match value["mount"].as_str() {
                Some(m) => format!(" and unmounting {m}"),
                None => String::new(),
            }
        ),
        "status" => {
            writeln!(
                out,
                "library {} ({})",
                s(value, "library"),
                s(value, "library_id")
            )?;
            writeln!(
                out,
                "device  {} ({})",
                s(&value["device"], "name"),
                s(&value["device"], "id")
            )?;
            match value["daemon"].is_null() {
                true => writeln!(out, "daemon  not running")?,
                false => writeln!(
                    out,
                    "daemon  pid {} since {}",
                    s(&value["daemon"], "pid"),
                    s(&value["daemon"], "started_at")
                )?,
            }
            if !value["p2p"].is_null() {
                let p2p = &value["p2p"];
                let addrs: Vec<&str> = p2p["listen_addrs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                writeln!(
                    out,
                    "p2p     {} on {} ({} connected)",
                    s(p2p, "peer_id"),
                    addrs.join(" "),
                    p2p["connected"].as_array().map_or(0, Vec::len)
                )?;
            }
            if !value["mount"].is_null() {
                writeln!(out, "mount   {}", s(value, "mount"))?;
            }
            writeln!(out, "locations:")?;
            render("location list", &value["locations"], out)?;
            writeln!(out, "active jobs:")?;
            render("jobs", &value["jobs"], out)
        }
        "pin" | "unpin" => {
            let verb = if command == "pin" {
                "pinned"
            } else {
                "unpinned"
            };
            writeln!(
                out,
                "{verb} {} files ({}; {} newly stored)",
                n(value, "files"),
                human_bytes(n(value, "bytes")),
                human_bytes(n(value, "stored_bytes"))
            )?;
            for skipped in value["skipped"].as_array().into_iter().flatten() {
                writeln!(out, "skipped {}", skipped.as_str().unwrap_or_default())?;
            }
            Ok(())
        }
        "pair invite" => {
            writeln!(out, "On the other device, within 5 minutes, run:\n")?;
            writeln!(out, "  sd pair join {}", s(value, "code"))?;
            let addrs: Vec<&str> = value["addrs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !addrs.is_empty() {
                writeln!(
                    out,
                    "\nadding --addr with one of these if it is not on this LAN:"
                )?;
                for addr in addrs {
                    writeln!(out, "  {addr}")?;
                }
            }
            Ok(())
        }
        "pair join" => writeln!(
            out,
            "paired with {} ({})",
            s(&value["device"], "name"),
            s(value, "peer_id")
        ),
        "devices" => {
            for row in value.as_array().into_iter().flatten() {
                let state = if row["this_device"].as_bool() == Some(true) {
                    "this device".to_owned()
                } else if row["online"].as_bool() == Some(true) {
                    "online".to_owned()
                } else {
                    format!("offline, last seen {}", s(row, "last_seen"))
                };
                writeln!(out, "{:<20} {:<8} {}", s(row, "name"), s(row, "os"), state)?;
            }
            Ok(())
        }
        "device rm" => writeln!(out, "unpaired {}", s(value, "removed")),
        "tag" => {
            let rows = match value.as_array() {
                Some(rows) => rows.clone(),
                None => vec![value.clone()],
            };
            for row in rows {
                let tags: Vec<&str> = row["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                writeln!(out, "{}  {}", s(&row, "uri"), tags.join(", "))?;
            }
            Ok(())
        }
        "cache stats" => writeln!(
            out,
            "{} logical in {} of chunks ({:.1}x dedup), {} on disk of a {} budget\n\
             {} whole files assembled ({})\n\
             {} pinned contents hold {}\n\
             hit rate {:.1}% ({} memory, {} disk, {} fetched); hot cache {}",
            human_bytes(n(value, "logical_bytes")),
            human_bytes(n(value, "chunk_bytes")),
            value["dedup_ratio"].as_f64().unwrap_or(0.0),
            human_bytes(n(value, "stored_bytes")),
            human_bytes(n(value, "budget")),
            n(value, "assembled"),
            human_bytes(n(value, "assembled_bytes")),
            n(value, "pinned"),
            human_bytes(n(value, "pinned_bytes")),
            value["hit_rate"].as_f64().unwrap_or(0.0) * 100.0,
            n(value, "hot_hits"),
            n(value, "disk_hits"),
            n(value, "fetched"),
            human_bytes(n(value, "hot_bytes")),
        ),
        "cache gc" => writeln!(
            out,
            "evicted {} chunks ({}) and {} whole files ({}), deleted {} and compacted {} packs: {} -> {} on disk",
            n(value, "evicted_chunks"),
            human_bytes(n(value, "evicted_bytes")),
            n(value, "evicted_files"),
            human_bytes(n(value, "evicted_file_bytes")),
            n(value, "packs_deleted"),
            n(value, "packs_compacted"),
            human_bytes(n(value, "stored_before")),
            human_bytes(n(value, "stored_after")),
        ),
        "cache verify" => {
            let count = |key: &str| value[key].as_array().map_or(0, Vec::len);
            writeln!(
                out,
                "checked {} chunks ({}): {} corrupt (dropped), {} pins refilled, {} pins incomplete; \
                 {} whole files, {} corrupt (deleted)",
                n(value, "chunks"),
                human_bytes(n(value, "bytes")),
                count("corrupt"),
                count("repaired_pins"),
                count("incomplete_pins"),
                n(value, "assembled"),
                count("corrupt_assembled"),
            )
        }
        "validate" => {
            writeln!(
                out,
                "hashed {} files ({}) of {} contents; {} integrity hashes set, {} contents left",
                n(value, "files_hashed"),
                human_bytes(n(value, "bytes_hashed")),
                n(value, "contents"),
                n(value, "integrity_set"),
                n(value, "remaining"),
            )?;
            for issue in value["issues"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "{}: {} (expected {}, read {})",
                    s(issue, "kind"),
                    s(issue, "path"),
                    s(issue, "expected"),
                    s(issue, "actual")
                )?;
            }
            Ok(())
        }
        _ => writeln!(out, "{value}"),
    }
}

fn render_job(job: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    let counters = &job["counters"];
    writeln!(
        out,
        "{:>4} {:<10} {:<6} {:<16} {:<22} {} files, {} identified, {} errors",
        s(job, "id"),
        s(job, "state"),
        s(job, "kind"),
        s(job, "location_name"),
        s(job, "phase"),
        n(counters, "files"),
        n(counters, "identified"),
        n(counters, "errors")
    )
}
