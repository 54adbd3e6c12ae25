//! Semantic ranking: the lexical hits re-ranked by what they mean, and
//! found by meaning when no word matches.
//!
//! Each file is embedded from its name and folders. Embeddings are
//! sidecars in the library (`search/vectors.redb`), keyed by the text they
//! embed, so a file is embedded once, copies and renames back share one,
//! and a rename gets a new one. A file is embedded the first time it is a
//! candidate: the first query over new files pays for them.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

use crate::embed::{DIMS, EmbedError, Embedder, cosine};
use crate::index::Hit;

const VECTORS: TableDefinition<'static, u128, &'static [u8]> = TableDefinition::new("vectors");

/// How much each signal weighs in a re-ranked score (lexical is scaled to
/// the best hit's, so each is in 0..=1). `TAGGED`: the user's own word
/// that a file matters.
const LEXICAL: f32 = 0.6;
const MEANING: f32 = 0.3;
const RECENCY: f32 = 0.05;
const TAGGED: f32 = 0.05;

/// Lexical hits re-ranked by meaning.
pub const RERANKED: usize = 50;

/// Below this cosine a file found by meaning alone is not shown.
const MEANT: f32 = 0.35;

/// How near a folder's word must be to a query to bring that folder's
/// files in as candidates: a loose bar, as a single word is embedded with
/// little context ("ski" is 0.43 from "snow holiday photos"); the files
/// must still be [`MEANT`] as a whole.
const WORD_MEANT: f32 = 0.3;

/// Folder words embedded while a query waits, at most.
const WORDS_PER_QUERY: usize = 2_000;

pub struct Semantic {
    embedder: Embedder,
    vectors: Database,
}

impl std::fmt::Debug for Semantic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Semantic")
    }
}

fn store_err(e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Model(format!("vectors: {e}"))
}

/// What a hit is embedded from: its name's words, then the folders it is
/// in below its location (a device's and a location's names say nothing
/// of what a file is about, and would make every file alike), then the
/// start of its text.
fn text_of(hit: &Hit) -> String {
    // Numbers (serials, dates) mean nothing to the model.
    let words = |s: &str| {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let stem = hit
        .name
        .rsplit_once('.')
        .map_or(hit.name.as_str(), |(s, _)| s);
    // `device/location/...` for a device's file, `volume/...` for a bucket's.
    let roots = if hit.path.starts_with(&format!("{}/", hit.device)) {
        2
    } else {
        1
    };
    let below: Vec<&str> = hit.path.split('/').skip(roots).collect();
    let folders = below
        .split_last()
        .map_or(String::new(), |(_, f)| f.join(" "));
    let mut text = match folders.is_empty() {
        true => words(stem),
        false => format!("{} in {}", words(stem), words(&folders)),
    };
    if let Some(excerpt) = hit.excerpt.as_deref().map(words).filter(|e| !e.is_empty()) {
        text.push_str(": ");
        text.push_str(&excerpt);
    }
    text
}

fn key_of(text: &str) -> u128 {
    let hash = blake3::hash(text.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash.as_bytes()[..16]);
    u128::from_le_bytes(first)
}

/// Unit vectors keep their direction in signed bytes.
fn quantize(v: &[f32]) -> Vec<u8> {
    v.iter()
        .map(|x| (x * 127.0).round().clamp(-127.0, 127.0) as i8 as u8)
        .collect()
}

fn dequantize(bytes: &[u8]) -> Vec<f32> {
    let v: Vec<f32> = bytes.iter().map(|b| f32::from(*b as i8) / 127.0).collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    v.into_iter().map(|x| x / norm).collect()
}

impl Semantic {
    /// The model in `model` and the vectors kept in `dir`.
    pub fn open(dir: &Path, model: &Path) -> Result<Semantic, EmbedError> {
        let embedder = Embedder::load(model)?;
        let vectors = Database::create(dir.join("vectors.redb")).map_err(store_err)?;
        Ok(Semantic { embedder, vectors })
    }

    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embedder.embed(&[text])?.remove(0))
    }

    /// Each hit's vector: kept, or embedded now and kept.
    fn vectors(&self, hits: &[Hit]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let texts: Vec<String> = hits.iter().map(text_of).collect();
        Ok(self
            .vectors_of(&texts, usize::MAX)?
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    /// Each text's vector: kept, or embedded now and kept, at most
    /// `budget` of them (the others are `None` this time).
    fn vectors_of(
        &self,
        texts: &[String],
        budget: usize,
    ) -> Result<Vec<Option<Vec<f32>>>, EmbedError> {
        let keys: Vec<u128> = texts.iter().map(|t| key_of(t)).collect();
        let mut out: Vec<Option<Vec<f32>>> = Vec::with_capacity(texts.len());
        {
            let read = self.vectors.begin_read().map_err(store_err)?;
            match read.open_table(VECTORS) {
                Ok(table) => {
                    for key in &keys {
                        let kept = table.get(*key).map_err(store_err)?;
                        out.push(
                            kept.map(|v| dequantize(v.value()))
                                .filter(|v| v.len() == DIMS),
                        );
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => out.resize(keys.len(), None),
                Err(e) => return Err(store_err(e)),
            }
        }
        let missing: Vec<usize> = (0..texts.len())
            .filter(|i| out[*i].is_none())
            .take(budget)
            .collect();
        if !missing.is_empty() {
            let write = self.vectors.begin_write().map_err(store_err)?;
            {
                let mut table = write.open_table(VECTORS).map_err(store_err)?;
                for batch in missing.chunks(32) {
                    let batch_texts: Vec<&str> = batch.iter().map(|i| texts[*i].as_str()).collect();
                    for (i, v) in batch.iter().zip(self.embedder.embed(&batch_texts)?) {
                        table
                            .insert(keys[*i], quantize(&v).as_slice())
                            .map_err(store_err)?;
                        out[*i] = Some(v);
                    }
                }
            }
            write.commit().map_err(store_err)?;
        }
        Ok(out)
    }

    /// Of `words` (what folders are named with), the `n` nearest in meaning
    /// to `query`, best first, each at least [`WORD_MEANT`] near. Words never
    /// embedded are embedded now, [`WORDS_PER_QUERY`] at most; the rest
    /// are left to [`Semantic::warm`].
    pub fn near_words(
        &self,
        query: &[f32],
        words: &[String],
        n: usize,
    ) -> Result<Vec<String>, EmbedError> {
        let vectors = self.vectors_of(words, WORDS_PER_QUERY)?;
        let mut near: Vec<(f32, &String)> = words
            .iter()
            .zip(&vectors)
            .filter_map(|(w, v)| Some((cosine(query, v.as_ref()?), w)))
            .filter(|(c, _)| *c >= WORD_MEANT)
            .collect();
        near.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(near.into_iter().take(n).map(|(_, w)| w.clone()).collect())
    }

    /// Those of `texts` never embedded (their vectors are not kept).
    pub fn unembedded(&self, texts: &[String]) -> Result<Vec<String>, EmbedError> {
        let read = self.vectors.begin_read().map_err(store_err)?;
        let table = match read.open_table(VECTORS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(texts.to_vec()),
            Err(e) => return Err(store_err(e)),
        };
        let mut out = Vec::new();
        for text in texts {
            if table.get(key_of(text)).map_err(store_err)?.is_none() {
                out.push(text.clone());
            }
        }
        Ok(out)
    }

    /// Embeds `texts` and keeps their vectors.
    pub fn warm(&self, texts: &[String]) -> Result<(), EmbedError> {
        self.vectors_of(texts, usize::MAX).map(drop)
    }

    /// Re-ranks the best [`RERANKED`] of `hits` (best first, by words) for
    /// `query` (its free text): by the query's time phrase first (a tier,
    /// as the words ranked them), then lexical score, meaning, recency and
    /// whether the user tagged it blended. Hits below those keep their
    /// order after them, scored by words alone on the same scale (a long
    /// page costs no more than a short one). `now` is unix seconds.
    pub fn rerank(
        &self,
        query: &[f32],
        hits: &mut [Hit],
        now: i64,
        explain: bool,
    ) -> Result<(), EmbedError> {
        let words = |h: &Hit| h.score - h.time_part;
        let best = hits.iter().map(words).fold(f32::EPSILON, f32::max);
        let (head, tail) = hits.split_at_mut(hits.len().min(RERANKED));
        let vectors = self.vectors(head)?;
        for (hit, v) in head.iter_mut().zip(&vectors) {
            let meaning = cosine(query, v).max(0.0);
            let age_days = (now - hit.modified).max(0) as f32 / 86_400.0;
            let recency = (-age_days / 365.0).exp();
            let lexical = words(hit) / best;
            let tagged = if hit.tags.is_empty() { 0.0 } else { TAGGED };
            let blended = LEXICAL * lexical + MEANING * meaning + RECENCY * recency + tagged;
            hit.score = hit.time_part + blended;
            if explain {
                let parts = hit.score_parts.get_or_insert_with(Default::default);
                parts.insert("meaning", MEANING * meaning);
                parts.insert("recency", RECENCY * recency);
                parts.insert("tagged", tagged);
            }
        }
        for hit in tail {
            hit.score = hit.time_part + LEXICAL * words(hit) / best;
        }
        head.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(())
    }

    /// `candidates` (found by the query's filters alone) that mean what the
    /// query says, best first.
    pub fn by_meaning(
        &self,
        query: &[f32],
        mut candidates: Vec<Hit>,
        explain: bool,
    ) -> Result<Vec<Hit>, EmbedError> {
        let vectors = self.vectors(&candidates)?;
        for (hit, v) in candidates.iter_mut().zip(&vectors) {
            hit.score = cosine(query, v);
            if explain {
                hit.score_parts = Some([("meaning", hit.score)].into_iter().collect());
            }
        }
        candidates.retain(|h| h.score >= MEANT);
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(candidates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_vectors_keep_their_direction() {
        let v: Vec<f32> = (0..DIMS).map(|i| ((i as f32) * 0.37).sin()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let v: Vec<f32> = v.iter().map(|x| x / norm).collect();
        let back = dequantize(&quantize(&v));
        assert!(cosine(&v, &back) > 0.999);
    }
}
