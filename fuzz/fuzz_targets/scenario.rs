//! libFuzzer target: `ballast_fuzz::scenario`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ballast_fuzz::scenario::run(data));
