#![no_main]
//! OTLP/protobuf bodies into the collector's zero-copy reader and store.

mod common;

libfuzzer_sys::fuzz_target!(|body: &[u8]| common::protobuf(body));
