//! TLS: `rediss://` with a CA and a client certificate (Redis' default
//! `tls-auth-clients yes`), made with the openssl command line.

use crate::util as support;
use crate::util::common;

use std::time::Duration;

use support::run::*;
use support::server::*;
use support::truth::*;

use super::{check_fixture_summary, hang_target_until_done, populated_rdb, wait_for_keys};

fn openssl(dir: &TempDir, args: &[&str]) {
    let st = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl {args:?} failed");
}

#[test]
fn load_over_tls() {
    let tmp = TempDir::new("tls");
    std::fs::write(tmp.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(tmp.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    let days = ["-days", "2"];
    openssl(
        &tmp,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=rdbkit-test-ca",
            days[0],
            days[1],
        ],
    );
    for who in ["server", "client"] {
        openssl(
            &tmp,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &format!("/CN={who}"),
            ],
        );
        openssl(
            &tmp,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{who}.crt"),
                "-extfile",
                &format!("{who}.ext"),
                days[0],
                days[1],
            ],
        );
    }
    let p = |f: &str| tmp.join(f).to_str().unwrap().to_string();
    let tls_port = support::server::free_port(false);
    let server = Server::start_with(ServerOpts {
        args: vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            p("server.crt"),
            "--tls-key-file".into(),
            p("server.key"),
            "--tls-ca-cert-file".into(),
            p("ca.crt"),
        ],
        ..Default::default()
    });
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let (ca, cert, key) = (p("ca.crt"), p("client.crt"), p("client.key"));

    // With the CA and a client certificate: the content equals the truth.
    let out = load(
        &rdb,
        &url,
        &["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key],
    );
    out.expect_code(0);
    check_fixture_summary(&out.summary(), &rdb, 1).unwrap();
    let mut c = server.conn();
    compare_lines(&dump_server(&mut c), &expected(&rdb)).unwrap();

    // Without a client certificate the server refuses the handshake; without
    // the CA, or with a plain-TCP URL on the TLS port, it fails cleanly.
    server.flush();
    let out = load(&rdb, &url, &["--tls-ca", &ca]);
    assert_eq!(out.code, 1, "{}", out.describe());
    // A rediss:// URL without --tls-ca is a bad command line (exit 2).
    let out = load(&rdb, &url, &[]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(out.all_text().contains("--tls-ca"), "{}", out.describe());
    let out = load(
        &rdb,
        &format!("rediss://127.0.0.1:{}", server.port),
        &["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key],
    );
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(
        server.total_keys(),
        0,
        "nothing may be written by failed TLS attempts"
    );

    // A TLS target that stops answering (SIGSTOP) does not hang the loader:
    // the I/O timeout holds for TLS too, and reconnecting gives up after
    // --retry-for.
    let big = populated_rdb(&tmp, &[(200_000, "key")]);
    let tls = ["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];
    let mut args = vec!["load", big.to_str().unwrap(), "--target", &url];
    args.extend(tls);
    args.extend(["--timeout", "2", "--retry-for", "3", "--json", "-q"]);
    let (child, cmdline) = spawn_rdbkit(&args);
    wait_for_keys(&server, 10_000);
    let (out, waited) = hang_target_until_done(&server, child, cmdline);
    eprintln!(
        "hung TLS target: the load ended {waited:?} after the target stopped, exit {}",
        out.code
    );
    assert_ne!(out.code, 0, "{}", out.describe());
    assert!(
        waited < Duration::from_secs(20),
        "the loader waited {waited:?}"
    );
    let s = out.summary();
    check_summary(&s, false);
    assert!(n(&s, "failed") > 0, "{s}");
}
