//! JSON Lines input: `json | load` round trips to the truth, `json --meta |
//! load` then `verify` finds no difference, and input errors name the line
//! and the field.

use crate::util as support;

use support::run::*;
use support::server::*;
use support::truth::*;

#[test]
fn load_jsonl_round_trip_matches_truth() {
    // RDB -> `rdbkit json` -> `rdbkit load` (detected as JSON Lines) -> server == truth
    let server = Server::start();
    let tmp = TempDir::new("jsonl");
    check_fixtures(
        "load_jsonl_round_trip",
        &command_mode_fixtures(),
        |i, rdb| {
            server.flush();
            let jl = tmp.join(&format!("{i}.jsonl"));
            let out = rdbkit(&[
                "json",
                rdb.to_str().unwrap(),
                "--meta",
                "-o",
                jl.to_str().unwrap(),
            ]);
            if out.code != 0 {
                return Err(format!("json: {}", out.describe()));
            }
            let out = load(&jl, &server.url(), &["--lossy"]);
            if out.code != 0 {
                return Err(format!("exit {}: {}", out.code, out.describe()));
            }
            check_summary(&out.summary(), false);
            let mut c = server.conn();
            let k = compare_lines(
                &strip_uncarried(&dump_server(&mut c)),
                &command_mode_truth(rdb),
            )?;
            compare_functions(&mut c, rdb)?;
            Ok(k)
        },
    );
}

/// `json --meta | load` then `verify` against the original file: no
/// difference, for every fixture a Redis 7.0 takes as commands. Stream
/// entries keep their field order through JSON Lines (before, the loader's
/// JSON map re-sorted them: "event tick seq 0 bin" came back as "bin event
/// seq tick 0", and verify found the streams different).
#[test]
fn load_jsonl_then_verify_finds_no_difference() {
    let server = Server::start();
    let tmp = TempDir::new("jsonlverify");
    check_fixtures(
        "load_jsonl_then_verify",
        &command_mode_fixtures(),
        |i, rdb| {
            server.flush();
            let jl = tmp.join(&format!("{i}.jsonl"));
            let r = rdb.to_str().unwrap();
            let out = rdbkit(&["json", r, "--meta", "-o", jl.to_str().unwrap()]);
            if out.code != 0 {
                return Err(format!("json: {}", out.describe()));
            }
            let out = load(&jl, &server.url(), &["--lossy"]);
            if out.code != 0 {
                return Err(format!("load: {}", out.describe()));
            }
            let verify = || rdbkit(&["verify", r, "--target", &server.url(), "-q", "--json"]);
            let v = verify();
            if v.code == 0 {
                return Ok(1);
            }
            // What no command can set (a stream length beyond its entries)
            // differs after a direct command-mode load too: not JSONL's doing.
            server.flush();
            load(rdb, &server.url(), &["--lossy", "--mode", "commands"]);
            match verify().code {
                0 => Err(format!("verify: {}", v.describe())),
                _ => Ok(0),
            }
        },
    );
}

/// JSON Lines input errors name the line number and the field, in words
/// (it was `unknown type Some("strin")` and an offset).
#[test]
fn jsonl_errors_name_the_line_and_field() {
    let server = Server::start();
    let tmp = TempDir::new("jsonlerr");
    let good = r#"{"db":0,"key":"a","type":"string","value":"x"}"#;
    let cases = [
        (
            r#"{"db":0,"key":"b","type":"strin","value":"x"}"#,
            "field \"type\": \"strin\"",
        ),
        (
            r#"{"db":0,"key":5,"type":"string","value":"x"}"#,
            "field \"key\"",
        ),
        (r#"{"db":0,"key":"b",,}"#, "not valid JSON"),
    ];
    for (i, (line, want)) in cases.iter().enumerate() {
        let f = tmp.join(&format!("{i}.jsonl"));
        std::fs::write(&f, format!("{good}\n\n{line}\n")).unwrap();
        let o = rdbkit(&[
            "load",
            f.to_str().unwrap(),
            "-t",
            &server.url(),
            "-q",
            "--on-conflict",
            "rewrite",
        ]);
        assert_eq!(o.code, 1, "{}", o.describe());
        assert!(o.stderr.contains("line 3: "), "{}", o.stderr);
        assert!(o.stderr.contains(want), "{}", o.stderr);
        assert!(!o.stderr.contains("Some("), "{}", o.stderr);
    }
}
