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

/// How to reach the PostgreSQL server, for the commands that connect.
#[derive(Clone, Args)]
pub struct ConnectArgs {
    /// The server: a postgres:// URL or a libpq key=value string. Settings it leaves out come
    /// from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT and
    /// ~/.pgpass, as for psql.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,
}

/// Shows whether a URL was given, never the URL: it may hold a password.
impl std::fmt::Debug for ConnectArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectArgs")
            .field("database_url", &self.database_url.as_ref().map(|_| "***"))
            .finish()
    }
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
