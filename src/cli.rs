//! The command line: clap definitions only. Behaviour lives in `cmd`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// dbsplit: one schema per service in a shared PostgreSQL cluster, enforced by the database.
///
/// A manifest (services.toml) says which service owns which schema and which roles each service
/// logs in as. dbsplit turns it into roles, schemas, ownership, privileges, default privileges,
/// search_path, revokes of every cross-schema privilege and a locked-down schema public, so the
/// first cross-schema query fails in the database, not in code review.
#[derive(Debug, Parser)]
#[command(name = "dbsplit", version, about, long_about)]
pub struct Cli {
    /// The manifest to read.
    #[arg(
        short = 'm',
        long,
        global = true,
        env = "DBSPLIT_MANIFEST",
        default_value = "services.toml"
    )]
    pub manifest: PathBuf,

    /// When to colour output; NO_COLOR in the environment means never for `auto`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest without touching a database.
    ///
    /// Reports every problem of the file with its line and column, then exits 2; exits 0 when
    /// the manifest is valid.
    Validate,
    /// Show the changes that bring a cluster to the manifest.
    ///
    /// With --offline, prints the complete bootstrap for a cluster where nothing exists yet:
    /// roles, schemas, memberships, grants, default privileges, search_path, revokes and the
    /// lockdown of schema public. The SQL is idempotent and meant for
    /// `psql -v ON_ERROR_STOP=1 -1 -d <database> -f bootstrap.sql`.
    Plan(PlanArgs),
    /// Scaffold the next migration of a service.
    ///
    /// Writes migrations/<SERVICE>/<version>_<NAME>.sql from the template, with a 14-digit UTC
    /// timestamp as version (strictly greater than every existing one), rewrites dbsplit.sum and
    /// prints the path of the new file.
    New(NewArgs),
    /// Run each service's migrations, or manage the migration files.
    ///
    /// `dbsplit migrate hash` rewrites dbsplit.sum; running migrations against a cluster is not
    /// available yet.
    Migrate(MigrateArgs),
    /// Check migration files for references across service boundaries, without a database.
    ///
    /// Parses each statement and reports every reference to a schema outside the service's own
    /// (reads of declared `reads` and shared schemas excepted), statements that cannot run in a
    /// transaction, psql meta-commands, COPY FROM STDIN and a stale dbsplit.sum. Exits 1 when a
    /// finding is at or above --fail-on. `-- dbsplit:allow <rule> <reason>` on the line before
    /// a statement suppresses that rule there.
    Lint(LintArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The service, as named in the manifest.
    pub service: String,
    /// What the migration does, as a slug: lowercase letters, digits and underscores.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub command: Option<MigrateCommand>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Rewrite dbsplit.sum of the services (all when none is named).
    Hash {
        /// The services, as named in the manifest.
        services: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Migration files or folders below the migrations folder; default: all of it.
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub findings: FindingsArgs,
}

/// How findings are shown and which of them fail the command.
#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// Output format: a table per rule, JSON, SARIF 2.1.0, or GitHub Actions annotations.
    #[arg(long, value_enum, default_value_t = FindingsFormat::Human)]
    pub format: FindingsFormat,

    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingsFormat {
    Human,
    Json,
    Sarif,
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan for an empty cluster without connecting to one.
    #[arg(long)]
    pub offline: bool,

    /// Output format: a table per service then the SQL, the SQL alone, or JSON.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Human,
    Sql,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour standard output.
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }
}
