//! libFuzzer target: `ballast_fuzz::gateway_ipc`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ballast_fuzz::gateway_ipc::run(data));
