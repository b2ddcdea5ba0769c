#![no_main]
//! gzip OTLP/protobuf bodies, unpacked as the receiver does (bounded), then stored.

mod common;

use std::io::Read;

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    let mut out = Vec::new();
    let limit = 8 * 1024 * 1024;
    let unpacked = flate2::read::GzDecoder::new(body)
        .take(limit + 1)
        .read_to_end(&mut out);
    if unpacked.is_ok() && out.len() as u64 <= limit {
        common::protobuf(&out);
    }
});
