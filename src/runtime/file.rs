//! Files for the journal: the only place that knows glommio's file API, so the
//! runtime can later be swapped for raw io-uring without touching the journal.
//!
//! Durability primitive. Measured here (ext4 on virtio, 4 KiB, median of 1000,
//! `write_sync_latency_4k` below): O_DIRECT write + fdatasync ~200 us, O_DIRECT
//! write on an O_DSYNC file ~135 us. O_DSYNC wins because it is one io_uring
//! round trip instead of two (glommio cannot link a write to an fsync), and the
//! file is pre-zeroed so neither needs a metadata commit. So a segment that must
//! be durable on every write is opened "write-through" (O_DSYNC); a segment
//! written by the lazier fsync policies uses write + fdatasync.

use glommio::io::{DmaBuffer, DmaFile, OpenOptions};
use glommio::GlommioError;
use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Every write offset and length is a multiple of this: the O_DIRECT unit and the
/// unit the journal never rewrites once it holds acknowledged records.
pub const BLOCK_BYTES: usize = 4096;

/// Bytes zeroed per write while pre-zeroing a new file: large enough to stream,
/// small enough to stay inside the executor's io_memory pool.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// A 4 KiB-aligned buffer whose length is a whole number of blocks, every byte written (zero
/// where nothing else was put).
pub struct AlignedBuf {
    dma: DmaBuffer,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes; `len` must be a positive multiple of
    /// [`BLOCK_BYTES`]. Must be called on a glommio executor.
    pub fn zeroed(len: usize) -> AlignedBuf {
        AlignedBuf::with_head(len, |_| 0)
    }

    /// A buffer of `len` bytes (as for `zeroed`) whose first bytes are written by `write_head`,
    /// which returns how many it wrote; the rest is zeroed. One pass over the memory, where
    /// zeroing it all and then copying in would be two.
    pub fn with_head(len: usize, write_head: impl FnOnce(&mut [u8]) -> usize) -> AlignedBuf {
        assert!(
            len > 0 && len.is_multiple_of(BLOCK_BYTES),
            "aligned buffer length {len}"
        );
        let mut dma = glommio::allocate_dma_buffer(len);
        assert_eq!(dma.as_ptr() as usize % BLOCK_BYTES, 0);
        let bytes = dma.as_bytes_mut();
        let head = write_head(bytes);
        bytes[head..].fill(0);
        AlignedBuf { dma }
    }

    pub fn len(&self) -> usize {
        self.dma.len()
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.dma.as_bytes_mut()
    }
}

/// A preallocated, pre-zeroed file open write-only for O_DIRECT writes.
///
/// Every byte of the file has been written once before `create` returns, so a
/// later write never converts an unwritten extent and `sync` never has to commit
/// file-system metadata: it costs one device flush.
pub struct SegmentFile {
    file: DmaFile,
    path: PathBuf,
    size_bytes: u64,
    write_through: bool,
}

impl SegmentFile {
    /// Creates (or truncates) `path`, allocates `size_bytes` for it, writes
    /// `head` at offset 0 and zeroes the rest, then makes the file and its
    /// directory entry durable. A `write_through` file makes every `write_at`
    /// durable before it returns (O_DSYNC).
    pub async fn create(
        path: &Path,
        size_bytes: u64,
        head: AlignedBuf,
        write_through: bool,
    ) -> io::Result<SegmentFile> {
        let filled = SegmentFile::filled(path, size_bytes, head, false, &Cell::new(false)).await?;
        sync_parent_dir(path)?;
        filled.reopen(write_through).await
    }

    /// Like `create` but made ahead of need, under a temporary name: every
    /// block zero (the caller writes block 0 later), the zeros on stable
    /// storage, the name not (`rename` makes it durable). Zeroes in chunks of
    /// async writes, so other tasks run meanwhile; gives up with
    /// `ErrorKind::Interrupted` between chunks once `stop` is set. A failed or
    /// stopped preparation removes the file. With `reuse`, `path` is an
    /// existing file of `size_bytes` (a spare segment) whose blocks are
    /// overwritten in place instead of freed and allocated again.
    pub async fn prepare(
        path: &Path,
        size_bytes: u64,
        write_through: bool,
        reuse: bool,
        stop: &Cell<bool>,
    ) -> io::Result<SegmentFile> {
        let head = AlignedBuf::zeroed(BLOCK_BYTES);
        let filled = SegmentFile::filled(path, size_bytes, head, reuse, stop).await?;
        match filled.reopen(write_through).await {
            Ok(file) => Ok(file),
            Err(e) => {
                let _ = remove_in_background(path.to_path_buf()).await;
                Err(e)
            }
        }
    }

    /// Creates `path` (or, with `reuse`, opens it as it is), writes `head` at
    /// 0 and zeroes the rest, fdatasyncs: a plain (not write-through) file
    /// whose name may not be durable yet.
    async fn filled(
        path: &Path,
        size_bytes: u64,
        head: AlignedBuf,
        reuse: bool,
        stop: &Cell<bool>,
    ) -> io::Result<SegmentFile> {
        assert!(size_bytes > 0 && size_bytes.is_multiple_of(BLOCK_BYTES as u64));
        assert!(head.len() as u64 <= size_bytes);
        let file = open_write_only(path, !reuse, 0).await?;
        let filling = SegmentFile {
            file,
            path: path.to_path_buf(),
            size_bytes,
            write_through: false,
        };
        if let Err(e) = filling.fill(head, stop).await {
            let _ = filling.file.close().await;
            let _ = remove_in_background(path.to_path_buf()).await;
            return Err(e);
        }
        Ok(filling)
    }

    /// This file, opened write-through if asked. Filled through a plain
    /// descriptor: O_DSYNC would have made every zero chunk its own flush.
    async fn reopen(self, write_through: bool) -> io::Result<SegmentFile> {
        if !write_through {
            return Ok(self);
        }
        let (path, size_bytes) = (self.path.clone(), self.size_bytes);
        self.close().await?;
        let file = open_write_only(&path, false, libc::O_DSYNC).await?;
        Ok(SegmentFile {
            file,
            path,
            size_bytes,
            write_through,
        })
    }

    async fn fill(&self, head: AlignedBuf, stop: &Cell<bool>) -> io::Result<()> {
        #[cfg(test)]
        fault::check(fault::Op::Allocate)?;
        self.file
            .pre_allocate(self.size_bytes, false)
            .await
            .map_err(to_io)?;
        let head_len = head.len() as u64;
        self.write_unchecked(head, 0).await?;
        // One zeroed chunk written again and again: zeroing a fresh 1 MiB per write cost the
        // shard a memset and 256 page faults per MiB, a segment (64 MiB) a second at full speed.
        let zeros = Rc::new(AlignedBuf::zeroed(ZERO_CHUNK_BYTES).dma);
        let mut offset = head_len;
        while offset < self.size_bytes {
            if stop.get() {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "segment preparation stopped",
                ));
            }
            let len = (self.size_bytes - offset).min(ZERO_CHUNK_BYTES as u64) as usize;
            let written = if len == ZERO_CHUNK_BYTES {
                self.file.write_rc_at(zeros.clone(), offset).await
            } else {
                let tail = AlignedBuf::zeroed(len).dma;
                self.file.write_at(tail, offset).await
            };
            check_written(written.map_err(to_io)?, len)?;
            offset += len as u64;
        }
        self.file.fdatasync().await.map_err(to_io)
    }

    /// Renames the file to `to` and makes the rename durable (directory
    /// fsync), on a blocking thread: a directory sync can take milliseconds.
    pub async fn rename(&mut self, to: &Path) -> io::Result<()> {
        let (from, to) = (self.path.clone(), to.to_path_buf());
        let target = to.clone();
        glommio::executor()
            .spawn_blocking(move || rename(&from, &target))
            .await?;
        self.path = to;
        Ok(())
    }

    /// Closes the file and removes it (the removal not made durable).
    pub async fn discard(self) -> io::Result<()> {
        let path = self.path.clone();
        let closed = self.close().await;
        remove_in_background(path).await.and(closed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Writes all of `buf` at `offset` (both block-aligned); a short write is an
    /// error, never a partial success.
    pub async fn write_at(&self, buf: AlignedBuf, offset: u64) -> io::Result<()> {
        assert_eq!(offset % BLOCK_BYTES as u64, 0, "unaligned write offset");
        assert!(
            offset + buf.len() as u64 <= self.size_bytes,
            "write past segment end"
        );
        #[cfg(test)]
        fault::check(fault::Op::Write)?;
        self.write_unchecked(buf, offset).await
    }

    /// `write_at` without test fault injection: pre-zeroing, which may run in
    /// the background while a test aims faults at the journal's own writes.
    async fn write_unchecked(&self, buf: AlignedBuf, offset: u64) -> io::Result<()> {
        let len = buf.len();
        check_written(
            self.file.write_at(buf.dma, offset).await.map_err(to_io)?,
            len,
        )
    }

    /// After `sync` returns Ok, everything written so far is on stable storage.
    /// Free on a write-through file, whose writes are already durable.
    pub async fn sync(&self) -> io::Result<()> {
        if self.write_through {
            return Ok(());
        }
        #[cfg(test)]
        fault::check(fault::Op::Sync)?;
        self.file.fdatasync().await.map_err(to_io)
    }

    pub fn is_write_through(&self) -> bool {
        self.write_through
    }

    pub async fn close(self) -> io::Result<()> {
        self.file.close().await.map_err(to_io)
    }
}

// Write-only on purpose: glommio probes the first DMA file of a device for
// polled I/O with a read; on a write-only file the probe fails, so the polling
// ring (10x slower syncs here) is never chosen.
async fn open_write_only(path: &Path, create: bool, flags: libc::c_int) -> io::Result<DmaFile> {
    OpenOptions::new()
        .write(true)
        .create(create)
        .truncate(create)
        .custom_flags(flags)
        .dma_open(path)
        .await
        .map_err(to_io)
}

/// Reads a whole file with plain buffered I/O (recovery runs before serving).
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
}

/// Removes a file and makes the removal durable.
pub fn delete(path: &Path) -> io::Result<()> {
    std::fs::remove_file(path)?;
    sync_parent_dir(path)
}

/// A file being deleted gradually has this suffix: whatever finds one (a start after a crash)
/// may delete it at once.
pub const DELETING_SUFFIX: &str = ".deleting";

/// Bytes one step of a gradual deletion frees, and the pause after each step. On a file system
/// mounted with `discard` (as here), freeing a file's blocks sends the device a discard that
/// holds up the I/O queued behind it: deleting a 64 MiB segment or a snapshot at once stalled
/// journal syncs for 20-30 ms. Freeing it a little at a time keeps each stall short (RocksDB
/// rate-limits its deletions for the same reason).
const DELETE_STEP_BYTES: u64 = 1 << 20;
const DELETE_STEP_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// Deletes a big file without stalling the device: renames it to `<name>.deleting` (durably,
/// so that a crash never leaves a shortened file under its real name), shrinks it from the end
/// [`DELETE_STEP_BYTES`] at a time with pauses, then removes it. Each step runs on the blocking
/// pool on its own, so other file work never waits for the whole deletion. A file that is
/// already gone (another deletion took it) counts as deleted.
pub async fn delete_gradually(path: &Path) -> io::Result<()> {
    let mut doomed = path.as_os_str().to_owned();
    doomed.push(DELETING_SUFFIX);
    let doomed = PathBuf::from(doomed);
    let (from, to) = (path.to_path_buf(), doomed.clone());
    let renamed = crate::runtime::blocking(move || {
        rename(&from, &to)?;
        Ok::<_, io::Error>(std::fs::metadata(&to)?.len())
    })
    .await;
    let mut len = match renamed {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    };
    while len > DELETE_STEP_BYTES {
        len -= DELETE_STEP_BYTES;
        let shrinking = doomed.clone();
        crate::runtime::blocking(move || {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&shrinking)?
                .set_len(len)
        })
        .await?;
        crate::runtime::sleep(DELETE_STEP_PAUSE).await;
    }
    crate::runtime::blocking(move || delete(&doomed)).await
}

/// The regular files in `dir` whose names `picked` selects; a missing directory holds none.
pub fn files_named(dir: &Path, picked: impl Fn(&str) -> bool) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if entry.file_type()?.is_file() && name.to_str().is_some_and(&picked) {
            files.push(entry.path());
        }
    }
    Ok(files)
}

/// Deletes a directory of big files without stalling the device: each file gradually
/// ([`delete_gradually`]), then the directory and whatever else it holds, durably.
pub async fn delete_dir_gradually(path: &Path) -> io::Result<()> {
    let dir = path.to_path_buf();
    let files = crate::runtime::blocking(move || files_named(&dir, |_| true)).await?;
    for file in files {
        delete_gradually(&file).await?;
    }
    let dir = path.to_path_buf();
    crate::runtime::blocking(move || delete_dir(&dir)).await
}

/// Deletes a directory and everything in it, and makes the deletion durable.
pub fn delete_dir(path: &Path) -> io::Result<()> {
    std::fs::remove_dir_all(path)?;
    sync_parent_dir(path)
}

/// Cuts a file to `len` bytes and makes the new length durable.
pub fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// Copies a file and makes the copy durable.
pub fn copy(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::copy(from, to)?;
    std::fs::File::open(to)?.sync_all()?;
    sync_parent_dir(to)
}

/// Renames a file and makes the rename durable.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)?;
    sync_parent_dir(to)
}

/// Removes a file on a blocking thread (freeing a big file's extents can take
/// a while); the removal is not made durable.
async fn remove_in_background(path: PathBuf) -> io::Result<()> {
    glommio::executor()
        .spawn_blocking(move || std::fs::remove_file(path))
        .await
}

fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// A short write is an error, never a partial success.
fn check_written(written: usize, len: usize) -> io::Result<()> {
    if written != len {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {written} of {len} bytes"),
        ));
    }
    Ok(())
}

/// glommio wraps errors with context but drops the errno on conversion; keep it,
/// the server reports ENOSPC and EIO differently.
fn to_io<T>(e: GlommioError<T>) -> io::Error {
    match e {
        GlommioError::IoError(e) => e,
        GlommioError::EnhancedIoError { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}

/// A file written whole, front to back, then published atomically (snapshots): chunks go to
/// `<final>.tmp` with plain buffered writes on the executor's blocking thread pool (so the shard
/// never blocks on the disk), and `publish` syncs it, renames it into place and syncs the
/// directory. A file that was never published is only ever seen as `*.tmp`.
pub struct StagedFile {
    file: Option<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
}

impl StagedFile {
    pub async fn create(path: &Path) -> io::Result<StagedFile> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let create = tmp.clone();
        let file = glommio::executor()
            .spawn_blocking(move || std::fs::File::create(create))
            .await?;
        Ok(StagedFile {
            file: Some(file),
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Appends `chunk` and syncs it. Syncing chunk by chunk keeps the disk's queue short: one sync
    /// of a whole large file at the end would hold up the journal's writes (and so every durable
    /// reply) for as long as the file takes to reach the disk.
    pub async fn append(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        use std::io::Write;
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("file failed"))?;
        let (file, result) = glommio::executor()
            .spawn_blocking(move || {
                let result = file.write_all(&chunk).and_then(|()| file.sync_data());
                (file, result)
            })
            .await;
        self.file = Some(file);
        result
    }

    /// Syncs the file, renames it to its final name and syncs the directory.
    pub async fn publish(mut self) -> io::Result<PathBuf> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("file failed"))?;
        let (tmp, path) = (self.tmp.clone(), self.path.clone());
        glommio::executor()
            .spawn_blocking(move || {
                file.sync_all()?;
                drop(file);
                rename(&tmp, &path)?;
                Ok(path)
            })
            .await
    }

    /// Removes the unpublished file (after a failure).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Test-only fault injection: makes the next file operations of this thread fail
/// with a chosen errno, so error paths run with real files.
#[cfg(test)]
pub mod fault {
    use std::cell::Cell;
    use std::io;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Op {
        Write,
        Sync,
        /// Allocating a new segment file's space (`pre_allocate`).
        Allocate,
    }

    thread_local! {
        static FAIL: Cell<Option<(Op, i32, u32)>> = const { Cell::new(None) };
    }

    /// The next `count` operations of kind `op` on this thread fail with `errno`.
    pub fn fail_next(op: Op, errno: i32, count: u32) {
        FAIL.with(|f| f.set(Some((op, errno, count))));
    }

    pub fn clear() {
        FAIL.with(|f| f.set(None));
    }

    pub(super) fn check(op: Op) -> io::Result<()> {
        FAIL.with(|f| match f.get() {
            Some((fail_op, errno, count)) if fail_op == op && count > 0 => {
                f.set(if count > 1 {
                    Some((op, errno, count - 1))
                } else {
                    None
                });
                Err(io::Error::from_raw_os_error(errno))
            }
            _ => Ok(()),
        })
    }
}

/// Test helpers: a real temporary directory and a glommio executor to run in.
#[cfg(test)]
pub mod test_support {
    use std::future::Future;
    use std::path::{Path, PathBuf};

    /// A fresh directory under the system temp dir, removed on drop.
    pub struct TempDir {
        path: PathBuf,
    }

    impl TempDir {
        pub fn new(tag: &str) -> TempDir {
            let path = std::env::temp_dir().join(format!(
                "keel-{tag}-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            std::fs::create_dir_all(&path).unwrap();
            TempDir { path }
        }

        pub fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }

    /// Runs `fut` to completion on a fresh glommio executor on this thread.
    pub fn run<T>(fut: impl Future<Output = T>) -> T {
        glommio::LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .make()
            .unwrap()
            .run(fut)
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{run, TempDir};
    use super::*;
    use std::time::{Duration, Instant};

    fn block_of(byte: u8) -> AlignedBuf {
        let mut buf = AlignedBuf::zeroed(BLOCK_BYTES);
        buf.as_bytes_mut().fill(byte);
        buf
    }

    #[test]
    fn a_gradual_deletion_removes_the_file_and_leaves_nothing_behind() {
        let dir = TempDir::new("delete-gradually");
        let path = dir.path().join("big.seg");
        std::fs::write(&path, vec![1u8; (3 * DELETE_STEP_BYTES + 12345) as usize]).unwrap();
        run(async {
            delete_gradually(&path).await.unwrap();
            // Already gone (another deletion took it): nothing to do.
            delete_gradually(&path).await.unwrap();
        });
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_gradual_directory_deletion_removes_every_file_and_the_directory() {
        let dir = TempDir::new("delete-dir-gradually");
        let doomed = dir.path().join("shard-3");
        std::fs::create_dir_all(doomed.join("sub")).unwrap();
        std::fs::write(
            doomed.join("a.seg"),
            vec![1u8; (2 * DELETE_STEP_BYTES + 7) as usize],
        )
        .unwrap();
        std::fs::write(doomed.join("b.kss"), b"small").unwrap();
        std::fs::write(doomed.join("sub").join("c"), b"nested").unwrap();
        run(async { delete_dir_gradually(&doomed).await.unwrap() });
        assert!(!doomed.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn created_file_is_preallocated_zeroed_and_holds_head_and_writes() {
        let dir = TempDir::new("file");
        let path = dir.path().join("a.seg");
        // Two whole zero chunks and a shorter last one.
        let size_bytes = 2 * ZERO_CHUNK_BYTES + 64 * 1024;
        run(async {
            let file = SegmentFile::create(&path, size_bytes as u64, block_of(7), false)
                .await
                .unwrap();
            file.write_at(block_of(9), 8192).await.unwrap();
            file.sync().await.unwrap();
            file.close().await.unwrap();
        });
        let bytes = read_file(&path).unwrap();
        assert_eq!(bytes.len(), size_bytes);
        assert!(bytes[..4096].iter().all(|&b| b == 7));
        assert!(bytes[4096..8192].iter().all(|&b| b == 0));
        assert!(bytes[8192..12288].iter().all(|&b| b == 9));
        assert!(bytes[12288..].iter().all(|&b| b == 0));
        delete(&path).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn injected_fault_fails_one_write_with_its_errno() {
        let dir = TempDir::new("file-fault");
        run(async {
            let file = SegmentFile::create(&dir.path().join("a.seg"), 16384, block_of(1), false)
                .await
                .unwrap();
            fault::fail_next(fault::Op::Write, libc::ENOSPC, 1);
            let err = file.write_at(block_of(2), 4096).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
            file.write_at(block_of(2), 4096).await.unwrap();
        });
    }

    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    /// Decides between fdatasync and O_DSYNC (see the module doc). Run with
    /// `cargo test --release -- --ignored --nocapture write_sync_latency_4k`.
    #[test]
    #[ignore]
    fn write_sync_latency_4k() {
        const ROUNDS: usize = 1000;
        let dir = TempDir::new("file-bench");
        run(async {
            let path = dir.path().join("fdatasync.seg");
            let file = SegmentFile::create(&path, 8 << 20, block_of(1), false)
                .await
                .unwrap();
            let mut fdatasync = Vec::with_capacity(ROUNDS);
            for i in 0..ROUNDS {
                let start = Instant::now();
                file.write_at(block_of(3), (1 + i as u64) * 4096)
                    .await
                    .unwrap();
                file.sync().await.unwrap();
                fdatasync.push(start.elapsed());
            }
            file.close().await.unwrap();

            let path = dir.path().join("odsync.seg");
            let file = SegmentFile::create(&path, 8 << 20, block_of(1), true)
                .await
                .unwrap();
            let mut odsync = Vec::with_capacity(ROUNDS);
            for i in 0..ROUNDS {
                let start = Instant::now();
                file.write_at(block_of(3), (1 + i as u64) * 4096)
                    .await
                    .unwrap();
                file.sync().await.unwrap();
                odsync.push(start.elapsed());
            }
            file.close().await.unwrap();
            let start = Instant::now();
            let path = dir.path().join("big.seg");
            SegmentFile::create(&path, 64 << 20, block_of(1), true)
                .await
                .unwrap();
            let create_64mib = start.elapsed();
            println!(
                "4 KiB write+durable, median of {ROUNDS}: write+fdatasync {:?}, O_DSYNC write {:?}; \
                 creating a 64 MiB segment {create_64mib:?}",
                median(fdatasync),
                median(odsync)
            );
        });
    }
}
