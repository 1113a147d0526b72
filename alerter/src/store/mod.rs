//! The data directory (`--storage.path`). Each kind of state (alerts, silences, the
//! notification log, pending notifications) is one append-only JSON-lines log of
//! keyed puts and deletes, replayed at start and compacted by rewrite + rename, so a
//! crash at any byte leaves a readable file: a torn last line is dropped, a file that
//! cannot be read at all is set aside (renamed `*.corrupt-<unix time>`) and reported,
//! never fatal.

pub mod alerts;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::sync::lock;

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
    /// Where an unreadable file was moved to.
    pub set_aside: Option<PathBuf>,
}

pub struct Log<T> {
    path: PathBuf,
    inner: Mutex<Inner>,
    errors: AtomicU64,
    _t: std::marker::PhantomData<fn() -> T>,
}

struct Inner {
    file: Option<File>,
    /// Lines written since the last compaction; compaction runs when this is far
    /// larger than the live set.
    lines: usize,
    live: usize,
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
    pub fn open(dir: &Path, name: &str) -> Result<Opened<T>, String> {
        fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
        let path = dir.join(name);
        let mut live = HashMap::new();
        let mut rec = Recovery::default();
        let mut lines = 0;
        match File::open(&path) {
            Ok(f) => {
                let mut bad_bytes = false;
                for line in BufReader::new(f).split(b'\n') {
                    let Ok(line) = line else {
                        bad_bytes = true;
                        break;
                    };
                    if line.is_empty() {
                        continue;
                    }
                    lines += 1;
                    match serde_json::from_slice::<Entry<T>>(&line) {
                        Ok(Entry { k, v: Some(v) }) => {
                            live.insert(k, v);
                        }
                        Ok(Entry { k, v: None }) => {
                            live.remove(&k);
                        }
                        Err(_) => rec.dropped_lines += 1,
                    }
                }
                // Mostly garbage: not ours or badly damaged. Keep it for a human.
                if bad_bytes || (rec.dropped_lines > 1 && rec.dropped_lines * 2 > lines) {
                    let aside = path.with_extension(format!(
                        "corrupt-{}",
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs())
                    ));
                    fs::rename(&path, &aside)
                        .map_err(|e| format!("{}: cannot set aside: {e}", path.display()))?;
                    rec.set_aside = Some(aside);
                    live.clear();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        }
        let log = Log {
            path,
            inner: Mutex::new(Inner {
                file: None,
                lines,
                live: live.len(),
                pending: Pending::default(),
            }),
            errors: AtomicU64::new(0),
            _t: std::marker::PhantomData,
        };
        // Start from a clean file: drops torn lines and old history at once.
        log.rewrite(live.iter())?;
        Ok((log, live, rec))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write failures so far (a full disk, a read-only mount): exported as a metric.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Records `key = value`. With `durable`, the data reaches the disk (fsync)
    /// before this returns: for silences, which must survive a power cut once the
    /// API has answered. Without it, it survives a killed process.
    pub fn put(&self, key: &str, value: &T, durable: bool) -> Result<(), String> {
        self.put_many(std::iter::once((key.to_string(), value)), durable)
    }

    /// Records several puts with one write: a batch of posted alerts costs one
    /// system call, not one per alert.
    pub fn put_many<'a>(
        &self,
        entries: impl IntoIterator<Item = (String, &'a T)>,
        durable: bool,
    ) -> Result<(), String>
    where
        T: 'a,
    {
        self.stage_many(entries)?;
        self.flush(durable)
    }

    pub fn delete(&self, key: &str, durable: bool) -> Result<(), String> {
        let mut inner = lock(&self.inner);
        let e = Entry::<&T> {
            k: key.to_string(),
            v: None,
        };
        inner.pending.push(&e, -1).map_err(|e| e.to_string())?;
        self.write_pending(&mut inner, durable)
    }

    /// Encodes puts into memory only; the next [`Log::flush`] (or any other write)
    /// writes them, in order, together with whatever else was staged meanwhile.
    /// This is how several requests handled in one turn share one write.
    pub fn stage_many<'a>(
        &self,
        entries: impl IntoIterator<Item = (String, &'a T)>,
    ) -> Result<(), String>
    where
        T: 'a,
    {
        let mut inner = lock(&self.inner);
        // A batch with a value that cannot be encoded stages none of its lines.
        let p = &mut inner.pending;
        let before = (p.bytes.len(), p.lines, p.live);
        for (k, v) in entries {
            if let Err(e) = p.push(&Entry { k, v: Some(v) }, 1) {
                p.bytes.truncate(before.0);
                (p.lines, p.live) = (before.1, before.2);
                return Err(e.to_string());
            }
        }
        Ok(())
    }

    /// Writes what is staged (nothing to do when nothing is). With `durable`, the
    /// data reaches the disk (fsync) before this returns.
    pub fn flush(&self, durable: bool) -> Result<(), String> {
        let mut inner = lock(&self.inner);
        if inner.pending.lines == 0 {
            return Ok(());
        }
        self.write_pending(&mut inner, durable)
    }

    /// Appends the staged lines to the file. On failure they are dropped: the
    /// owner learns from the error that the file may lack them and rewrites it.
    fn write_pending(&self, inner: &mut Inner, durable: bool) -> Result<(), String> {
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
            Ok::<(), std::io::Error>(())
        })();
        let (lines, live) = (inner.pending.lines, inner.pending.live);
        inner.pending.clear();
        match res {
            Ok(()) => {
                inner.lines += lines;
                inner.live = inner.live.saturating_add_signed(live);
                Ok(())
            }
            Err(err) => {
                // Reopen next time: the handle may be at a torn offset.
                inner.file = None;
                self.errors.fetch_add(1, Ordering::Relaxed);
                Err(format!("{}: write failed: {err}", self.path.display()))
            }
        }
    }

    /// True when the file holds far more history than live state; the owner then
    /// calls [`Log::rewrite`] with its live entries.
    pub fn wants_compaction(&self, live: usize) -> bool {
        let inner = lock(&self.inner);
        inner.lines > 2 * live + 1024
    }

    /// Atomically replaces the file with exactly `live` (temp file, fsync, rename).
    pub fn rewrite<'a>(&self, live: impl Iterator<Item = (&'a String, &'a T)>) -> Result<(), String>
    where
        T: 'a,
    {
        let tmp = self.path.with_extension("tmp");
        let mut inner = lock(&self.inner);
        let res = (|| {
            let mut f = File::create(&tmp)?;
            let mut n = 0;
            let mut buf = Vec::new();
            for (k, v) in live {
                push_line(
                    &mut buf,
                    &Entry {
                        k: k.clone(),
                        v: Some(v),
                    },
                )?;
                n += 1;
                if buf.len() > 1 << 16 {
                    f.write_all(&buf)?;
                    buf.clear();
                }
            }
            f.write_all(&buf)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                // The rename itself must reach the disk.
                File::open(dir).and_then(|d| d.sync_all()).ok();
            }
            Ok::<usize, std::io::Error>(n)
        })();
        match res {
            Ok(n) => {
                // Exactly `live`: what was staged before is in it or was replaced.
                inner.pending.clear();
                inner.file = None;
                inner.lines = n;
                inner.live = n;
                Ok(())
            }
            Err(err) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                fs::remove_file(&tmp).ok();
                Err(format!("{}: compaction failed: {err}", self.path.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn garbage_is_set_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x.log"), "not json\nnor this\n\u{0}\u{1}\n").unwrap();
        let (log, live, rec) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert!(live.is_empty());
        let aside = rec.set_aside.expect("set aside");
        assert!(aside.exists());
        log.put("a", &1, false).unwrap();
        let (_l, live, _) = Log::<u32>::open(dir.path(), "x.log").unwrap();
        assert_eq!(live.len(), 1);
    }
}
