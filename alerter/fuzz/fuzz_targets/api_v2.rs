#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| alerter::fuzzing::api_v2(data));
