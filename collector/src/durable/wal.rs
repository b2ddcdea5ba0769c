//! The write-ahead log of accepted OTLP requests: segment files of checksummed records,
//! appended before the request is answered, replayed at start.
//!
//! A segment is `wal/<seq>.wal`: the 8-byte magic, then records. A record is a 17-byte
//! header (payload length u32, CRC-32 of everything after the checksum u32, arrival
//! i64 in Unix ns, codec u8; little endian) and the payload: the request as OTLP
//! protobuf, compressed with zstd when `codec` is 2 (deflated when 1, as records written
//! before zstd are; still read). A segment is closed after `SEGMENT_BYTES` or
//! `SEGMENT_SPAN` of arrivals, and removed once its newest arrival is older than what
//! the store keeps. A record cut short or failing its checksum ends its segment: the
//! file is truncated there (a crash mid-write leaves exactly that), said once, and the
//! next segment is read on.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::DeflateDecoder;

const MAGIC: &[u8; 8] = b"GPUWAL1\n";
const HEADER: usize = 17;
const CODEC_RAW: u8 = 0;
const CODEC_DEFLATE: u8 = 1;
const CODEC_ZSTD: u8 = 2;
/// zstd's fastest level: 1.3 GB/s and 28 to 1 on a fleet's OTLP requests. The store's
/// snapshot is written at it too.
pub(super) const ZSTD_LEVEL: i32 = 1;
/// Payloads smaller than this are stored as they are.
const COMPRESS_FROM: usize = 512;
/// A segment is closed past this size...
const SEGMENT_BYTES: u64 = 64 << 20;
/// ...or once its arrivals span this long (ns), so old data can go a minute at a time.
const SEGMENT_SPAN: i64 = 60_000_000_000;
/// The largest payload a record may claim; more is a corrupt length.
const MAX_PAYLOAD: usize = 1 << 30;

/// One record, encoded and ready to append (built outside any lock).
#[derive(Debug)]
pub struct Record {
    bytes: Vec<u8>,
    arrival: i64,
}

impl Record {
    /// The request `payload` (OTLP protobuf) that arrived at `arrival`.
    pub fn new(arrival: i64, payload: &[u8]) -> Record {
        let (codec, body) = if payload.len() >= COMPRESS_FROM {
            match zstd::bulk::compress(payload, ZSTD_LEVEL) {
                Ok(packed) if packed.len() < payload.len() => (CODEC_ZSTD, packed),
                _ => (CODEC_RAW, payload.to_vec()),
            }
        } else {
            (CODEC_RAW, payload.to_vec())
        };
        Self::framed(arrival, codec, &body)
    }

    /// A record of `body`, already written as `codec` says.
    fn framed(arrival: i64, codec: u8, body: &[u8]) -> Record {
        let mut bytes = Vec::with_capacity(HEADER + body.len());
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&arrival.to_le_bytes());
        bytes.push(codec);
        bytes.extend_from_slice(body);
        let crc = crc32fast::hash(&bytes[8..]);
        bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        Record { bytes, arrival }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[derive(Debug)]
struct Closed {
    seq: u64,
    path: PathBuf,
    bytes: u64,
    newest: i64,
}

#[derive(Debug)]
struct Open {
    seq: u64,
    path: PathBuf,
    file: File,
    /// Bytes known good: where the next record goes.
    bytes: u64,
    oldest: Option<i64>,
    newest: i64,
}

/// What reading the log at start found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replayed {
    pub segments: usize,
    pub records: u64,
    pub bytes: u64,
    /// Segments whose tail was cut (torn or corrupt), with what was wrong.
    pub cut: Vec<String>,
    /// Segments removed unread: everything in them was older than what is kept.
    pub expired: usize,
    /// Segments removed unread: a store snapshot holds what they held.
    pub in_snapshot: usize,
}

/// The log, open for appending.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    closed: VecDeque<Closed>,
    open: Open,
    /// Segments whose newest arrival is older than this behind the newest go (ns).
    keep_for: i64,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}

/// Why a segment's reading stopped early.
enum Stop {
    End,
    Bad(String),
}

/// What takes each record read back: its arrival and its OTLP protobuf.
type Each<'a> = &'a mut dyn FnMut(i64, &[u8]);

/// What reading one segment found.
struct Scan {
    /// The length of its good part.
    good: u64,
    newest: Option<i64>,
    records: u64,
    stop: Stop,
}

/// Reads one segment: checks each record and, with `each`, decodes it and hands it
/// over (without, only the arrivals are read, to learn the newest).
fn read_segment(data: &[u8], mut each: Option<Each<'_>>) -> Scan {
    let mut read = Scan {
        good: 0,
        newest: None,
        records: 0,
        stop: Stop::End,
    };
    if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
        if !data.is_empty() {
            read.stop = Stop::Bad("it does not start as a gpuwatch WAL segment".into());
        }
        return read;
    }
    let mut at = MAGIC.len();
    let mut payload = Vec::new();
    loop {
        read.good = at as u64;
        if at == data.len() {
            return read;
        }
        let Some(header) = data.get(at..at + HEADER) else {
            read.stop = Stop::Bad(format!("a record header is cut short at byte {at}"));
            return read;
        };
        let len = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default());
        let end = at + HEADER + len;
        if len > MAX_PAYLOAD || end > data.len() {
            read.stop = Stop::Bad(format!("the record at byte {at} is cut short"));
            return read;
        }
        if crc32fast::hash(&data[at + 8..end]) != crc {
            read.stop = Stop::Bad(format!("the record at byte {at} fails its checksum"));
            return read;
        }
        let arrival = i64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        let body = &data[at + HEADER..end];
        let ok = match (header[16], each.as_deref_mut()) {
            (CODEC_RAW, Some(each)) => {
                each(arrival, body);
                true
            }
            (CODEC_DEFLATE, Some(each)) => {
                payload.clear();
                let inflated = DeflateDecoder::new(body).read_to_end(&mut payload);
                if inflated.is_ok() {
                    each(arrival, &payload);
                }
                inflated.is_ok()
            }
            (CODEC_ZSTD, Some(each)) => {
                payload.clear();
                let unpacked = zstd::stream::read::Decoder::new(body)
                    .and_then(|d| d.take(MAX_PAYLOAD as u64).read_to_end(&mut payload));
                if unpacked.is_ok() {
                    each(arrival, &payload);
                }
                unpacked.is_ok()
            }
            (codec, None) => [CODEC_RAW, CODEC_DEFLATE, CODEC_ZSTD].contains(&codec),
            _ => false,
        };
        if !ok {
            read.stop = Stop::Bad(format!("the record at byte {at} cannot be decoded"));
            return read;
        }
        read.records += 1;
        read.newest = Some(read.newest.map_or(arrival, |n| n.max(arrival)));
        at = end;
    }
}

fn create_segment(dir: &Path, seq: u64) -> io::Result<Open> {
    let path = segment_path(dir, seq);
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    file.write_all(MAGIC)?;
    // The new name must survive a crash as well as what is written into it.
    File::open(dir)?.sync_all()?;
    Ok(Open {
        seq,
        path,
        file,
        bytes: MAGIC.len() as u64,
        oldest: None,
        newest: i64::MIN,
    })
}

impl Wal {
    /// Opens the log in `dir` (created when missing): hands every record kept there to
    /// `each` in order (arrival, OTLP protobuf), cuts a torn tail, drops segments older
    /// than `keep_for` behind `now` and those before `from_seq` (a store snapshot holds
    /// them; 0 when there is none), then starts a new segment.
    pub fn open(
        dir: &Path,
        keep_for: i64,
        now: i64,
        from_seq: u64,
        mut each: impl FnMut(i64, &[u8]),
    ) -> io::Result<(Wal, Replayed)> {
        fs::create_dir_all(dir)?;
        let mut replayed = Replayed::default();
        let mut closed = VecDeque::new();
        let found = segments(dir)?;
        let next_seq = found.last().map_or(1, |(seq, _)| seq + 1).max(from_seq);
        for (seq, path) in found {
            if seq < from_seq {
                fs::remove_file(&path)?;
                replayed.in_snapshot += 1;
                continue;
            }
            let data = fs::read(&path)?;
            // A segment's newest arrival is known only by reading it: its records are
            // checked first, then decoded and handed over only if it is still kept.
            let scan = read_segment(&data, None);
            if scan.newest.unwrap_or(i64::MIN) < now.saturating_sub(keep_for) {
                if let Stop::Bad(why) = &scan.stop {
                    replayed.cut.push(format!("{}: {why}", path.display()));
                    if scan.good == 0 {
                        fs::rename(&path, path.with_extension("wal.corrupt"))?;
                        continue;
                    }
                }
                fs::remove_file(&path)?;
                replayed.expired += 1;
                continue;
            }
            let good = usize::try_from(scan.good).unwrap_or(data.len());
            let read = read_segment(&data[..good], Some(&mut each as Each<'_>));
            let stop = match (scan.stop, read.stop) {
                (_, Stop::Bad(why)) | (Stop::Bad(why), Stop::End) => Some(why),
                (Stop::End, Stop::End) => None,
            };
            if let Some(why) = stop {
                replayed.cut.push(format!("{}: {why}", path.display()));
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(read.good)?;
            }
            replayed.segments += 1;
            replayed.records += read.records;
            replayed.bytes += read.good;
            closed.push_back(Closed {
                seq,
                path,
                bytes: read.good,
                newest: read.newest.unwrap_or(i64::MIN),
            });
        }
        let open = create_segment(dir, next_seq)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            closed,
            open,
            keep_for,
        };
        Ok((wal, replayed))
    }

    /// Appends `record`; it is in the kernel (safe from the process dying) when this
    /// returns Ok. A failed write is cut back off, so the segment stays readable.
    pub fn append(&mut self, record: &Record) -> io::Result<()> {
        let span_over = self
            .open
            .oldest
            .is_some_and(|o| record.arrival.saturating_sub(o) >= SEGMENT_SPAN);
        if self.open.bytes >= SEGMENT_BYTES || span_over {
            self.rotate(record.arrival)?;
        }
        if let Err(e) = self.open.file.write_all(&record.bytes) {
            let _ = self.open.file.set_len(self.open.bytes);
            return Err(e);
        }
        self.open.bytes += record.bytes.len() as u64;
        self.open.oldest.get_or_insert(record.arrival);
        self.open.newest = self.open.newest.max(record.arrival);
        Ok(())
    }

    /// Closes the open segment, starts the next and removes the expired ones.
    fn rotate(&mut self, now: i64) -> io::Result<()> {
        let next = create_segment(&self.dir, self.open.seq + 1)?;
        let done = std::mem::replace(&mut self.open, next);
        let _ = done.file.sync_data();
        self.closed.push_back(Closed {
            seq: done.seq,
            path: done.path,
            bytes: done.bytes,
            newest: done.newest,
        });
        let horizon = now.saturating_sub(self.keep_for);
        while self.closed.front().is_some_and(|c| c.newest < horizon) {
            if let Some(old) = self.closed.pop_front() {
                // What cannot be removed now is removed unread at the next start.
                if let Err(e) = fs::remove_file(&old.path) {
                    tracing::warn!("cannot remove the expired {}: {e}", old.path.display());
                }
            }
        }
        Ok(())
    }

    /// Where a store snapshot taken now begins the log: every record appended so far
    /// lies in a segment before the one returned, every later one in it or after (the
    /// open segment is closed first when it holds any).
    pub fn start_segment(&mut self) -> io::Result<u64> {
        if self.open.oldest.is_some() {
            self.rotate(self.open.newest)?;
        }
        Ok(self.open.seq)
    }

    /// Removes the segments before `seq`: a store snapshot on disk holds them. Returns
    /// how many went.
    pub fn drop_before(&mut self, seq: u64) -> usize {
        let mut dropped = 0;
        while self.closed.front().is_some_and(|c| c.seq < seq) {
            if let Some(old) = self.closed.pop_front() {
                // What cannot be removed now is removed unread at the next start.
                if let Err(e) = fs::remove_file(&old.path) {
                    tracing::warn!("cannot remove {}: {e}", old.path.display());
                }
                dropped += 1;
            }
        }
        dropped
    }

    /// A handle on the open segment, to `sync_data` outside the caller's lock.
    pub fn sync_handle(&self) -> io::Result<File> {
        self.open.file.try_clone()
    }

    /// Bytes in every segment kept, and how many segments.
    pub fn usage(&self) -> (u64, usize) {
        let closed: u64 = self.closed.iter().map(|c| c.bytes).sum();
        (closed + self.open.bytes, self.closed.len() + 1)
    }
}

#[cfg(test)]
mod tests;
