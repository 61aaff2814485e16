//! Stream values of every layout (types 15, 19, 21, 26, 27): `decode_value` and
//! `skip_value` must agree on where the value ends; a value that decodes
//! must also convert to JSON inside a minimal file, with the same entries.
//!
//! Input: one byte choosing the layout (mod 5: type 15, 19, 21, 26, 27), then
//! the value bytes as they follow the key in a file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::stream::StreamVersion;
use rdbkit::rdb::value::ValueType;
use rdbkit_fuzz::{check_value, json_in_file};

const VERSIONS: [StreamVersion; 5] = [
    StreamVersion::V1,
    StreamVersion::V2,
    StreamVersion::V3,
    StreamVersion::V4,
    StreamVersion::V5,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, value)) = data.split_first() else {
        return;
    };
    let version = VERSIONS[(sel % 5) as usize];
    let (r, tally, used) = check_value(value, ValueType::Stream(version));
    if r.is_err() {
        return;
    }
    assert_eq!(tally.stream_meta, 1, "stream_meta called once");

    let line = json_in_file(version.type_byte(), &value[..used]);
    assert_eq!(line["type"], "stream");
    let entries = line["value"]["entries"].as_array().expect("entries array");
    assert_eq!(entries.len() as u64, tally.stream_entries);
});
