//! libFuzzer target: `ballast_fuzz::grant_offer`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ballast_fuzz::grant_offer::run(data));
