//! Search over every device's files. This crate holds the offline query
//! grammar (`query`): a person's words ("tax documents from last year",
//! "photos on nas bigger than 1 GB") and typed operators (`ext:pdf
//! size:>10M before:2024-01-01`) become one structured [`query::Query`],
//! deterministically, with no model and no network. Times are read against
//! an injected clock (`calendar`), so "last summer" means the same thing in
//! a test as on the day it runs. The index (`index`, tantivy) finds the
//! files a `Query` names among every device's and volume's, copies of one
//! content grouped, each score split into its parts. The live index
//! (`live`) keeps it on disk in the library and up to date with every
//! change the library records, this device's and its peers'; `extract`
//! reads the words and photo facts a file's own bytes hold. With
//! all-MiniLM-L6-v2 installed (`embed`, run by candle), `semantic`
//! re-ranks hits by what they mean and finds files by meaning when no word
//! matches; without it, search is by words and says so once.

pub mod calendar;
pub mod embed;
pub mod extract;
pub mod index;
pub mod live;
pub mod query;
mod said;
pub mod semantic;
