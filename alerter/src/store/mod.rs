//! The data directory (`--storage.path`). Each kind of state (alerts, silences, the
//! notification log, pending notifications) is one append-only JSON-lines log of
//! keyed puts and deletes, replayed at start and compacted by rewrite + rename, so a
//! crash at any byte leaves a readable file: a torn last line is dropped, a file that
//! cannot be read at all is set aside (renamed `*.corrupt-<unix time>`) and reported,
//! never fatal. A damaged line with good lines after it is no crash's doing: the rest
//! is loaded and the damaged file is kept beside it as `*.corrupt-<unix time>` too.
//! A failed append cuts the file back to where it began, so a torn line can never
//! swallow the next good one.
//!
//! [`Log`] also owns the one policy for a disk that refuses writes (full, read-only):
//! the state stays in memory, every refused write is counted (`alerter_storage_errors`),
//! and the file is marked *dirty*, because it may now lack changes. A dirty file is
//! healed by rewriting it whole from the owner's live state at the next opportunity
//! ([`Log::put_or_heal`] on the next change, [`Log::maintain`] on the next periodic
//! pass), since appending more lines cannot bring back the lost ones. The owner
//! learns when writes start and stop failing through [`Log::report_with`], so it
//! logs a run of failures once, in its own words.

pub mod alerts;
pub mod stats;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sync::lock;

/// Slack of the size-based compaction: a file under twice its live state plus
/// this is not rewritten (16 MiB, a fraction of a second to rewrite).
pub const SIZE_FLOOR: u64 = 16 << 20;

/// Why the data directory could not be read or written. Reading is rarely fatal
/// ([`Log::open`] drops torn lines and sets unreadable files aside), so these are
/// mostly write failures, which the owner reports and heals.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot create: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("{}: cannot read: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}: cannot set aside: {source}", path.display())]
    SetAside { path: PathBuf, source: io::Error },
    /// An append (or its fsync) failed: the file may lack these lines.
    #[error("{}: write failed: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// A whole-file rewrite failed; the old file is still in place.
    #[error("{}: compaction failed: {source}", path.display())]
    Compact { path: PathBuf, source: io::Error },
    /// A value could not be turned into JSON, so nothing of its batch was written.
    #[error("{}: cannot encode: {source}", path.display())]
    Encode {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Serialize, serde::Deserialize)]
struct Entry<T> {
    k: String,
    /// `None`: the key was deleted.
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    v: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

/// One entry as one line of the file.
fn push_line<V: Serialize>(buf: &mut Vec<u8>, e: &Entry<V>) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *buf, e)?;
    buf.push(b'\n');
    Ok(())
}

/// What [`Log::open`] found on disk, for logs and `/api/v2/status`.
#[derive(Debug, Default, Clone)]
pub struct Recovery {
    /// Lines that could not be parsed and were dropped (a torn tail after a crash).
    pub dropped_lines: usize,
    /// Where the damaged file was kept for a human: the whole file when it could
    /// not be read ([`Recovery::kept_rest`] false), else a copy of it whose bad
    /// lines were not the torn tail of a crash.
    pub set_aside: Option<PathBuf>,
    /// Whether the readable lines were loaded (only damaged lines dropped).
    pub kept_rest: bool,
    /// The first rewrite failed (a full disk): running on what was read, the
    /// file dirty until a write succeeds.
    pub write_error: Option<String>,
}

/// A change in whether writes to a log succeed, told to the owner's reporter.
#[derive(Debug, Clone, Copy)]
pub enum Health<'a> {
    /// The first failure after a success (or since open).
    Failing(&'a Error),
    /// The first success after a failure.
    Recovered,
}

type Reporter = Box<dyn Fn(Health<'_>) + Send + Sync>;

pub struct Log<T> {
    path: PathBuf,
    inner: Mutex<Inner>,
    errors: AtomicU64,
    /// A write failed since the last successful rewrite: the file may lack changes.
    dirty: AtomicBool,
    /// The last write failed; the reporter has heard of it.
    failing: AtomicBool,
    reporter: Option<Reporter>,
    /// Where a rewrite (Alertmanager's snapshot) reports its duration and size.
    stats: Option<std::sync::Arc<stats::MaintenanceStats>>,
    _t: std::marker::PhantomData<fn() -> T>,
}

struct Inner {
    file: Option<File>,
    /// Lines written since the last compaction; compaction runs when this is far
    /// larger than the live set.
    lines: usize,
    live: usize,
    /// The file's size, and its size after the last rewrite (the live state's):
    /// the same large entry put again and again grows the file by bytes, not lines.
    bytes: u64,
    base_bytes: u64,
    /// Staged lines not yet written (see [`Log::stage_many`]).
    pending: Pending,
}

/// Encoded lines waiting for one write, with what they add to `lines` and `live`.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    lines: usize,
    live: isize,
}

impl Pending {
    /// Encodes one entry; `live` is +1 for a put, -1 for a delete.
    fn push<V: Serialize>(&mut self, e: &Entry<V>, live: isize) -> serde_json::Result<()> {
        push_line(&mut self.bytes, e)?;
        self.lines += 1;
        self.live += live;
        Ok(())
    }

    /// Empties it, keeping the buffer's capacity for the next batch.
    fn clear(&mut self) {
        self.bytes.clear();
        self.lines = 0;
        self.live = 0;
    }
}

/// A log as opened: the log, its live entries, and what recovery found.
pub type Opened<T> = (Log<T>, HashMap<String, T>, Recovery);

impl<T: Serialize + DeserializeOwned> Log<T> {
    /// Opens (creating the directory and file) and replays `dir/name`.
    pub fn open(dir: &Path, name: &str) -> Result<Opened<T>, Error> {
        fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(name);
        let mut live = HashMap::new();
        let mut rec = Recovery::default();
        let mut lines = 0;
        // Where the last whole good line ends: what a failed first rewrite keeps.
        let mut good_len = 0u64;
        match File::open(&path) {
            Ok(f) => {
                let file_len = f.metadata().map_or(0, |m| m.len());
                let mut offset = 0u64;
                let mut bad_bytes = false;
                // A bad line followed by a good one: damage, not a torn tail.
                let mut damaged_middle = false;
                for line in BufReader::new(f).split(b'\n') {
                    let Ok(line) = line else {
                        bad_bytes = true;
                        break;
                    };
                    offset += line.len() as u64 + 1;
                    if line.is_empty() {
                        continue;
                    }
                    lines += 1;
                    match serde_json::from_slice::<Entry<T>>(&line) {
                        Ok(Entry { k, v }) => {
                            damaged_middle |= rec.dropped_lines > 0;
                            // (Past the end: a last line without its newline.)
                            if offset <= file_len {
                                good_len = offset;
                            }
                            match v {
                                Some(v) => live.insert(k, v),
                                None => live.remove(&k),
                            };
                        }
                        Err(_) => rec.dropped_lines += 1,
                    }
                }
                let aside = path.with_extension(format!(
                    "corrupt-{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                ));
                let set_aside = |source| Error::SetAside {
                    path: path.clone(),
                    source,
                };
                if bad_bytes || (rec.dropped_lines > 1 && rec.dropped_lines * 2 > lines) {
                    // Mostly garbage: not ours or badly damaged. Keep it for a human.
                    fs::rename(&path, &aside).map_err(set_aside)?;
                    rec.set_aside = Some(aside);
                    live.clear();
                    good_len = 0;
                } else if damaged_middle {
                    // The rewrite below replaces the file; the link keeps the damaged
                    // one (a copy where links fail, or one was made this second).
                    fs::hard_link(&path, &aside)
                        .or_else(|_| fs::copy(&path, &aside).map(drop))
                        .map_err(set_aside)?;
                    rec.set_aside = Some(aside);
                    rec.kept_rest = true;
                } else {
                    rec.kept_rest = true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Read { path, source }),
        }
        let log = Log {
            path,
            inner: Mutex::new(Inner {
                file: None,
                lines,
                live: live.len(),
                bytes: 0,
                base_bytes: 0,
                pending: Pending::default(),
            }),
            errors: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            reporter: None,
            stats: None,
            _t: std::marker::PhantomData,
        };
        // Start from a clean file: drops torn lines and old history at once.
        match log.rewrite(live.iter()) {
            Ok(()) => {}
            // A full disk must not stop the alerter from starting (alerting is most
            // needed then): run on what was read, with the file dirty, so the
            // owner's next write rewrites it once the disk takes it. Cutting a torn
            // tail needs no space and lets appends start on a fresh line.
            Err(e @ Error::Compact { .. }) => {
                if good_len > 0 {
                    OpenOptions::new()
                        .write(true)
                        .open(&log.path)
                        .and_then(|f| f.set_len(good_len))
                        .ok();
                }
                let mut inner = lock(&log.inner);
                (inner.bytes, inner.base_bytes) = (good_len, good_len);
                drop(inner);
                rec.write_error = Some(e.to_string());
            }
            Err(e) => return Err(e),
        }
        Ok((log, live, rec))
    }

    /// Tells `report` when writes start failing and when they work again, once
    /// per run of failures, so the owner logs them without flooding.
    #[must_use]
    pub fn report_with(mut self, report: impl Fn(Health<'_>) + Send + Sync + 'static) -> Self {
        self.reporter = Some(Box::new(report));
        self
    }

    /// Reports each rewrite's duration and the file's size to `stats`.
    #[must_use]
    pub fn with_stats(mut self, stats: std::sync::Arc<stats::MaintenanceStats>) -> Self {
        self.stats = Some(stats);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write failures so far (a full disk, a read-only mount): exported as a metric.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// True when a write failed since the last successful rewrite, so the file may
    /// lack changes the owner still has in memory.
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Records `key = value`. With `durable`, the data reaches the disk (fsync)
    /// before this returns: for silences, which must survive a power cut once the
    /// API has answered. Without it, it survives a killed process.
    pub fn put(&self, key: &str, value: &T, durable: bool) -> Result<(), Error> {
        self.put_many(std::iter::once((key.to_string(), value)), durable)
    }

    /// Records several puts with one write: a batch of posted alerts costs one
    /// system call, not one per alert.
    pub fn put_many<'a>(
        &self,
        entries: impl IntoIterator<Item = (String, &'a T)>,
        durable: bool,
    ) -> Result<(), Error>
    where
        T: 'a,
    {
        self.stage_many(entries)?;
        self.flush(durable)
    }

    /// [`Log::put_many`], unless the file is dirty: then appending would leave the
    /// earlier lost changes missing, so the file is rewritten from `live` (the
    /// owner's whole state, `entries` included) instead. A change is thus on disk,
    /// with everything before it, as soon as one write succeeds again.
    pub fn put_or_heal<'a, K, V>(
        &self,
        entries: impl IntoIterator<Item = (String, &'a T)>,
        durable: bool,
        live: impl FnOnce() -> Vec<(K, V)>,
    ) -> Result<(), Error>
    where
        T: 'a,
        K: AsRef<str>,
        V: Borrow<T>,
    {
        if self.is_dirty() {
            self.rewrite(live())
        } else {
            self.put_many(entries, durable)
        }
    }

    pub fn delete(&self, key: &str, durable: bool) -> Result<(), Error> {
        self.delete_many(std::iter::once(key.to_string()), durable)
    }

    /// Records several deletes with one write (nothing to do for none).
    pub fn delete_many(
        &self,
        keys: impl IntoIterator<Item = String>,
        durable: bool,
    ) -> Result<(), Error> {
        let mut inner = lock(&self.inner);
        for k in keys {
            let e = Entry::<&T> { k, v: None };
            if let Err(source) = inner.pending.push(&e, -1) {
                return Err(self.encode_failed(source));
            }
        }
        if inner.pending.lines == 0 {
            return Ok(());
        }
        self.write_pending(&mut inner, durable)
    }

    /// Encodes puts into memory only; the next [`Log::flush`] (or any other write)
    /// writes them, in order, together with whatever else was staged meanwhile.
    /// This is how several requests handled in one turn share one write.
    pub fn stage_many<'a>(
        &self,
        entries: impl IntoIterator<Item = (String, &'a T)>,
    ) -> Result<(), Error>
    where
        T: 'a,
    {
        let mut inner = lock(&self.inner);
        // A batch with a value that cannot be encoded stages none of its lines.
        let p = &mut inner.pending;
        let before = (p.bytes.len(), p.lines, p.live);
        for (k, v) in entries {
            if let Err(source) = p.push(&Entry { k, v: Some(v) }, 1) {
                p.bytes.truncate(before.0);
                (p.lines, p.live) = (before.1, before.2);
                return Err(self.encode_failed(source));
            }
        }
        Ok(())
    }

    /// Writes what is staged (nothing to do when nothing is). With `durable`, the
    /// data reaches the disk (fsync) before this returns.
    pub fn flush(&self, durable: bool) -> Result<(), Error> {
        let mut inner = lock(&self.inner);
        if inner.pending.lines == 0 {
            return Ok(());
        }
        self.write_pending(&mut inner, durable)
    }

    /// Appends the staged lines to the file. On failure they are dropped and the
    /// file is dirty: the owner's next [`Log::put_or_heal`] or [`Log::maintain`]
    /// rewrites it.
    fn write_pending(&self, inner: &mut Inner, durable: bool) -> Result<(), Error> {
        let res = (|| {
            if inner.file.is_none() {
                inner.file = Some(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)?,
                );
            }
            let f = inner.file.as_mut().expect("opened above");
            f.write_all(&inner.pending.bytes)?;
            if durable {
                f.sync_data()?;
            }
            Ok::<(), io::Error>(())
        })();
        let (lines, live) = (inner.pending.lines, inner.pending.live);
        let bytes = inner.pending.bytes.len() as u64;
        inner.pending.clear();
        match res {
            Ok(()) => {
                inner.lines += lines;
                inner.bytes += bytes;
                inner.live = inner.live.saturating_add_signed(live);
                self.succeeded();
                Ok(())
            }
            Err(source) => {
                // Cut off what part of the lines made it (a full disk takes what fits),
                // or the next append would continue the torn line and be lost with it.
                if let Some(f) = &inner.file {
                    f.set_len(inner.bytes).ok();
                }
                // Reopen next time: the handle may be at a torn offset.
                inner.file = None;
                Err(self.io_failed(Error::Write {
                    path: self.path.clone(),
                    source,
                }))
            }
        }
    }

    /// True when the file holds far more history than live state; the owner then
    /// calls [`Log::rewrite`] with its live entries (or lets [`Log::maintain`]).
    pub fn wants_compaction(&self, live: usize) -> bool {
        let inner = lock(&self.inner);
        inner.lines > 2 * live + 1024 || Self::oversized(&inner)
    }

    /// True when the file is over twice the live state's size (as of the last
    /// rewrite) plus [`SIZE_FLOOR`]; cheap enough to ask after every write.
    pub fn wants_compaction_by_size(&self) -> bool {
        Self::oversized(&lock(&self.inner))
    }

    fn oversized(inner: &Inner) -> bool {
        inner.bytes > 2 * inner.base_bytes + SIZE_FLOOR
    }

    /// The periodic pass: rewrites the file from `live` (called only then) when it
    /// is dirty or mostly history; `live_len` is how many entries `live` returns.
    /// `Ok` when nothing was due.
    pub fn maintain<K, V>(
        &self,
        live_len: usize,
        live: impl FnOnce() -> Vec<(K, V)>,
    ) -> Result<(), Error>
    where
        K: AsRef<str>,
        V: Borrow<T>,
    {
        if self.is_dirty() || self.wants_compaction(live_len) {
            self.rewrite(live())
        } else {
            Ok(())
        }
    }

    /// The pass after a GC: deletes `keys` with one write, then [`Log::maintain`].
    /// While the file is dirty the deletes are not written, since the rewrite from
    /// `live` (which no longer holds them) is due anyway and covers them; a failed
    /// delete makes it due. The result is the rewrite's, the one that counts: a
    /// failed delete was reported already and is healed by it.
    pub fn delete_and_maintain<K, V>(
        &self,
        keys: impl IntoIterator<Item = String>,
        live_len: usize,
        live: impl FnOnce() -> Vec<(K, V)>,
    ) -> Result<(), Error>
    where
        K: AsRef<str>,
        V: Borrow<T>,
    {
        if !self.is_dirty() {
            // A failure makes the file dirty, so the rewrite below is due and heals it.
            self.delete_many(keys, false).ok();
        }
        self.maintain(live_len, live)
    }

    /// Atomically replaces the file with exactly `live` (temp file, fsync, rename).
    /// Success makes the file clean again.
    pub fn rewrite<K, V>(&self, live: impl IntoIterator<Item = (K, V)>) -> Result<(), Error>
    where
        K: AsRef<str>,
        V: Borrow<T>,
    {
        let tmp = self.path.with_extension("tmp");
        let started = std::time::Instant::now();
        let mut inner = lock(&self.inner);
        let res = (|| {
            let mut f = File::create(&tmp)?;
            let mut n = 0;
            let mut size = 0u64;
            let mut buf = Vec::new();
            for (k, v) in live {
                push_line(
                    &mut buf,
                    &Entry {
                        k: k.as_ref().to_string(),
                        v: Some(v.borrow()),
                    },
                )?;
                n += 1;
                if buf.len() > 1 << 16 {
                    size += buf.len() as u64;
                    f.write_all(&buf)?;
                    buf.clear();
                }
            }
            size += buf.len() as u64;
            f.write_all(&buf)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                // The rename itself must reach the disk.
                File::open(dir).and_then(|d| d.sync_all()).ok();
            }
            Ok::<(usize, u64), io::Error>((n, size))
        })();
        match res {
            Ok((n, size)) => {
                if let Some(st) = &self.stats {
                    st.snapshot(started.elapsed(), size);
                }
                // Exactly `live`: what was staged before is in it or was replaced.
                inner.pending.clear();
                inner.file = None;
                inner.lines = n;
                inner.live = n;
                (inner.bytes, inner.base_bytes) = (size, size);
                self.dirty.store(false, Ordering::Relaxed);
                self.succeeded();
                Ok(())
            }
            Err(source) => {
                fs::remove_file(&tmp).ok();
                Err(self.io_failed(Error::Compact {
                    path: self.path.clone(),
                    source,
                }))
            }
        }
    }

    /// A write reached the file.
    fn succeeded(&self) {
        if self.failing.swap(false, Ordering::Relaxed)
            && let Some(report) = &self.reporter
        {
            report(Health::Recovered);
        }
    }

    /// A value of a batch could not be encoded: the batch is lost, so the file is
    /// dirty, but the disk did not fail (not counted).
    fn encode_failed(&self, source: serde_json::Error) -> Error {
        self.failed(Error::Encode {
            path: self.path.clone(),
            source,
        })
    }

    /// The disk refused a write: counted.
    fn io_failed(&self, err: Error) -> Error {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.failed(err)
    }

    fn failed(&self, err: Error) -> Error {
        self.dirty.store(true, Ordering::Relaxed);
        if !self.failing.swap(true, Ordering::Relaxed)
            && let Some(report) = &self.reporter
        {
            report(Health::Failing(&err));
        }
        err
    }
}

/// Test support for the stores built on [`Log`].
#[cfg(test)]
pub(crate) mod testing {
    use std::fs;
    use std::path::Path;

    /// Makes appends to `path` fail as on a full disk: it becomes `/dev/full`
    /// (ENOSPC even as root) or, without that device, a directory. Only a log with
    /// no handle open notices (after open or a rewrite). Returns the repair.
    pub fn refuse_writes(path: &Path) -> impl FnOnce() + use<> {
        fs::remove_file(path).unwrap();
        if Path::new("/dev/full").exists() {
            std::os::unix::fs::symlink("/dev/full", path).unwrap();
        } else {
            fs::create_dir(path).unwrap();
        }
        let path = path.to_path_buf();
        move || {
            if path.is_dir() {
                fs::remove_dir(&path).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::refuse_writes;
    use super::*;

    #[test]
    fn replays_puts_and_deletes_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, live, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
            assert!(live.is_empty());
            log.put("a", &1, false).unwrap();
            log.put("b", &2, true).unwrap();
            log.put("a", &3, false).unwrap();
            log.delete("b", false).unwrap();
        }
        // A crash in the middle of a write.
        let p = dir.path().join("x.log");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"k":"c","v":"#).unwrap();
        let (_log, live, rec) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(live, HashMap::from([("a".to_string(), 3)]));
        assert_eq!(rec.dropped_lines, 1);
        assert!(rec.set_aside.is_none());
    }

    #[test]
    fn a_batch_is_one_append_of_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        log.put_many(
            [
                ("a".to_string(), &1),
                ("b".to_string(), &2),
                ("a".to_string(), &3),
            ],
            false,
        )
        .unwrap();
        log.put_many(std::iter::empty(), false).unwrap();
        let text = fs::read_to_string(dir.path().join("x.log")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let (_l, live, rec) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(
            live,
            HashMap::from([("a".to_string(), 3), ("b".to_string(), 2)])
        );
        assert_eq!(rec.dropped_lines, 0);
    }

    #[test]
    fn staged_lines_are_written_by_the_next_flush_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let (log, _, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        log.stage_many([("a".to_string(), &1)]).unwrap();
        log.stage_many([("b".to_string(), &2), ("a".to_string(), &3)])
            .unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "", "staged only");
        log.flush(false).unwrap();
        log.flush(false).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap().lines().count(), 3);
        // A direct write carries what was staged before it, ahead of itself.
        log.stage_many([("c".to_string(), &4)]).unwrap();
        log.delete("a", false).unwrap();
        let (_l, live, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(
            live,
            HashMap::from([("b".to_string(), 2), ("c".to_string(), 4)])
        );
    }

    #[test]
    fn a_rewrite_replaces_what_was_staged() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        log.stage_many([("old".to_string(), &1)]).unwrap();
        let (k, v) = ("new".to_string(), 2);
        log.rewrite(std::iter::once((&k, &v))).unwrap();
        log.flush(false).unwrap();
        let (_l, live, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(live, HashMap::from([("new".to_string(), 2)]));
    }

    #[test]
    fn a_failed_write_makes_the_file_dirty_until_a_rewrite_heals_it() {
        let dir = tempfile::tempdir().unwrap();
        let heard = std::sync::Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        let (log, _, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        let log = log.report_with(move |c| {
            lock(&h).push(match c {
                Health::Failing(e) => format!("failing: {e}"),
                Health::Recovered => "recovered".to_string(),
            });
        });
        // No handle is open yet (open ends with a rewrite): the append opens the path.
        let fix = refuse_writes(&dir.path().join("x.log"));
        let live = || vec![("a".to_string(), 1), ("b".to_string(), 2)];
        let e = log.put("b", &2, false).unwrap_err();
        assert!(matches!(e, Error::Write { .. }), "{e}");
        assert!(log.is_dirty());
        // Dirty: the next change rewrites the file whole, with what was lost.
        fix();
        log.put_or_heal([("b".to_string(), &2)], false, live)
            .unwrap();
        assert!(!log.is_dirty());
        assert_eq!(log.errors(), 1);
        let fix = refuse_writes(&dir.path().join("x.log"));
        log.put("c", &3, false).unwrap_err();
        log.delete("c", false).unwrap_err();
        assert_eq!(log.errors(), 3);
        fix();
        // The periodic pass heals it too; nothing due after that.
        log.maintain(2, live).unwrap();
        assert!(!log.is_dirty());
        log.maintain(2, || -> Vec<(String, u32)> { panic!("nothing due") })
            .unwrap();
        assert_eq!(
            lock(&heard).iter().map(|s| &s[..9]).collect::<Vec<_>>(),
            ["failing: ", "recovered", "failing: ", "recovered"],
            "once per run of failures"
        );
        assert!(
            lock(&heard)[0].contains("write failed"),
            "{:?}",
            lock(&heard)
        );
        let (_l, live, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(
            live,
            HashMap::from([("a".to_string(), 1), ("b".to_string(), 2)])
        );
    }

    /// A bad line with good ones after it is damage, not a crash's torn tail: the
    /// rest is loaded and the damaged file is kept beside it for a human.
    #[test]
    fn a_damaged_middle_line_keeps_the_rest_and_the_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let damaged = "{\"k\":\"a\",\"v\":1}\n{garbage\n{\"k\":\"b\",\"v\":2}\n";
        fs::write(dir.path().join("x.log"), damaged).unwrap();
        let (_log, live, rec) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(
            live,
            HashMap::from([("a".to_string(), 1), ("b".to_string(), 2)])
        );
        assert_eq!(rec.dropped_lines, 1);
        assert!(rec.kept_rest);
        let aside = rec.set_aside.expect("kept for a human");
        assert_eq!(fs::read_to_string(aside).unwrap(), damaged);
        // The live file itself is clean again.
        let text = fs::read_to_string(dir.path().join("x.log")).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    /// A disk that refuses the first rewrite (full) does not stop the start: the
    /// state read is served, the torn tail is cut so appends start on a fresh
    /// line, and the file is dirty until a write succeeds.
    #[test]
    fn a_refused_first_rewrite_runs_on_what_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let good = "{\"k\":\"a\",\"v\":1}\n{\"k\":\"b\",\"v\":2}\n";
        fs::write(&p, format!("{good}{{\"k\":\"c\",\"v")).unwrap();
        // The rewrite's temp file cannot be created.
        fs::create_dir(dir.path().join("x.tmp")).unwrap();
        let (log, live, rec) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(live.len(), 2);
        assert!(
            rec.write_error
                .is_some_and(|e| e.contains("compaction failed"))
        );
        assert!(log.is_dirty());
        assert_eq!(log.errors(), 1);
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            good,
            "the torn tail is cut"
        );
        log.put("d", &4, false).unwrap();
        let (_l, live, rec) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(live.len(), 3, "{live:?}");
        assert_eq!(rec.dropped_lines, 0);
    }

    #[test]
    fn garbage_is_set_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x.log"), "not json\nnor this\n\u{0}\u{1}\n").unwrap();
        let (log, live, rec) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert!(live.is_empty());
        assert!(!rec.kept_rest);
        let aside = rec.set_aside.expect("set aside");
        assert!(aside.exists());
        log.put("a", &1, false).unwrap();
        let (_l, live, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(live.len(), 1);
    }
}
