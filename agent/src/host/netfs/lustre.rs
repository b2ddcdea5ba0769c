//! A Lustre client's `llite/<fsname>-<instance>/stats`, in the format of Lustre's
//! `lprocfs_stats_seq_show`:
//!
//! ```text
//! snapshot_time             1700000000.123456789 secs.nsecs
//! read_bytes                1000 samples [bytes] 4096 1048576 1073741824 1152921504606846976
//! write_bytes               500 samples [bytes] 4096 1048576 536870912
//! open                      300 samples [usecs]
//! ```
//!
//! `read_bytes` and `write_bytes` are one sample per call; the third number after the
//! unit is the sum of the bytes of all calls: what applications read and wrote.

/// The bytes a Lustre client read and wrote; `None` for a line the file lacks (no I/O
/// of that kind yet: Lustre prints only counters that have samples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LustreIo {
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
}

/// Reads `read_bytes` and `write_bytes` sums; malformed lines are skipped.
pub fn parse_llite_stats(text: &str) -> LustreIo {
    let mut io = LustreIo::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let slot = match fields.next() {
            Some("read_bytes") => &mut io.read_bytes,
            Some("write_bytes") => &mut io.write_bytes,
            _ => continue,
        };
        let rest: Vec<&str> = fields.collect();
        // count "samples" [unit] min max sum [sumsq]
        let [count, "samples", unit, _min, _max, sum, ..] = rest[..] else {
            continue;
        };
        if !(unit.starts_with('[') && unit.ends_with(']')) || count.parse::<u64>().is_err() {
            continue;
        }
        if let Ok(sum) = sum.parse() {
            *slot = Some(sum);
        }
    }
    io
}

/// The file system name of an llite instance directory: `scratch` of
/// `scratch-ffff8a1b2c3d4000`.
pub fn fsname(instance: &str) -> Option<&str> {
    let (name, id) = instance.rsplit_once('-')?;
    (!name.is_empty() && !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "\
snapshot_time             1700000000.123456789 secs.nsecs
start_time                1699990000.000000000 secs.nsecs
elapsed_time              10000.123456789 secs.nsecs
read_bytes                1000 samples [bytes] 4096 1048576 1073741824 1152921504606846976
write_bytes               500 samples [bytes] 4096 1048576 536870912 576460752303423488
read                      1000 samples [usecs] 10 5000 900000 1000000000
open                      300 samples [usecs] 1 100 3000 40000
";

    #[test]
    fn reads_the_byte_sums() {
        assert_eq!(
            parse_llite_stats(STATS),
            LustreIo {
                read_bytes: Some(1073741824),
                write_bytes: Some(536870912),
            }
        );
    }

    #[test]
    fn missing_or_malformed_lines_give_none() {
        let cases: [(&str, LustreIo); 6] = [
            ("", LustreIo::default()),
            (
                "write_bytes 5 samples [bytes] 1 2 7\n",
                LustreIo {
                    read_bytes: None,
                    write_bytes: Some(7),
                },
            ),
            ("read_bytes 5 samples [bytes] 1 2\n", LustreIo::default()),
            ("read_bytes 5 calls [bytes] 1 2 7\n", LustreIo::default()),
            (
                "read_bytes five samples [bytes] 1 2 7\n",
                LustreIo::default(),
            ),
            (
                "read_bytes 5 samples [bytes] 1 2 lots\n",
                LustreIo::default(),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_llite_stats(text), want, "{text:?}");
        }
    }

    #[test]
    fn fsnames() {
        let cases = [
            ("scratch-ffff8a1b2c3d4000", Some("scratch")),
            ("my-fs-ffff9e0012345800", Some("my-fs")),
            ("scratch", None),
            ("scratch-", None),
            ("scratch-xyz", None),
        ];
        for (instance, want) in cases {
            assert_eq!(fsname(instance), want, "{instance}");
        }
    }
}
