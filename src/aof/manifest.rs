//! The Redis 7+ multi-part AOF manifest (`appendonlydir/appendonly.aof.manifest`):
//! one line per file, `file NAME seq N type T`, where T is `b` (the base: an
//! RDB or an AOF), `h` (history: already folded into a newer base; ignored)
//! or `i` (incremental, replayed in the order of the manifest, which is
//! their sequence order). Names may be quoted the way `redis-cli` quotes
//! arguments (`"a b"`, with `\\`-escapes).

/// What a manifest lists, history left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<String>,
    /// Incremental files in replay order.
    pub incr: Vec<String>,
}

/// Parses a manifest; errors name the line.
pub fn parse(text: &str) -> Result<Manifest, String> {
    let mut m = Manifest::default();
    let mut incr: Vec<(u64, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words =
            split_args(line).ok_or_else(|| format!("manifest line {}: bad quoting", i + 1))?;
        let mut name = None;
        let mut seq = None;
        let mut kind = None;
        for kv in words.chunks(2) {
            let [k, v] = kv else {
                return Err(format!("manifest line {}: odd number of words", i + 1));
            };
            match k.as_str() {
                "file" => name = Some(v.clone()),
                "seq" => seq = v.parse::<u64>().ok(),
                "type" => kind = Some(v.clone()),
                _ => {} // newer fields (e.g. startoffset) are not needed here
            }
        }
        let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
            return Err(format!("manifest line {}: needs file, seq and type", i + 1));
        };
        if name.contains('/') {
            return Err(format!("manifest line {}: file name with a '/'", i + 1));
        }
        match kind.as_str() {
            "b" if m.base.is_some() => {
                return Err(format!("manifest line {}: a second base", i + 1))
            }
            "b" => m.base = Some(name),
            "h" => {}
            "i" => incr.push((seq, name)),
            t => return Err(format!("manifest line {}: unknown type {t:?}", i + 1)),
        }
    }
    incr.sort_by_key(|(s, _)| *s);
    m.incr = incr.into_iter().map(|(_, n)| n).collect();
    if m.base.is_none() && m.incr.is_empty() {
        return Err("the manifest lists no base and no incremental file".into());
    }
    Ok(m)
}

/// Splits a line into words, honouring `"..."` and `'...'` quoting.
fn split_args(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut w = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' if c == '"' => match chars.next()? {
                        'n' => w.push('\n'),
                        'r' => w.push('\r'),
                        't' => w.push('\t'),
                        o => w.push(o),
                    },
                    q if q == c => break,
                    o => w.push(o),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_history_and_incrementals() {
        let m = parse(
            "file appendonly.aof.2.base.rdb seq 2 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.3.incr.aof seq 3 type i\n\
             file \"my file.aof\" seq 2 type i\n",
        )
        .unwrap();
        assert_eq!(m.base.as_deref(), Some("appendonly.aof.2.base.rdb"));
        assert_eq!(m.incr, ["my file.aof", "appendonly.aof.3.incr.aof"]);
        assert!(parse("file a seq 1 type x\n").is_err());
        assert!(parse("file ../a seq 1 type b\n").is_err());
        assert!(parse("").is_err());
    }
}
