//! The node's logs: JSON (or text) lines on stdout, with a level that changes live with the config.

use openclaw_config::{LogFormat, LogLevel};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, reload};

/// Changes the level of the installed subscriber.
#[derive(Clone)]
pub struct LogHandle {
    filter: Option<reload::Handle<EnvFilter, tracing_subscriber::Registry>>,
    format: LogFormat,
}

// === impl LogHandle ===

impl LogHandle {
    /// Installs the global subscriber (once per process; later calls return a handle that only reports).
    pub fn init(level: LogLevel, format: LogFormat) -> Self {
        let (filter, handle) = reload::Layer::new(filter_for(level));
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stdout);
        let fmt = match format {
            LogFormat::Json => fmt
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .boxed(),
            LogFormat::Text => fmt.with_ansi(false).boxed(),
        };
        let installed = tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init()
            .is_ok();
        Self {
            filter: installed.then_some(handle),
            format,
        }
    }

    /// Applies a new level; the format needs a restart (returned as false when it differs).
    pub fn update(&self, level: LogLevel, format: LogFormat) -> bool {
        if let Some(h) = &self.filter {
            let _ = h.reload(filter_for(level));
        }
        format == self.format
    }
}

fn filter_for(level: LogLevel) -> EnvFilter {
    // OPENCLAW_LOG (tracing directives) wins over the config, for debugging a single node.
    if let Ok(f) = EnvFilter::try_from_env("OPENCLAW_LOG") {
        return f;
    }
    let l = match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    // Dependencies stay at warn unless asked for: their info lines are not the gateway's.
    EnvFilter::new(format!("warn,openclaw_data_plane={l},access={l}"))
}
