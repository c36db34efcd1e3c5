//! `gateway.logging`: level, format, outputs and sampling of the data plane's logs.

use serde::{Deserialize, Serialize};

use crate::checks::is_socket_addr;
use crate::problem::Check;
use crate::{ByteSize, Path};

/// Logging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Logging {
    /// Lowest level written; default `info` (access logs are `info`).
    pub level: LogLevel,
    /// `json` (the default) or `text`.
    pub format: LogFormat,
    /// Where logs go; default one `stdout` output.
    pub outputs: Vec<LogOutput>,
    /// Log sampling of repeated lines; off by default.
    pub sampling: Sampling,
}

/// A log level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation, access logs included.
    Info,
    /// Problems worth a look.
    Warn,
    /// Failures.
    Error,
}

/// A log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// One log destination; `type` decides which other keys apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LogOutput {
    /// `stdout`, `stderr`, `file` or `syslog` (required).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<LogOutputKind>,
    /// File path of a `file` output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A `file` output rotates past this size; default `100MB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size: Option<ByteSize>,
    /// Rotated files kept; default 7.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_backups: Option<u32>,
    /// Gzip rotated files; default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compress: Option<bool>,
    /// `tcp` or `udp` of a `syslog` output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<SyslogNetwork>,
    /// `host:port` of a `syslog` output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// The kind of a log output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogOutputKind {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A rotated file.
    File,
    /// A syslog server.
    Syslog,
}

/// The transport of a syslog output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogNetwork {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Sampling of repeated log lines: the first `initial` of each kind per second, then every `thereafter`-th.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Sampling {
    /// Sample; default false.
    pub enabled: bool,
    /// Lines of a kind always written each second; default 100.
    pub initial: u32,
    /// After those, one in this many; default 100.
    pub thereafter: u32,
}

// === impl Logging ===

impl Default for Logging {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            format: LogFormat::Json,
            outputs: vec![LogOutput {
                kind: Some(LogOutputKind::Stdout),
                ..LogOutput::default()
            }],
            sampling: Sampling::default(),
        }
    }
}

impl Logging {
    pub(crate) fn validate(&self, at: &Path, c: &mut Check) {
        for (i, o) in self.outputs.iter().enumerate() {
            o.validate(&at.key("outputs").index(i), c);
        }
        if self.sampling.thereafter == 0 {
            c.fail(
                &at.key("sampling").key("thereafter"),
                "must be at least 1",
                &0,
            );
        }
    }
}

// === impl LogOutput ===

impl LogOutput {
    fn validate(&self, at: &Path, c: &mut Check) {
        let Some(kind) = self.kind else {
            c.missing(
                &at.key("type"),
                "is required: stdout, stderr, file or syslog",
            );
            return;
        };
        let file = kind == LogOutputKind::File;
        let syslog = kind == LogOutputKind::Syslog;
        let keys = [
            ("path", self.path.is_some(), file),
            ("maxSize", self.max_size.is_some(), file),
            ("maxBackups", self.max_backups.is_some(), file),
            ("compress", self.compress.is_some(), file),
            ("network", self.network.is_some(), syslog),
            ("address", self.address.is_some(), syslog),
        ];
        for (name, set, allowed) in keys {
            if set && !allowed {
                c.missing(
                    &at.key(name),
                    format!("is not used by a {} output", kind_name(kind)),
                );
            }
        }
        if file {
            match &self.path {
                Some(p) if !p.trim().is_empty() => {}
                _ => c.missing(&at.key("path"), "is required for a file output"),
            }
            if self.max_size.is_some_and(|s| s.bytes() < 1024) {
                c.fail(&at.key("maxSize"), "must be at least 1KiB", &self.max_size);
            }
        }
        if syslog {
            match &self.address {
                None => c.missing(&at.key("address"), "is required for a syslog output"),
                Some(a) if !is_socket_addr(a) => c.fail(&at.key("address"), "must be host:port", a),
                Some(_) => {}
            }
        }
    }
}

fn kind_name(kind: LogOutputKind) -> &'static str {
    match kind {
        LogOutputKind::Stdout => "stdout",
        LogOutputKind::Stderr => "stderr",
        LogOutputKind::File => "file",
        LogOutputKind::Syslog => "syslog",
    }
}

// === impl Sampling ===

impl Default for Sampling {
    fn default() -> Self {
        Self {
            enabled: false,
            initial: 100,
            thereafter: 100,
        }
    }
}
