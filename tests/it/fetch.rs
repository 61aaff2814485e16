//! `rdbkit fetch` and `rdbkit load URL` against real servers (Debian's
//! Redis 7.0 and redis-sentinel): the fetched file holds the server's
//! content (same `DEBUG DIGEST` once loaded into a fresh server), disk-based
//! and diskless transfers, a password, TLS, a replica found through a real
//! sentinel, and a server killed mid-fetch leaving no file.

use crate::util as support;
use crate::util::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::run::*;
use support::server::*;

const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];

fn opts(extra: &[&str]) -> ServerOpts {
    let mut args: Vec<String> = DEBUG.iter().map(|s| s.to_string()).collect();
    args.extend(["--repl-diskless-sync-delay", "0"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerOpts {
        args,
        rdb: Some(common::fixture("redis-7.0.15/default.rdb")),
        ..Default::default()
    }
}

fn digest(s: &Server) -> String {
    let mut c = s.conn();
    c.must(["DEBUG", "DIGEST"]).text()
}

/// The digest of `rdb` once a fresh server has loaded it.
fn digest_of_file(rdb: &Path) -> String {
    let s = Server::start_with(ServerOpts {
        args: DEBUG.iter().map(|s| s.to_string()).collect(),
        rdb: Some(rdb.to_path_buf()),
        ..Default::default()
    });
    digest(&s)
}

fn fetch(url: &str, out: &Path, extra: &[&str]) -> Out {
    let mut args = vec!["fetch", url, "-o", out.to_str().unwrap()];
    args.extend(extra);
    rdbkit(&args)
}

fn populate(s: &Server, n: u32) {
    let mut c = s.conn();
    c.must(["DEBUG", "POPULATE", &n.to_string(), "pop", "20"]);
}

#[test]
fn fetch_standalone_disk_and_diskless() {
    let tmp = TempDir::new("fetch");
    let s = Server::start_with(opts(&[]));
    populate(&s, 5000);
    let want = digest(&s);
    for diskless in ["yes", "no"] {
        s.conn()
            .ok(["CONFIG", "SET", "repl-diskless-sync", diskless]);
        let out = tmp.join(&format!("dump-{diskless}.rdb"));
        let r = fetch(&s.url(), &out, &[]);
        r.expect_code(0);
        assert!(r.stderr.contains("verified"), "{}", r.describe());
        assert_eq!(digest_of_file(&out), want, "diskless {diskless}");
    }
}

#[test]
fn fetch_with_a_password() {
    let tmp = TempDir::new("fetch-auth");
    let mut o = opts(&[]);
    o.password = Some("s3cret-pw".into());
    let s = Server::start_with(o);
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", s.port);
    let out = tmp.join("a.rdb");
    fetch(&url, &out, &[]).expect_code(0);
    assert!(out.exists());
    let wrong = tmp.join("b.rdb");
    let r = fetch(&format!("redis://:nope@127.0.0.1:{}", s.port), &wrong, &[]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(!r.all_text().contains("nope"), "{}", r.describe());
    assert!(!wrong.exists());
    let r = fetch(&format!("redis://127.0.0.1:{}", s.port), &wrong, &[]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(!wrong.exists());
    // The password from the environment.
    let r = rdbkit_env(
        &["fetch", &s.url(), "-o", wrong.to_str().unwrap()],
        &[("REDISCLI_AUTH", "s3cret-pw")],
    );
    r.expect_code(0);
}

fn openssl(dir: &TempDir, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl {args:?} failed");
}

/// A CA, a server and a client certificate in `tmp`.
fn certs(tmp: &TempDir) {
    std::fs::write(tmp.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(tmp.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        tmp,
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
            "-days",
            "2",
        ],
    );
    for who in ["server", "client"] {
        let (key, csr, crt, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.crt"),
            format!("{who}.ext"),
        );
        openssl(
            tmp,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={who}"),
            ],
        );
        openssl(
            tmp,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-extfile",
                &ext,
                "-days",
                "2",
            ],
        );
    }
}

#[test]
fn fetch_over_tls() {
    let tmp = TempDir::new("fetch-tls");
    certs(&tmp);
    let p = |f: &str| tmp.join(f).to_str().unwrap().to_string();
    let tls_port = free_port(false);
    let port = tls_port.to_string();
    let (sc, sk, ca) = (p("server.crt"), p("server.key"), p("ca.crt"));
    let s = Server::start_with(opts(&[
        "--tls-port",
        &port,
        "--tls-cert-file",
        &sc,
        "--tls-key-file",
        &sk,
        "--tls-ca-cert-file",
        &ca,
    ]));
    populate(&s, 1000);
    let out = tmp.join("tls.rdb");
    let (cert, key) = (p("client.crt"), p("client.key"));
    let url = format!("rediss://127.0.0.1:{tls_port}");
    fetch(
        &url,
        &out,
        &["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key],
    )
    .expect_code(0);
    assert_eq!(digest_of_file(&out), digest(&s));
}

#[test]
fn a_server_killed_mid_fetch_leaves_no_file() {
    let tmp = TempDir::new("fetch-kill");
    // 1 ms per key written to the snapshot: the transfer takes seconds.
    let mut s = Server::start_with(opts(&["--rdb-key-save-delay", "1000"]));
    populate(&s, 4000);
    let out = tmp.join("killed.rdb");
    let (child, cmdline) = spawn_rdbkit(&["fetch", &s.url(), "-o", out.to_str().unwrap()]);
    sleep(Duration::from_millis(1200));
    s.kill();
    let r = wait_child(child, cmdline, Duration::from_secs(60));
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(!out.exists(), "a file was left at the destination");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// A `redis-sentinel` process, killed on drop.
struct Sentinel {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sentinel(master_port: u16) -> Sentinel {
    let dir = TempDir::new("sentinel");
    let port = free_port(false);
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nlogfile {}\n\
             sentinel monitor mymaster 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds mymaster 30000\n",
            dir.path().display(),
            dir.join("sentinel.log").display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/bin/redis-sentinel")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-sentinel");
    Sentinel {
        child,
        port,
        _dir: dir,
    }
}

/// Waits until the sentinel reports the replica on `port` with its link up.
fn wait_replica_known(sentinel: u16, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Ok(mut c) = support::resp::Conn::connect(sentinel) {
            if let Ok(r) = c.try_cmd(["SENTINEL", "replicas", "mymaster"]) {
                let ok = !r.is_error()
                    && r.array().iter().any(|rep| {
                        let f = rep.pairs();
                        let get = |k: &str| {
                            f.iter()
                                .find(|(a, _)| a == k)
                                .map(|(_, v)| v.text())
                                .unwrap_or_default()
                        };
                        get("port") == port.to_string() && get("master-link-status") == "ok"
                    });
                if ok {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "sentinel never saw the replica");
        sleep(Duration::from_millis(200));
    }
}

#[test]
fn fetch_and_load_through_sentinel_from_the_replica() {
    let tmp = TempDir::new("fetch-sentinel");
    let master = Server::start_with(opts(&[]));
    populate(&master, 3000);
    let mport = master.port.to_string();
    let mut ro = opts(&["--replicaof", "127.0.0.1", &mport]);
    ro.rdb = None;
    let replica = Server::start_with(ro);
    let sentinel = start_sentinel(master.port);
    wait_replica_known(sentinel.port, replica.port);
    let want = digest(&master);
    assert_eq!(digest(&replica), want);

    let url = format!(
        "sentinel://127.0.0.1:1,127.0.0.1:{}/mymaster",
        sentinel.port
    );
    let out = tmp.join("s.rdb");
    let r = fetch(&url, &out, &[]);
    r.expect_code(0);
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{}", replica.port)),
        "not from the replica: {}",
        r.describe()
    );
    assert_eq!(digest_of_file(&out), want);
    // role=master
    let r = fetch(&format!("{url}?role=master"), &out, &[]);
    r.expect_code(0);
    assert!(r.stderr.contains(&format!("127.0.0.1:{}", master.port)));

    // load sentinel://... --target: fetched to a spool file, then loaded.
    let target = Server::start_with(ServerOpts {
        args: DEBUG.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    let r = rdbkit(&["load", &url, "--target", &target.url(), "--json"]);
    r.expect_code(0);
    assert_eq!(digest(&target), want);
    // An unknown master name: a clear error.
    let bad = format!("sentinel://127.0.0.1:{}/nosuch", sentinel.port);
    let r = fetch(&bad, &tmp.join("x.rdb"), &[]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(r.stderr.contains("nosuch"), "{}", r.describe());
}
