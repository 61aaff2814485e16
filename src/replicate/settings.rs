//! The target settings a replicated load changes, held in a guard that
//! puts them back: the one-time `masterauth` (and an emptied `masteruser`),
//! `repl-diskless-load`, and the `REPLICAOF` itself. Restored explicitly at
//! the end, and on drop when an error cut the load short (reconnecting if
//! the control connection was lost), so a failed load leaves the target
//! configured as it was.

use super::control::{config_get, config_set, replicaof};
use crate::load::conn::Conn;
use crate::load::{LoadError, Target};

/// A saved setting: its name and previous value (`None`: the server has
/// no such setting, nothing to restore).
struct Saved {
    name: &'static str,
    old: Option<Vec<u8>>,
    changed: bool,
}

/// The control connection with the settings it changed.
pub struct Guard {
    pub conn: Conn,
    target: Target,
    tls: crate::redis::ConnectOptions,
    saved: Vec<Saved>,
    /// `REPLICAOF host port` was sent (so `NO ONE` is due).
    pub replicating: bool,
    done: bool,
}

impl Guard {
    /// Reads the settings that may change (nothing is changed yet).
    pub fn new(
        mut conn: Conn,
        target: Target,
        tls: crate::redis::ConnectOptions,
    ) -> Result<Guard, LoadError> {
        let mut saved = Vec::new();
        for name in [
            "masterauth",
            "masteruser",
            "repl-diskless-load",
            "tls-replication",
        ] {
            let old = config_get(&mut conn, name)?;
            saved.push(Saved {
                name,
                old,
                changed: false,
            });
        }
        Ok(Guard {
            conn,
            target,
            tls,
            saved,
            replicating: false,
            done: false,
        })
    }

    /// Sets `name` (one of those read by [`Guard::new`]) for the load; a
    /// setting the server lacks is left alone.
    pub fn set(&mut self, name: &str, value: &[u8]) -> Result<(), LoadError> {
        let Some(s) = self.saved.iter_mut().find(|s| s.name == name) else {
            return Ok(());
        };
        if s.old.is_none() {
            return Ok(());
        }
        s.changed = true;
        config_set(&mut self.conn, name, value)
    }

    /// The previous value of a setting.
    pub fn old(&self, name: &str) -> Option<&[u8]> {
        self.saved
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.old.as_deref())
    }

    /// `REPLICAOF NO ONE` (when due) and every changed setting back; the
    /// first failure is returned after all were tried.
    pub fn restore(&mut self) -> Result<(), LoadError> {
        self.done = true;
        let mut first = None;
        if self.replicating {
            match replicaof(&mut self.conn, None) {
                Ok(()) => self.replicating = false,
                Err(e) => first = first.or(Some(e)),
            }
        }
        for s in self.saved.iter_mut().filter(|s| s.changed) {
            let old = s.old.clone().unwrap_or_default();
            match config_set(&mut self.conn, s.name, &old) {
                Ok(()) => s.changed = false,
                Err(e) => first = first.or(Some(e)),
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Restores over a new connection (the old one failed: a target that
    /// restarted, a dropped link).
    pub fn restore_reconnecting(&mut self) -> Result<(), LoadError> {
        if self.restore().is_ok() {
            return Ok(());
        }
        self.conn = Conn::open(&self.target.addr(), &self.target.auth, &self.tls)?;
        self.restore()
    }

    /// Whether anything is still to be put back.
    pub fn pending(&self) -> bool {
        self.replicating || self.saved.iter().any(|s| s.changed)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.restore_reconnecting() {
                eprintln!(
                    "rdbkit: error: could not restore the target's settings ({e}); on {}, run \
                     REPLICAOF NO ONE and set masterauth, masteruser and repl-diskless-load back",
                    self.target
                );
            }
        }
    }
}
