//! The TLS config in force, swapped whole when the certificate files change or the settings do.
//!
//! Why a whole `ServerConfig` per change rather than a `ResolvesServerCert` over an `ArcSwap`'d
//! `CertifiedKey`: versions and suites live in the config, so a settings change needs a new one
//! anyway, and one mechanism serves both. A fresh config also brings a fresh session cache, so no
//! client resumes (and skips the certificate) into a session from the retired certificate: every new
//! connection after a rotation really sees the new one. Building one takes microseconds and happens
//! at most once per poll. Established connections hold the `Arc` they were accepted with, untouched.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::config::{Loaded, load};
use super::{TlsError, TlsSettings};

/// How often the certificate and key files are checked for changes.
const POLL: Duration = Duration::from_millis(500);

/// The listener's TLS config, reloaded from disk when the files change.
pub struct CertReloader {
    config: ArcSwap<ServerConfig>,
    inner: Mutex<Inner>,
}

/// What `/health` reports about the certificate in force.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsStatus {
    /// The certificate chain file.
    pub cert: PathBuf,
    /// The key file.
    pub key: PathBuf,
    /// When the certificate in force was read.
    pub loaded_at: SystemTime,
    /// The end-entity certificate's `notAfter` (RFC 3339), when it could be read.
    pub not_after: Option<String>,
    /// Why the last reload failed; `None` once a reload succeeds.
    pub last_error: Option<String>,
    /// Successful reloads since start (the first load not counted).
    pub reloads: u64,
}

struct Inner {
    settings: TlsSettings,
    /// The files' stamp when last read, successfully or not: a bad file is not retried until it changes.
    read: Stamp,
    /// A changed stamp seen at the previous poll: files are read once they stop changing for one poll,
    /// so a certificate and key replaced one after the other are read together.
    pending: Option<Stamp>,
    status: TlsStatus,
}

/// Modification time, length and inode of the certificate and key files (`None` when missing): a file
/// renamed into place can keep an old time and the same length, but not the inode.
type Stamp = [Option<(Option<SystemTime>, u64, u64)>; 2];

// === impl CertReloader ===

impl CertReloader {
    /// Loads the files named by `settings`; fails when they cannot be served.
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let read = stamp(&settings);
        let Loaded { config, not_after } = load(&settings)?;
        let status = TlsStatus {
            cert: settings.cert.clone(),
            key: settings.key.clone(),
            loaded_at: SystemTime::now(),
            not_after,
            last_error: None,
            reloads: 0,
        };
        Ok(Self {
            config: ArcSwap::new(config),
            inner: Mutex::new(Inner {
                settings,
                read,
                pending: None,
                status,
            }),
        })
    }

    /// An acceptor over the config in force now; take one per accepted connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }

    /// The config in force now.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.load_full()
    }

    /// The certificate in force and the outcome of the last reload.
    pub fn status(&self) -> TlsStatus {
        self.lock().status.clone()
    }

    /// Why the last reload failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.lock().status.last_error.clone()
    }

    /// Applies new settings (from a config swap); new handshakes use them, established connections
    /// keep theirs. Equal settings are a no-op. On error the settings and config in force stay, and
    /// the error is also recorded for `/health`.
    pub fn update_settings(&self, settings: &TlsSettings) -> Result<(), TlsError> {
        let mut inner = self.lock();
        if inner.settings == *settings {
            return Ok(());
        }
        let read = stamp(settings);
        match load(settings) {
            Ok(loaded) => {
                inner.settings = settings.clone();
                inner.status.cert = settings.cert.clone();
                inner.status.key = settings.key.clone();
                inner.read = read;
                inner.pending = None;
                self.install(&mut inner, loaded);
                tracing::info!(cert = %settings.cert.display(), "TLS settings applied");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS settings rejected, keeping the ones in force");
                inner.status.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Reads the files again now, whether or not they changed; on error the certificate in force
    /// stays, and the error is logged and recorded.
    pub fn reload(&self) -> Result<(), TlsError> {
        let mut inner = self.lock();
        let now = stamp(&inner.settings);
        self.reload_locked(&mut inner, now)
    }

    /// Checks the files every 500 ms and reloads them once a change has settled, until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = &mut shutdown => return,
            }
            // The outcome is logged and recorded by `reload_locked`.
            let _ = self.check_files();
        }
    }

    /// One poll: `None` when nothing is to be read yet, else the outcome of reading the files.
    pub(super) fn check_files(&self) -> Option<Result<(), TlsError>> {
        let mut inner = self.lock();
        let now = stamp(&inner.settings);
        if now == inner.read {
            inner.pending = None;
            return None;
        }
        if inner.pending.as_ref() != Some(&now) {
            inner.pending = Some(now);
            return None;
        }
        Some(self.reload_locked(&mut inner, now))
    }

    fn reload_locked(&self, inner: &mut Inner, now: Stamp) -> Result<(), TlsError> {
        inner.read = now;
        inner.pending = None;
        match load(&inner.settings) {
            Ok(loaded) => {
                self.install(inner, loaded);
                tracing::info!(
                    cert = %inner.settings.cert.display(),
                    not_after = inner.status.not_after.as_deref().unwrap_or(""),
                    "TLS certificate reloaded"
                );
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate reload failed, keeping the certificate in force");
                inner.status.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn install(&self, inner: &mut Inner, loaded: Loaded) {
        self.config.store(loaded.config);
        inner.status.loaded_at = SystemTime::now();
        inner.status.not_after = loaded.not_after;
        inner.status.last_error = None;
        inner.status.reloads += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state is consistent between statements, so a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// === impl TlsStatus ===

impl TlsStatus {
    /// The `tls` object of `/health` (camelCase keys; times in Unix milliseconds).
    pub fn to_json(&self) -> serde_json::Value {
        let loaded_ms = self
            .loaded_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        serde_json::json!({
            "cert": self.cert.display().to_string(),
            "key": self.key.display().to_string(),
            "loadedAtUnixMs": loaded_ms,
            "notAfter": self.not_after,
            "lastError": self.last_error,
            "reloads": self.reloads,
        })
    }
}

fn stamp(settings: &TlsSettings) -> Stamp {
    [&settings.cert, &settings.key].map(|f| {
        std::fs::metadata(f)
            .ok()
            .map(|m| (m.modified().ok(), m.len(), inode(&m)))
    })
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}
