use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gpuwatch-datadir-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn one_collector_at_a_time() {
    let dir = temp_dir("lock");
    let first = DataDir::open(&dir).expect("first");
    let err = DataDir::open(&dir).expect_err("second");
    assert!(matches!(err, DataDirError::InUse(_)), "{err}");
    assert!(err.to_string().contains("collector.data_dir"), "{err}");
    drop(first);
    DataDir::open(&dir).expect("free again once the first is gone");
}

#[test]
fn a_directory_that_cannot_be_made_names_the_key() {
    let file = temp_dir("file");
    fs::write(&file, b"x").expect("write");
    let err = DataDir::open(&file.join("sub")).expect_err("under a file");
    let msg = err.to_string();
    assert!(
        msg.contains("collector.data_dir") && msg.contains("sub"),
        "{msg}"
    );
}

#[test]
fn the_state_comes_back_as_saved_and_a_broken_one_is_set_aside() {
    let dir = temp_dir("state");
    let data = DataDir::open(&dir).expect("open");
    assert_eq!(data.load(), Ok(None));
    let saved = Saved::new(
        Some(42),
        SavedAlerts::default(),
        SavedLedger::default(),
        Vec::new(),
        Vec::new(),
        [("oncall:{}".to_string(), 1_795_860_000_000_000_000)].into(),
    );
    data.save(&saved).expect("save");
    assert_eq!(data.load(), Ok(Some(saved.clone())));
    assert!(!dir.join("state.json.tmp").exists());
    // Half a file, as a disk that filled up could leave without the rename.
    let json = fs::read(dir.join(STATE)).expect("read");
    fs::write(dir.join(STATE), &json[..json.len() / 2]).expect("write");
    let err = data.load().expect_err("half a state");
    assert!(err.contains("state.json.corrupt"), "{err}");
    assert!(dir.join("state.json.corrupt").exists());
    assert_eq!(
        data.load(),
        Ok(None),
        "the next start does not trip on it again"
    );
    let other = Saved {
        version: VERSION + 1,
        ..saved
    };
    data.save(&other).expect("save");
    let err = data.load().expect_err("another version");
    assert!(err.contains("version"), "{err}");
}

#[test]
fn a_snapshot_comes_back_as_saved_in_either_format_and_a_broken_one_is_set_aside() {
    use std::io::Write as _;
    let dir = temp_dir("snapshot");
    let data = DataDir::open(&dir).expect("open");
    assert_eq!(data.load_snapshot(), Ok(None));
    let store: Vec<u8> = (0..100_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let size = data.save_snapshot(7, &store).expect("save");
    assert!(size < store.len() as u64 / 10, "{size} bytes");
    assert_eq!(data.load_snapshot(), Ok(Some((7, store.clone()))));
    // As a collector before zstd wrote it: zlib.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&store).expect("into a Vec");
    let mut old = SNAPSHOT_MAGIC_ZLIB.to_vec();
    old.extend_from_slice(&9u64.to_le_bytes());
    old.extend_from_slice(&z.finish().expect("into a Vec"));
    fs::write(dir.join(SNAPSHOT), &old).expect("write");
    assert_eq!(data.load_snapshot(), Ok(Some((9, store.clone()))));
    // A byte flipped inside the frame: the checksum catches it.
    data.save_snapshot(7, &store).expect("save");
    let mut bytes = fs::read(dir.join(SNAPSHOT)).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(dir.join(SNAPSHOT), &bytes).expect("write");
    let err = data.load_snapshot().expect_err("corrupt");
    assert!(err.contains("store.snapshot.corrupt"), "{err}");
    assert!(!dir.join(SNAPSHOT).exists());
}

#[test]
fn a_store_is_read_back_as_its_snapshot_streams_and_a_damaged_one_is_refused() {
    use crate::store::builder::{every, Builder};
    use crate::store::Store;
    let dir = temp_dir("streamed");
    let data = DataDir::open(&dir).expect("open");
    let mut b = Builder::new();
    b.gpu(
        "node-1",
        0,
        None,
        gpuwatch_model::names::metric::POWER,
        &[],
        every(1, 0, 600, |t| 400.0 + (t % 13) as f64),
    );
    let store = b.build();
    let written = data
        .write_snapshot(3, |w| store.write_snapshot(w))
        .expect("written");
    data.commit_snapshot(written).expect("committed");
    let now = gpuwatch_model::Timestamp::now().0;
    let (from, mut reader) = data.open_snapshot().expect("opens").expect("there");
    assert_eq!(from, 3);
    let back = Store::read_snapshot(store.settings().clone(), &mut reader, now)
        .expect("reads")
        .expect("taken just now");
    assert_eq!(back.usage().points, store.usage().points);
    assert_eq!(back.usage().points, 601);
    // A byte flipped near the end: the store may decode, the checksum still fails.
    let mut bytes = fs::read(dir.join(SNAPSHOT)).expect("read");
    let near_end = bytes.len() - 6;
    bytes[near_end] ^= 0x01;
    fs::write(dir.join(SNAPSHOT), &bytes).expect("write");
    let (_, mut reader) = data.open_snapshot().expect("opens").expect("there");
    let err =
        Store::read_snapshot(store.settings().clone(), &mut reader, now).expect_err("damaged");
    assert!(err.contains("snapshot"), "{err}");
}
