//! sdfs Windows adapter over ProjFS: maps ProjFS's callbacks onto the same
//! core namespace API the FUSE adapter uses, and decides nothing itself.
//!
//! Everything that can be is platform-neutral and tested on Linux: names
//! between UTF-16 and the core's bytes (`names`), ProjFS's name matching and
//! order (`matching`), errors as HRESULTs (`hresult`), placeholder
//! information (`placeholder`), enumeration sessions (`enumeration`) and
//! what each callback does (`adapter`). The binding to Microsoft's API
//! (`binding`, through `windows-sys`, MIT/Apache-2.0, not the GPL-2.0
//! `windows-projfs`) is thin; it is type-checked on every platform with
//! `--features binding` and linked only on Windows.

pub mod adapter;
#[cfg(any(windows, feature = "binding"))]
pub mod binding;
pub mod enumeration;
pub mod hresult;
pub mod matching;
pub mod names;
pub mod notify;
pub mod placeholder;
