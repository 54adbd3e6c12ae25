//! The binding to Microsoft's ProjFS API through `windows-sys`: the
//! callbacks Windows calls, each a thin translation to [`Adapter`], and
//! starting and stopping a virtualization root. Type-checked on every
//! platform (`--features binding`), linked only on Windows.

use std::sync::Arc;

use windows_sys::Win32::Storage::ProjectedFileSystem::{
    PRJ_CALLBACK_DATA, PRJ_CALLBACKS, PRJ_CB_DATA_FLAG_ENUM_RESTART_SCAN,
    PRJ_DIR_ENTRY_BUFFER_HANDLE, PRJ_FILE_BASIC_INFO, PRJ_NAMESPACE_VIRTUALIZATION_CONTEXT,
    PRJ_NOTIFICATION, PRJ_NOTIFICATION_FILE_HANDLE_CLOSED_FILE_MODIFIED,
    PRJ_NOTIFICATION_FILE_OVERWRITTEN, PRJ_NOTIFICATION_FILE_PRE_CONVERT_TO_FULL,
    PRJ_NOTIFICATION_MAPPING, PRJ_NOTIFICATION_NEW_FILE_CREATED, PRJ_NOTIFICATION_PARAMETERS,
    PRJ_NOTIFICATION_PRE_DELETE, PRJ_NOTIFICATION_PRE_RENAME, PRJ_NOTIFICATION_PRE_SET_HARDLINK,
    PRJ_NOTIFY_FILE_HANDLE_CLOSED_FILE_MODIFIED, PRJ_NOTIFY_FILE_OVERWRITTEN,
    PRJ_NOTIFY_FILE_PRE_CONVERT_TO_FULL, PRJ_NOTIFY_NEW_FILE_CREATED, PRJ_NOTIFY_PRE_DELETE,
    PRJ_NOTIFY_PRE_RENAME, PRJ_NOTIFY_PRE_SET_HARDLINK, PRJ_PLACEHOLDER_INFO,
    PRJ_STARTVIRTUALIZING_OPTIONS, PrjAllocateAlignedBuffer, PrjFillDirEntryBuffer,
    PrjFreeAlignedBuffer, PrjMarkDirectoryAsPlaceholder, PrjStartVirtualizing, PrjStopVirtualizing,
    PrjWriteFileData, PrjWritePlaceholderInfo,
};
use windows_sys::core::{GUID, HRESULT, PCWSTR};

use crate::adapter::Adapter;
use crate::enumeration::EntrySink;
use crate::hresult;
use crate::notify::{Change, Projection};
use crate::placeholder::BasicInfo;

/// What a callback's instance context points to.
struct Instance {
    adapter: Arc<Adapter>,
    root: RootFiles,
}

/// The files Windows wrote under the virtualization root.
struct RootFiles {
    /// The root's path, UTF-16, without a NUL.
    root: Vec<u16>,
}

impl Projection for RootFiles {
    #[cfg(windows)]
    fn open(&self, path: &[u16]) -> std::io::Result<std::fs::File> {
        use std::os::windows::ffi::OsStringExt;
        let mut full = self.root.clone();
        full.push(u16::from(b'\\'));
        full.extend_from_slice(path);
        std::fs::File::open(std::ffi::OsString::from_wide(&full))
    }

    // Type-checking off Windows: there is no projection to read here.
    #[cfg(not(windows))]
    fn open(&self, _path: &[u16]) -> std::io::Result<std::fs::File> {
        let _ = &self.root;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "a ProjFS projection exists only on Windows",
        ))
    }
}

fn guid(g: &GUID) -> u128 {
    (u128::from(g.data1) << 96)
        | (u128::from(g.data2) << 80)
        | (u128::from(g.data3) << 64)
        | u128::from(u64::from_be_bytes(g.data4))
}

fn to_guid(v: u128) -> GUID {
    GUID {
        data1: (v >> 96) as u32,
        data2: (v >> 80) as u16,
        data3: (v >> 64) as u16,
        data4: (v as u64).to_be_bytes(),
    }
}

/// A NUL-terminated wide string as a slice (without the NUL).
///
/// # Safety
/// `s` is null or points to a NUL-terminated UTF-16 string that outlives
/// the returned slice.
unsafe fn wide<'a>(s: PCWSTR) -> &'a [u16] {
    if s.is_null() {
        return &[];
    }
    let mut len = 0;
    // SAFETY: the caller promises a NUL terminator.
    while unsafe { *s.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units before the NUL are initialised.
    unsafe { std::slice::from_raw_parts(s, len) }
}

fn basic(info: &BasicInfo) -> PRJ_FILE_BASIC_INFO {
    PRJ_FILE_BASIC_INFO {
        IsDirectory: info.is_directory,
        FileSize: info.file_size,
        CreationTime: info.creation_time,
        LastAccessTime: info.last_access_time,
        LastWriteTime: info.last_write_time,
        ChangeTime: info.change_time,
        FileAttributes: info.file_attributes,
    }
}

/// The instance behind a callback's instance context.
///
/// # Safety
/// `data` is the callback data ProjFS passed, whose instance context is
/// the `Instance` [`Virtualization::start`] registered.
unsafe fn instance<'a>(data: *const PRJ_CALLBACK_DATA) -> &'a Instance {
    // SAFETY: as the caller promises.
    unsafe { &*((*data).InstanceContext as *const Instance) }
}

/// The adapter behind a callback's instance context.
///
/// # Safety
/// As for [`instance`].
unsafe fn adapter<'a>(data: *const PRJ_CALLBACK_DATA) -> &'a Adapter {
    // SAFETY: as the caller promises.
    unsafe { &instance(data).adapter }
}

unsafe extern "system" fn notification(
    data: *const PRJ_CALLBACK_DATA,
    is_directory: bool,
    kind: PRJ_NOTIFICATION,
    destination: PCWSTR,
    _parameters: *mut PRJ_NOTIFICATION_PARAMETERS,
) -> HRESULT {
    // SAFETY: ProjFS passes valid callback data and destination name.
    unsafe {
        let to = wide(destination);
        let change = match kind {
            PRJ_NOTIFICATION_NEW_FILE_CREATED => Change::NewFile { is_directory },
            PRJ_NOTIFICATION_FILE_OVERWRITTEN => Change::Overwritten,
            PRJ_NOTIFICATION_PRE_DELETE => Change::PreDelete { is_directory },
            PRJ_NOTIFICATION_PRE_RENAME => Change::PreRename { to },
            PRJ_NOTIFICATION_PRE_SET_HARDLINK => Change::PreHardlink { to },
            PRJ_NOTIFICATION_FILE_PRE_CONVERT_TO_FULL => Change::PreConvertToFull,
            PRJ_NOTIFICATION_FILE_HANDLE_CLOSED_FILE_MODIFIED => Change::ClosedModified,
            _ => return hresult::S_OK,
        };
        let instance = instance(data);
        instance
            .adapter
            .notify(wide((*data).FilePathName), change, &instance.root)
    }
}

unsafe extern "system" fn start_enumeration(
    data: *const PRJ_CALLBACK_DATA,
    id: *const GUID,
) -> HRESULT {
    // SAFETY: ProjFS passes valid callback data and GUID.
    unsafe { adapter(data).start_enumeration(wide((*data).FilePathName), guid(&*id)) }
}

unsafe extern "system" fn end_enumeration(
    data: *const PRJ_CALLBACK_DATA,
    id: *const GUID,
) -> HRESULT {
    // SAFETY: ProjFS passes valid callback data and GUID.
    unsafe { adapter(data).end_enumeration(guid(&*id)) }
}

/// ProjFS's entry buffer.
struct DirEntryBuffer(PRJ_DIR_ENTRY_BUFFER_HANDLE);

impl EntrySink for DirEntryBuffer {
    fn add(&mut self, name: &[u16], info: &BasicInfo) -> bool {
        let mut name: Vec<u16> = name.to_vec();
        name.push(0);
        let info = basic(info);
        // SAFETY: a NUL-terminated name, a valid info and ProjFS's handle.
        let rc = unsafe { PrjFillDirEntryBuffer(name.as_ptr(), &info, self.0) };
        rc == hresult::S_OK
    }
}

unsafe extern "system" fn get_enumeration(
    data: *const PRJ_CALLBACK_DATA,
    id: *const GUID,
    search: PCWSTR,
    buffer: PRJ_DIR_ENTRY_BUFFER_HANDLE,
) -> HRESULT {
    // SAFETY: ProjFS passes valid callback data, GUID and search string.
    unsafe {
        let restart = (*data).Flags & PRJ_CB_DATA_FLAG_ENUM_RESTART_SCAN != 0;
        let search = (!search.is_null()).then(|| wide(search));
        adapter(data).get_enumeration(guid(&*id), search, restart, &mut DirEntryBuffer(buffer))
    }
}

unsafe extern "system" fn get_placeholder_info(data: *const PRJ_CALLBACK_DATA) -> HRESULT {
    // SAFETY: ProjFS passes valid callback data.
    unsafe {
        let found = match adapter(data).placeholder(wide((*data).FilePathName)) {
            Ok(found) => found,
            Err(e) => return hresult::of(&e),
        };
        let placeholder = PRJ_PLACEHOLDER_INFO {
            FileBasicInfo: basic(&found.info),
            ..Default::default()
        };
        // Written under the stored case, NUL-terminated.
        let mut path = found.path;
        path.push(0);
        PrjWritePlaceholderInfo(
            (*data).NamespaceVirtualizationContext,
            path.as_ptr(),
            &placeholder,
            std::mem::size_of::<PRJ_PLACEHOLDER_INFO>() as u32,
        )
    }
}

unsafe extern "system" fn get_file_data(
    data: *const PRJ_CALLBACK_DATA,
    offset: u64,
    length: u32,
) -> HRESULT {
    // SAFETY: ProjFS passes valid callback data; the aligned buffer is ours
    // until freed and holds at most WRITE_BLOCK bytes.
    unsafe {
        let context = (*data).NamespaceVirtualizationContext;
        let stream = (*data).DataStreamId;
        let block = crate::adapter::WRITE_BLOCK.min(length as usize);
        let aligned = PrjAllocateAlignedBuffer(context, block);
        if aligned.is_null() {
            return hresult::of_kind(sdfs_core::ErrorKind::NoSpace);
        }
        let rc = adapter(data).file_data(
            wide((*data).FilePathName),
            offset,
            length,
            &mut |at, bytes| {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), aligned.cast::<u8>(), bytes.len());
                PrjWriteFileData(context, &stream, aligned, at, bytes.len() as u32)
            },
        );
        PrjFreeAlignedBuffer(aligned);
        rc
    }
}

/// A running virtualization root; stops when dropped.
pub struct Virtualization {
    context: PRJ_NAMESPACE_VIRTUALIZATION_CONTEXT,
    _instance: Box<Instance>,
}

impl Virtualization {
    /// Marks `root` (a directory, NUL-free path) as this instance's
    /// virtualization root and starts serving it.
    pub fn start(
        root: &str,
        adapter: Arc<Adapter>,
        instance: u128,
    ) -> Result<Virtualization, HRESULT> {
        let wide_root: Vec<u16> = root.encode_utf16().collect();
        let root: Vec<u16> = wide_root
            .iter()
            .copied()
            .chain(std::iter::once(0))
            .collect();
        let id = to_guid(instance);
        let instance = Box::new(Instance {
            adapter,
            root: RootFiles { root: wide_root },
        });
        // Every change under the root is reported (the empty mapping root).
        let everywhere: [u16; 1] = [0];
        let mut mappings = [PRJ_NOTIFICATION_MAPPING {
            NotificationBitMask: PRJ_NOTIFY_NEW_FILE_CREATED
                | PRJ_NOTIFY_FILE_OVERWRITTEN
                | PRJ_NOTIFY_PRE_DELETE
                | PRJ_NOTIFY_PRE_RENAME
                | PRJ_NOTIFY_PRE_SET_HARDLINK
                | PRJ_NOTIFY_FILE_PRE_CONVERT_TO_FULL
                | PRJ_NOTIFY_FILE_HANDLE_CLOSED_FILE_MODIFIED,
            NotificationRoot: everywhere.as_ptr(),
        }];
        let options = PRJ_STARTVIRTUALIZING_OPTIONS {
            NotificationMappings: mappings.as_mut_ptr(),
            NotificationMappingsCount: mappings.len() as u32,
            ..Default::default()
        };
        let callbacks = PRJ_CALLBACKS {
            StartDirectoryEnumerationCallback: Some(start_enumeration),
            EndDirectoryEnumerationCallback: Some(end_enumeration),
            GetDirectoryEnumerationCallback: Some(get_enumeration),
            GetPlaceholderInfoCallback: Some(get_placeholder_info),
            GetFileDataCallback: Some(get_file_data),
            NotificationCallback: Some(notification),
            ..Default::default()
        };
        let mut context: PRJ_NAMESPACE_VIRTUALIZATION_CONTEXT = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated root, GUID, callbacks, options and
        // out-pointer; the instance outlives the virtualization (the
        // returned value holds it, and stops virtualizing before it goes).
        let rc = unsafe {
            // A root marked by an earlier run refuses to be marked again;
            // starting is what tells whether it can be served.
            let _marked = PrjMarkDirectoryAsPlaceholder(
                root.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                &id,
            );
            PrjStartVirtualizing(
                root.as_ptr(),
                &callbacks,
                std::ptr::from_ref::<Instance>(&instance).cast(),
                &options,
                &mut context,
            )
        };
        if rc != hresult::S_OK {
            return Err(rc);
        }
        Ok(Virtualization {
            context,
            _instance: instance,
        })
    }
}

impl Drop for Virtualization {
    fn drop(&mut self) {
        // SAFETY: a context PrjStartVirtualizing gave us, stopped once.
        unsafe { PrjStopVirtualizing(self.context) };
    }
}

/// Set by Ctrl-C (or the console closing) while [`serve`] runs.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

unsafe extern "system" fn on_console_event(_event: u32) -> windows_sys::core::BOOL {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    1
}

/// What `sd mount` does on Windows: virtualizes `root` over `ns` until
/// Ctrl-C, then stops (ProjFS keeps the hydrated files in the root).
pub fn serve(
    root: &str,
    ns: Arc<sdfs_core::namespace::Namespace>,
    instance: u128,
) -> Result<(), HRESULT> {
    let adapter = Arc::new(Adapter::new(ns));
    // SAFETY: registers a handler that only sets an atomic flag.
    if unsafe {
        windows_sys::Win32::System::Console::SetConsoleCtrlHandler(Some(on_console_event), 1)
    } == 0
    {
        return Err(hresult::of_kind(sdfs_core::ErrorKind::Unsupported));
    }
    let running = Virtualization::start(root, adapter, instance)?;
    while !STOP.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(running);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_round_trip() {
        let v = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210_u128;
        assert_eq!(guid(&to_guid(v)), v);
    }
}
