//! The two places the agent steps past nvml-wrapper's safe API, each one function with
//! its own `unsafe` allowance:
//!
//! * [`field_values`]: nvml-wrapper's `Device::field_values_for` zeroes every request's
//!   `scopeId`, which for the NVLink throughput fields means link 0 only; this calls
//!   `nvmlDeviceGetFieldValues` with the scope set;
//! * [`handle_id`]: the address of a device handle, to tell which GPU an event came from
//!   even when the GPU can no longer answer for its UUID.

use std::os::raw::{c_int, c_uint};

use nvml_wrapper::error::{nvml_try, NvmlError as RawNvmlError};
use nvml_wrapper::Device;

/// `nvmlFieldValue_t` as nvml.h lays it out (nvml-wrapper does not export the type).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct FieldValue {
    field_id: c_uint,
    scope_id: c_uint,
    timestamp: i64,
    latency_usec: i64,
    value_type: c_uint,
    nvml_return: c_uint,
    /// `nvmlValue_t`, a union of 8 bytes.
    value: [u8; 8],
}

// nvml.h: two unsigned ints, two long longs, two enums, an 8-byte union.
const _: () = assert!(std::mem::size_of::<FieldValue>() == 40);
const _: () = assert!(std::mem::align_of::<FieldValue>() == 8);

impl FieldValue {
    fn request(field_id: u32, scope_id: u32) -> FieldValue {
        FieldValue {
            field_id,
            scope_id,
            timestamp: 0,
            latency_usec: 0,
            value_type: 0,
            nvml_return: 0,
            value: [0; 8],
        }
    }

    /// The value as an unsigned count, or the error NVML gave for this field.
    pub(super) fn count(&self) -> Result<u64, RawNvmlError> {
        nvml_try(self.nvml_return)?;
        let bytes = self.value;
        let [a, b, c, d, ..] = bytes;
        let word = u32::from_ne_bytes([a, b, c, d]);
        match self.value_type {
            // double
            0 => {
                let value = f64::from_ne_bytes(bytes);
                if value.is_finite() && value >= 0.0 {
                    Ok(value as u64)
                } else {
                    Err(RawNvmlError::UnexpectedVariant(self.value_type))
                }
            }
            // unsigned int
            1 => Ok(u64::from(word)),
            // unsigned long, unsigned long long (64 bits on the platforms NVML supports)
            2 | 3 => Ok(u64::from_ne_bytes(bytes)),
            // signed long long
            4 => u64::try_from(i64::from_ne_bytes(bytes))
                .map_err(|_| RawNvmlError::UnexpectedVariant(self.value_type)),
            // signed int
            5 => u64::try_from(i32::from_ne_bytes([a, b, c, d]))
                .map_err(|_| RawNvmlError::UnexpectedVariant(self.value_type)),
            // unsigned short
            6 => Ok(u64::from(u16::from_ne_bytes([a, b]))),
            other => Err(RawNvmlError::UnexpectedVariant(other)),
        }
    }
}

/// Reads `(field id, scope id)` pairs of `device` in one `nvmlDeviceGetFieldValues` call.
/// The outer error is the call's; each value carries its own.
#[allow(unsafe_code)]
pub(super) fn field_values(
    device: &Device<'_>,
    requests: &[(u32, u32)],
) -> Result<Vec<FieldValue>, RawNvmlError> {
    let symbol = device
        .nvml()
        .lib()
        .nvmlDeviceGetFieldValues
        .as_ref()
        .map_err(|e| RawNvmlError::FailedToLoadSymbol(e.to_string()))?;
    let mut values: Vec<FieldValue> = requests
        .iter()
        .map(|&(field, scope)| FieldValue::request(field, scope))
        .collect();
    let count = c_int::try_from(values.len()).map_err(|_| RawNvmlError::InvalidArg)?;
    // SAFETY: `symbol` is `nvmlDeviceGetFieldValues` of the library `device` came from,
    // which stays loaded while `device` borrows its `Nvml`; the handle is valid for the
    // same reason. NVML reads and writes exactly `count` elements of `nvmlFieldValue_t`,
    // and `values` holds `count` initialised `FieldValue`s, whose `#[repr(C)]` layout is
    // nvml.h's (size and alignment asserted above). No reference to them is held across
    // the call.
    let code = unsafe { symbol(device.handle(), count, values.as_mut_ptr().cast()) };
    nvml_try(code)?;
    Ok(values)
}

/// The address of `device`'s handle: equal for two `Device`s of the same GPU.
#[allow(unsafe_code)]
pub(super) fn handle_id(device: &Device<'_>) -> usize {
    // SAFETY: the handle is only turned into a number, never dereferenced or passed on.
    let handle = unsafe { device.handle() };
    handle as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(value_type: u32, bytes: [u8; 8]) -> FieldValue {
        FieldValue {
            value_type,
            value: bytes,
            ..FieldValue::request(138, u32::MAX)
        }
    }

    #[test]
    fn counts_decode_every_value_type() {
        assert_eq!(value(3, 7u64.to_ne_bytes()).count().ok(), Some(7));
        assert_eq!(value(2, 8u64.to_ne_bytes()).count().ok(), Some(8));
        let mut uint = [0; 8];
        uint[..4].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(value(1, uint).count().ok(), Some(9));
        assert_eq!(value(0, 10.5f64.to_ne_bytes()).count().ok(), Some(10));
        assert!(value(4, (-1i64).to_ne_bytes()).count().is_err());
        assert!(value(9, [0; 8]).count().is_err());
        let failed = FieldValue {
            nvml_return: 3,
            ..value(3, [0; 8])
        };
        assert!(matches!(failed.count(), Err(RawNvmlError::NotSupported)));
    }
}
