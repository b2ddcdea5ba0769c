#![no_main]
//! Prometheus text as inference servers' `/metrics` serve it, into the agent's parser.

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = gpuwatch_agent::inference::parse(text);
});
