//! The command line: `openclaw gateway [--server URL] [--token T] <verb> …`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// OpenClaw Gateway command-line interface.
#[derive(Debug, Parser)]
#[command(
    name = "openclaw",
    version,
    about = "OpenClaw Gateway: admin and local config tools"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Gateway config and fleet commands.
    Gateway(Gateway),
    /// Start a control plane, a data plane and three demo agents locally, in one process.
    Up(crate::up::UpArgs),
}

/// `openclaw gateway …`.
#[derive(Debug, Args)]
pub(crate) struct Gateway {
    #[command(flatten)]
    pub(crate) conn: Conn,
    #[command(subcommand)]
    pub(crate) verb: Verb,
}

/// How to reach the control plane's admin API.
#[derive(Debug, Clone, Args)]
pub(crate) struct Conn {
    /// Admin API URL of the control plane.
    #[arg(
        long,
        env = "OPENCLAW_SERVER",
        default_value = "http://127.0.0.1:18000",
        global = true
    )]
    pub(crate) server: String,
    /// Admin bearer token, else the OPENCLAW_TOKEN environment variable (optional: a control plane
    /// without an admin token, like `openclaw up`'s, needs none).
    // Read from the environment by `admin_token`, not by clap: clap would print `--token <TOKEN>`
    // in every usage line while the variable is set, as if the flag were required.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// PEM CA that signed the control plane's certificate (for https:// servers).
    #[arg(long, env = "OPENCLAW_CA", global = true)]
    pub(crate) ca: Option<PathBuf>,
    /// How long to wait to connect and for each answer (`--wait` has its own --wait-timeout).
    #[arg(long, env = "OPENCLAW_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub(crate) timeout: std::time::Duration,
    /// The largest request or answer (a whole config document); match the control plane's flag.
    #[arg(long, env = "OPENCLAW_MAX_MESSAGE_SIZE", default_value = "64MiB", value_parser = parse_size, global = true)]
    pub(crate) max_message_size: usize,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum Verb {
    /// Validate a config file locally (over built-in defaults only).
    #[command(name = "validate")]
    Validate(ValidateLocal),
    /// Show this machine's merged config (defaults, files, environment, --config.* flags), redacted.
    #[command(name = "config.effective")]
    ConfigEffective(Effective),
    /// Make a new random API key and print the entry to configure.
    #[command(name = "apikey.new")]
    ApikeyNew(ApikeyNew),
    /// Show the stored config (or one key of it).
    #[command(name = "config.get")]
    ConfigGet(Get),
    /// Replace the whole stored config.
    #[command(name = "config.put")]
    ConfigPut(Put),
    /// Patch the stored config (merge patch, or JSON Patch with --json-patch).
    #[command(name = "config.patch")]
    ConfigPatch(PatchArgs),
    /// Validate a config file on the control plane, without storing it.
    #[command(name = "config.validate")]
    ConfigValidate(FileArg),
    /// List stored versions, newest first.
    #[command(name = "config.history")]
    ConfigHistory(History),
    /// Show the changes between two versions.
    #[command(name = "config.diff")]
    ConfigDiff(DiffArgs),
    /// Store a new version equal to an old one (and withdraw any canary).
    #[command(name = "config.rollback")]
    ConfigRollback(Rollback),
    /// Send the canary version to every node.
    #[command(name = "config.promote")]
    ConfigPromote(WaitArgs),
    /// Every data plane the control plane has seen.
    #[command(name = "nodes")]
    Nodes,
    /// Show how the current config routes one request: rule, agent, endpoint and semantic scores.
    #[command(name = "route.explain")]
    RouteExplain(ExplainArgs),
}

/// `route.explain`.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The request path (`/api/v1/chat`).
    #[arg(long)]
    pub(crate) path: String,
    /// The method; default POST with --body, else GET.
    #[arg(long)]
    pub(crate) method: Option<String>,
    /// A request header, `name:value` (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub(crate) headers: Vec<String>,
    /// The request body (JSON text, or `@file`).
    #[arg(long)]
    pub(crate) body: Option<String>,
    /// A stored version instead of head.
    #[arg(long)]
    pub(crate) version: Option<u64>,
}

/// `validate`.
#[derive(Debug, Args)]
pub(crate) struct ValidateLocal {
    /// The document to check.
    #[arg(
        long = "file",
        conflicts_with = "file_pos",
        required_unless_present = "file_pos"
    )]
    pub(crate) file: Option<PathBuf>,
    /// The document, given positionally.
    #[arg(value_name = "FILE")]
    pub(crate) file_pos: Option<PathBuf>,
    /// Do not check that `${VAR}` placeholders resolve in this environment.
    #[arg(long)]
    pub(crate) no_env: bool,
}

/// `config.effective`.
#[derive(Debug, Args)]
pub(crate) struct Effective {
    /// A key relative to `gateway` (`http.listen`); prints its bare value.
    #[arg(long)]
    pub(crate) key: Option<String>,
    /// Show the layer each key came from.
    #[arg(long)]
    pub(crate) origin: bool,
}

/// `apikey.new`.
#[derive(Debug, Args)]
pub(crate) struct ApikeyNew {
    /// Who the key is for.
    #[arg(long)]
    pub(crate) id: String,
}

/// `config.get`.
#[derive(Debug, Args)]
pub(crate) struct Get {
    /// A key relative to `gateway` (`routing.rules`).
    #[arg(long = "key", conflicts_with = "key_pos")]
    pub(crate) key: Option<String>,
    /// The key, given positionally.
    #[arg(value_name = "KEY")]
    pub(crate) key_pos: Option<String>,
    /// A stored version instead of head.
    #[arg(long)]
    pub(crate) version: Option<u64>,
    /// Print the value as a patch `config.patch` takes back unchanged: a merge patch rooted at
    /// {"gateway": …} for a key, a JSON Patch `replace` for an array element (`routing.rules[0]`).
    #[arg(long)]
    pub(crate) as_patch: bool,
}

/// `--file F`.
#[derive(Debug, Args)]
pub(crate) struct FileArg {
    /// The file (`-` reads standard input).
    #[arg(long)]
    pub(crate) file: PathBuf,
}

/// `config.put`.
#[derive(Debug, Args)]
pub(crate) struct Put {
    /// The whole document (`-` reads standard input).
    #[arg(long)]
    pub(crate) file: PathBuf,
    /// Fail unless head is at this version.
    #[arg(long)]
    pub(crate) expect_version: Option<u64>,
    /// Why, recorded in history.
    #[arg(long, default_value = "")]
    pub(crate) message: String,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

/// `config.patch`.
#[derive(Debug, Args)]
pub(crate) struct PatchArgs {
    /// The patch (`-` reads standard input): a merge patch rooted at {"gateway": …}, or with
    /// --json-patch an array of operations whose paths may leave out `/gateway`
    /// (`/routing/rules/-` appends a rule).
    #[arg(long)]
    pub(crate) file: PathBuf,
    /// The file is an RFC 6902 JSON Patch instead of an RFC 7396 merge patch.
    #[arg(long)]
    pub(crate) json_patch: bool,
    /// Why, recorded in history.
    #[arg(long, default_value = "")]
    pub(crate) message: String,
    /// Fail unless head is at this version.
    #[arg(long)]
    pub(crate) expect_version: Option<u64>,
    /// Show the diff and validation result without storing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Send the new version only to nodes with these labels (k=v, repeatable).
    #[arg(long, value_parser = parse_label)]
    pub(crate) canary: Vec<(String, String)>,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

/// `config.history`.
#[derive(Debug, Args)]
pub(crate) struct History {
    /// How many versions.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: u32,
}

/// `config.diff A B`.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The older version.
    pub(crate) from: u64,
    /// The newer version.
    pub(crate) to: u64,
}

/// `config.rollback`.
#[derive(Debug, Args)]
pub(crate) struct Rollback {
    /// The version whose content becomes head again.
    #[arg(long)]
    pub(crate) to: u64,
    /// Why, recorded in history.
    #[arg(long, default_value = "")]
    pub(crate) message: String,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

/// `--wait [--wait-timeout 30s]`.
#[derive(Debug, Clone, Args)]
pub(crate) struct WaitArgs {
    /// Follow the rollout until every node applied it; fail if a node NACKs or time runs out.
    #[arg(long)]
    pub(crate) wait: bool,
    /// How long --wait waits for every node, in all.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub(crate) wait_timeout: std::time::Duration,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("`{s}` is not a label: use key=value"))
}

fn parse_size(s: &str) -> Result<usize, String> {
    let bytes = openclaw_config::ByteSize::parse(s)?.bytes();
    usize::try_from(bytes).map_err(|_| format!("{s}: too large"))
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    openclaw_config::Duration::parse(s).map(|d| d.get())
}
