//! End-to-end tests: the built `sd` binary on real trees, real daemons.

mod cli;
mod index;
mod resume;
mod watcher;
