//! `kill -9` in the middle of an index job, then resume (or cancel): the final
//! index equals a clean run's.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use anyhow::{Context, Result};
use sdfs_tests::Sd;
use serde_json::Value;

/// Starts indexing `T` and kills `sd` with SIGKILL right after its first
/// checkpoint. Returns the job id.
fn index_and_kill(sd: &Sd) -> Result<u64> {
    let mut child = sd
        .cmd(["--json", "index", "T"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut job = None;
    for line in BufReader::new(stdout).lines() {
        let event: Value = serde_json::from_str(&line?)?;
        if event["event"] == "progress" && event["counters"]["files"].as_u64() > Some(0) {
            job = event["job"].as_u64();
            child.kill()?;
            break;
        }
    }
    child.wait()?;
    job.context("no progress event before the job ended")
}

fn setup() -> Result<(Sd, std::path::PathBuf)> {
    let sd = Sd::init("laptop")?;
    let data = sd.path("data");
    sdfs_tests::generate_tree(&data, 2500, 8)?;
    sd.add_location(&data, "T")?;
    Ok((sd, data))
}

fn clean_dump(data: &std::path::Path) -> Result<Vec<(String, String, u64, String)>> {
    let clean = Sd::init("laptop")?;
    clean.ok([
        "location",
        "add",
        data.to_str().unwrap_or_default(),
        "--name",
        "T",
    ])?;
    clean.ok(["index", "T"])?;
    clean.dump("sd://laptop/T")
}

fn job_state(sd: &Sd, id: u64) -> Result<String> {
    let jobs = sd.json(["jobs"])?;
    let job = jobs
        .as_array()
        .into_iter()
        .flatten()
        .find(|j| j["id"].as_u64() == Some(id))
        .context("job listed")?;
    Ok(job["state"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn a_killed_index_job_resumes_from_its_checkpoint_to_the_same_index() -> Result<()> {
    let (sd, data) = setup()?;
    let id = index_and_kill(&sd)?;
    // Interrupted, not finished: the kill really landed mid-job.
    assert_eq!(job_state(&sd, id)?, "paused");

    let out = sd.ok(["--json", "jobs", "resume", &id.to_string()])?;
    let text = String::from_utf8(out.stdout)?;
    let started: Value = serde_json::from_str(text.lines().next().unwrap_or_default())?;
    assert_eq!(started["event"], "started");
    assert_eq!(started["resumed"], true);
    assert_eq!(job_state(&sd, id)?, "completed");
    assert_eq!(sd.dump("sd://laptop/T")?, clean_dump(&data)?);
    Ok(())
}

#[test]
fn a_killed_job_can_be_cancelled_and_indexing_starts_over_cleanly() -> Result<()> {
    let (sd, data) = setup()?;
    let id = index_and_kill(&sd)?;
    let cancelled = sd.json(["jobs", "cancel", &id.to_string()])?;
    assert_eq!(cancelled["state"], "cancelled");
    assert!(
        sd.fails(["jobs", "resume", &id.to_string()])?
            .contains("already cancelled")
    );
    let again = sd.json(["index", "T"])?;
    assert_ne!(again[0]["id"].as_u64(), Some(id));
    assert_eq!(again[0]["state"], "completed");
    assert_eq!(sd.dump("sd://laptop/T")?, clean_dump(&data)?);
    Ok(())
}
