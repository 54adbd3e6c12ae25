//! What a command answers. Each command's reply is a type of its own
//! (`replies/`), serialised for `--json` and rendered for people by code
//! beside it; the holder of the library does both from the one value, so
//! the JSON, the text and the control socket cannot drift apart.

use std::io::Write;

use serde::{Deserialize, Serialize};

/// Human output of a reply.
pub trait Render {
    fn render(&self, out: &mut dyn Write) -> std::io::Result<()>;
}

/// A command's finished reply: its JSON and its rendering, as they travel
/// over the control socket and reach the terminal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {
    pub json: serde_json::Value,
    pub text: String,
}

impl Done {
    pub fn of<T: Serialize + Render>(reply: &T) -> anyhow::Result<Done> {
        let mut text = Vec::new();
        reply.render(&mut text)?;
        Ok(Done {
            json: serde_json::to_value(reply)?,
            text: String::from_utf8_lossy(&text).into_owned(),
        })
    }

    /// Prints it: JSON on one line, or the rendering.
    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if json {
            writeln!(out, "{}", serde_json::to_string(&self.json)?)?;
        } else {
            out.write_all(self.text.as_bytes())?;
        }
        Ok(())
    }
}

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

/// An optional value as a cell: `-` when absent.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::status::Stopping;

    #[test]
    fn json_and_text_come_from_one_value() {
        let reply = Stopping {
            stopping: 42,
            mount: Some("/home/me/Spacedrive".into()),
        };
        let done = Done::of(&reply).expect("done");
        assert_eq!(
            done.json,
            serde_json::json!({ "stopping": 42, "mount": "/home/me/Spacedrive" })
        );
        assert_eq!(
            done.text,
            "daemon 42 is stopping and unmounting /home/me/Spacedrive\n"
        );
        // What travels over the control socket comes back the same.
        let wire = serde_json::to_string(&done).expect("encode");
        let back: Done = serde_json::from_str(&wire).expect("decode");
        assert_eq!((back.json, back.text), (done.json, done.text));
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 << 30), "10.0 GiB");
    }
}
