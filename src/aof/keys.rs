//! Where the keys of a command are, from the target's own command table
//! (`COMMAND`, fetched once), so that a replayed AOF command can be routed
//! to the node owning its slot and filtered by its keys.
//!
//! Redis 7 describes keys with *key specs* (`COMMAND DOCS`/`COMMAND INFO`
//! element 8): a `begin_search` (an argument `index`, or the argument after
//! a `keyword` searched from `startfrom`) and a `find_keys` (a `range` with
//! `lastkey`/`keystep`/`limit`, or a `keynum` argument counting the keys).
//! They are applied here as `getKeysUsingKeySpecs` in Redis' `db.c` does.
//! Older servers only give `first key`, `last key` and `step` (elements
//! 3–5). Where the table cannot say — a spec flagged `INCOMPLETE`, an
//! `unknown` search, or a `movablekeys` command without specs (SORT ...
//! STORE, MIGRATE) — the server is asked with `COMMAND GETKEYS` for that
//! one command (see [`Positions::AskServer`]).
//!
//! Container commands (`XGROUP CREATE`, `OBJECT ...`) are looked up as
//! `name|subcommand`, as the table lists them.

use std::collections::HashMap;

use crate::redis::Reply;

/// How to find one command's keys.
#[derive(Debug, Clone)]
enum Rule {
    /// `first`, `last` (negative: from the end), `step` of old servers.
    Legacy { first: i64, last: i64, step: i64 },
    /// Redis 7 key specs.
    Specs(Vec<Spec>),
    /// The table cannot tell: ask the server.
    Ask,
}

#[derive(Debug, Clone)]
enum Begin {
    Index(i64),
    Keyword { word: Vec<u8>, from: i64 },
}

#[derive(Debug, Clone)]
enum Find {
    Range { last: i64, step: i64, limit: i64 },
    Keynum { idx: i64, first: i64, step: i64 },
}

#[derive(Debug, Clone)]
struct Spec {
    begin: Begin,
    find: Find,
}

/// The target's command table: lower-cased name (or `name|sub`) to rule.
#[derive(Debug, Default)]
pub struct KeyTable {
    rules: HashMap<Vec<u8>, Rule>,
    /// Containers: commands whose key rules are per subcommand.
    containers: std::collections::HashSet<Vec<u8>>,
    /// Commands a cluster client may cut into one command per slot.
    per_slot: std::collections::HashSet<Vec<u8>>,
}

/// Commands whose keys a cluster client may send as one command per slot,
/// for servers older than Redis 7 (whose `COMMAND` has no tips): the ones
/// Redis 7 tags `request_policy:multi_shard`.
const MULTI_SHARD_BEFORE_TIPS: [&[u8]; 6] =
    [b"mset", b"del", b"unlink", b"touch", b"exists", b"mget"];

/// Tagged `multi_shard` by Redis 7.0 but not splittable: `MSETNX` sets no
/// key when any exists, which one command per slot would not keep (Redis
/// 7.2 dropped the tag, redis/redis#12417).
const NEVER_SPLIT: &[u8] = b"msetnx";

/// The answer for one command.
#[derive(Debug, PartialEq, Eq)]
pub enum Positions {
    /// Argument indices of the keys (none for a keyless command).
    Known(Vec<usize>),
    /// The table cannot say: `COMMAND GETKEYS` must.
    AskServer,
    /// The target does not know the command.
    Unknown,
}

impl KeyTable {
    /// Reads the reply of `COMMAND`.
    pub fn from_reply(r: &Reply) -> Result<KeyTable, String> {
        let Reply::Array(Some(entries)) = r else {
            return Err(format!("COMMAND: unexpected reply {r:?}"));
        };
        let mut t = KeyTable::default();
        for e in entries {
            t.add(e)?;
        }
        let tips = entries
            .iter()
            .any(|e| matches!(e, Reply::Array(Some(f)) if f.len() > 7));
        if !tips {
            t.per_slot = MULTI_SHARD_BEFORE_TIPS.iter().map(|n| n.to_vec()).collect();
        }
        t.per_slot.remove(NEVER_SPLIT);
        Ok(t)
    }

    fn add(&mut self, e: &Reply) -> Result<(), String> {
        let Reply::Array(Some(f)) = e else {
            return Err("COMMAND: an entry is not an array".into());
        };
        let name = f
            .first()
            .and_then(|n| n.as_bytes())
            .ok_or("COMMAND: an entry without a name")?
            .to_ascii_lowercase();
        let int = |i: usize| f.get(i).and_then(|x| x.as_int()).unwrap_or(0);
        // Element 7 (Redis 7+): the command tips.
        if let Some(Reply::Array(Some(tips))) = f.get(7) {
            if tips
                .iter()
                .any(|t| t.as_bytes() == Some(b"request_policy:multi_shard"))
            {
                self.per_slot.insert(name.clone());
            }
        }
        let movable = matches!(f.get(2), Some(Reply::Array(Some(fl)))
            if fl.iter().any(|x| x.as_bytes() == Some(b"movablekeys")));
        let specs = match f.get(8) {
            Some(Reply::Array(Some(s))) => {
                Some(s.iter().map(parse_spec).collect::<Option<Vec<_>>>())
            }
            _ => None,
        };
        let rule = match specs {
            Some(Some(s)) if !s.is_empty() => Rule::Specs(s),
            // A spec this cannot apply exactly (INCOMPLETE, unknown search).
            Some(None) => Rule::Ask,
            _ if movable => Rule::Ask,
            _ => Rule::Legacy {
                first: int(3),
                last: int(4),
                step: int(5),
            },
        };
        if let Some(Reply::Array(Some(subs))) = f.get(9) {
            if !subs.is_empty() {
                self.containers.insert(name.clone());
                for s in subs {
                    self.add(s)?;
                }
            }
        }
        self.rules.insert(name, rule);
        Ok(())
    }

    /// Whether a command whose keys are in several slots may be sent as one
    /// command per slot: the server itself says so (`request_policy:
    /// multi_shard`, Redis' own cluster clients split these), and the result
    /// of one command per slot, run in order, is the same data.
    pub fn per_slot(&self, name: &[u8]) -> bool {
        self.per_slot.contains(&name.to_ascii_lowercase())
    }

    /// The key positions of `args` (`args[0]` is the command name).
    pub fn positions(&self, args: &[&[u8]]) -> Positions {
        let mut name = args[0].to_ascii_lowercase();
        if self.containers.contains(&name) && args.len() > 1 {
            name.push(b'|');
            name.extend(args[1].to_ascii_lowercase());
        }
        match self.rules.get(&name) {
            None => Positions::Unknown,
            Some(Rule::Ask) => Positions::AskServer,
            Some(Rule::Legacy { first, last, step }) => {
                Positions::Known(legacy(args.len() as i64, *first, *last, *step))
            }
            Some(Rule::Specs(specs)) => {
                let mut keys = Vec::new();
                for s in specs {
                    match apply(s, args) {
                        Some(k) => keys.extend(k),
                        None => return Positions::AskServer,
                    }
                }
                keys.sort_unstable();
                keys.dedup();
                Positions::Known(keys)
            }
        }
    }
}

fn legacy(argc: i64, first: i64, last: i64, step: i64) -> Vec<usize> {
    if first <= 0 || step <= 0 {
        return Vec::new();
    }
    let last = if last < 0 { argc + last } else { last };
    (first..=last.min(argc - 1))
        .step_by(step as usize)
        .map(|i| i as usize)
        .collect()
}

/// `None` when the spec does not fit the arguments (then the server decides).
fn apply(s: &Spec, args: &[&[u8]]) -> Option<Vec<usize>> {
    let argc = args.len() as i64;
    let first = match &s.begin {
        Begin::Index(i) => *i,
        Begin::Keyword { word, from } => {
            let (start, end) = if *from > 0 {
                (*from, argc - 1)
            } else {
                (argc + from, 1)
            };
            let mut i = start;
            let mut found = 0;
            while (1..argc).contains(&i) {
                if args[i as usize].eq_ignore_ascii_case(word) {
                    found = i + 1;
                    break;
                }
                if i == end {
                    break;
                }
                i += if start <= end { 1 } else { -1 };
            }
            if found == 0 {
                return Some(Vec::new()); // The keyword is absent: no keys here.
            }
            found
        }
    };
    let (first, last, step) = match s.find {
        Find::Range { last, step, limit } => {
            let l = if last >= 0 {
                first + last
            } else if limit == 0 {
                argc + last
            } else {
                first + ((argc - first) / limit + last)
            };
            (first, l, step)
        }
        Find::Keynum {
            idx,
            first: fk,
            step,
        } => {
            let n: i64 = std::str::from_utf8(args.get((first + idx) as usize)?)
                .ok()?
                .parse()
                .ok()?;
            if n < 0 {
                return None;
            }
            (first + fk, first + fk + n - 1, step)
        }
    };
    if step <= 0 {
        return None;
    }
    let mut keys = Vec::new();
    let mut i = first;
    while i <= last {
        if i >= argc || i < 1 {
            return None;
        }
        keys.push(i as usize);
        i += step;
    }
    Some(keys)
}

/// A RESP2 map (a flat array of name, value pairs): the value of `name`.
fn get<'a>(map: &'a Reply, name: &str) -> Option<&'a Reply> {
    let Reply::Array(Some(a)) = map else {
        return None;
    };
    a.chunks(2)
        .find(|p| p[0].as_bytes() == Some(name.as_bytes()))
        .and_then(|p| p.get(1))
}

fn int(map: &Reply, name: &str) -> Option<i64> {
    get(map, name).and_then(|v| v.as_int())
}

/// One key spec; `None` for one this cannot apply exactly.
fn parse_spec(s: &Reply) -> Option<Spec> {
    let incomplete = matches!(get(s, "flags"), Some(Reply::Array(Some(f)))
        if f.iter().any(|x| x.as_bytes() == Some(b"incomplete")));
    if incomplete {
        return None;
    }
    let bs = get(s, "begin_search")?;
    let bspec = get(bs, "spec")?;
    let begin = match get(bs, "type")?.as_bytes()? {
        b"index" => Begin::Index(int(bspec, "index")?),
        b"keyword" => Begin::Keyword {
            word: get(bspec, "keyword")?.as_bytes()?.to_vec(),
            from: int(bspec, "startfrom")?,
        },
        _ => return None,
    };
    let fk = get(s, "find_keys")?;
    let fspec = get(fk, "spec")?;
    let find = match get(fk, "type")?.as_bytes()? {
        b"range" => Find::Range {
            last: int(fspec, "lastkey")?,
            step: int(fspec, "keystep")?,
            limit: int(fspec, "limit")?,
        },
        b"keynum" => Find::Keynum {
            idx: int(fspec, "keynumidx")?,
            first: int(fspec, "firstkey")?,
            step: int(fspec, "keystep")?,
        },
        _ => return None,
    };
    Some(Spec { begin, find })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    fn map(kv: Vec<(&str, Reply)>) -> Reply {
        Reply::Array(Some(
            kv.into_iter().flat_map(|(k, v)| [bulk(k), v]).collect(),
        ))
    }

    fn entry(name: &str, legacy: [i64; 3], specs: Vec<Reply>) -> Reply {
        Reply::Array(Some(vec![
            bulk(name),
            Reply::Int(-1),
            Reply::Array(Some(vec![])),
            Reply::Int(legacy[0]),
            Reply::Int(legacy[1]),
            Reply::Int(legacy[2]),
            Reply::Array(Some(vec![])),
            Reply::Array(Some(vec![])),
            Reply::Array(Some(specs)),
            Reply::Array(Some(vec![])),
        ]))
    }

    fn spec(begin: Reply, find: Reply) -> Reply {
        map(vec![
            ("flags", Reply::Array(Some(vec![]))),
            ("begin_search", begin),
            ("find_keys", find),
        ])
    }

    #[test]
    fn key_specs_as_redis_applies_them() {
        let index1 = map(vec![
            ("type", bulk("index")),
            ("spec", map(vec![("index", Reply::Int(1))])),
        ]);
        let range = |last, step| {
            map(vec![
                ("type", bulk("range")),
                (
                    "spec",
                    map(vec![
                        ("lastkey", Reply::Int(last)),
                        ("keystep", Reply::Int(step)),
                        ("limit", Reply::Int(0)),
                    ]),
                ),
            ])
        };
        let keynum = map(vec![
            ("type", bulk("keynum")),
            (
                "spec",
                map(vec![
                    ("keynumidx", Reply::Int(0)),
                    ("firstkey", Reply::Int(1)),
                    ("keystep", Reply::Int(1)),
                ]),
            ),
        ]);
        let index2 = map(vec![
            ("type", bulk("index")),
            ("spec", map(vec![("index", Reply::Int(2))])),
        ]);
        let table = Reply::Array(Some(vec![
            entry("set", [1, 1, 1], vec![spec(index1.clone(), range(0, 1))]),
            entry("mset", [1, -1, 2], vec![spec(index1.clone(), range(-1, 2))]),
            entry(
                "zunionstore",
                [1, 1, 1],
                vec![spec(index1, range(0, 1)), spec(index2, keynum)],
            ),
            entry("flushall", [0, 0, 0], vec![]),
        ]));
        let t = KeyTable::from_reply(&table).unwrap();
        let pos = |a: &[&str]| {
            let v: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
            t.positions(&v)
        };
        assert_eq!(pos(&["SET", "k", "v"]), Positions::Known(vec![1]));
        assert_eq!(
            pos(&["MSET", "a", "1", "b", "2"]),
            Positions::Known(vec![1, 3])
        );
        assert_eq!(
            pos(&["ZUNIONSTORE", "d", "2", "x", "y", "WEIGHTS", "1", "2"]),
            Positions::Known(vec![1, 3, 4])
        );
        assert_eq!(pos(&["FLUSHALL"]), Positions::Known(vec![]));
        assert_eq!(pos(&["NOSUCH", "k"]), Positions::Unknown);
    }
}
