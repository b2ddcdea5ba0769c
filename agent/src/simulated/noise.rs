//! Deterministic noise: a splitmix64 finaliser folded over the inputs. No state, no `rand`.

/// What a random number is for; part of every hash so quantities do not move together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Channel {
    Utilization = 1,
    Memory,
    Power,
    Temperature,
    Clock,
    NvlinkBase,
    NvlinkJob,
    NvlinkTx,
    NvlinkRx,
    PcieTx,
    PcieRx,
    Phase,
    Pid,
    Uuid,
    UuidLow,
    Offset,
    Cpu,
    HostMemory,
    Disk,
    /// The fabric ports and the network file system (`io`).
    Fabric,
}

/// Length of one noise step: values hold still within it, so samples taken in the
/// same 100 ms read the same noise.
pub(crate) const TICK_NANOS: u64 = 100_000_000;

/// splitmix64's output function: a bijection on `u64` with good avalanche.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a sequence of numbers; order matters.
pub(crate) fn hash(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x6A09_E667_F3BC_C908, |h, &p| mix(h ^ mix(p)))
}

/// FNV-1a of a string, to key job ids and model names into `hash`.
pub(crate) fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// A uniform number in `[0, 1)` from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform number in `[-1, 1)` from a hash.
pub(crate) fn signed(h: u64) -> f64 {
    unit(h) * 2.0 - 1.0
}

/// Where a GPU sits: all its noise derives from this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GpuKey {
    pub seed: u64,
    pub node: u64,
    pub gpu: u64,
}

impl GpuKey {
    /// Noise in `[-1, 1)` for `channel`, constant within one tick.
    pub(crate) fn noise(self, channel: Channel, time_unix_nano: u64) -> f64 {
        signed(hash(&[
            self.seed,
            self.node,
            self.gpu,
            channel as u64,
            time_unix_nano / TICK_NANOS,
        ]))
    }

    /// A number in `[0, 1)` for `channel` that never changes for this GPU.
    pub(crate) fn fixed(self, channel: Channel) -> f64 {
        unit(hash(&[self.seed, self.node, self.gpu, channel as u64]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_stays_in_range_and_spreads() {
        let values: Vec<f64> = (0..1000).map(|i| unit(hash(&[7, i]))).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
        assert!(values.iter().any(|v| *v < 0.05) && values.iter().any(|v| *v > 0.95));
    }

    #[test]
    fn hash_depends_on_order_and_every_part() {
        assert_ne!(hash(&[1, 2]), hash(&[2, 1]));
        assert_ne!(hash(&[1, 2, 3]), hash(&[1, 2, 4]));
        assert_eq!(hash(&[1, 2, 3]), hash(&[1, 2, 3]));
        assert_ne!(hash_str("4411"), hash_str("4502"));
    }

    #[test]
    fn noise_holds_within_a_tick() {
        let key = GpuKey {
            seed: 1,
            node: 2,
            gpu: 3,
        };
        let t = 1_700_000_000_000_000_000;
        assert_eq!(
            key.noise(Channel::Power, t),
            key.noise(Channel::Power, t + TICK_NANOS - 1)
        );
        assert_ne!(
            key.noise(Channel::Power, t),
            key.noise(Channel::Power, t + TICK_NANOS)
        );
    }
}
