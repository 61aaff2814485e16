//! Authentication: a password or an ACL user in the URL, `REDISCLI_AUTH`,
//! `--password-file`; wrong ones refused; a NOAUTH error says where a
//! password can come from.

use crate::util as support;
use crate::util::common;

use support::run::*;
use support::server::*;
use support::truth::*;

const PASSWORD: &str = "s3cret";

/// (what, rdbkit arguments, environment)
type AuthCase<'a> = (&'a str, Vec<String>, Vec<(&'a str, &'a str)>);

const WRONG: &str = "wr0ngPa55w0rd";

#[test]
fn load_with_password() {
    let rdb = common::fixture("redis-4.0.14/compact.rdb");
    let truth = expected(&rdb);
    let server = Server::start_with(ServerOpts {
        password: Some(PASSWORD.into()),
        ..Default::default()
    });
    server.conn().ok([
        "ACL",
        "SETUSER",
        "loader",
        "on",
        ">l0aderPW",
        "~*",
        "&*",
        "+@all",
    ]);
    let tmp = TempDir::new("auth");
    let pw_file = tmp.join("pw");
    std::fs::write(&pw_file, PASSWORD).unwrap();
    let pw_file_nl = tmp.join("pw-newline");
    std::fs::write(&pw_file_nl, format!("{PASSWORD}\n")).unwrap();
    let wrong_file = tmp.join("wrong");
    std::fs::write(&wrong_file, WRONG).unwrap();
    let rdb_s = rdb.to_str().unwrap().to_string();
    let plain = server.url();
    let with_pw = format!("redis://:{PASSWORD}@127.0.0.1:{}", server.port);
    let with_user = format!("redis://default:{PASSWORD}@127.0.0.1:{}", server.port);
    let acl_user = format!("redis://loader:l0aderPW@127.0.0.1:{}", server.port);
    let wrong_url = format!("redis://:{WRONG}@127.0.0.1:{}", server.port);

    let args = |target: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["load", &rdb_s, "--target", target, "--json", "-q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let good: Vec<AuthCase> = vec![
        ("password in the URL", args(&with_pw, &[]), vec![]),
        ("user:password in the URL", args(&with_user, &[]), vec![]),
        ("ACL user in the URL", args(&acl_user, &[]), vec![]),
        (
            "REDISCLI_AUTH",
            args(&plain, &[]),
            vec![("REDISCLI_AUTH", PASSWORD)],
        ),
        (
            "--password-file",
            args(&plain, &["--password-file", pw_file.to_str().unwrap()]),
            vec![],
        ),
        (
            "--password-file with a trailing newline",
            args(&plain, &["--password-file", pw_file_nl.to_str().unwrap()]),
            vec![],
        ),
    ];
    let bad: Vec<AuthCase> = vec![
        ("wrong password in the URL", args(&wrong_url, &[]), vec![]),
        (
            "wrong REDISCLI_AUTH",
            args(&plain, &[]),
            vec![("REDISCLI_AUTH", WRONG)],
        ),
        (
            "wrong --password-file",
            args(&plain, &["--password-file", wrong_file.to_str().unwrap()]),
            vec![],
        ),
        ("no password", args(&plain, &[]), vec![]),
    ];
    let mut failures = Vec::new();
    for (what, a, env) in &good {
        let r = attempt(|| {
            server.flush();
            let out = rdbkit_env(a, env);
            if out.code != 0 {
                return Err(format!("exit {}: {}", out.code, out.describe()));
            }
            if out.all_text().contains(PASSWORD) {
                return Err(format!(
                    "the password appears in the output: {}",
                    out.describe()
                ));
            }
            let s = out.summary();
            check_summary(&s, false);
            if n(&s, "loaded") != truth.len() as u64 {
                return Err(format!("loaded {} of {}", n(&s, "loaded"), truth.len()));
            }
            compare_lines(&dump_server(&mut server.conn()), &truth)?;
            Ok(())
        });
        if let Err(e) = r {
            failures.push(format!("{what}: {e}"));
        }
    }
    for (what, a, env) in &bad {
        let r = attempt(|| {
            server.flush();
            let out = rdbkit_env(a, env);
            if out.code != 1 {
                return Err(format!("expected exit 1: {}", out.describe()));
            }
            let text = out.all_text();
            if text.contains(WRONG) || text.contains(PASSWORD) {
                return Err(format!(
                    "a password appears in the output: {}",
                    out.describe()
                ));
            }
            if server.total_keys() != 0 {
                return Err("keys were written".into());
            }
            Ok(())
        });
        if let Err(e) = r {
            failures.push(format!("{what}: {e}"));
        }
    }
    report("load_with_password", &failures, good.len() + bad.len());
}

/// A server that wants a password and got none: the message says where a
/// password can come from (it said only "INFO failed: NOAUTH").
#[test]
fn noauth_says_where_a_password_comes_from() {
    let server = Server::start_with(ServerOpts {
        password: Some("sekret".into()),
        ..Default::default()
    });
    let f = common::fixture("redis-7.0.15/default.rdb");
    for cmd in ["load", "verify"] {
        let o = rdbkit(&[cmd, f.to_str().unwrap(), "-t", &server.addr(), "-q"]);
        assert_eq!(o.code, 1, "{}", o.describe());
        for hint in [
            "NOAUTH",
            "redis://:PASSWORD@",
            "--password-file",
            "REDISCLI_AUTH",
        ] {
            assert!(o.stderr.contains(hint), "{cmd}: {hint}: {}", o.stderr);
        }
    }
}
