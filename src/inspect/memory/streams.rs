//! Streams: node listpacks, the radix tree of IDs, consumer groups.

use super::sim::*;
use super::*;

impl Model {
    pub(super) fn stream(
        &self,
        rec: &Record<'_>,
        version: StreamVersion,
        buf: &mut Vec<u8>,
    ) -> Result<KeyMemory> {
        // Pass 1: node master IDs and listpack sizes (no decompression).
        let mut cur = Cursor::new(rec.value, rec.value_offset);
        let nodes = cur.count("stream listpack node count", 8)?;
        let mut ids: Vec<[u8; 16]> = Vec::with_capacity(nodes as usize);
        let mut lp_alloc = 0u64;
        for _ in 0..nodes {
            let at = cur.offset();
            let b = cur.string("stream node master ID")?.bytes(buf)?;
            let id: [u8; 16] = b
                .try_into()
                .map_err(|_| Error::invalid(at, "stream node master ID", "not 16 bytes"))?;
            ids.push(id);
            lp_alloc += self.class(cur.string("stream node listpack")?.decoded_len());
        }
        // Pass 2: entries (for the largest element) and groups.
        struct Entries {
            max_len: u64,
        }
        impl stream::StreamVisitor for Entries {
            fn entry(&mut self, _id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
                for (f, v) in fields {
                    self.max_len = self.max_len.max(elem_len(f)).max(elem_len(v));
                }
                Ok(())
            }
        }
        let mut cur = Cursor::new(rec.value, rec.value_offset);
        let mut ev = Entries { max_len: 0 };
        let meta = stream::decode(&mut cur, version, &mut ev)?;
        let consumer = if self.cfg.server == ServerModel::Redis70 {
            24
        } else {
            32
        };
        let bytes =
            ROBJ + STREAM + rax_memory(&mut ids) + lp_alloc + groups_memory(&meta, consumer);
        Ok(KeyMemory {
            bytes,
            encoding: "stream",
            num_elements: meta.length,
            len_largest_element: ev.max_len,
        })
    }
}

/// Memory of consumer groups as `objectComputeSize` counts it.
pub(super) fn groups_memory(meta: &StreamMeta, consumer_struct: u64) -> u64 {
    let mut total = 0;
    for g in &meta.groups {
        let mut pel: Vec<[u8; 16]> = g.pending.iter().map(|p| p.id.to_be_bytes()).collect();
        total += STREAM_CG + rax_memory(&mut pel) + STREAM_NACK * g.pending.len() as u64;
        for c in &g.consumers {
            let mut cp: Vec<[u8; 16]> = c.pending.iter().map(|id| id.to_be_bytes()).collect();
            total += consumer_struct + c.name.len() as u64 + rax_memory(&mut cp);
        }
    }
    total
}

/// `streamRadixTreeMemoryUsage`: 16 bytes per element and 4 + 30 × 8 per
/// node (its first line's `sizeof(rax)` is overwritten by the second).
pub fn rax_memory(keys: &mut [[u8; 16]]) -> u64 {
    keys.sort_unstable();
    16 * keys.len() as u64 + 244 * rax_nodes(keys)
}

/// Number of nodes of a Redis rax holding `keys` (sorted, distinct, all 16
/// bytes long): the compressed trie's branching and leaf nodes, one
/// compressed node for every edge longer than one byte, and the root.
pub fn rax_nodes(keys: &[[u8; 16]]) -> u64 {
    if keys.is_empty() {
        return 1;
    }
    const LEAF: u32 = 16;
    let mut stack: Vec<u32> = vec![LEAF];
    let mut internal = 0u64;
    let mut long_edges = 0u64;
    let mut edge = |child: u32, parent: u32| {
        if child - parent >= 2 {
            long_edges += 1;
        }
    };
    for w in keys.windows(2) {
        let l = w[0]
            .iter()
            .zip(w[1].iter())
            .take_while(|(a, b)| a == b)
            .count() as u32;
        let mut popped: Option<u32> = None;
        while let Some(&top) = stack.last() {
            if top <= l {
                break;
            }
            stack.pop();
            if let Some(p) = popped {
                edge(p, top);
            }
            popped = Some(top);
        }
        if stack.last() != Some(&l) {
            internal += 1;
            stack.push(l);
        }
        if let Some(p) = popped {
            edge(p, l);
        }
        stack.push(LEAF);
    }
    let mut child = stack.pop();
    while let Some(parent) = stack.pop() {
        if let Some(c) = child {
            edge(c, parent);
        }
        child = Some(parent);
    }
    let root_depth = child.unwrap_or(0);
    keys.len() as u64 + internal + long_edges + (root_depth > 0) as u64
}
