//! Parsers for the `/proc` files the host sampler reads, in the format the kernel prints.

use gpuwatch_model::sample::{CpuModes, DiskCounters, NetCounters};

/// What was wrong with a file's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// The aggregate `cpu` line of `/proc/stat`, in clock ticks since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuTimes {
    /// Ticks of all modes; guest time is already inside user and nice.
    fn total(&self) -> u64 {
        self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
    }

    /// Shares of each mode between `earlier` and `self`: user = user + nice, system =
    /// system + irq + softirq. `None` when no time passed (or the counters went back).
    pub fn modes_since(&self, earlier: &CpuTimes) -> Option<CpuModes> {
        let d = |now: u64, then: u64| now.saturating_sub(then) as f64;
        let total = d(self.total(), earlier.total());
        if total <= 0.0 {
            return None;
        }
        let user = d(self.user, earlier.user) + d(self.nice, earlier.nice);
        let system = d(self.system, earlier.system)
            + d(self.irq, earlier.irq)
            + d(self.softirq, earlier.softirq);
        let iowait = d(self.iowait, earlier.iowait);
        let steal = d(self.steal, earlier.steal);
        let idle = d(self.idle, earlier.idle);
        // Normalise by the sum of the parts so the shares add up to 1 even if a counter
        // stepped back (iowait can on some kernels).
        let sum = user + system + iowait + steal + idle;
        if sum <= 0.0 {
            return None;
        }
        Some(CpuModes {
            user: user / sum,
            system: system / sum,
            iowait: iowait / sum,
            idle: idle / sum,
            steal: steal / sum,
        })
    }
}

/// Reads the aggregate `cpu ` line of `/proc/stat`. Fields missing on old kernels
/// (steal and later) count as 0.
pub fn parse_stat(text: &str) -> Result<CpuTimes, ParseError> {
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| ParseError("no aggregate `cpu` line".to_string()))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| {
            f.parse()
                .map_err(|_| ParseError(format!("`{f}` in the cpu line is not a number")))
        })
        .collect::<Result<_, _>>()?;
    if values.len() < 4 {
        return Err(ParseError(format!(
            "the cpu line has {} fields, expected at least 4",
            values.len()
        )));
    }
    let at = |i: usize| values.get(i).copied().unwrap_or(0);
    Ok(CpuTimes {
        user: at(0),
        nice: at(1),
        system: at(2),
        idle: at(3),
        iowait: at(4),
        irq: at(5),
        softirq: at(6),
        steal: at(7),
    })
}

/// The `/proc/meminfo` fields the host sample needs, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub total: u64,
    pub free: u64,
    pub available: u64,
    pub cached: u64,
    pub buffers: u64,
}

impl MemInfo {
    /// MemTotal − MemAvailable.
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.available)
    }

    /// Cached + Buffers.
    pub fn cached_and_buffers(&self) -> u64 {
        self.cached + self.buffers
    }
}

/// Reads `/proc/meminfo` (values in kB). Without `MemAvailable` (kernels before 3.14)
/// available is estimated as free + cached + buffers.
pub fn parse_meminfo(text: &str) -> Result<MemInfo, ParseError> {
    let mut total = None;
    let mut free = None;
    let mut available = None;
    let mut cached = 0;
    let mut buffers = 0;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if !matches!(
            key,
            "MemTotal" | "MemFree" | "MemAvailable" | "Cached" | "Buffers"
        ) {
            continue;
        }
        let mut parts = rest.split_whitespace();
        let number = parts.next().unwrap_or("");
        let value: u64 = number
            .parse()
            .map_err(|_| ParseError(format!("{key}: `{number}` is not a number")))?;
        let bytes = match parts.next() {
            Some("kB") => value.saturating_mul(1024),
            None => value,
            Some(unit) => return Err(ParseError(format!("{key}: unknown unit `{unit}`"))),
        };
        match key {
            "MemTotal" => total = Some(bytes),
            "MemFree" => free = Some(bytes),
            "MemAvailable" => available = Some(bytes),
            "Cached" => cached = bytes,
            _ => buffers = bytes,
        }
    }
    let total = total.ok_or_else(|| ParseError("no MemTotal line".to_string()))?;
    let free = free.ok_or_else(|| ParseError("no MemFree line".to_string()))?;
    Ok(MemInfo {
        total,
        free,
        available: available.unwrap_or(free + cached + buffers),
        cached,
        buffers,
    })
}

/// Whether a block device name is a whole disk worth reporting: `sda`, `vda`, `xvda`,
/// `nvme0n1`, `mmcblk0`, `md0`, `dm-0` yes; partitions (`sda1`, `nvme0n1p1`,
/// `mmcblk0p1`, `md0p1`) and `loop`, `ram`, `zram` devices no.
pub fn is_whole_disk(name: &str) -> bool {
    if name.is_empty()
        || ["loop", "ram", "zram"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
    {
        return false;
    }
    // `<something ending in a digit>p<digits>`: nvme0n1p1, mmcblk0p1, md0p1.
    if let Some(pos) = name.rfind('p') {
        let (head, tail) = (&name[..pos], &name[pos + 1..]);
        if !tail.is_empty()
            && tail.bytes().all(|b| b.is_ascii_digit())
            && head.bytes().last().is_some_and(|b| b.is_ascii_digit())
        {
            return false;
        }
    }
    // SCSI, virtio, Xen and IDE disks are letters; their partitions add digits.
    let lettered = ["sd", "vd", "xvd", "hd"]
        .iter()
        .any(|prefix| name.starts_with(prefix));
    !(lettered && name.bytes().last().is_some_and(|b| b.is_ascii_digit()))
}

/// Reads `/proc/diskstats`, keeping whole disks only. Bytes are sectors × 512 (the
/// kernel always counts 512-byte sectors here); busy time is the "ms doing I/O" field.
pub fn parse_diskstats(text: &str) -> Result<Vec<DiskCounters>, ParseError> {
    let mut disks = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 14 {
            return Err(ParseError(format!(
                "a diskstats line has {} fields, expected at least 14: `{}`",
                fields.len(),
                line.trim()
            )));
        }
        let name = fields[2];
        if !is_whole_disk(name) {
            continue;
        }
        let number = |i: usize| -> Result<u64, ParseError> {
            fields[i].parse().map_err(|_| {
                ParseError(format!(
                    "{name}: field {} `{}` is not a number",
                    i + 1,
                    fields[i]
                ))
            })
        };
        disks.push(DiskCounters {
            device: name.to_string(),
            read_bytes: number(5)?.saturating_mul(512),
            write_bytes: number(9)?.saturating_mul(512),
            io_time_seconds: number(12)? as f64 / 1000.0,
        });
    }
    Ok(disks)
}

/// Reads `/proc/net/dev`: received and transmitted bytes per interface, without `lo`.
pub fn parse_net_dev(text: &str) -> Result<Vec<NetCounters>, ParseError> {
    let mut nics = Vec::new();
    for line in text.lines() {
        // The two header lines have `|` and no `name:` prefix worth reading.
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if line.contains('|') {
            continue;
        }
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 9 {
            return Err(ParseError(format!(
                "{name}: {} counters, expected 16",
                fields.len()
            )));
        }
        let number = |i: usize| -> Result<u64, ParseError> {
            fields[i]
                .parse()
                .map_err(|_| ParseError(format!("{name}: `{}` is not a number", fields[i])))
        };
        nics.push(NetCounters {
            interface: name.to_string(),
            rx_bytes: number(0)?,
            tx_bytes: number(8)?,
        });
    }
    Ok(nics)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "\
cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
cpu1 1335400 21543 483112 5961190 2766 0 2354 0 30129 0
intr 199292312 33 9 0 0 0 0 3 0 1 0 0 0 0 0 0 0 0
ctxt 393637880
btime 1700000000
processes 1092383
procs_running 2
procs_blocked 0
softirq 139512316 2 35513960 53 1347014 1002453 0 1108722 47003219 41 53537852
";

    #[test]
    fn stat_reads_the_aggregate_line() {
        let times = parse_stat(STAT).expect("valid");
        assert_eq!(
            times,
            CpuTimes {
                user: 10132153,
                nice: 290696,
                system: 3084719,
                idle: 46828483,
                iowait: 16683,
                irq: 0,
                softirq: 25195,
                steal: 0,
            }
        );
        assert!(parse_stat("cpu0 1 2 3 4\n").is_err());
        assert!(parse_stat("cpu  1 2 x 4\n").is_err());
        // A 2.6.11-era kernel without steal.
        assert_eq!(parse_stat("cpu 1 2 3 4 5 6 7\n").map(|t| t.steal), Ok(0));
    }

    #[test]
    fn cpu_modes_are_shares_of_the_delta() {
        let before = CpuTimes {
            user: 100,
            nice: 10,
            system: 50,
            idle: 800,
            iowait: 20,
            irq: 5,
            softirq: 5,
            steal: 10,
        };
        let after = CpuTimes {
            user: 140,   // +40
            nice: 20,    // +10
            system: 60,  // +10
            idle: 900,   // +100
            iowait: 40,  // +20
            irq: 10,     // +5
            softirq: 10, // +5
            steal: 20,   // +10
        };
        let modes = after.modes_since(&before).expect("time passed");
        assert_eq!(modes.user, 0.25);
        assert_eq!(modes.system, 0.1);
        assert_eq!(modes.iowait, 0.1);
        assert_eq!(modes.idle, 0.5);
        assert_eq!(modes.steal, 0.05);
        assert_eq!(after.modes_since(&after), None);
    }

    const MEMINFO: &str = "\
MemTotal:       65536000 kB
MemFree:         1024000 kB
MemAvailable:   32768000 kB
Buffers:          512000 kB
Cached:         20480000 kB
SwapCached:            0 kB
Active:         30000000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    #[test]
    fn meminfo_reads_used_free_cached() {
        let mem = parse_meminfo(MEMINFO).expect("valid");
        assert_eq!(mem.total, 65536000 * 1024);
        assert_eq!(mem.used(), (65536000 - 32768000) * 1024);
        assert_eq!(mem.free, 1024000 * 1024);
        assert_eq!(mem.cached_and_buffers(), (20480000 + 512000) * 1024);
        // SwapCached must not be mistaken for Cached.
        assert_eq!(mem.cached, 20480000 * 1024);
    }

    #[test]
    fn meminfo_without_available_estimates_it() {
        let old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 200 kB\n";
        let mem = parse_meminfo(old).expect("valid");
        assert_eq!(mem.available, 350 * 1024);
        assert!(parse_meminfo("MemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: lots kB\nMemFree: 1 kB\n").is_err());
    }

    const DISKSTATS: &str = "\
 259       0 nvme0n1 1114375 3370 150236266 285457 4151125 3068131 436826768 2765402 0 1281768 3203917 0 0 0 0 89221 153057
 259       1 nvme0n1p1 482 1003 25554 88 2 0 2 1 0 95 89 0 0 0 0 0 0
 259       2 nvme0n1p2 1113850 2367 150206192 285353 4151123 3068131 436826766 2765401 0 1281700 3050755 0 0 0 0 0 0
   8       0 sda 2000 0 4000 100 1000 0 8000 50 0 120 150
   8       1 sda1 1900 0 3800 90 1000 0 8000 50 0 110 140
 253       0 dm-0 1110000 0 150000000 290000 7200000 0 436000000 9000000 0 1300000 9290000 0 0 0 0 0 0
   9       0 md0 500 0 1000 0 250 0 2000 0 0 0 0 0 0 0 0 0 0
 252       0 vda 10 0 20 1 0 0 0 0 0 7 1
 202       0 xvda 10 0 20 1 0 0 0 0 0 3 1
   7       0 loop0 100 0 200 5 0 0 0 0 0 5 5 0 0 0 0 0 0
   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 251       0 zram0 50 0 400 0 60 0 480 0 0 10 10 0 0 0 0 0 0
";

    #[test]
    fn diskstats_keeps_whole_disks() {
        let disks = parse_diskstats(DISKSTATS).expect("valid");
        let names: Vec<&str> = disks.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["nvme0n1", "sda", "dm-0", "md0", "vda", "xvda"]);
        let nvme = &disks[0];
        assert_eq!(nvme.read_bytes, 150236266 * 512);
        assert_eq!(nvme.write_bytes, 436826768 * 512);
        assert_eq!(nvme.io_time_seconds, 1281.768);
        assert_eq!(disks[1].io_time_seconds, 0.12);
    }

    #[test]
    fn whole_disk_names() {
        for name in [
            "nvme0n1", "nvme12n3", "sda", "sdab", "vdb", "xvda", "hda", "mmcblk0", "md127", "dm-3",
        ] {
            assert!(is_whole_disk(name), "{name}");
        }
        for name in [
            "nvme0n1p1",
            "sda1",
            "sdab12",
            "vda2",
            "xvda1",
            "mmcblk0p2",
            "md0p1",
            "loop7",
            "ram0",
            "zram1",
            "",
        ] {
            assert!(!is_whole_disk(name), "{name}");
        }
    }

    #[test]
    fn diskstats_rejects_short_lines() {
        assert!(parse_diskstats("8 0 sda 1 2 3\n").is_err());
        assert!(parse_diskstats("8 0 sda 1 2 x 4 5 6 7 8 9 10 11\n").is_err());
        assert_eq!(parse_diskstats("\n"), Ok(vec![]));
    }

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 123456789  654321    0    0    0     0          0         0 123456789  654321    0    0    0     0       0          0
  eth0: 98765432101 87654321    0   12    0     0          0      1234 12345678901 7654321    0    0    0     0       0          0
  ib0:12345 10 0 0 0 0 0 0 67890 20 0 0 0 0 0 0
";

    #[test]
    fn net_dev_reads_bytes_without_lo() {
        let nics = parse_net_dev(NET_DEV).expect("valid");
        assert_eq!(
            nics,
            vec![
                NetCounters {
                    interface: "eth0".to_string(),
                    rx_bytes: 98765432101,
                    tx_bytes: 12345678901,
                },
                NetCounters {
                    interface: "ib0".to_string(),
                    rx_bytes: 12345,
                    tx_bytes: 67890,
                },
            ]
        );
        assert!(parse_net_dev("eth0: 1 2 3\n").is_err());
    }
}
