//! How the CLI ends: JSON on stdout, messages on stderr, exit 1 for a failed operation, 2 for bad usage.

use std::process::ExitCode;

/// Why a command failed, and which exit code that deserves.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    code: u8,
}

// === impl Failure ===

impl Failure {
    /// The operation was tried and failed (invalid config, conflict, unreachable server…): exit 1.
    pub(crate) fn op(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// The command line itself is wrong: exit 2.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }

    /// Prints the message (one problem per line, as given) and picks the exit code.
    pub(crate) fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            eprintln!("{}", self.message);
        }
        ExitCode::from(self.code)
    }
}

/// Prints a JSON value, pretty, on stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn print_json(v: &serde_json::Value) {
    use std::io::Write;
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}
