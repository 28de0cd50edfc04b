//! A VFS that writes each commit's log frames to the WAL file in one system call.
//!
//! SQLite writes a commit's pages to the WAL one frame at a time, and each frame in two
//! `pwrite`s: its 24-byte header, then the page. A commit of a task's change of state writes
//! about ten frames, so twenty system calls, each through the kernel's whole buffered-write
//! path for a few bytes: in W1 that was a quarter of the writer thread's time (BENCHMARKS.md).
//!
//! This VFS is the platform's default one with the WAL file wrapped: writes that follow each
//! other in the file are gathered in memory and written together, in one `pwrite`, as soon as
//! the commit frame (the frame whose header carries the database's size) has been written,
//! which SQLite does before it publishes the commit to readers in the shared index and before
//! the commit returns. So an acknowledged commit is in the file exactly as it was without
//! this VFS, and a reader never finds a published frame missing. Anything else on the WAL file
//! (a read, a sync, a truncation, its size, a file control, a write elsewhere in the file,
//! closing it) writes what is gathered first, so SQLite sees the file it wrote; a write right
//! after a read (SQLite rewriting a frame's header in place) is written at once. Database
//! files and every other file are the default VFS's own, not wrapped.
//!
//! **Only for a connection with cache spills off** (`connection::open_writer`, the store's one
//! writer). A transaction that spills pages to the log before it commits writes frames that
//! no commit frame follows if it then rolls back; gathered, they could outlive the write lock
//! and later overwrite frames another connection wrote. Without spills every write to the log
//! belongs to a commit and ends with its commit frame, so nothing stays gathered when a commit
//! returns or the write lock is released.
//!
//! The tests check this against the bundled SQLite: each commit's last frame is on disk when
//! the commit returns, and a copy of the files taken then (as a crash would leave them) opens
//! with every committed row.

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name the VFS is registered under.
pub(super) const NAME: &CStr = c"errand-wal-gather";

/// A frame header's size in the WAL format.
const FRAME_HEADER: usize = 24;
/// The WAL file's own header.
const WAL_HEADER: i64 = 32;
/// Above this many bytes gathered, they are written whatever comes next (a large commit goes
/// out in parts of this size); also the most written in one call, since the default VFS
/// writes at most 128 KiB less one byte per call.
const MAX_GATHERED: usize = 64 * 1024;

/// The platform's default VFS, which this one wraps.
#[derive(Clone, Copy)]
struct DefaultVfs(*mut ffi::sqlite3_vfs);
// SAFETY: SQLite's VFS objects are immutable once registered and safe to call from any thread.
unsafe impl Send for DefaultVfs {}
// SAFETY: as above.
unsafe impl Sync for DefaultVfs {}

/// The default VFS once this one is registered, or SQLite's error code if it could not be.
static REGISTERED: OnceLock<Result<DefaultVfs, c_int>> = OnceLock::new();

/// Registers the VFS (once per process) and answers its name, or SQLite's error code.
pub(super) fn register() -> Result<&'static CStr, c_int> {
    (*REGISTERED.get_or_init(|| {
        // SAFETY: SQLite is initialised by `sqlite3_vfs_find`; the default VFS lives as
        // long as the process, and the registered copy is leaked, so it does too.
        unsafe {
            let default = ffi::sqlite3_vfs_find(std::ptr::null());
            if default.is_null() {
                return Err(ffi::SQLITE_ERROR);
            }
            let inner_size = usize::try_from((*default).szOsFile).map_err(|_| ffi::SQLITE_ERROR)?;
            let size = c_int::try_from(size_of::<WalFile>() + inner_size)
                .map_err(|_| ffi::SQLITE_ERROR)?;
            let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
                szOsFile: size.max((*default).szOsFile),
                zName: NAME.as_ptr(),
                xOpen: Some(open),
                pNext: std::ptr::null_mut(),
                ..*default
            }));
            match ffi::sqlite3_vfs_register(vfs, 0) {
                ffi::SQLITE_OK => Ok(DefaultVfs(default)),
                code => Err(code),
            }
        }
    }))
    .map(|_| NAME)
}

fn default_vfs() -> *mut ffi::sqlite3_vfs {
    match REGISTERED.get() {
        Some(Ok(default)) => default.0,
        _ => unreachable!("SQLite opens files through this VFS only once it is registered"),
    }
}

/// A WAL file: SQLite's file object for this VFS, followed in the same allocation by the
/// default VFS's own file object.
#[repr(C)]
struct WalFile {
    /// Must come first: SQLite sees a `sqlite3_file`.
    base: ffi::sqlite3_file,
    /// The default VFS's file, right after this struct.
    inner: *mut ffi::sqlite3_file,
    /// Bytes written by SQLite and not yet by this file, for the file from `offset` on.
    gathered: Vec<u8>,
    offset: i64,
    /// Where the page of the last commit frame's header goes: the write there ends a commit.
    commit_page_at: Option<i64>,
    /// The last call was a read: the next write is written at once (SQLite reads a frame
    /// before it rewrites its header in place).
    after_read: bool,
}

impl WalFile {
    /// Writes what is gathered. If that fails, it stays gathered (writing it again is
    /// harmless), and the error is the caller's.
    ///
    /// # Safety
    /// `self.inner` is an open file of the default VFS.
    unsafe fn write_gathered(&mut self) -> c_int {
        let mut offset = self.offset;
        for chunk in self.gathered.chunks(MAX_GATHERED) {
            // SAFETY: the caller's contract; the chunk lives for the call, and its length fits
            // in a `c_int`.
            let code = unsafe { write_inner(self.inner, chunk, offset) };
            if code != ffi::SQLITE_OK {
                return code;
            }
            offset += chunk.len() as i64;
        }
        self.gathered.clear();
        ffi::SQLITE_OK
    }
}

/// Writes `bytes` at `offset` of the default VFS's file `inner`.
///
/// # Safety
/// `inner` is an open file of the default VFS; `bytes` is at most `c_int::MAX` long.
unsafe fn write_inner(inner: *mut ffi::sqlite3_file, bytes: &[u8], offset: i64) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        let write = (*(*inner).pMethods).xWrite.expect("every VFS file writes");
        write(inner, bytes.as_ptr().cast(), bytes.len() as c_int, offset)
    }
}

/// # Safety
/// Called by SQLite, as `xOpen` of a VFS: `file` points to `szOsFile` writable bytes.
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let default = default_vfs();
    // SAFETY: SQLite's contract for `xOpen`, passed on to the default VFS.
    unsafe {
        let default_open = (*default).xOpen.expect("every VFS opens files");
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // Not wrapped: the default VFS's file object is the one SQLite sees.
            return default_open(default, name, file, flags, out_flags);
        }
        let wal = file.cast::<WalFile>();
        let inner = file
            .cast::<u8>()
            .add(size_of::<WalFile>())
            .cast::<ffi::sqlite3_file>();
        (*file).pMethods = std::ptr::null();
        let code = default_open(default, name, inner, flags, out_flags);
        if code != ffi::SQLITE_OK {
            // SQLite does not close a file whose methods are null.
            return code;
        }
        wal.write(WalFile {
            base: ffi::sqlite3_file {
                pMethods: &WAL_METHODS,
            },
            inner,
            gathered: Vec::new(),
            offset: 0,
            commit_page_at: None,
            after_read: false,
        });
        ffi::SQLITE_OK
    }
}

/// The methods of a wrapped WAL file (version 1: SQLite maps and locks the database file's
/// shared memory, never the WAL file's).
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The wrapped file of `file`, and its default-VFS methods, after writing what is gathered.
///
/// # Safety
/// `file` was opened by [`open`] as a WAL file and is not closed.
unsafe fn settled<'a>(
    file: *mut ffi::sqlite3_file,
) -> Result<(*mut ffi::sqlite3_file, &'a ffi::sqlite3_io_methods), c_int> {
    // SAFETY: the caller's contract.
    unsafe {
        let wal = &mut *file.cast::<WalFile>();
        match wal.write_gathered() {
            ffi::SQLITE_OK => Ok((wal.inner, &*(*wal.inner).pMethods)),
            code => Err(code),
        }
    }
}

/// Forwards a call to the default VFS's file after writing what is gathered.
macro_rules! settled_call {
    ($file:expr, $method:ident ( $($arg:expr),* )) => {
        // SAFETY: SQLite calls these methods on files `open` made, until `xClose`.
        match unsafe { settled($file) } {
            Ok((inner, methods)) => unsafe {
                methods.$method.expect(concat!("the default VFS has ", stringify!($method)))(inner $(, $arg)*)
            },
            Err(code) => code,
        }
    };
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file once; its memory is SQLite's, so the struct is dropped in
    // place (its buffer freed), not deallocated.
    unsafe {
        let wal = file.cast::<WalFile>();
        let written = (*wal).write_gathered();
        if written != ffi::SQLITE_OK {
            tracing::error!(
                code = written,
                "could not write the end of the SQLite log on close"
            );
        }
        let inner = (*wal).inner;
        let closed = ((*(*inner).pMethods).xClose.expect("every VFS file closes"))(inner);
        std::ptr::drop_in_place(wal);
        if written == ffi::SQLITE_OK {
            closed
        } else {
            written
        }
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: a file `open` made, until `xClose`.
    unsafe { (*file.cast::<WalFile>()).after_read = true };
    settled_call!(file, xRead(buf, amount, offset))
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if len == 0 {
        return ffi::SQLITE_OK;
    }
    // SAFETY: SQLite passes `amount` readable bytes at `buf`, on a file `open` made.
    unsafe {
        let wal = &mut *file.cast::<WalFile>();
        let bytes = std::slice::from_raw_parts(buf.cast::<u8>(), len);
        let ends_commit = wal.commit_page_at == Some(offset);
        // A frame header (after the WAL's own) whose "database size" field is set is a commit
        // frame's; its page follows it.
        wal.commit_page_at =
            (len == FRAME_HEADER && offset >= WAL_HEADER && bytes[4..8] != [0, 0, 0, 0])
                .then_some(offset + FRAME_HEADER as i64);
        let follows = wal.offset + wal.gathered.len() as i64 == offset;
        if wal.after_read || (!wal.gathered.is_empty() && !follows) {
            // A rewrite in place (after a read), or a write elsewhere: in order, at once.
            wal.after_read = false;
            let code = wal.write_gathered();
            if code != ffi::SQLITE_OK {
                return code;
            }
            return write_inner(wal.inner, bytes, offset);
        }
        if wal.gathered.len() + len > MAX_GATHERED {
            let code = wal.write_gathered();
            if code != ffi::SQLITE_OK {
                return code;
            }
        }
        if wal.gathered.is_empty() {
            wal.offset = offset;
        }
        wal.gathered.extend_from_slice(bytes);
        if ends_commit {
            // The commit frame is complete: the commit is written before SQLite publishes it.
            return wal.write_gathered();
        }
        ffi::SQLITE_OK
    }
}

/// Defines a method of the wrapped WAL file that writes what is gathered, then forwards the
/// call to the default VFS's file.
macro_rules! settled_method {
    ($name:ident, $method:ident ( $($arg:ident : $ty:ty),* )) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            settled_call!(file, $method($($arg),*))
        }
    };
}

settled_method!(truncate, xTruncate(size: i64));
settled_method!(sync, xSync(flags: c_int));
settled_method!(file_size, xFileSize(size: *mut i64));
settled_method!(lock, xLock(level: c_int));
settled_method!(unlock, xUnlock(level: c_int));
settled_method!(check_reserved_lock, xCheckReservedLock(out: *mut c_int));
settled_method!(file_control, xFileControl(op: c_int, arg: *mut c_void));

/// Defines a method of the wrapped WAL file that answers a property of the default VFS's file
/// (not an error code, so nothing is written first).
macro_rules! property_method {
    ($name:ident, $method:ident) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file) -> c_int {
            // SAFETY: a file `open` made, until `xClose`.
            unsafe {
                let inner = (*file.cast::<WalFile>()).inner;
                ((*(*inner).pMethods)
                    .$method
                    .expect(concat!("the default VFS has ", stringify!($method))))(inner)
            }
        }
    };
}

property_method!(sector_size, xSectorSize);
property_method!(device_characteristics, xDeviceCharacteristics);

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};

    use rusqlite::Connection;

    use super::super::Durability;
    use super::super::connection::{self, PAGE_SIZE};

    fn with_suffix(db: &Path, suffix: &str) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    /// Reads frame `index` (from 1) of the WAL file as it is on disk, past SQLite and this VFS:
    /// whether it is a commit frame and whether its salts are the log's current ones (a frame
    /// of an earlier pass through the file has others).
    fn frame_on_disk(wal: &Path, index: i64) -> (bool, bool) {
        let bytes = std::fs::read(wal).unwrap();
        let frame = 24 + i64::from(PAGE_SIZE);
        let start = usize::try_from(32 + (index - 1) * frame).unwrap();
        let header = bytes
            .get(start..start + 24)
            .unwrap_or_else(|| panic!("frame {index} is not in the file ({} bytes)", bytes.len()));
        let commit = header[4..8] != [0, 0, 0, 0];
        (commit, header[8..16] == bytes[16..24])
    }

    /// The rows of `t` in a copy of the database and its log as they are on disk now, opened
    /// by plain SQLite: what a crash of the process at this moment would leave.
    fn rows_after_a_crash_now(db: &Path) -> i64 {
        let copy = tempfile::tempdir().unwrap();
        let copied = copy.path().join("copy.db");
        std::fs::copy(db, &copied).unwrap();
        std::fs::copy(with_suffix(db, "-wal"), with_suffix(&copied, "-wal")).unwrap();
        Connection::open(&copied)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap()
    }

    /// When a commit returns, its last frame is in the WAL file (the guarantee the gathered
    /// writes rely on; it fails if the commit frame were left gathered), across the log
    /// starting over after checkpoints.
    #[test]
    fn a_commit_is_in_the_wal_file_when_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let mut conn = connection::open_writer(&db, Durability::Normal).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT)")
            .unwrap();
        let frames = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&frames);
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            seen.lock().unwrap().push(pages);
            Ok(())
        }))
        .unwrap();
        for round in 0..3 {
            for n in 0..200 {
                let rows = if n % 50 == 0 { 100 } else { 1 };
                let tx = conn.unchecked_transaction().unwrap();
                for row in 0..rows {
                    tx.execute(
                        "INSERT OR REPLACE INTO t (n, v) VALUES (?1, ?2)",
                        (n * 1000 + row, "x".repeat(n as usize % 300)),
                    )
                    .unwrap();
                }
                tx.commit().unwrap();
                let last = *frames.lock().unwrap().last().unwrap();
                assert_eq!(
                    frame_on_disk(&with_suffix(&db, "-wal"), i64::from(last)),
                    (true, true),
                    "round {round}, commit {n}: frame {last} is not this commit's on disk"
                );
            }
            // The log starts over from its first frame at the next commit.
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                .unwrap();
        }
    }

    /// Every commit survives a crash right after it returns, whatever its size: one row, a
    /// transaction larger than the page cache (kept in memory until it commits: the writer's
    /// cache spills are off), and commits that follow the writer reading pages back from the
    /// log (a small cache), which this VFS writes at once.
    #[test]
    fn every_commit_survives_a_crash_right_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let writer = connection::open_writer(&db, Durability::Normal).unwrap();
        writer
            .execute_batch(
                "PRAGMA cache_size = 8;
                 CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT);
                 CREATE INDEX t_v ON t (v);",
            )
            .unwrap();
        let mut expected = 0;
        for commit in 0..120 {
            let rows = match commit % 40 {
                0 => 3_000,
                n if n % 7 == 0 => 50,
                _ => 1,
            };
            let tx = writer.unchecked_transaction().unwrap();
            for _ in 0..rows {
                tx.execute(
                    "INSERT INTO t (v) VALUES (?1)",
                    [format!("{expected:0>120}")],
                )
                .unwrap();
                expected += 1;
            }
            // Rewrites rows written earlier, in this transaction and before.
            tx.execute("UPDATE t SET v = v || 'y' WHERE n % 97 = ?1", [commit % 97])
                .unwrap();
            tx.commit().unwrap();
            assert_eq!(
                rows_after_a_crash_now(&db),
                expected,
                "commit {commit} is not all on disk"
            );
            // Reads pages back, from the log when the small cache lost them.
            let read: i64 = writer
                .query_row("SELECT count(*) FROM t WHERE v LIKE '%y'", [], |row| {
                    row.get(0)
                })
                .unwrap();
            assert!(read <= expected);
        }
        let reader = connection::open(&db, Durability::Normal).unwrap();
        let check: String = reader
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
