//! sdfs Windows adapter over ProjFS: maps ProjFS's callbacks onto the same
//! core namespace API the FUSE adapter uses, and decides nothing itself.
//!
//! Everything that can be is platform-neutral and tested on Linux: names
//! between UTF-16 and the core's bytes (`names`), ProjFS's name matching and
//! order (`matching`), errors as HRESULTs (`hresult`), placeholder
//! information (`placeholder`) and enumeration sessions (`enumeration`).
//! The binding to Microsoft's API (through `windows-sys`, MIT/Apache-2.0,
//! not the GPL-2.0 `windows-projfs`) is what remains to come.

pub mod enumeration;
pub mod hresult;
pub mod matching;
pub mod names;
pub mod placeholder;
