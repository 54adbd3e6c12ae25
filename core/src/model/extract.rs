//! What a content's own bytes say about it (its text, when and with what
//! camera a photo was taken), extracted once on the device that holds the
//! bytes and synced with the content, so that other devices search it while
//! that device is away. Keyed by content id: copies share one record.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bytes of text kept per content at most (the start of the file).
pub const MAX_TEXT: usize = 64 * 1024;
/// Bytes of a camera's name kept at most.
pub const MAX_CAMERA: usize = 256;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractRecord {
    /// Text of a text file, source code or office document, at most
    /// [`MAX_TEXT`] bytes.
    pub text: Option<String>,
    /// When a photo was taken, unix seconds.
    pub taken: Option<i64>,
    /// The camera's make and model.
    pub camera: Option<String>,
}

impl ExtractRecord {
    /// Whether it says nothing (such a record is not kept).
    pub fn is_empty(&self) -> bool {
        self.text.is_none() && self.taken.is_none() && self.camera.is_none()
    }

    /// The record cut to its bounds, at character boundaries.
    pub fn bounded(mut self) -> ExtractRecord {
        if let Some(text) = &mut self.text {
            truncate(text, MAX_TEXT);
        }
        if let Some(camera) = &mut self.camera {
            truncate(camera, MAX_CAMERA);
        }
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        super::encode(self)
    }

    /// Decodes a record, refusing one over its bounds (a peer's word).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let record: ExtractRecord = super::decode("extracts", bytes)?;
        let over = |s: &Option<String>, max: usize| s.as_ref().is_some_and(|s| s.len() > max);
        if over(&record.text, MAX_TEXT) || over(&record.camera, MAX_CAMERA) {
            return Err(Error::InvalidInput(
                "an extract record over its bounds".into(),
            ));
        }
        Ok(record)
    }
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_record_over_its_bounds_is_refused_and_bounded_cuts_it_at_a_char() {
        let long = ExtractRecord {
            text: Some("é".repeat(MAX_TEXT)),
            taken: Some(1),
            camera: Some("x".repeat(MAX_CAMERA + 1)),
        };
        assert!(ExtractRecord::decode(&long.encode()).is_err());
        let cut = long.bounded();
        let text = cut.text.as_deref().expect("text");
        assert!(text.len() <= MAX_TEXT && text.len() > MAX_TEXT - 2);
        assert_eq!(ExtractRecord::decode(&cut.encode()).expect("decodes"), cut);
    }

    proptest! {
        #[test]
        fn records_round_trip(text in proptest::option::of(".{0,64}"), taken in any::<Option<i64>>(), camera in proptest::option::of(".{0,16}")) {
            let record = ExtractRecord { text, taken, camera };
            prop_assert_eq!(ExtractRecord::decode(&record.encode()).expect("decodes"), record);
        }

        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ExtractRecord::decode(&bytes);
        }
    }
}
