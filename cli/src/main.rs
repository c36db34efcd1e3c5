//! `openclaw`: the command-line face of OpenClaw Gateway.
//!
//! `openclaw up` starts a control plane, a data plane and demo agents locally in one process (see `up`).
//! `openclaw gateway <verb>`: local config tools (`validate`, `config.effective`, `apikey.new`) and the
//! admin verbs that talk to the control plane over gRPC (`config.get`, `config.patch`, `nodes`, …).
//! JSON goes to stdout, messages to stderr; exit 0 on success, 1 on a failed operation, 2 on bad usage.

mod admin;
mod apikey;
mod args;
mod explain;
mod local;
mod output;
mod up;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, Verb};
use crate::output::Failure;

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    let (rest, flags) = match openclaw_config::layers::extract_config_flags(raw) {
        Ok(split) => split,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::try_parse_from(rest) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let result = match cli.command {
        Command::Gateway(g) => run_gateway(g, flags),
        Command::Up(a) => up::run(a, flags),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}

/// Clap's report, except for an unknown verb: the closest verbs come first.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::InvalidSubcommand
        && let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidSubcommand)
    {
        let cmd = Cli::command();
        let verbs: Vec<String> = cmd
            .find_subcommand("gateway")
            .map(|g| {
                g.get_subcommands()
                    .map(|c| c.get_name().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let top: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        let pool = if std::env::args().any(|a| a == "gateway") {
            &verbs
        } else {
            &top
        };
        let near = openclaw_config::suggest::closest(bad, pool.iter().map(String::as_str));
        eprintln!("error: unrecognized command '{bad}'");
        if !near.is_empty() {
            eprintln!("\n  did you mean: {}", near.join(", "));
        }
        eprintln!("\nFor the list of commands, try 'openclaw gateway --help'.");
        return ExitCode::from(2);
    }
    let _ = e.print();
    ExitCode::from(if e.use_stderr() { 2 } else { 0 })
}

fn run_gateway(
    g: args::Gateway,
    flags: Vec<(openclaw_config::Path, serde_json::Value)>,
) -> Result<(), Failure> {
    if !flags.is_empty() && !matches!(g.verb, Verb::ConfigEffective(_)) {
        return Err(Failure::usage(
            "--config.key=value flags only apply to `config.effective`",
        ));
    }
    match g.verb {
        Verb::Validate(a) => local::validate(a),
        Verb::ConfigEffective(a) => local::effective(a, flags),
        Verb::ApikeyNew(a) => apikey::new_key(a),
        verb => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::op(format!("cannot start the runtime: {e}")))?;
            rt.block_on(admin::run(g.conn, verb))
        }
    }
}
