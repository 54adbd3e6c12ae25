//! The Unix backend (Linux first; the calls it makes are POSIX or Linux's).

mod beneath;
mod calls;
mod errors;
mod files;
mod xattr;

pub use beneath::{At, create_at, open_at, open_root};
pub use calls::*;
pub use errors::error_kind;
pub use files::*;
pub use xattr::{xattr_get, xattr_list, xattr_remove, xattr_set};
