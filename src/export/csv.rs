//! The key table as CSV (no values): the columns of the Arrow key table,
//! keys written the way `rdbkit memory`'s CSV writes them.

use crate::inspect::report::write_csv_key;

use super::row::Rows;

/// The header line.
pub const HEADER: &str = "file,db,key,type,encoding,rdb_encoding,expire_ms,idle,freq,serialized_bytes,num_elements,len_largest_element,memory,offset\n";

/// CSV lines of `rows`.
pub fn rows(all: &Rows, file: &str) -> Vec<u8> {
    let rows = &all.rows;
    let mut out = Vec::with_capacity(rows.len() * 96);
    let mut name = Vec::new();
    write_csv_key(&mut name, file.as_bytes());
    let mut n = itoa::Buffer::new();
    for r in rows {
        out.extend_from_slice(&name);
        out.push(b',');
        out.extend_from_slice(n.format(r.db).as_bytes());
        out.push(b',');
        write_csv_key(&mut out, all.key(r));
        for s in [r.kind.name(), r.encoding, r.rdb_encoding] {
            out.push(b',');
            out.extend_from_slice(s.as_bytes());
        }
        out.push(b',');
        if let Some(x) = r.expire_ms {
            out.extend_from_slice(n.format(x).as_bytes());
        }
        out.push(b',');
        if let Some(x) = r.idle {
            out.extend_from_slice(n.format(x).as_bytes());
        }
        out.push(b',');
        if let Some(x) = r.freq {
            out.extend_from_slice(n.format(x).as_bytes());
        }
        for x in [
            r.serialized,
            r.num_elements,
            r.len_largest_element,
            r.memory,
            r.offset,
        ] {
            out.push(b',');
            out.extend_from_slice(n.format(x).as_bytes());
        }
        out.push(b'\n');
    }
    out
}
