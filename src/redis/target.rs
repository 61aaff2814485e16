//! Target addresses: `redis://[user[:pass]@]host:port[/db]` (and `rediss://`,
//! refused for now with a clear message). The password can also come from a
//! file or `REDISCLI_AUTH`; it is kept out of every message: `Target`'s
//! `Display` shows only scheme, host and port.

use std::fmt;

use super::error::ClientError;

/// Credentials, never printed.
#[derive(Clone, Default)]
pub struct Auth {
    pub user: Option<String>,
    pub pass: Option<String>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Auth {{ user: {:?}, pass: {} }}",
            self.user,
            if self.pass.is_some() {
                "<set>"
            } else {
                "<none>"
            }
        )
    }
}

/// A parsed target.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub db: Option<u64>,
    pub tls: bool,
    pub auth: Auth,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}",
            if self.tls { "rediss" } else { "redis" },
            self.host,
            self.port
        )
    }
}

fn pct_decode(s: &str) -> Result<String, ClientError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match h {
                Some(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                None => {
                    return Err(ClientError::Usage(
                        "bad %-escape in the target URL's credentials".into(),
                    ))
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| ClientError::Usage("target URL credentials are not UTF-8".into()))
}

impl Target {
    /// Parses a URL. Errors never echo the credentials part.
    pub fn parse(url: &str) -> Result<Target, ClientError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("redis://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("rediss://") {
            (true, r)
        } else if !url.contains("://") && !url.is_empty() {
            // `host:port`, as redis-cli takes it.
            (false, url)
        } else {
            return Err(ClientError::Usage(
                "the target must be redis://host:port[/db], rediss://host:port[/db] or host:port"
                    .into(),
            ));
        };
        let (auth_part, hostpart) = match rest.rfind('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let mut auth = Auth::default();
        if let Some(a) = auth_part {
            match a.split_once(':') {
                Some((u, p)) => {
                    if !u.is_empty() {
                        auth.user = Some(pct_decode(u)?);
                    }
                    auth.pass = Some(pct_decode(p)?);
                }
                None => auth.pass = Some(pct_decode(a)?), // redis://password@host form
            }
        }
        let (hostport, db) = match hostpart.split_once('/') {
            Some((hp, d)) if !d.is_empty() => {
                let db = d.parse::<u64>().map_err(|_| {
                    ClientError::Usage(format!("bad database number in the target URL: {d:?}"))
                })?;
                (hp, Some(db))
            }
            Some((hp, _)) => (hp, None),
            None => (hostpart, None),
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            // [ipv6]:port
            let (h, p) = h
                .split_once(']')
                .ok_or_else(|| ClientError::Usage("bad IPv6 address in the target URL".into()))?;
            (h.to_string(), p.strip_prefix(':').unwrap_or("6379"))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (hostport.to_string(), "6379"),
            }
        };
        if host.is_empty() {
            return Err(ClientError::Usage("the target URL has no host".into()));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| ClientError::Usage(format!("bad port in the target URL: {port:?}")))?;
        Ok(Target {
            host,
            port,
            db,
            tls,
            auth,
        })
    }

    /// `host:port` for connecting.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("redis://127.0.0.1:7000").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.db, t.tls),
            ("127.0.0.1", 7000, None, false)
        );
        let t = Target::parse("redis://u:p%40ss@h:1/3").unwrap();
        assert_eq!(t.auth.user.as_deref(), Some("u"));
        assert_eq!(t.auth.pass.as_deref(), Some("p@ss"));
        assert_eq!(t.db, Some(3));
        let t = Target::parse("redis://:secret@h:1").unwrap();
        assert_eq!(
            (t.auth.user, t.auth.pass.as_deref()),
            (None, Some("secret"))
        );
        let t = Target::parse("redis://[::1]:7000/0").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.addr()),
            ("::1", 7000, "[::1]:7000".to_string())
        );
        assert!(Target::parse("http://h:1").is_err());
        assert!(Target::parse("redis://h:notaport").is_err());
    }

    #[test]
    fn display_and_debug_hide_the_password() {
        let t = Target::parse("redis://user:hunter2@h:1").unwrap();
        assert!(!t.to_string().contains("hunter2"));
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
