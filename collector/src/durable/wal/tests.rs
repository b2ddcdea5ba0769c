use super::*;

const S: i64 = 1_000_000_000;
const KEEP: i64 = 15 * 60 * S;
const T0: i64 = 1_800_000_000 * S;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gpuwatch-wal-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// A payload that deflates (repetitive) or not (short), told apart by its first byte.
fn payload(i: u8, long: bool) -> Vec<u8> {
    let n = if long { 4000 } else { 40 };
    (0..n)
        .map(|k| if k == 0 { i } else { (k % 7) as u8 })
        .collect()
}

fn reopen(dir: &Path, now: i64) -> (Wal, Replayed, Vec<(i64, Vec<u8>)>) {
    let mut got = Vec::new();
    let (wal, replayed) =
        Wal::open(dir, KEEP, now, 0, |a, p| got.push((a, p.to_vec()))).expect("open");
    (wal, replayed, got)
}

#[test]
fn records_come_back_in_order_across_restarts() {
    let dir = temp_dir("order");
    let (mut wal, replayed, got) = reopen(&dir, T0);
    assert_eq!((replayed.records, got.len()), (0, 0));
    let mut sent = Vec::new();
    for i in 0..6u8 {
        let p = payload(i, i % 2 == 0);
        wal.append(&Record::new(T0 + i64::from(i) * S, &p))
            .expect("append");
        sent.push((T0 + i64::from(i) * S, p));
    }
    drop(wal);
    let (mut wal, replayed, got) = reopen(&dir, T0 + 10 * S);
    assert_eq!(got, sent);
    assert_eq!(replayed.records, 6);
    assert!(replayed.cut.is_empty());
    // A second run appends to a segment of its own; a third reads both.
    let p = payload(9, true);
    wal.append(&Record::new(T0 + 20 * S, &p)).expect("append");
    sent.push((T0 + 20 * S, p));
    drop(wal);
    let (_, replayed, got) = reopen(&dir, T0 + 30 * S);
    assert_eq!(got, sent);
    assert_eq!(replayed.segments, 2, "one segment for each run that wrote");
}

#[test]
fn long_payloads_are_compressed_short_ones_kept() {
    let long = Record::new(T0, &payload(1, true));
    let short = Record::new(T0, &payload(1, false));
    assert_eq!(long.bytes[16], CODEC_ZSTD);
    assert!(long.len() < 4000 / 4, "{} bytes", long.len());
    assert_eq!(short.len(), HEADER + 40);
    assert_eq!(short.bytes[16], CODEC_RAW);
}

#[test]
fn records_deflated_before_zstd_still_replay() {
    use std::io::Write as _;
    let dir = temp_dir("deflated");
    let (mut wal, _, _) = reopen(&dir, T0);
    let old = payload(3, true);
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&old).expect("into a Vec");
    let deflated = z.finish().expect("into a Vec");
    wal.append(&Record::framed(T0, CODEC_DEFLATE, &deflated))
        .expect("append");
    let new = payload(4, true);
    wal.append(&Record::new(T0 + S, &new)).expect("append");
    drop(wal);
    let (_, replayed, got) = reopen(&dir, T0 + 2 * S);
    assert_eq!(got, vec![(T0, old), (T0 + S, new)]);
    assert!(replayed.cut.is_empty());
}

#[test]
fn a_tail_torn_anywhere_is_cut_and_everything_before_it_kept() {
    let dir = temp_dir("torn");
    let (mut wal, _, _) = reopen(&dir, T0);
    let records: Vec<Record> = (0..3u8)
        .map(|i| Record::new(T0 + i64::from(i), &payload(i, i == 1)))
        .collect();
    for r in &records {
        wal.append(r).expect("append");
    }
    let path = wal.open.path.clone();
    drop(wal);
    let whole = fs::read(&path).expect("read");
    let ends: Vec<usize> = records
        .iter()
        .scan(MAGIC.len(), |at, r| {
            *at += r.len();
            Some(*at)
        })
        .collect();
    // Every length a crash could leave: each whole record before the cut survives.
    for len in MAGIC.len()..whole.len() {
        fs::remove_dir_all(&dir).expect("clean");
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(&path, &whole[..len]).expect("write");
        let (wal, replayed, got) = reopen(&dir, T0 + S);
        let whole_records = ends.iter().filter(|&&e| e <= len).count();
        assert_eq!(got.len(), whole_records, "cut at {len}");
        let torn = !ends.contains(&len) && len != MAGIC.len();
        assert_eq!(
            replayed.cut.len(),
            usize::from(torn),
            "cut at {len}: {:?}",
            replayed.cut
        );
        drop(wal);
        // The cut is made on disk: reading again finds nothing wrong.
        let (_, again, got_again) = reopen(&dir, T0 + S);
        assert!(again.cut.is_empty(), "cut at {len}: {:?}", again.cut);
        assert_eq!(got_again.len(), whole_records);
    }
}

#[test]
fn a_flipped_byte_ends_the_segment_there_and_later_segments_still_count() {
    let dir = temp_dir("flip");
    let (mut wal, _, _) = reopen(&dir, T0);
    for i in 0..3u8 {
        wal.append(&Record::new(T0, &payload(i, false)))
            .expect("append");
    }
    let first = wal.open.path.clone();
    drop(wal);
    let (mut wal, _, _) = reopen(&dir, T0);
    wal.append(&Record::new(T0 + S, &payload(7, false)))
        .expect("append");
    drop(wal);
    let mut bytes = fs::read(&first).expect("read");
    // Inside the second record's payload.
    let at = MAGIC.len() + (HEADER + 40) + HEADER + 5;
    bytes[at] ^= 0x40;
    fs::write(&first, &bytes).expect("write");
    let (_, replayed, got) = reopen(&dir, T0 + S);
    let firsts: Vec<u8> = got.iter().map(|(_, p)| p[0]).collect();
    assert_eq!(firsts, [0, 7]);
    assert_eq!(replayed.cut.len(), 1);
    assert!(replayed.cut[0].contains("checksum"), "{:?}", replayed.cut);
}

#[test]
fn a_file_that_is_no_segment_is_set_aside_not_read() {
    let dir = temp_dir("garbage");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(segment_path(&dir, 4), b"not a wal at all").expect("write");
    let (mut wal, replayed, got) = reopen(&dir, T0);
    assert!(got.is_empty());
    assert_eq!(replayed.cut.len(), 1);
    assert!(dir.join(format!("{:020}.wal.corrupt", 4)).exists());
    // The next segment is numbered after it.
    assert_eq!(wal.open.seq, 5);
    wal.append(&Record::new(T0, b"x")).expect("append");
}

#[test]
fn segments_close_each_minute_and_go_once_older_than_kept() {
    let dir = temp_dir("expire");
    let (mut wal, _, _) = reopen(&dir, T0);
    // 20 minutes of a record every 10 s.
    for i in 0..120 {
        wal.append(&Record::new(T0 + i * 10 * S, &payload(1, false)))
            .expect("append");
    }
    let (_, segments) = wal.usage();
    // 15 minutes kept behind the newest record, in whole minutes, and the open one.
    assert!((16..=18).contains(&segments), "{segments} segments");
    drop(wal);
    let now = T0 + 119 * 10 * S;
    let (_, replayed, got) = reopen(&dir, now);
    let oldest = got.first().expect("records").0;
    assert!(
        oldest >= now - KEEP - 60 * S,
        "{}s too old",
        (now - KEEP - oldest) / S
    );
    assert!(
        oldest <= now - KEEP + 10 * S,
        "everything in retention is kept"
    );
    // Much later, every segment is expired and removed unread.
    let (_, replayed_late, got_late) = reopen(&dir, now + 2 * KEEP);
    assert!(got_late.is_empty());
    // ...with the empty one the open at `now` began.
    assert_eq!(replayed_late.expired, replayed.segments + 1);
}

/// A store snapshot begins the log at a new segment: what came before is in the
/// snapshot (dropped once it is written, skipped and removed at start), what comes
/// after is replayed.
#[test]
fn a_snapshot_starts_a_segment_and_the_older_ones_go() {
    let dir = temp_dir("snapshot");
    let (mut wal, _, _) = reopen(&dir, T0);
    for i in 0..3u8 {
        wal.append(&Record::new(T0 + i64::from(i) * S, &payload(i, true)))
            .expect("append");
    }
    let from = wal.start_segment().expect("a new segment");
    assert_eq!(
        wal.start_segment().expect("nothing new"),
        from,
        "an empty open segment is already where a snapshot begins"
    );
    let after = payload(7, false);
    wal.append(&Record::new(T0 + 10 * S, &after))
        .expect("append");
    // Before the snapshot is on disk, a restart replays all four.
    drop(wal);
    let (mut wal, _, got) = reopen(&dir, T0 + 11 * S);
    assert_eq!(got.len(), 4);
    assert_eq!(wal.drop_before(from), 1, "the segment the snapshot holds");
    drop(wal);
    let mut got = Vec::new();
    let (_, replayed) = Wal::open(&dir, KEEP, T0 + 12 * S, from, |a, p| {
        got.push((a, p.to_vec()))
    })
    .expect("open");
    assert_eq!(got, [(T0 + 10 * S, after)]);
    assert_eq!(replayed.in_snapshot, 0, "already gone");
    let _ = fs::remove_dir_all(&dir);
}
