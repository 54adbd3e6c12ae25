//! One reply type per command, each with its rendering.

pub mod actions;
pub mod cloud;
pub mod conduits;
pub mod content;
pub mod deliveries;
pub mod devices;
pub mod guardian;
pub mod jobs;
pub mod locations;
pub mod query;
pub mod search;
pub mod status;
pub mod tags;
