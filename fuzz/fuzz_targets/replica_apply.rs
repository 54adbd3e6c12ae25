//! A page a peer sends, decoded and applied to a real replica: an error or
//! a readable replica, never a panic; shared operations likewise.
#![no_main]

use std::sync::OnceLock;

use sdfs_core::Library;
use sdfs_core::ids::DeviceId;
use sdfs_p2p::protocol::SyncResponse;

fn library() -> &'static Library {
    static LIB: OnceLock<(tempfile::TempDir, Library)> = OnceLock::new();
    let (_, lib) = LIB.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tmp");
        let lib = Library::create(&tmp.path().join("fuzz.sdlibrary"), "fuzz").expect("library");
        (tmp, lib)
    });
    lib
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let lib = library();
    let peer = DeviceId::new_random();
    match postcard::from_bytes::<SyncResponse>(data) {
        Ok(SyncResponse::Page(page)) => {
            if sdfs_core::sync::replica::apply(lib.db(), peer, &page).is_ok() {
                let view = sdfs_core::sync::replica::ReplicaView::new(lib.db(), peer).expect("view");
                let _ = view.locations();
            }
        }
        Ok(SyncResponse::Shared { ops, .. }) => {
            let _ = sdfs_core::shared::store::receive(lib.db(), lib.device_id(), &ops);
        }
        _ => {}
    }
});
