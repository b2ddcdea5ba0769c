//! `ExportQueue`: encoded requests waiting for the collector, oldest first, at most
//! `capacity` of them; the oldest goes when a new one would not fit.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::spool::Spool;
use crate::export::gzip;

/// One queued request.
#[derive(Debug)]
struct Entry {
    id: u64,
    /// The encoded request; `None` once it is in the spool (read back to send).
    body: Option<Arc<Vec<u8>>>,
    /// `body` (and the spool file) is gzip-compressed.
    gzip: bool,
    spooled: bool,
    /// It waited out a failure (or an earlier run): its delivery is a replay.
    held: bool,
}

/// The request to send next.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) id: u64,
    pub(crate) body: Arc<Vec<u8>>,
    /// `body` is gzip-compressed.
    pub(crate) gzip: bool,
}

/// What `next` found at the front.
#[derive(Debug)]
pub(crate) enum Next {
    Empty,
    Send(Outgoing),
    /// The front request's spool file could not be read; it was dropped.
    Unreadable(String),
}

/// What a new spool found from an earlier run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Restored {
    /// Requests now queued for replay.
    pub(crate) queued: usize,
    /// Requests beyond the bound, removed unsent (the oldest).
    pub(crate) dropped: usize,
}

/// The bounded queue, in memory and, when configured, in a spool directory.
///
/// A request that has to wait (a send failed: `hold`; or it arrived while the queue was
/// holding) is gzip-compressed, about 8x smaller, and written to the spool if there is
/// one; what is spooled is not kept in memory. While the collector is healthy requests
/// stay as encoded and nothing touches the disk. Spool errors leave the request in
/// memory and are kept for the caller to report (`take_spool_error`).
#[derive(Debug)]
pub(crate) struct ExportQueue {
    entries: VecDeque<Entry>,
    capacity: usize,
    next_id: u64,
    spool: Option<Spool>,
    /// A send failed and none has succeeded since.
    holding: bool,
    spool_error: Option<String>,
    /// The request `next` gave out, until its answer is settled.
    in_flight: Option<u64>,
    /// The in-flight request was pushed out of the queue while it was being sent: it
    /// is lost only if that send does not deliver it.
    in_flight_evicted: bool,
}

impl ExportQueue {
    /// A queue in memory only, for at most `capacity` requests (at least 1).
    pub(crate) fn memory(capacity: usize) -> ExportQueue {
        ExportQueue {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            next_id: 0,
            spool: None,
            holding: false,
            spool_error: None,
            in_flight: None,
            in_flight_evicted: false,
        }
    }

    /// A queue spooled to `dir`, holding what an earlier run left there (the newest
    /// `capacity` of it).
    pub(crate) fn spooled(capacity: usize, dir: &Path) -> io::Result<(ExportQueue, Restored)> {
        let (spool, ids) = Spool::open(dir)?;
        let mut queue = ExportQueue::memory(capacity);
        let excess = ids.len().saturating_sub(queue.capacity);
        for &id in &ids[..excess] {
            spool.remove(id)?;
        }
        queue.entries = ids[excess..]
            .iter()
            .map(|&id| Entry {
                id,
                body: None,
                gzip: true,
                spooled: true,
                held: true,
            })
            .collect();
        queue.next_id = ids.last().map_or(0, |id| id + 1);
        queue.spool = Some(spool);
        let restored = Restored {
            queued: queue.entries.len(),
            dropped: excess,
        };
        Ok((queue, restored))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn spool_dir(&self) -> Option<&Path> {
        self.spool.as_ref().map(Spool::dir)
    }

    /// Whether the last send failed (and requests are being held).
    #[cfg(test)]
    pub(crate) fn is_holding(&self) -> bool {
        self.holding
    }

    /// Queues `body`; returns how many old requests it pushed out and lost (0 or 1).
    /// The request being sent may be pushed out too; whether it is lost is known only
    /// from its answer (`finish`, `lost_in_flight`).
    pub(crate) fn push(&mut self, body: Vec<u8>) -> usize {
        let mut dropped = 0;
        while self.entries.len() >= self.capacity {
            if let Some(oldest) = self.entries.pop_front() {
                self.forget(&oldest);
                if self.in_flight == Some(oldest.id) {
                    self.in_flight_evicted = true;
                } else {
                    dropped += 1;
                }
            }
        }
        let mut entry = Entry {
            id: self.next_id,
            body: Some(Arc::new(body)),
            gzip: false,
            spooled: false,
            held: self.holding,
        };
        self.next_id += 1;
        if self.holding {
            self.keep(&mut entry);
        }
        self.entries.push_back(entry);
        dropped
    }

    /// The oldest request, to send (it stays queued until `finish`).
    pub(crate) fn next(&mut self) -> Next {
        let Some(front) = self.entries.front() else {
            return Next::Empty;
        };
        let (id, gzip) = (front.id, front.gzip);
        self.in_flight = Some(id);
        self.in_flight_evicted = false;
        if let Some(body) = &front.body {
            return Next::Send(Outgoing {
                id,
                body: body.clone(),
                gzip,
            });
        }
        let read = match &self.spool {
            Some(spool) => spool.read(id),
            None => Err(io::Error::other("no spool")),
        };
        match read {
            Ok(body) => Next::Send(Outgoing {
                id,
                body: Arc::new(body),
                gzip,
            }),
            Err(e) => {
                self.in_flight = None;
                if let Some(entry) = self.entries.pop_front() {
                    self.forget(&entry);
                }
                Next::Unreadable(format!("spooled request {id} could not be read: {e}"))
            }
        }
    }

    /// Removes request `id`, sent or refused; `Some(held)` if it was still the front
    /// (it may have been pushed out meanwhile), `held` telling whether it was a replay.
    pub(crate) fn finish(&mut self, id: u64) -> Option<bool> {
        if self.in_flight == Some(id) {
            self.in_flight = None;
            self.in_flight_evicted = false;
        }
        if self.entries.front()?.id != id {
            return None;
        }
        let entry = self.entries.pop_front()?;
        self.forget(&entry);
        Some(entry.held)
    }

    /// The in-flight request's send failed or was abandoned: returns 1 when it had been
    /// pushed out of the queue meanwhile, so it is lost now, else 0.
    pub(crate) fn lost_in_flight(&mut self) -> usize {
        self.in_flight = None;
        usize::from(std::mem::take(&mut self.in_flight_evicted))
    }

    /// A send failed: every queued request is now held, compressed and spooled if
    /// configured.
    pub(crate) fn hold(&mut self) {
        self.holding = true;
        let mut entries = std::mem::take(&mut self.entries);
        for entry in &mut entries {
            entry.held = true;
            self.keep(entry);
        }
        self.entries = entries;
    }

    /// A send succeeded; returns whether the queue was holding.
    pub(crate) fn release(&mut self) -> bool {
        std::mem::replace(&mut self.holding, false)
    }

    /// Spools everything not spooled yet (at shutdown); returns how many requests
    /// could not be kept: all of them without a spool.
    pub(crate) fn persist(&mut self) -> usize {
        if self.spool.is_none() {
            return self.entries.len();
        }
        let mut entries = std::mem::take(&mut self.entries);
        for entry in &mut entries {
            self.keep(entry);
        }
        self.entries = entries;
        self.entries.iter().filter(|e| !e.spooled).count()
    }

    /// The latest spool error since the last call.
    pub(crate) fn take_spool_error(&mut self) -> Option<String> {
        self.spool_error.take()
    }

    /// Readies `entry` to wait: compressed, then spooled.
    fn keep(&mut self, entry: &mut Entry) {
        if let (false, Some(body)) = (entry.gzip, &entry.body) {
            // Compressing into memory cannot fail short of allocation; if it does, the
            // request waits as it is.
            if let Ok(packed) = gzip(body) {
                entry.body = Some(Arc::new(packed));
                entry.gzip = true;
            }
        }
        let (Some(spool), false, true, Some(body)) =
            (&self.spool, entry.spooled, entry.gzip, &entry.body)
        else {
            return;
        };
        match spool.write(entry.id, body) {
            Ok(()) => {
                entry.spooled = true;
                entry.body = None;
            }
            Err(e) => {
                self.spool_error = Some(format!(
                    "could not spool a request to {}: {e}; it stays in memory only",
                    spool.dir().display()
                ));
            }
        }
    }

    fn forget(&mut self, entry: &Entry) {
        let Some(spool) = self.spool.as_ref().filter(|_| entry.spooled) else {
            return;
        };
        if let Err(e) = spool.remove(entry.id) {
            self.spool_error = Some(format!(
                "could not remove spooled request {} from {}: {e}; it will be sent again \
                 after a restart",
                entry.id,
                spool.dir().display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::gunzip;
    use std::path::PathBuf;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "gpuwatch-queue-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn send_next(queue: &mut ExportQueue) -> Outgoing {
        match queue.next() {
            Next::Send(outgoing) => outgoing,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// Sends everything queued, returning the bodies' first bytes and replay flags.
    fn drain(queue: &mut ExportQueue) -> Vec<(u8, bool)> {
        let mut sent = Vec::new();
        while let Next::Send(out) = queue.next() {
            let held = queue.finish(out.id).expect("still queued");
            let body = if out.gzip {
                gunzip(&out.body).expect("gzip")
            } else {
                out.body.to_vec()
            };
            assert_eq!(out.gzip, held, "what waited is compressed");
            sent.push((body[0], held));
        }
        sent
    }

    #[test]
    fn delivers_in_order_and_marks_replays() {
        let mut queue = ExportQueue::memory(10);
        assert!(matches!(queue.next(), Next::Empty));
        queue.push(vec![1]);
        queue.push(vec![2]);
        let first = send_next(&mut queue);
        // The send fails: both are held; a request arriving now is held too.
        queue.hold();
        queue.push(vec![3]);
        assert!(queue.is_holding());
        // The retry of the same front request succeeds.
        let again = send_next(&mut queue);
        assert_eq!(again.id, first.id);
        assert!(queue.release());
        queue.push(vec![4]);
        assert_eq!(
            drain(&mut queue),
            vec![(1, true), (2, true), (3, true), (4, false)]
        );
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn the_bound_pushes_out_the_oldest() {
        let mut queue = ExportQueue::memory(3);
        let dropped: usize = (1..=5).map(|i| queue.push(vec![i])).sum();
        assert_eq!(dropped, 2);
        assert_eq!(queue.len(), 3);
        let front = send_next(&mut queue);
        assert_eq!(front.body[0], 3);
        // Pushed out while in flight: not lost yet, and delivering it loses nothing.
        assert_eq!(queue.push(vec![6]), 0);
        assert_eq!(queue.finish(front.id), None);
        assert_eq!(queue.lost_in_flight(), 0, "it was delivered");
        assert_eq!(drain(&mut queue), vec![(4, false), (5, false), (6, false)]);
        assert_eq!(ExportQueue::memory(0).capacity(), 1);
    }

    #[test]
    fn a_request_pushed_out_in_flight_is_lost_only_if_its_send_fails() {
        let mut queue = ExportQueue::memory(2);
        queue.push(vec![1]);
        queue.push(vec![2]);
        send_next(&mut queue);
        assert_eq!(queue.push(vec![3]), 0, "1 is in flight");
        assert_eq!(queue.push(vec![4]), 1, "2 was not");
        queue.hold();
        assert_eq!(queue.lost_in_flight(), 1, "1's send failed");
        assert_eq!(queue.lost_in_flight(), 0, "counted once");
        // A request sent, failed and re-sent is not confused with an evicted one.
        send_next(&mut queue);
        assert_eq!(queue.lost_in_flight(), 0);
        assert_eq!(drain(&mut queue), vec![(3, true), (4, true)]);
    }

    #[test]
    fn without_a_spool_nothing_survives_shutdown() {
        let mut queue = ExportQueue::memory(5);
        queue.push(vec![1]);
        queue.hold();
        assert_eq!(queue.persist(), 1);
        assert_eq!(queue.take_spool_error(), None);
    }

    #[test]
    fn the_spool_keeps_held_requests_across_restarts() {
        let dir = temp_dir("restart");
        let (mut queue, restored) = ExportQueue::spooled(4, &dir).expect("spool");
        assert_eq!(
            restored,
            Restored {
                queued: 0,
                dropped: 0
            }
        );
        queue.push(vec![1]);
        assert_eq!(files(&dir), 0, "healthy: nothing on disk");
        queue.hold();
        queue.push(vec![2]);
        assert_eq!(files(&dir), 2);
        queue.release();
        queue.push(vec![3]);
        assert_eq!(files(&dir), 2);
        assert_eq!(queue.persist(), 0, "shutdown spools the rest");
        assert_eq!(files(&dir), 3);
        drop(queue);

        let (mut queue, restored) = ExportQueue::spooled(2, &dir).expect("reopen");
        assert_eq!(
            restored,
            Restored {
                queued: 2,
                dropped: 1
            }
        );
        queue.push(vec![4]);
        assert_eq!(queue.len(), 3 - 1, "the bound holds: the oldest went");
        assert_eq!(drain(&mut queue), vec![(3, true), (4, false)]);
        assert_eq!(files(&dir), 0);
        assert_eq!(queue.take_spool_error(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_lost_spool_file_is_reported_and_skipped() {
        let dir = temp_dir("lost");
        let (mut queue, _) = ExportQueue::spooled(4, &dir).expect("spool");
        queue.push(vec![1]);
        queue.push(vec![2]);
        queue.hold();
        std::fs::remove_file(dir.join(format!("{:020}.otlp.gz", 0))).expect("remove");
        assert!(matches!(queue.next(), Next::Unreadable(_)));
        assert_eq!(drain(&mut queue), vec![(2, true)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn files(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    }
}
