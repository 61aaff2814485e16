//! Array values (type 28, Redis 8.8): `decode_value` and `skip_value` must
//! agree on where the value ends; a value that decodes must also convert to
//! JSON inside a minimal file, with the same number of elements.
//!
//! Input: the value bytes as they follow the key in a file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::value::ValueType;
use rdbkit_fuzz::{check_value, json_in_file};

fuzz_target!(|value: &[u8]| {
    let (r, tally, used) = check_value(value, ValueType::Array);
    if r.is_err() {
        return;
    }
    let line = json_in_file(28, &value[..used]);
    assert_eq!(line["type"], "array");
    let elements = line["value"]["elements"].as_array().expect("elements array");
    assert_eq!(elements.len() as u64, tally.array_elements);
});
