//! `/proc/self/mountstats`, in the format of the kernel's `nfs_show_stats` (statvers
//! 1.0 and 1.1) and sunrpc's `rpc_clnt_show_stats`:
//!
//! ```text
//! device server:/export mounted on /mnt/data with fstype nfs4 statvers=1.1
//!     opts:   rw,vers=4.2,rsize=1048576,...
//!     bytes:  <normal read> <normal write> <direct read> <direct write>
//!             <server read> <server write> <pages read> <pages written>
//!     RPC iostats version: 1.1  p/v: 100003/4 (nfs)
//!     xprt:   tcp <port> <binds> <connects> <connect time> <idle> <sends> <recvs>
//!             <bad xids> <req_u> <bklog_u> ...
//!     per-op statistics
//!             READ: <ops> <transmissions> <timeouts> <bytes sent> <bytes received>
//!                   <queue ms> <rtt ms> <execute ms> [<errors>]
//! ```
//!
//! (each line on one line, indented with tabs).
//!
//! Every mount has a `device` line; only NFS mounts have the rest. A line that is not in
//! this format is skipped; it never fails the file.

pub use crate::readings::{RpcOperation, RpcTransport};

/// One mount of `mountstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountStats {
    /// `server:/export`, `10.0.0.1@o2ib:/scratch`, `proc`.
    pub device: String,
    pub mountpoint: String,
    /// `nfs`, `nfs4`, `lustre`, ...
    pub fstype: String,
    /// The NFS counters; `None` for other filesystems.
    pub nfs: Option<NfsStats>,
}

/// The counters of one NFS mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfsStats {
    /// Bytes applications read: normal (page cache) and `O_DIRECT`.
    pub read_bytes: Option<u64>,
    /// Bytes applications wrote: normal (page cache) and `O_DIRECT`.
    pub write_bytes: Option<u64>,
    /// The RPC transports (`xprt:` lines; `nconnect` makes several), summed.
    pub transport: Option<RpcTransport>,
    /// Per-operation RPC counters, in the file's order.
    pub operations: Vec<RpcOperation>,
}

/// Reads every mount of `mountstats`; malformed lines are skipped.
pub fn parse_mountstats(text: &str) -> Vec<MountStats> {
    let mut mounts: Vec<MountStats> = Vec::new();
    // Whether the lines now belong to the last mount (a malformed `device` line
    // leaves the lines after it to nobody).
    let mut open = false;
    let mut in_ops = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("device ") {
            in_ops = false;
            open = match parse_device(rest) {
                Some(mount) => {
                    mounts.push(mount);
                    true
                }
                None => false,
            };
            continue;
        }
        let Some(nfs) = mounts
            .last_mut()
            .filter(|_| open)
            .and_then(|m| m.nfs.as_mut())
        else {
            continue;
        };
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("bytes:") {
            if let Some((read, write)) = parse_bytes(rest) {
                nfs.read_bytes = Some(read);
                nfs.write_bytes = Some(write);
            }
        } else if let Some(rest) = line.strip_prefix("xprt:") {
            if let Some(t) = parse_xprt(rest) {
                let sum = nfs.transport.get_or_insert_with(RpcTransport::default);
                sum.sends = sum.sends.saturating_add(t.sends);
                sum.backlog = sum.backlog.saturating_add(t.backlog);
            }
        } else if line == "per-op statistics" {
            in_ops = true;
        } else if in_ops {
            if let Some(op) = parse_operation(line) {
                nfs.operations.push(op);
            }
        }
    }
    mounts
}

/// `<device> mounted on <mountpoint> with fstype <type>[ statvers=<v>]`.
fn parse_device(rest: &str) -> Option<MountStats> {
    let (device, rest) = rest.split_once(" mounted on ")?;
    let (mountpoint, rest) = rest.rsplit_once(" with fstype ")?;
    let fstype = rest.split_whitespace().next()?;
    if device.is_empty() || mountpoint.is_empty() {
        return None;
    }
    let nfs = (fstype == "nfs" || fstype == "nfs4").then(NfsStats::default);
    Some(MountStats {
        device: unescape(device),
        mountpoint: unescape(mountpoint),
        fstype: fstype.to_string(),
        nfs,
    })
}

fn numbers(text: &str) -> Option<Vec<u64>> {
    text.split_whitespace().map(|f| f.parse().ok()).collect()
}

/// Bytes read and written by applications: normal + direct.
fn parse_bytes(rest: &str) -> Option<(u64, u64)> {
    let n = numbers(rest)?;
    let [normal_read, normal_write, direct_read, direct_write, ..] = n[..] else {
        return None;
    };
    Some((
        normal_read.saturating_add(direct_read),
        normal_write.saturating_add(direct_write),
    ))
}

/// An `xprt:` line's sends and backlog. tcp and rdma: `<port> <binds> <connects>
/// <connect time> <idle> <sends> <recvs> <bad xids> <req_u> <bklog_u> ...`; udp:
/// `<port> <binds> <sends> <recvs> <bad xids> <req_u> <bklog_u> ...`.
fn parse_xprt(rest: &str) -> Option<RpcTransport> {
    let mut fields = rest.split_whitespace();
    let protocol = fields.next()?;
    let n: Vec<u64> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    let (sends, backlog) = match protocol {
        "tcp" | "rdma" => (5, 9),
        "udp" => (2, 6),
        _ => return None,
    };
    Some(RpcTransport {
        sends: *n.get(sends)?,
        backlog: *n.get(backlog)?,
    })
}

/// `NAME: ops transmissions timeouts sent received queue rtt execute [errors]`.
fn parse_operation(line: &str) -> Option<RpcOperation> {
    let (method, rest) = line.split_once(':')?;
    let method = method.trim();
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let n = numbers(rest)?;
    let [operations, transmissions, _timeouts, _sent, _received, queue_ms, rtt_ms, _execute, ..] =
        n[..]
    else {
        return None;
    };
    Some(RpcOperation {
        method: method.to_string(),
        operations,
        transmissions,
        queue_ms,
        rtt_ms,
    })
}

/// Undoes the kernel's octal escapes of mount paths (`\040` for a space, `\011` tab,
/// `\012` newline, `\134` backslash).
pub(crate) fn unescape(text: &str) -> String {
    if !text.contains('\\') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v4.2 mount of a 6.x kernel, a local mount and a Lustre mount before it.
    const MOUNTSTATS: &str = "\
device sysfs mounted on /sys with fstype sysfs
device 10.0.0.1@o2ib:/scratch mounted on /lustre/scratch with fstype lustre
device server:/export mounted on /mnt/data with fstype nfs4 statvers=1.1
\topts:\trw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60,hard,proto=tcp,nconnect=2,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.5,local_lock=none
\tage:\t86400
\timpl_id:\tname='',domain='',date='0,0'
\tcaps:\tcaps=0x3ffbffff,wtmult=512,dtsize=1048576,bsize=0,namlen=255
\tnfsv4:\tbm0=0xfdffbfff,bm1=0x40f9be3e,bm2=0x60803,acl=0x3,sessions,pnfs=not configured,lease_time=90,lease_expired=0
\tsec:\tflavor=1,pseudoflavor=1
\tevents:\t52 3102 0 21 85 41 3566 4096 0 21 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
\tbytes:\t1073741824 536870912 4096 8192 1207959552 536879104 262144 131074
\tRPC iostats version: 1.1  p/v: 100003/4 (nfs)
\txprt:\ttcp 0 1 1 0 11 2000 2000 0 4000 300 2 0 0
\txprt:\ttcp 0 1 1 0 12 1500 1500 0 3000 200 2 0 0
\tper-op statistics
\t        NULL: 1 1 0 44 24 0 0 0 0
\t        READ: 1234 1240 0 123456 987654321 10 2000 2100 0
\t       WRITE: 512 512 0 536936448 65536 5 900 950 0
\t      COMMIT: 0 0 0 0 0 0 0 0 0
\t     GETATTR: 3000 3000 0 500000 700000 3 600 700 0
\t      LOOKUP: 400 400 0 60000 90000 1 80 90 12
\t      ACCESS: 300 301 0 45000 36000 1 50 55 0
\t     READDIR: 0 0 0 0 0 0 0 0 0

device server:/home mounted on /home/with\\040space with fstype nfs statvers=1.1
\tbytes:\t10 20 0 0 10 20 1 1
\tRPC iostats version: 1.1  p/v: 100003/3 (nfs)
\txprt:\tudp 0 1 70 70 0 140 7 2 0 0
\tper-op statistics
\t        READ: 5 7 1 500 1000 1 2 3
";

    #[test]
    fn reads_every_mount_and_the_nfs_counters() {
        let mounts = parse_mountstats(MOUNTSTATS);
        let names: Vec<(&str, &str, &str)> = mounts
            .iter()
            .map(|m| (m.device.as_str(), m.mountpoint.as_str(), m.fstype.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("sysfs", "/sys", "sysfs"),
                ("10.0.0.1@o2ib:/scratch", "/lustre/scratch", "lustre"),
                ("server:/export", "/mnt/data", "nfs4"),
                ("server:/home", "/home/with space", "nfs"),
            ]
        );
        assert!(mounts[0].nfs.is_none() && mounts[1].nfs.is_none());
        let nfs = mounts[2].nfs.as_ref().expect("nfs4 counters");
        assert_eq!(nfs.read_bytes, Some(1073741824 + 4096));
        assert_eq!(nfs.write_bytes, Some(536870912 + 8192));
        assert_eq!(
            nfs.transport,
            Some(RpcTransport {
                sends: 3500,
                backlog: 500
            }),
            "two nconnect transports, summed"
        );
        let read = &nfs.operations[1];
        assert_eq!(
            read,
            &RpcOperation {
                method: "READ".into(),
                operations: 1234,
                transmissions: 1240,
                queue_ms: 10,
                rtt_ms: 2000,
            }
        );
        assert_eq!(read.retransmissions(), 6);
        let methods: Vec<&str> = nfs.operations.iter().map(|o| o.method.as_str()).collect();
        assert_eq!(
            methods,
            ["NULL", "READ", "WRITE", "COMMIT", "GETATTR", "LOOKUP", "ACCESS", "READDIR"]
        );

        let v3 = mounts[3].nfs.as_ref().expect("nfs counters");
        assert_eq!((v3.read_bytes, v3.write_bytes), (Some(10), Some(20)));
        assert_eq!(
            v3.transport,
            Some(RpcTransport {
                sends: 70,
                backlog: 7
            })
        );
        assert_eq!(
            v3.operations[0].retransmissions(),
            2,
            "statvers 1.0: 8 fields"
        );
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let cases: [(&str, usize, usize); 9] = [
            // (text, mounts, READ operations found)
            ("", 0, 0),
            ("device nonsense\n\tper-op statistics\n\tREAD: 1 1 0 0 0 0 0 0\n", 0, 0),
            ("device a mounted on /a\n", 0, 0),
            (
                "device s:/e mounted on /m with fstype nfs4\n\tper-op statistics\n\tREAD: 1 2 x 0 0 0 0 0\n",
                1,
                0,
            ),
            (
                "device s:/e mounted on /m with fstype nfs4\n\tper-op statistics\n\tREAD: 1 2 0 0\n",
                1,
                0,
            ),
            (
                "device s:/e mounted on /m with fstype nfs4\n\tREAD: 1 1 0 0 0 0 0 0\n",
                1,
                0,
            ),
            (
                "device s:/e mounted on /m with fstype nfs4\n\tper-op statistics\n\tread: 1 1 0 0 0 0 0 0\n",
                1,
                0,
            ),
            (
                "device s:/e mounted on /m with fstype nfs4\n\tper-op statistics\n\tREAD: 1 1 0 0 0 0 0 0\n",
                1,
                1,
            ),
            (
                "device s:/e mounted on /m with fstype nfs4\n\tper-op statistics\n\tREAD: 1 1 0 0 0 0 0 0 0 0 0\n",
                1,
                1,
            ),
        ];
        for (text, mounts, reads) in cases {
            let parsed = parse_mountstats(text);
            assert_eq!(parsed.len(), mounts, "{text:?}");
            let found = parsed
                .iter()
                .filter_map(|m| m.nfs.as_ref())
                .flat_map(|n| &n.operations)
                .filter(|o| o.method == "READ")
                .count();
            assert_eq!(found, reads, "{text:?}");
        }
        let broken = "device s:/e mounted on /m with fstype nfs4\n\
                      \tbytes:\t1 2 3\n\
                      \txprt:\ttcp 0 1\n\
                      \txprt:\tlocal 0 1 2 3 4 5 6 7 8 9\n\
                      \txprt:\ttcp 0 1 1 0 11 x 2000 0 4000 300 2 0 0\n";
        let nfs = parse_mountstats(broken)
            .pop()
            .and_then(|m| m.nfs)
            .expect("the mount stays");
        assert_eq!(nfs, NfsStats::default(), "a short bytes line, unknown xprt");
    }

    #[test]
    fn unescapes_octal() {
        let cases = [
            ("/mnt/data", "/mnt/data"),
            ("/a\\040b", "/a b"),
            ("/tab\\011x", "/tab\tx"),
            ("/back\\134slash", "/back\\slash"),
            ("/short\\04", "/short\\04"),
            ("/not\\999", "/not\\999"),
            ("\\", "\\"),
        ];
        for (text, want) in cases {
            assert_eq!(unescape(text), want, "{text:?}");
        }
    }
}
