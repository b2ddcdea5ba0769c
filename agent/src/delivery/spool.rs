//! `Spool`: queued requests as files in one directory, so that an agent restart loses
//! none of them.
//!
//! Each request is one file, `{id:020}.otlp.gz`, holding the gzip-compressed
//! encoded `ExportMetricsServiceRequest` as it will be sent. A file is written under a
//! temporary name, flushed to disk and renamed, so a crash leaves either the whole file
//! or a `.tmp` that the next start removes. Ids grow with each request, so the names
//! sort in queue order. One agent per directory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".otlp.gz";
const TMP_SUFFIX: &str = ".tmp";

/// The spool directory.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// Opens `dir` (creating it) and lists the requests an earlier run left, oldest
    /// first. Leftover temporary files are removed.
    pub(crate) fn open(dir: &Path) -> io::Result<(Spool, Vec<u64>)> {
        fs::create_dir_all(dir)?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if name.ends_with(TMP_SUFFIX) {
                let _ = fs::remove_file(entry.path());
            } else if let Some(id) = name.strip_suffix(SUFFIX).and_then(|s| s.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        // Writing is what matters: fail now rather than at the first outage.
        let spool = Spool {
            dir: dir.to_path_buf(),
        };
        spool.check_writable()?;
        Ok((spool, ids))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}{SUFFIX}"))
    }

    fn check_writable(&self) -> io::Result<()> {
        let probe = self.dir.join(format!("probe{TMP_SUFFIX}"));
        fs::write(&probe, b"")?;
        fs::remove_file(probe)
    }

    /// Stores request `id`: write, flush, rename.
    pub(crate) fn write(&self, id: u64, body: &[u8]) -> io::Result<()> {
        let path = self.path(id);
        let tmp = self.dir.join(format!("{id:020}{TMP_SUFFIX}"));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(body)?;
        file.sync_data()?;
        drop(file);
        fs::rename(&tmp, &path)
    }

    pub(crate) fn read(&self, id: u64) -> io::Result<Vec<u8>> {
        fs::read(self.path(id))
    }

    /// Forgets request `id`; a file already gone is not an error.
    pub(crate) fn remove(&self, id: u64) -> io::Result<()> {
        match fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "gpuwatch-spool-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn files_come_back_in_order_and_temporaries_go() {
        let dir = temp_dir("order");
        let (spool, ids) = Spool::open(&dir).expect("open");
        assert!(ids.is_empty());
        for id in [3, 12, 7] {
            spool.write(id, &[id as u8; 4]).expect("write");
        }
        fs::write(dir.join("00000000000000000099.tmp"), b"half").expect("tmp");
        fs::write(dir.join("notes.txt"), b"not ours").expect("other");
        spool.remove(12).expect("remove");
        spool.remove(12).expect("removing twice is fine");

        let (spool, ids) = Spool::open(&dir).expect("reopen");
        assert_eq!(ids, vec![3, 7]);
        assert_eq!(spool.read(7).expect("read"), vec![7u8; 4]);
        assert!(!dir.join("00000000000000000099.tmp").exists());
        assert!(dir.join("notes.txt").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let dir = temp_dir("blocked");
        fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("file");
        fs::write(&file, b"x").expect("file");
        assert!(Spool::open(&file).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
