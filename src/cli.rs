//! The command line: clap definitions only. Behaviour lives in `cmd`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod examples;

/// dbsplit: one schema per service in a shared PostgreSQL cluster, enforced by the database.
///
/// A manifest (services.toml) says which service owns which schema and which roles each service
/// logs in as. dbsplit turns it into roles, schemas, ownership, privileges, default privileges,
/// search_path, revokes of every cross-schema privilege and a locked-down schema public, so the
/// first cross-schema query fails in the database, not in code review.
#[derive(Debug, Parser)]
#[command(name = "dbsplit", version, about, long_about, after_long_help = examples::ROOT)]
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

    /// When to colour output. `auto`: on a terminal, unless NO_COLOR is set (CLICOLOR_FORCE
    /// colours a pipe too, CLICOLOR=0 turns colour off).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Print results and errors only: no progress, no notes on stderr.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more where a command has more to say (audit: the declared exceptions and, when
    /// services are inferred, where each role was placed).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,

    /// How to reach the server, for the commands that connect.
    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a project: write services.toml and a migrations folder per service.
    ///
    /// On a terminal it asks for the database, the services, each service's login roles and
    /// what to do with schema public. Elsewhere, name the services with --service (repeatable)
    /// and pass --yes: each service gets `<name>_rw` (readwrite) and `<name>_migrator` (owner).
    /// Writes the manifest given by --manifest and migrations/<service>/ with a first migration
    /// and dbsplit.sum; never overwrites the manifest without --force.
    #[command(after_long_help = examples::INIT)]
    Init(InitArgs),
    /// Check the manifest without touching a database.
    ///
    /// Reports every problem of the file with its line and column, then exits 2; exits 0 when
    /// the manifest is valid.
    #[command(after_long_help = examples::VALIDATE)]
    Validate,
    /// Show the changes that bring a cluster to the manifest.
    ///
    /// With --offline, prints the complete bootstrap for a cluster where nothing exists yet:
    /// roles, schemas, memberships, grants, default privileges, search_path, revokes and the
    /// lockdown of schema public. The SQL is idempotent and meant for
    /// `psql -v ON_ERROR_STOP=1 -1 -d <database> -f bootstrap.sql`.
    ///
    /// Without --offline, connects (read-only) and diffs the live cluster against the manifest:
    /// `+` creates, `~` changes, `-` revokes or drops, grouped by service, then the SQL. Unmanaged
    /// schemas and roles are listed, never dropped. With --exit-code it exits 1 when changes
    /// are pending (for CI); --out saves the plan with a fingerprint of the cluster for
    /// `apply plan.json`.
    #[command(after_long_help = examples::PLAN)]
    Plan(PlanArgs),
    /// Bring the cluster to the manifest, in one transaction.
    ///
    /// Takes an advisory lock so two applies never interleave, re-plans under the lock, runs
    /// the changes, re-reads the cluster and commits only when nothing is left to change: the
    /// cluster ends converged or exactly as it was. A plan that needs more locks than one
    /// transaction may take (max_locks_per_transaction) is applied in transactions of whole
    /// services instead, said before asking; --single-transaction refuses it. Shows the plan and asks on a terminal;
    /// elsewhere it needs --yes. Passwords come from each role's password_env variable and are
    /// sent as SCRAM-SHA-256 verifiers, never in plain text.
    #[command(after_long_help = examples::APPLY)]
    Apply(ApplyArgs),
    /// See dbsplit work in a minute, on a throwaway local PostgreSQL.
    ///
    /// Starts a temporary server (PostgreSQL's initdb and pg_ctl must be installed), applies the
    /// example manifest with generated passwords, creates a table per service as its owner,
    /// connects as billing_rw to show its own table working and another service's rejected by
    /// the database, then stops the server and deletes it, also on Ctrl-C.
    #[command(after_long_help = examples::DEMO)]
    Demo,
    /// Find everything that couples services below their APIs in a live cluster.
    ///
    /// Reads the catalogs in one read-only transaction with a statement timeout (safe on
    /// production, works as an ordinary login role) and reports cross-schema foreign keys,
    /// grants, views and dependencies, grants to PUBLIC, CREATE on public, objects in public,
    /// foreign owners, tables two services write, role memberships across services, leaky
    /// search_paths, privileged service roles and, with a manifest, drift. With a manifest its
    /// services decide and its `reads`, shared schemas and observers are declared exceptions;
    /// without one (--no-manifest, or no services.toml here) services are inferred from schema
    /// owners and the roles around them. Exits 1 when a finding is at or above --fail-on.
    #[command(after_long_help = examples::AUDIT)]
    Audit(AuditArgs),
    /// Scaffold the next migration of a service.
    ///
    /// Writes migrations/<SERVICE>/<version>_<NAME>.sql from the template, with a 14-digit UTC
    /// timestamp as version (strictly greater than every existing one), rewrites dbsplit.sum and
    /// prints the path of the new file.
    #[command(after_long_help = examples::NEW)]
    New(NewArgs),
    /// Run each service's pending migrations as its owner role.
    ///
    /// Lints first (unless --no-lint), then migrates every service (or those named) on its own
    /// connection, concurrently: SET ROLE to the owner, SET search_path to the service's path,
    /// a per-service advisory lock polled up to --lock-timeout, every applied checksum verified
    /// before anything runs, then each pending file in one transaction with its row in
    /// <schema>.dbsplit_migrations (or statement by statement with `-- dbsplit:no-transaction`
    /// on its first line). One service's failure does not stop the others; exits 2 if any
    /// failed. `migrate status` shows where each service is, `migrate resolve` marks a dirty
    /// migration done, `migrate hash` rewrites dbsplit.sum.
    #[command(after_long_help = examples::MIGRATE)]
    Migrate(MigrateArgs),
    /// Check migration files for references across service boundaries, without a database.
    ///
    /// Parses each statement and reports every reference to a schema outside the service's own
    /// (reads of declared `reads` and shared schemas excepted), statements that cannot run in a
    /// transaction, psql meta-commands, COPY FROM STDIN and a stale dbsplit.sum. Exits 1 when a
    /// finding is at or above --fail-on. `-- dbsplit:allow <rule> <reason>` on the line before
    /// a statement suppresses that rule there.
    #[command(after_long_help = examples::LINT)]
    Lint(LintArgs),
    /// Write PgBouncer's configuration: pgbouncer.ini and userlist.txt.
    ///
    /// One database alias per service (the service's name, pointing at the manifest's database
    /// on the server given by --database-url), a pool per role with a pool_size, the [pooler]
    /// settings, and userlist.txt with the server's own SCRAM verifiers read from pg_authid (so
    /// a superuser must run it). No plain-text password is written; the files are 0600 and a
    /// folder created for them 0700.
    #[command(after_long_help = examples::POOLER)]
    Pooler(PoolerArgs),
    /// Prove the boundary live, as each service role, in transactions that are rolled back.
    ///
    /// For each service login role and observer (SET ROLE, so the connecting role must be a
    /// superuser or a member of each with SET): reads and writes its own schema as its access
    /// level allows, one table of every other service (must be refused with SQLSTATE 42501),
    /// writes to shared schemas (refused), CREATE in a locked-down public (refused) and each
    /// declared read (read-only). Every statement touches no row (WHERE false, LIMIT 0) and runs
    /// in a savepoint of a transaction that is rolled back. Exits 1 with a table of every hole,
    /// 0 when the boundary holds, 2 when a role could not be verified.
    #[command(after_long_help = examples::VERIFY)]
    Verify(VerifyArgs),
    /// Propose a services.toml for a database dbsplit does not manage yet.
    ///
    /// Reads the catalogs (read-only) of the database the connection names and writes a
    /// commented manifest: one service per schema, owned by its owner role (or <schema>_owner
    /// when a superuser or a login role owns it); each login role in the service whose schema
    /// it writes, with the highest access that adds nothing it lacks today; roles reading
    /// several schemas as observers; schemas nobody writes and several services read as shared.
    /// Reads across services, and levels that would add privileges, are written as commented
    /// lines; a role writing several services is a comment naming the choices. Applied as it
    /// is, the manifest grants no role a privilege it does not hold today. Prints to standard
    /// output unless --out is given.
    #[command(after_long_help = examples::IMPORT)]
    Import(ImportArgs),
    /// Show what each role really ran across services, from pg_stat_statements.
    ///
    /// Reads the cluster as `audit` does and every statement pg_stat_statements recorded in the
    /// database (the extension must be installed; it says how otherwise), resolves each
    /// statement's relations (unqualified names through the role's search_path) and lists, per
    /// role, the relations of other services it read or wrote with statements, calls and rows.
    /// Service roles' and observers' undeclared ones are `cross-schema-query` warnings.
    /// Statements of superusers and dbsplit's own are left out. Services come from the manifest,
    /// or are inferred from the cluster without one.
    #[command(after_long_help = examples::USAGE)]
    Usage(UsageArgs),
    /// Draw the services and what couples them, as Mermaid, Graphviz DOT or JSON.
    ///
    /// Nodes are the services, shared schemas and observers (from the manifest, or inferred
    /// from the cluster without one); edges are declared reads (dashed) and what the audit
    /// finds across services: foreign keys, grants, views, tables two services write (red),
    /// with counts, plus the statements roles really ran when pg_stat_statements is installed.
    /// Mermaid renders in a pull request or a README; `dot -Tsvg` draws the DOT.
    #[command(after_long_help = examples::GRAPH)]
    Graph(GraphArgs),
    /// Print a shell completion script.
    ///
    /// bash: `dbsplit completions bash > ~/.local/share/bash-completion/completions/dbsplit`;
    /// zsh: write `_dbsplit` into a folder of $fpath; fish:
    /// `dbsplit completions fish > ~/.config/fish/completions/dbsplit.fish`; PowerShell:
    /// `dbsplit completions powershell | Out-String | Invoke-Expression` in $PROFILE.
    #[command(after_long_help = examples::COMPLETIONS)]
    Completions(CompletionsArgs),
    /// Print the man page (roff) to standard output.
    ///
    /// `dbsplit man > /usr/local/share/man/man1/dbsplit.1`, or `dbsplit man | man -l -`.
    #[command(after_long_help = examples::MAN)]
    Man,
    /// Print CODEOWNERS lines that give each service's migrations folder to its team.
    ///
    /// Each service's `team` (`@org/team`, `@user` or an email) owns migrations/<service>/, and
    /// every team listed owns the manifest. Run it from the repository root:
    /// `dbsplit codeowners > .github/CODEOWNERS`.
    #[command(after_long_help = examples::CODEOWNERS)]
    Codeowners,
    /// Print the JSON Schema of services.toml (every key, allowed value, default, description).
    ///
    /// For editors: `dbsplit schema > services.schema.json` next to the manifest, whose first
    /// line `#:schema ./services.schema.json` lets taplo and Even Better TOML (VS Code) complete
    /// and check it. `init` writes both. `dbsplit validate` still checks what a schema cannot
    /// (names declared twice, reads of undeclared schemas).
    #[command(after_long_help = examples::SCHEMA)]
    Schema,
    /// Back up one service's schema: a pg_dump custom-format archive behind a header.
    ///
    /// Connects to the manifest's database, finds pg_dump (PG_BIN, then
    /// /usr/lib/postgresql/N/bin, then PATH; never older than the server) and writes
    /// `DBSPLIT-DUMP 1`, a JSON line naming the service, its schema and the source, then the
    /// archive of that schema alone (`tail -n +3 FILE` is pg_restore's input).
    #[command(after_long_help = examples::DUMP)]
    Dump(DumpArgs),
    /// Restore a service's dump into the connected database, after provisioning the manifest.
    ///
    /// Applies the manifest to the database first (roles, schemas, grants, default
    /// privileges), then runs pg_restore of the service's schema as its owner role in one
    /// transaction, the grants coming from the manifest. A schema that already holds anything
    /// is refused unless --replace is given: then what the archive holds is dropped and
    /// recreated within that transaction.
    #[command(after_long_help = examples::RESTORE)]
    Restore(RestoreArgs),
    /// Graduate a service to another database by logical replication: start, status, cutover,
    /// abort, finish.
    ///
    /// `start` checks both servers (every gap listed at once), provisions the target from the
    /// manifest, copies the schema's definitions with pg_dump, publishes the schema on the
    /// source and subscribes the target with an initial copy; the target's service roles
    /// cannot write there yet. `status` shows each table's sync state, rows on both sides and
    /// the lag, and exits 0 when ready for the next step. `cutover` fences the service's writes
    /// on the source, waits for the target to replay, sets every sequence, verifies, keeps a
    /// reverse subscription for a rollback and opens writes on the target. `abort` undoes a
    /// move (after cut-over, by moving writes back the same way); `finish` drops the
    /// replication and leaves the source schema fenced. Each step can be run again after an
    /// interruption; the state lives in the clusters.
    #[command(after_long_help = examples::MOVE)]
    Move(MoveArgs),
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    /// The service, as named in the manifest.
    pub service: String,

    #[command(subcommand)]
    pub step: MoveStep,

    /// The target database: a postgres:// URL or a libpq key=value string (the database
    /// defaults to the manifest's). Nothing is taken from the PG* variables, which describe
    /// the source. Default: where a fleet manifest places the service (`database = ...`).
    #[arg(
        long,
        global = true,
        env = "DBSPLIT_MOVE_TARGET",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub to: Option<String>,

    /// The source database, when it is not the manifest's (a v1 manifest: --database-url) or
    /// the one other database of a fleet manifest holding the service's schema.
    #[arg(
        long,
        global = true,
        env = "DBSPLIT_MOVE_SOURCE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub from: Option<String>,

    /// The admin console of a PgBouncer in front of the service (dbname=pgbouncer, a user
    /// in admin_users), once per instance: cutover points the service's alias at the target
    /// under PAUSE (rewriting the file `dbsplit pooler` wrote, then RELOAD), abort points it
    /// back.
    #[arg(long, global = true, value_name = "URL")]
    pub pgbouncer: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum MoveStep {
    /// Preflight, provision the target, copy the definitions, publish and subscribe.
    #[command(after_long_help = examples::MOVE_START)]
    Start,
    /// Per table its sync state and rows on both sides, and the lag; exit 0 when ready.
    #[command(after_long_help = examples::MOVE_STATUS)]
    Status {
        /// Output format: a table, or JSON.
        #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
        format: StatusFormat,
    },
    /// Fence the source, wait for the target, set sequences, verify, open the target.
    #[command(after_long_help = examples::MOVE_CUTOVER)]
    Cutover {
        /// Refuse to fence while the target is further behind than this many WAL bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
        max_lag: i64,
        /// How long to wait for the target to replay the fenced position: 30s, 2m.
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
        timeout: std::time::Duration,
        /// How to check the target's rows: counts per table, or a hash of every row.
        #[arg(long, value_enum, default_value_t = MoveVerify::Count)]
        verify: MoveVerify,
    },
    /// Before cut-over, drop the replication objects; after it, move writes back.
    #[command(after_long_help = examples::MOVE_ABORT)]
    Abort {
        /// How long to wait for the source to replay the target's last writes: 30s, 2m.
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
        timeout: std::time::Duration,
        /// How to check the source's rows when moving back.
        #[arg(long, value_enum, default_value_t = MoveVerify::Count)]
        verify: MoveVerify,
    },
    /// Drop the reverse replication and the publication; the source schema stays, fenced.
    #[command(after_long_help = examples::MOVE_FINISH)]
    Finish,
}

/// How `move cutover` verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MoveVerify {
    Count,
    Hash,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The service, as named in the manifest.
    pub service: String,
    /// The file to write; standard output when omitted (refused on a terminal).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The service, as named in the manifest.
    pub service: String,
    /// A file written by `dbsplit dump`.
    pub file: PathBuf,
    /// The database to restore into (on the server of --database-url); default: the
    /// manifest's.
    #[arg(long, value_name = "DATABASE")]
    pub target: Option<String>,
    /// Restore over a schema that already holds objects, dropping and recreating those the
    /// archive holds, in one transaction.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct PoolerArgs {
    /// The folder to write pgbouncer.ini and userlist.txt into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A service to declare; repeat for each.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,

    /// The database the services share.
    #[arg(long, value_name = "NAME", default_value = "app")]
    pub database: String,

    /// Take the defaults and the flags without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Overwrite an existing manifest.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The service, as named in the manifest.
    pub service: String,
    /// What the migration does, as a slug: lowercase letters, digits and underscores.
    pub name: String,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub command: Option<MigrateCommand>,

    /// The services to migrate, as named in the manifest; default: all.
    pub services: Vec<String>,

    /// A service to migrate (repeatable), like naming it after `migrate`.
    #[arg(long = "service", value_name = "NAME")]
    pub service: Vec<String>,

    /// List the migrations that would run, per service, without changing anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not lint first (COPY FROM STDIN and psql meta-commands are refused all the same).
    #[arg(long)]
    pub no_lint: bool,

    /// Run through a login that could leave the owner role (a superuser, an admin, a member of
    /// other services' roles), which is refused otherwise: every statement then runs in a
    /// security-definer function that cannot change the role, and the role is checked after
    /// each. Log in as the service's `access = "owner"` role instead when you can.
    #[arg(long)]
    pub trust_migrations: bool,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// How long `migrate` waits for a service's lock.
#[derive(Debug, Clone, Args)]
pub struct LockArgs {
    /// How long to wait for another migrate of the same service: 30s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Rewrite dbsplit.sum of the services (all when none is named).
    #[command(after_long_help = examples::MIGRATE_HASH)]
    Hash {
        /// The services, as named in the manifest.
        services: Vec<String>,
    },
    /// Show, per service, how many migrations are applied and pending, and the last applied.
    #[command(after_long_help = examples::MIGRATE_STATUS)]
    Status {
        /// The services, as named in the manifest; default: all.
        services: Vec<String>,
        /// Exit 1 when a service has pending, dirty, changed, missing or out-of-order
        /// migrations, or a history this login cannot read.
        #[arg(long)]
        exit_code: bool,
        /// Output format: a table, or JSON (`{"services":[...]}`).
        #[arg(long, value_enum, default_value_t = StatusFormat::Human)]
        format: StatusFormat,
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// Mark a dirty no-transaction migration as done, after fixing the database by hand.
    #[command(after_long_help = examples::MIGRATE_RESOLVE)]
    Resolve {
        /// The service, as named in the manifest.
        service: String,
        /// The 14-digit version of the dirty migration.
        version: u64,
        #[command(flatten)]
        lock: LockArgs,
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
    /// Output format: a table per rule, JSON, SARIF 2.1.0, GitHub Actions annotations, or a
    /// markdown table (for pull-request comments and job summaries).
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
    Markdown,
}

/// How `migrate status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
}

impl FailOn {
    /// The lowest severity that fails the command.
    pub fn severity(self) -> crate::finding::Severity {
        match self {
            FailOn::Error => crate::finding::Severity::Error,
            FailOn::Warning => crate::finding::Severity::Warning,
        }
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub findings: FindingsArgs,

    /// Only the findings about this service (repeatable): in its schema, reaching into it,
    /// or about one of its roles.
    #[arg(long = "service", value_name = "NAME", conflicts_with = "no_manifest")]
    pub services: Vec<String>,

    #[command(flatten)]
    pub fleet: FleetArgs,

    /// Infer services from the cluster instead of reading the manifest.
    #[arg(long)]
    pub no_manifest: bool,

    /// The global --verbose: also list the declared exceptions (reads, shared schemas,
    /// observers) with their reasons and, when services are inferred, each role's service.
    #[arg(skip)]
    pub verbose: bool,

    /// Give up on any catalog query that runs longer: 60s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub statement_timeout: std::time::Duration,

    /// Also report what roles really ran across services, from pg_stat_statements
    /// (`cross-schema-query`, as `dbsplit usage` shows it).
    #[arg(long)]
    pub runtime: bool,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    pub findings: FindingsArgs,

    /// Infer services from the cluster instead of reading the manifest.
    #[arg(long)]
    pub no_manifest: bool,

    /// Give up on any catalog query that runs longer: 60s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub statement_timeout: std::time::Duration,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Output format: a Mermaid flowchart, Graphviz DOT, or JSON (`{"nodes":[...],"edges":[...]}`).
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,

    /// Infer services from the cluster instead of reading the manifest.
    #[arg(long)]
    pub no_manifest: bool,

    /// Give up on any catalog query that runs longer: 60s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub statement_timeout: std::time::Duration,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// How `graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
    Json,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Write the manifest to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Overwrite the --out file when it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify only this service's roles (repeatable); observers only when none is given.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,

    #[command(flatten)]
    pub fleet: FleetArgs,

    /// Output format: tables, or JSON (`{"holds":...,"roles":[...],"holes":[...]}`).
    #[arg(long, value_enum, default_value_t = VerifyFormat::Human)]
    pub format: VerifyFormat,
}

/// How `verify` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan for an empty cluster without connecting to one.
    #[arg(long)]
    pub offline: bool,

    /// Output format: a table per service then the SQL, the SQL alone, JSON, markdown (a
    /// table per service, for pull-request comments; passwords only as their $ENV names), or
    /// github (a notice per change, for GitHub Actions). Each service's changes name its team
    /// and contact.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub format: PlanFormat,

    /// Save the plan, with a fingerprint of the cluster it was made from, for `apply FILE`.
    #[arg(long, value_name = "FILE", conflicts_with = "offline")]
    pub out: Option<PathBuf>,

    /// Exit 1 when changes are pending (0 when the cluster matches the manifest).
    #[arg(long, conflicts_with = "offline")]
    pub exit_code: bool,

    /// Also drop roles dbsplit created that the manifest no longer names, when they own nothing.
    #[arg(long, conflicts_with = "offline")]
    pub prune: bool,

    /// Only this service's roles, schemas and grants (repeatable); what belongs to the whole
    /// database (PUBLIC's CONNECT, schema public, prune) only without it.
    #[arg(long = "service", value_name = "NAME", conflicts_with = "prune")]
    pub services: Vec<String>,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Which targets of a fleet manifest to work on, and how many clusters at once.
#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// With a fleet manifest: only this database (its key, name or cluster/database);
    /// repeatable. Default: every database.
    #[arg(long = "target", value_name = "DATABASE")]
    pub targets: Vec<String>,

    /// With a fleet manifest: how many clusters to work on at once (the databases of one
    /// cluster go one after another).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`; refused when the cluster changed since.
    #[arg(value_name = "PLAN_FILE")]
    pub plan_file: Option<PathBuf>,

    /// Apply without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// How long to wait for another apply's lock, and for each table lock: 30s, 500ms, 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,

    /// Also drop roles dbsplit created that the manifest no longer names, when they own nothing.
    #[arg(long)]
    pub prune: bool,

    /// Only this service's roles, schemas and grants (repeatable); what belongs to the whole
    /// database (PUBLIC's CONNECT, schema public, prune) only without it.
    #[arg(
        long = "service",
        value_name = "NAME",
        conflicts_with_all = ["prune", "plan_file"]
    )]
    pub services: Vec<String>,

    /// Apply in one transaction even when the plan needs more locks than the server's lock
    /// table holds (then apply is split in transactions of whole services): fail instead,
    /// before changing anything.
    #[arg(long)]
    pub single_transaction: bool,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `30s`, `500ms`, `2m`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 30s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}`; use ms, s or m")),
    };
    if !seconds.is_finite() || !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// How to reach the PostgreSQL server, for the commands that connect.
#[derive(Clone, Args)]
pub struct ConnectArgs {
    /// The server: a postgres:// URL or a libpq key=value string. Settings it leaves out come
    /// from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT and
    /// ~/.pgpass, as for psql.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
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
    Markdown,
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour standard output, from the flag, the environment and the terminal.
    pub fn enabled(self) -> bool {
        let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        self.decide(
            set("NO_COLOR").is_some(),
            set("CLICOLOR_FORCE").is_some_and(|v| v != "0"),
            set("CLICOLOR").is_some_and(|v| v == "0"),
            std::io::stdout().is_terminal(),
        )
    }

    /// The flag wins; for `auto`, NO_COLOR (https://no-color.org) over CLICOLOR_FORCE over
    /// CLICOLOR=0 over whether stdout is a terminal (https://bixense.com/clicolors/), in the
    /// order anstream (clap's own colouring) applies them.
    pub fn decide(self, no_color: bool, force: bool, clicolor_off: bool, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if no_color => false,
            ColorChoice::Auto if force => true,
            ColorChoice::Auto => !clicolor_off && terminal,
        }
    }
}

/// The command line with a `--format` given before the command moved after it, where the
/// command's own `--format` reads it: `dbsplit --format json audit` is `dbsplit audit --format
/// json`. Each command has its own formats, so the flag cannot be one global argument.
pub fn format_after_command(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let cli = Cli::command();
    // The options before the command that take a value as the next word.
    let takes_value = |word: &str| {
        cli.get_arguments().any(|arg| {
            arg.get_action().takes_values()
                && (arg
                    .get_long()
                    .is_some_and(|long| word == format!("--{long}"))
                    || arg
                        .get_short()
                        .is_some_and(|short| word == format!("-{short}")))
        })
    };
    let mut before = Vec::new();
    let mut moved = Vec::new();
    let mut words = args.into_iter();
    before.extend(words.next());
    while let Some(word) = words.next() {
        let text = word.to_string_lossy();
        if text == "--format" {
            moved.push(word);
            moved.extend(words.next());
        } else if text.starts_with("--format=") {
            moved.push(word);
        } else if text == "--" || !text.starts_with('-') {
            // The command: everything from here on is left in place.
            before.push(word);
            break;
        } else {
            let value = takes_value(&text);
            before.push(word);
            if value {
                before.extend(words.next());
            }
        }
    }
    let mut rest: Vec<std::ffi::OsString> = words.collect();
    // After the command's own words, before a `--` that ends its options.
    let end = rest.iter().position(|w| w == "--").unwrap_or(rest.len());
    rest.splice(end..end, moved);
    before.extend(rest);
    before
}

#[cfg(test)]
mod help_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(line: &str) -> String {
        let args = line.split(' ').map(std::ffi::OsString::from).collect();
        format_after_command(args)
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn format_before_the_command_moves_after_it() {
        assert_eq!(
            moved("dbsplit --format json audit"),
            "dbsplit audit --format json"
        );
        assert_eq!(
            moved("dbsplit --format=sarif lint a.sql"),
            "dbsplit lint a.sql --format=sarif"
        );
        assert_eq!(
            moved("dbsplit -m x.toml --format json migrate status"),
            "dbsplit -m x.toml migrate status --format json"
        );
        // A value that looks like a command stays with its option.
        assert_eq!(
            moved("dbsplit --database-url plan --format json audit"),
            "dbsplit --database-url plan audit --format json"
        );
        // Before `--`, which ends the command's options.
        assert_eq!(
            moved("dbsplit --format json lint -- --odd.sql"),
            "dbsplit lint --format json -- --odd.sql"
        );
        // After the command, nothing moves.
        assert_eq!(
            moved("dbsplit plan --format sql"),
            "dbsplit plan --format sql"
        );
    }

    #[test]
    fn colour_decisions() {
        use ColorChoice::*;
        // (choice, NO_COLOR, CLICOLOR_FORCE, CLICOLOR=0, terminal) -> colour
        let cases = [
            (Auto, false, false, false, true, true),
            (Auto, false, false, false, false, false),
            (Auto, true, false, false, true, false),
            (Auto, false, true, false, false, true),
            (Auto, true, true, false, false, false),
            (Auto, false, false, true, true, false),
            (Auto, false, true, true, false, true),
            (Always, true, false, true, false, true),
            (Never, false, true, false, true, false),
        ];
        for (choice, no_color, force, off, terminal, expected) in cases {
            assert_eq!(
                choice.decide(no_color, force, off, terminal),
                expected,
                "{choice:?} no_color={no_color} force={force} clicolor=0:{off} tty={terminal}"
            );
        }
    }
}
