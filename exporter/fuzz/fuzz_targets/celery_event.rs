#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| exporter::fuzzing::celery_event(data));
