//! libFuzzer target: `ballast_fuzz::xenstore_agent`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ballast_fuzz::xenstore_agent::run(data));
