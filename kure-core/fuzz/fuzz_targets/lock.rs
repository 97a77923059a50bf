//! `kure_core::fuzz::lock`: see that module for what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kure_core::fuzz::lock(data));
