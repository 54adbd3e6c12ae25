//! `sd tag`: tags are shared data (HLC-stamped, merged as an
//! observed-remove set), so they can be set on any device's files.

use std::path::Path;

use anyhow::Result;
use sdfs_core::Library;
use sdfs_core::shared::{tags, target};
use serde_json::{Value, json};

/// Adds `add` and removes `remove` on `target` and returns its tags; with
/// neither, lists them (every tagged file when there is no target).
pub fn run(
    lib: &Library,
    mountpoint: Option<&Path>,
    target: Option<Vec<u8>>,
    add: &[String],
    remove: &[String],
) -> Result<Value> {
    let Some(arg) = target else {
        let mut rows = Vec::new();
        for (t, tags) in tags::all(lib.db())? {
            let uri = target::uri_of_target(lib, t)?.map(|u| u.to_string());
            rows.push(json!({ "uri": uri, "device": t.device, "entry": t.entry, "tags": tags }));
        }
        return Ok(Value::Array(rows));
    };
    let uri = target::uri_of(lib, &arg, mountpoint)?;
    let t = target::resolve(lib, &uri)?;
    if !add.is_empty() {
        tags::add(lib.db(), lib.device_id(), t, add)?;
    }
    if !remove.is_empty() {
        tags::remove(lib.db(), lib.device_id(), t, remove)?;
    }
    Ok(json!({ "uri": uri.to_string(), "tags": tags::tags_of(lib.db(), t)? }))
}
