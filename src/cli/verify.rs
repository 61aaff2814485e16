//! `rdbkit verify`: flags to [`VerifyOptions`], the summary, the exit code.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use rdbkit::input::Input;
use rdbkit::restore::KeyOptions;
use rdbkit::verify::{self, Summary, VerifyOptions};

use super::common::{damage, Common};
use super::files::{check_outputs, open};
use super::target::{parse_db_map, parse_target};
use super::{exit, Fail};

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// RDB files (several: one per source shard).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Target: redis://[user:pass@]host:port[/db] (rediss:// for TLS), or host:port.
    #[arg(long, short = 't')]
    target: String,
    /// The target is a Redis Cluster (default: ask the server with INFO cluster).
    #[arg(long)]
    cluster: bool,
    /// Check a uniform random sample of N keys, N >= 1 (reservoir sampling, seeded).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    sample: Option<u64>,
    /// Seed of --sample (default: from the clock; the summary says which).
    #[arg(long, requires = "sample")]
    seed: Option<u64>,
    /// Write every missing or different key here, one JSON object per line.
    #[arg(long, value_name = "OUT.jsonl")]
    diff: Option<PathBuf>,
    /// Expiries within this many ms of the snapshot's count as equal.
    #[arg(long, value_name = "MS", default_value_t = verify::DEFAULT_TTL_TOLERANCE_MS)]
    ttl_tolerance: i64,
    /// Also check keys whose expiry has passed (load --keep-expired restores them without it).
    #[arg(long)]
    keep_expired: bool,
    /// The keys were loaded into this database (as load --target-db).
    #[arg(long = "target-db")]
    db: Option<u64>,
    /// The keys of a source database were loaded into another (as load --db-map), e.g. 3=0.
    #[arg(long = "db-map", value_parser = parse_db_map)]
    db_map: Vec<(u64, u64)>,
    /// Compare every value decoded, without trying DUMP payloads first.
    #[arg(long)]
    no_dump: bool,
    /// Read the password from this file (first line). Also: REDISCLI_AUTH.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// CA certificate(s) (PEM) that signed the server certificates, for rediss://.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that require client certificates.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

fn options(a: &VerifyArgs) -> Result<VerifyOptions, Fail> {
    let target = parse_target(&a.target, a.password_file.as_deref())?;
    Ok(VerifyOptions {
        target,
        cluster: a.cluster.then_some(true),
        io_timeout: Some(rdbkit::redis::conn::DEFAULT_IO_TIMEOUT),
        tls: rdbkit::redis::TlsFiles {
            ca: a.tls_ca.clone(),
            cert: a.tls_cert.clone(),
            key: a.tls_key.clone(),
        },
        keys: KeyOptions {
            db: a.db,
            db_map: a.db_map.clone(),
            keep_expired: a.keep_expired,
            ..Default::default()
        },
        engine: a.common.engine(
            &a.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )?,
        sample: a.sample,
        seed: a.seed,
        diff_file: a.diff.clone(),
        ttl_tolerance_ms: a.ttl_tolerance.max(0),
        fast_path: !a.no_dump,
    })
}

/// `1 key`, `2 keys`.
fn keys(n: u64) -> String {
    if n == 1 {
        "1 key".into()
    } else {
        format!("{n} keys")
    }
}

/// Runs `rdbkit verify`; the exit code: 0 all equal, 5 differences, 1 when
/// some keys could not be checked.
pub fn run(a: VerifyArgs) -> Result<u8, Fail> {
    check_outputs(&a.files, &[("--diff", a.diff.as_ref())])?;
    let opts = options(&a)?;
    let label = a
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let inputs: Vec<Input> = a.files.iter().map(|f| open(f)).collect::<Result<_, _>>()?;
    let releases = super::files::releases(&inputs);
    let named = super::files::named_inputs(
        a.files
            .iter()
            .zip(&inputs)
            .map(|(f, i)| (f.display().to_string(), &i[..])),
        &releases,
    );
    let bar = (!a.common.quiet && io::stderr().is_terminal()).then(|| {
        let total = inputs.iter().map(|i| i.len() as u64).sum();
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
        b.set_style(
            ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} ETA {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    });
    let cb = |s: &Summary| {
        if let Some(b) = &bar {
            b.set_position(s.bytes_read);
            b.set_message(format!(
                "{} keys checked, {} missing, {} different, {:.0} keys/s",
                s.checked,
                s.missing,
                s.different(),
                s.keys_per_s()
            ));
        }
    };
    let r = verify::verify(&named, &opts, Some(&cb));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let s = r.map_err(|e| e.to_string())?;
    if a.json {
        println!("{}", s.to_json());
    } else if !a.common.quiet {
        eprint!("{}", s.to_text());
    }
    let code = if s.errors > 0 {
        eprintln!("rdbkit: {} could not be checked", keys(s.errors));
        exit::FAILURE
    } else if s.differences() > 0 {
        eprintln!(
            "rdbkit: {} ({} missing, {} different){}",
            match s.differences() {
                1 => "1 key differs".to_string(),
                n => format!("{n} keys differ"),
            },
            s.missing,
            s.different(),
            match &a.diff {
                Some(p) => format!(", listed in {}", p.display()),
                None => String::new(),
            }
        );
        for d in &s.first_differences {
            eprintln!("rdbkit:   {d}");
        }
        let more = s
            .differences()
            .saturating_sub(s.first_differences.len() as u64);
        if more > 0 {
            eprintln!(
                "rdbkit:   ... and {more} more{}",
                if a.diff.is_none() {
                    " (--diff FILE lists every one)"
                } else {
                    ""
                }
            );
        }
        exit::DIFFERENCES
    } else {
        exit::OK
    };
    Ok(damage(&opts.engine, &label, code))
}
