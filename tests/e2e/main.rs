//! End-to-end tests: the built `sd` binary on real trees, real daemons.

mod actions;
mod cli;
mod clock;
mod cloud;
mod cloud_writes;
mod content;
mod devices;
mod file_states;
mod guardian;
mod identity;
mod index;
mod mount;
mod mount_robustness;
mod netns;
mod peer_security;
mod remote;
mod remote_writes;
mod resume;
mod search;
mod search_quality;
mod trash;
mod watcher;
