//! `collector.data_dir`: what a collector keeps on disk so that a restart, even after
//! `kill -9`, goes on where it stopped.
//!
//! - `wal/`: every accepted OTLP request, appended before it is answered (`wal`).
//!   A restart replays it into the store, so the live store, every `for`, drift
//!   window and clock comes back as it was.
//! - `state.json`: the evaluator's state (pending and firing alerts with their
//!   fingerprints and start times, resolved alerts still listed, the event time
//!   evaluated to, the cost ledger's totals and the frozen drift references), written
//!   whole and renamed after every evaluation that changed an alert and every
//!   `SAVE_EVERY` besides, with the transitions the notifiers had not yet put in a
//!   notification. A firing alert therefore stays firing across a restart without a
//!   second notification, and resolves (once) when its condition is gone.
//! - `store.snapshot`: the live store, every `collector.snapshot_interval`, with the
//!   first log segment it does not hold; a restart reads it, then replays only the
//!   segments from that one, and the older segments are removed once it is written.
//! - `LOCK`: held while a collector runs, so two cannot share the directory.

pub mod wal;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alerts::SavedAlerts;
use crate::cost::SavedLedger;
use crate::detect::drift::SavedReferences;

/// How often the evaluator's state is saved when no alert changed.
pub const SAVE_EVERY: Duration = Duration::from_secs(10);
/// How often the open WAL segment is synced to the disk (a process crash loses
/// nothing written; this bounds what a power loss can).
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

const STATE: &str = "state.json";
const VERSION: u32 = 1;
const SNAPSHOT: &str = "store.snapshot";
/// A snapshot file: this magic, the first log segment it does not hold (u64, little
/// endian), then the store's bytes (`Store::snapshot`) as a zstd frame with its
/// checksum.
const SNAPSHOT_MAGIC: &[u8; 8] = b"GWSNAP2\n";
/// A snapshot written before zstd: the same, its store zlib-compressed (checked by its
/// Adler-32). Still read.
const SNAPSHOT_MAGIC_ZLIB: &[u8; 8] = b"GWSNAP1\n";

/// A store snapshot's bytes as they are decompressed from its file.
pub type SnapshotReader = Box<dyn Read>;

/// A snapshot written to its temporary file, not yet synced or in place.
#[derive(Debug)]
pub struct WrittenSnapshot {
    tmp: PathBuf,
    file: File,
}

/// The evaluator's state, as `state.json` holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Saved {
    pub version: u32,
    /// Wall time of the save, Unix ns.
    pub saved_at: i64,
    /// The last evaluation instant done (event time).
    pub done_to: Option<i64>,
    pub alerts: SavedAlerts,
    pub ledger: SavedLedger,
    pub references: SavedReferences,
    /// Transitions the notifiers had not yet put in a notification: handed over again.
    #[serde(default)]
    pub outbox: Vec<crate::alerts::Transition>,
    /// When each notifier group was last notified (wall time, Unix ns), by group key:
    /// `repeat_interval` goes on from there.
    #[serde(default)]
    pub told: std::collections::BTreeMap<String, i64>,
}

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "another gpuwatch collector is using {0} (collector.data_dir); stop it, or give \
         this one a data_dir of its own"
    )]
    InUse(PathBuf),
    #[error(
        "cannot use {dir} for collector.data_dir: {source}; create it writable by this \
         user, or set collector.data_dir to another directory (\"\" keeps nothing on disk)"
    )]
    Io { dir: PathBuf, source: io::Error },
}

/// The data directory, locked for this process.
#[derive(Debug)]
pub struct DataDir {
    dir: PathBuf,
    _lock: File,
}

impl DataDir {
    pub fn open(dir: &Path) -> Result<DataDir, DataDirError> {
        let io = |source| DataDirError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(DataDirError::InUse(dir.into())),
            Err(fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(DataDir {
            dir: dir.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }

    /// Writes `saved` to `state.json` whole: a `.tmp` file, synced, renamed, and the
    /// directory synced, so a crash leaves the old state or the new, never half.
    pub(crate) fn save(&self, saved: &Saved) -> io::Result<()> {
        let tmp = self.dir.join(format!("{STATE}.tmp"));
        let mut file = File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(saved).map_err(io::Error::other)?)?;
        file.sync_all()?;
        fs::rename(&tmp, self.dir.join(STATE))?;
        File::open(&self.dir)?.sync_all()
    }

    /// Writes a store snapshot (`Store::snapshot`'s bytes) whole, as `save` does, that
    /// holds every log segment before `wal_from`. Returns the file's size.
    #[cfg(test)]
    pub(crate) fn save_snapshot(&self, wal_from: u64, store: &[u8]) -> io::Result<u64> {
        let written = self.write_snapshot(wal_from, |w| w.write_all(store))?;
        self.commit_snapshot(written)
    }

    /// Writes a store snapshot that holds every log segment before `wal_from` to a
    /// temporary file, compressed as `write` hands it the store's bytes
    /// (`Store::write_snapshot`), so no copy of the store is made in memory. Not yet
    /// on the disk: `commit_snapshot` syncs it and puts it in place (outside the
    /// store's lock).
    pub fn write_snapshot(
        &self,
        wal_from: u64,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<WrittenSnapshot> {
        let tmp = self.dir.join(format!("{SNAPSHOT}.tmp"));
        let mut file = io::BufWriter::new(File::create(&tmp)?);
        file.write_all(SNAPSHOT_MAGIC)?;
        file.write_all(&wal_from.to_le_bytes())?;
        let mut z = zstd::stream::write::Encoder::new(file, wal::ZSTD_LEVEL)?;
        z.include_checksum(true)?;
        // The store's bytes come in many small writes: batched before zstd sees them.
        let mut batched = io::BufWriter::with_capacity(1 << 16, z);
        write(&mut batched)?;
        let z = batched.into_inner().map_err(|e| e.into_error())?;
        let file = z.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok(WrittenSnapshot { tmp, file })
    }

    /// Syncs a written snapshot and puts it in place of the last. Returns its size.
    pub fn commit_snapshot(&self, written: WrittenSnapshot) -> io::Result<u64> {
        let WrittenSnapshot { tmp, file } = written;
        file.sync_all()?;
        let size = file.metadata()?.len();
        fs::rename(&tmp, self.dir.join(SNAPSHOT))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(size)
    }

    /// The store snapshot an earlier run saved: the first log segment it does not hold,
    /// and its store's bytes as a reader that decompresses them as they are read
    /// (`Store::read_snapshot`), so a start holds no copy of the file or of the bytes;
    /// the frame's checksum is checked once it is read to its end. One that does not
    /// start as a snapshot is moved aside to `store.snapshot.corrupt` and the error
    /// says so; the collector then replays the whole log.
    pub fn open_snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, String> {
        let path = self.dir.join(SNAPSHOT);
        let mut file = match File::open(&path) {
            Ok(f) => io::BufReader::new(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut header = [0u8; SNAPSHOT_MAGIC.len() + 8];
        let not_one = "it does not start as a gpuwatch store snapshot".to_string();
        let why = match file.read_exact(&mut header) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => not_one,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            Ok(()) => {
                let (magic, from) = header.split_at(SNAPSHOT_MAGIC.len());
                let from = u64::from_le_bytes(from.try_into().unwrap_or_default());
                // The store's bytes are read in many small pieces: batched after the
                // decoder.
                let batched = |r: Box<dyn Read>| Box::new(io::BufReader::with_capacity(1 << 16, r));
                if magic == SNAPSHOT_MAGIC {
                    match zstd::stream::read::Decoder::with_buffer(file) {
                        Ok(d) => return Ok(Some((from, batched(Box::new(d))))),
                        Err(e) => e.to_string(),
                    }
                } else if magic == SNAPSHOT_MAGIC_ZLIB {
                    let z = flate2::read::ZlibDecoder::new(file);
                    return Ok(Some((from, batched(Box::new(z)))));
                } else {
                    not_one
                }
            }
        };
        Err(self.set_aside_snapshot(&why))
    }

    /// `open_snapshot`, its store's bytes read whole; one that cannot be read to its
    /// end (its checksum fails) is moved aside too.
    #[cfg(test)]
    pub(crate) fn load_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, String> {
        let Some((from, mut reader)) = self.open_snapshot()? else {
            return Ok(None);
        };
        let mut store = Vec::new();
        match reader.read_to_end(&mut store) {
            Ok(_) => Ok(Some((from, store))),
            Err(e) => {
                drop(reader);
                Err(self.set_aside_snapshot(&e.to_string()))
            }
        }
    }

    /// Moves a snapshot that cannot be used aside; says why and where.
    pub(crate) fn set_aside_snapshot(&self, why: &str) -> String {
        let path = self.dir.join(SNAPSHOT);
        let aside = self.dir.join(format!("{SNAPSHOT}.corrupt"));
        let moved = match fs::rename(&path, &aside) {
            Ok(()) => format!("moved to {}", aside.display()),
            Err(e) => format!("could not be moved aside: {e}"),
        };
        format!(
            "{} cannot be used ({why}); {moved}; the store is replayed from the \
             write-ahead log alone",
            path.display()
        )
    }

    /// What an earlier run saved. A file that cannot be read as a state is moved
    /// aside to `state.json.corrupt` (so the next start does not trip on it again)
    /// and the error says so; the collector then starts from the log alone.
    pub(crate) fn load(&self) -> Result<Option<Saved>, String> {
        let path = self.dir.join(STATE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let why = match serde_json::from_slice::<Saved>(&bytes) {
            Ok(saved) if saved.version == VERSION => return Ok(Some(saved)),
            Ok(saved) => format!("it is of version {}, not {VERSION}", saved.version),
            Err(e) => e.to_string(),
        };
        let aside = self.dir.join(format!("{STATE}.corrupt"));
        let moved = match fs::rename(&path, &aside) {
            Ok(()) => format!("moved to {}", aside.display()),
            Err(e) => format!("could not be moved aside: {e}"),
        };
        Err(format!(
            "{} is not a gpuwatch state ({why}); {moved}; alerts start again from the \
             write-ahead log",
            path.display()
        ))
    }
}

impl Saved {
    pub(crate) fn new(
        done_to: Option<i64>,
        alerts: SavedAlerts,
        ledger: SavedLedger,
        references: SavedReferences,
        outbox: Vec<crate::alerts::Transition>,
        told: std::collections::BTreeMap<String, i64>,
    ) -> Saved {
        Saved {
            version: VERSION,
            saved_at: gpuwatch_model::Timestamp::now().0,
            done_to,
            alerts,
            ledger,
            references,
            outbox,
            told,
        }
    }
}

/// What the data directory did, for `/metrics`.
#[derive(Debug, Default)]
pub struct DurableStats {
    pub wal_bytes: AtomicU64,
    pub wal_segments: AtomicU64,
    pub wal_write_errors: AtomicU64,
    pub replayed_requests: AtomicU64,
    pub replayed_points: AtomicU64,
    pub state_save_errors: AtomicU64,
    /// Wall time of the last state saved, Unix ns (0: none yet).
    pub state_saved_at: AtomicI64,
    /// Series and points a store snapshot gave at start.
    pub snapshot_loaded_series: AtomicU64,
    pub snapshot_loaded_points: AtomicU64,
    /// Size of the last store snapshot written.
    pub snapshot_bytes: AtomicU64,
    pub snapshot_errors: AtomicU64,
    /// Wall time of the last store snapshot written, Unix ns (0: none yet).
    pub snapshot_saved_at: AtomicI64,
}

impl DurableStats {
    pub fn get(v: &AtomicU64) -> u64 {
        v.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
