//! libFuzzer target: `ballast_fuzz::manifest`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ballast_fuzz::manifest::run(data));
