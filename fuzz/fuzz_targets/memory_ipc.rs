//! libFuzzer target: `ballast_fuzz::memory_ipc`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ballast_fuzz::memory_ipc::run(data));
