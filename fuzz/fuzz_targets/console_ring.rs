//! libFuzzer target: `ballast_fuzz::console_ring`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ballast_fuzz::console_ring::run(data));
