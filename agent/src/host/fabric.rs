//! InfiniBand and RoCE ports from sysfs: `<sys_root>/class/infiniband/<dev>/ports/<n>/`,
//! read every interval (a few small files per port).
//!
//! Per port the kernel's `ib_core` shows:
//!
//! * `counters/port_xmit_data`, `counters/port_rcv_data`: data in 4-byte words (the
//!   InfiniBand PortCounters unit), so bytes are the value × 4;
//! * `counters/port_xmit_packets`, `counters/port_rcv_packets`: packets;
//! * `counters/` error counters: `symbol_error`, `link_downed`, `port_rcv_errors`,
//!   `port_xmit_discards`, `local_link_integrity_errors`,
//!   `excessive_buffer_overrun_errors`;
//! * `hw_counters/` (mlx5, mostly on RoCE ports): `np_cnp_sent`, `rp_cnp_handled`,
//!   `out_of_sequence`, `packet_seq_err`, `rnr_nak_retry_err`;
//! * `state` (`4: ACTIVE`), `phys_state` (`5: LinkUp`), `rate`
//!   (`400 Gb/sec (4X NDR)`) and `link_layer` (`InfiniBand`, or `Ethernet` for RoCE).
//!
//! The netdev of a port is `ports/<n>/gid_attrs/ndevs/0` (RoCE: the Ethernet interface
//! the GIDs belong to), else the one of `<dev>/device/net/*` whose `dev_port` is the
//! port's (IPoIB `ib0`), else the only one there.
//!
//! RoCE's hardware counters are split by what they mean. Congestion notification
//! packets are how DCQCN works, not faults: `np_cnp_sent` (this port, as notification
//! point, saw ECN-marked packets and told the sender) and `rp_cnp_handled` (this port,
//! as reaction point, was told to slow down) go to `gpuwatch.fabric.congestion`.
//! `out_of_sequence`, `packet_seq_err` and `rnr_nak_retry_err` count lost or refused
//! packets that cost retransmissions, so they join the port's `hw.errors` with
//! `error.type` = the file's name, like the InfiniBand error counters.
//!
//! Drivers differ in what they show: a file that is not there means that counter is
//! absent (no point), not zero and not an error; no `class/infiniband` directory means
//! no fabric ports at all. A file that exists but cannot be read or parsed is left out
//! with one warning per file; it never stops the other files or ports.

use std::path::{Path, PathBuf};

use super::files::Files;
pub use crate::readings::FabricPort;

/// The `counters/` files counted as errors, by name.
pub const PORT_ERROR_COUNTERS: [&str; 6] = [
    "symbol_error",
    "link_downed",
    "port_rcv_errors",
    "port_xmit_discards",
    "local_link_integrity_errors",
    "excessive_buffer_overrun_errors",
];

/// The `hw_counters/` files counted as errors (lost or refused packets), by name.
pub const HW_ERROR_COUNTERS: [&str; 3] = ["out_of_sequence", "packet_seq_err", "rnr_nak_retry_err"];

/// The `hw_counters/` files counted as congestion notifications, by name.
pub const CONGESTION_COUNTERS: [&str; 2] = ["np_cnp_sent", "rp_cnp_handled"];

/// A counter file's text: one unsigned integer and a newline. `None` for anything else.
pub fn parse_counter(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The name in a `state` or `phys_state` file: `ACTIVE` of `4: ACTIVE`, `LinkUp` of
/// `5: LinkUp`. `None` for an empty file or one without `N: `.
pub fn parse_state(text: &str) -> Option<&str> {
    let (number, name) = text.trim().split_once(':')?;
    number.trim().parse::<u32>().ok()?;
    let name = name.trim();
    (!name.is_empty()).then_some(name)
}

/// A `rate` file as bytes per second: `400 Gb/sec (4X NDR)` is 50e9, `2.5 Gb/sec (1X
/// SDR)` 312.5e6. `None` when the text is not `<number> <G|M>b/sec ...`.
pub fn parse_rate(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let number: f64 = parts.next()?.parse().ok()?;
    let bits_per_unit = match parts.next()? {
        "Gb/sec" => 1e9,
        "Mb/sec" => 1e6,
        _ => return None,
    };
    (number.is_finite() && number >= 0.0).then(|| number * bits_per_unit / 8.0)
}

/// Whether a port is up: `state` ACTIVE and `phys_state` LinkUp.
pub fn port_up(state: &str, phys_state: &str) -> bool {
    state == "ACTIVE" && phys_state == "LinkUp"
}

/// Reads every port under `<sys_root>/class/infiniband`. Keeps the files it has warned
/// about, so that a broken file warns once, not every interval.
#[derive(Debug)]
pub struct FabricReader {
    class_dir: PathBuf,
    files: Files,
}

impl FabricReader {
    pub fn new(sys_root: &Path) -> FabricReader {
        FabricReader {
            class_dir: sys_root.join("class/infiniband"),
            files: Files::new("a fabric counter is left out"),
        }
    }

    /// Every port of every device, sorted by device and port. No `class/infiniband`
    /// directory: none.
    pub fn read(&mut self) -> Vec<FabricPort> {
        let mut ports = Vec::new();
        for device in self.files.entries(&self.class_dir) {
            let device_dir = self.class_dir.join(&device);
            let netdevs = self.netdevs(&device_dir);
            for port in self.files.entries(&device_dir.join("ports")) {
                let Ok(number) = port.parse::<u32>() else {
                    continue;
                };
                let dir = device_dir.join("ports").join(&port);
                ports.push(self.port(&device, number, &dir, &netdevs));
            }
        }
        ports.sort_by(|a, b| (&a.device, a.port).cmp(&(&b.device, b.port)));
        ports
    }

    fn port(
        &mut self,
        device: &str,
        number: u32,
        dir: &Path,
        netdevs: &[(String, Option<u32>)],
    ) -> FabricPort {
        let counters = dir.join("counters");
        let hw = dir.join("hw_counters");
        let words = |n: u64| n.saturating_mul(4);
        let errors = PORT_ERROR_COUNTERS
            .iter()
            .map(|name| (*name, counters.join(name)))
            .chain(HW_ERROR_COUNTERS.iter().map(|name| (*name, hw.join(name))))
            .filter_map(|(name, path)| self.counter(&path).map(|v| (name, v)))
            .collect();
        let congestion = CONGESTION_COUNTERS
            .iter()
            .filter_map(|name| self.counter(&hw.join(name)).map(|v| (*name, v)))
            .collect();
        let state = self.files.text(&dir.join("state"));
        let phys_state = self.files.text(&dir.join("phys_state"));
        let up = match (
            state.as_deref().and_then(parse_state),
            phys_state.as_deref().and_then(parse_state),
        ) {
            (Some(state), Some(phys)) => Some(port_up(state, phys)),
            _ => None,
        };
        let rate = dir.join("rate");
        let rate_bytes_per_second = self
            .files
            .text(&rate)
            .and_then(|t| self.parsed(&rate, parse_rate(&t)));
        let link_layer = self
            .files
            .text(&dir.join("link_layer"))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let netdev = quiet_text(&dir.join("gid_attrs/ndevs/0"))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .or_else(|| pick_netdev(netdevs, number));
        FabricPort {
            device: device.to_string(),
            port: number,
            link_layer,
            netdev,
            tx_bytes: self.counter(&counters.join("port_xmit_data")).map(words),
            rx_bytes: self.counter(&counters.join("port_rcv_data")).map(words),
            tx_packets: self.counter(&counters.join("port_xmit_packets")),
            rx_packets: self.counter(&counters.join("port_rcv_packets")),
            errors,
            congestion,
            rate_bytes_per_second,
            up,
        }
    }

    /// The netdevs of the device's PCI function, each with its `dev_port` where shown.
    fn netdevs(&mut self, device_dir: &Path) -> Vec<(String, Option<u32>)> {
        let net = device_dir.join("device/net");
        self.files
            .entries(&net)
            .into_iter()
            .map(|name| {
                let dev_port = quiet_text(&net.join(&name).join("dev_port"))
                    .and_then(|t| t.trim().parse().ok());
                (name, dev_port)
            })
            .collect()
    }

    fn counter(&mut self, path: &Path) -> Option<u64> {
        let text = self.files.text(path)?;
        self.parsed(path, parse_counter(&text))
    }

    /// `value`, or a warning (once) that `path` is not in the kernel's format.
    fn parsed<T>(&mut self, path: &Path, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.files
                .warn(path, &"not in the format the kernel prints");
        }
        value
    }
}

/// A file's text, `None` without a warning on any error: `gid_attrs/ndevs/0` of an
/// InfiniBand port answers EINVAL, `dev_port` is optional.
fn quiet_text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The netdev of port `number` among its device's: the one whose `dev_port` is
/// `number - 1`, else the only one.
fn pick_netdev(netdevs: &[(String, Option<u32>)], number: u32) -> Option<String> {
    let by_port = netdevs
        .iter()
        .find(|(_, dev_port)| *dev_port == Some(number.saturating_sub(1)));
    match (by_port, netdevs) {
        (Some((name, _)), _) => Some(name.clone()),
        (None, [(name, _)]) => Some(name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters() {
        let cases: [(&str, Option<u64>); 7] = [
            ("1000\n", Some(1000)),
            ("0", Some(0)),
            ("18446744073709551615\n", Some(u64::MAX)),
            ("", None),
            ("-1\n", None),
            ("12 34\n", None),
            ("N/A\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_counter(text), want, "{text:?}");
        }
    }

    #[test]
    fn states() {
        let cases: [(&str, Option<&str>); 7] = [
            ("4: ACTIVE\n", Some("ACTIVE")),
            ("1: DOWN\n", Some("DOWN")),
            ("5: LinkUp\n", Some("LinkUp")),
            ("3: Disabled", Some("Disabled")),
            ("ACTIVE\n", None),
            ("x: ACTIVE\n", None),
            ("4:\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_state(text), want, "{text:?}");
        }
        assert!(port_up("ACTIVE", "LinkUp"));
        assert!(!port_up("ACTIVE", "Polling"));
        assert!(!port_up("INIT", "LinkUp"));
    }

    #[test]
    fn rates() {
        let cases: [(&str, Option<f64>); 9] = [
            ("400 Gb/sec (4X NDR)\n", Some(50e9)),
            ("200 Gb/sec (2X NDR)\n", Some(25e9)),
            ("100 Gb/sec (4X EDR)\n", Some(12.5e9)),
            ("2.5 Gb/sec (1X SDR)\n", Some(312.5e6)),
            ("25 Gb/sec (1X EDR)", Some(3.125e9)),
            ("100 Mb/sec", Some(12.5e6)),
            ("fast\n", None),
            ("400 GB/s\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_rate(text), want, "{text:?}");
        }
    }

    #[test]
    fn netdev_by_dev_port_else_the_only_one() {
        let two = [("ib0".to_string(), Some(0)), ("ib1".to_string(), Some(1))];
        assert_eq!(pick_netdev(&two, 2).as_deref(), Some("ib1"));
        assert_eq!(pick_netdev(&two, 3), None);
        let one = [("ens1f0np0".to_string(), None)];
        assert_eq!(pick_netdev(&one, 1).as_deref(), Some("ens1f0np0"));
        assert_eq!(pick_netdev(&[], 1), None);
    }

    #[test]
    fn no_infiniband_class_means_no_ports() {
        let mut reader = FabricReader::new(Path::new("/nonexistent/gpuwatch-sys"));
        assert!(reader.read().is_empty());
    }
}
