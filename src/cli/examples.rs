//! The `Examples:` section at the end of each command's `--help` (and man page): the
//! invocations a DBA reaches for first. Each `dbsplit` line is parsed by the help tests, so an
//! example cannot name a flag that does not exist.

pub const ROOT: &str = "\
Examples:
  # Start a project, review what apply would do, make it so
  dbsplit init --service billing --service notifications --yes
  dbsplit plan --database-url postgres://admin@db.internal/app
  dbsplit apply

  # Check a pull request in CI: migrations, drift, boundary
  dbsplit lint --format github
  dbsplit plan --exit-code --format markdown
  dbsplit audit --fail-on warning

The server comes from --database-url, DATABASE_URL, or libpq's PGHOST, PGUSER, ... and
~/.pgpass, as for psql. `dbsplit COMMAND --help` explains each command.";

pub const INIT: &str = "\
Examples:
  # Ask for the database, the services and their roles
  dbsplit init

  # In a script: two services, each with <name>_rw and <name>_migrator
  dbsplit init --service billing --service notifications --database app --yes";

pub const VALIDATE: &str = "\
Examples:
  dbsplit validate
  dbsplit validate -m db/services.toml";

pub const PLAN: &str = "\
Examples:
  # What apply would change on the live cluster
  dbsplit plan --database-url postgres://admin@db.internal/app

  # The whole bootstrap as SQL, to review and run by hand
  dbsplit plan --offline --format sql > bootstrap.sql
  psql -v ON_ERROR_STOP=1 -1 -d app -f bootstrap.sql

  # CI: fail when the cluster drifted; a table for the pull request
  dbsplit plan --exit-code --format markdown

  # Save the plan for a later, reviewed apply
  dbsplit plan --out plan.json";

pub const APPLY: &str = "\
Examples:
  # Show the plan, ask, apply
  dbsplit apply

  # Apply exactly the plan that was reviewed (refused if the cluster changed since)
  dbsplit apply plan.json --yes

  # One service only, waiting at most 5s for locks
  dbsplit apply --service billing --lock-timeout 5s --yes";

pub const DEMO: &str = "\
Examples:
  dbsplit demo";

pub const AUDIT: &str = "\
Examples:
  # The boundary as the manifest declares it
  dbsplit audit --database-url postgres://auditor@db.internal/app

  # A cluster without a manifest yet: services inferred from schema owners
  dbsplit audit --no-manifest

  # CI: annotations on the pull request, warnings fail too
  dbsplit audit --format github --fail-on warning

  # SARIF for GitHub code scanning
  dbsplit audit --format sarif > audit.sarif";

pub const NEW: &str = "\
Examples:
  # Writes migrations/billing/<timestamp>_add_invoices.sql and updates dbsplit.sum
  dbsplit new billing add_invoices";

pub const MIGRATE: &str = "\
Examples:
  # Every service's pending migrations, each as its owner role
  dbsplit migrate

  # Only billing; list what would run first
  dbsplit migrate billing --dry-run
  dbsplit migrate billing

  # Where each service is, for CI
  dbsplit migrate status --exit-code";

pub const MIGRATE_HASH: &str = "\
Examples:
  dbsplit migrate hash
  dbsplit migrate hash billing";

pub const MIGRATE_STATUS: &str = "\
Examples:
  dbsplit migrate status
  dbsplit migrate status billing --format json
  dbsplit migrate status --exit-code";

pub const MIGRATE_RESOLVE: &str = "\
Examples:
  # After finishing by hand what the failed no-transaction migration started
  dbsplit migrate resolve billing 20250102000000";

pub const LINT: &str = "\
Examples:
  # Every migration of every service
  dbsplit lint

  # What a pull request changed, as GitHub annotations
  dbsplit lint migrations/billing --format github

  # Suppress one finding: on the line before the statement
  #   -- dbsplit:allow cross-schema-reference the view is read-only";

pub const POOLER: &str = "\
Examples:
  # As a superuser, for the SCRAM verifiers
  dbsplit pooler --out /etc/pgbouncer --database-url postgres://postgres@db.internal/app";

pub const VERIFY: &str = "\
Examples:
  # As a superuser (or a member of every service role with SET)
  dbsplit verify --database-url postgres://postgres@db.internal/app
  dbsplit verify --service billing --format json";

pub const IMPORT: &str = "\
Examples:
  # Propose a manifest for an existing database, review it, see what apply would change
  dbsplit import --database-url postgres://admin@db.internal/app --out services.toml
  dbsplit plan";

pub const USAGE: &str = "\
Examples:
  # Needs pg_stat_statements in shared_preload_libraries and CREATE EXTENSION
  dbsplit usage --database-url postgres://admin@db.internal/app
  dbsplit usage --no-manifest --format json";

pub const GRAPH: &str = "\
Examples:
  # Mermaid, for a README or a pull request
  dbsplit graph > services.mmd

  # An SVG with Graphviz
  dbsplit graph --format dot | dot -Tsvg > services.svg";

pub const COMPLETIONS: &str = "\
Examples:
  dbsplit completions bash > ~/.local/share/bash-completion/completions/dbsplit
  dbsplit completions zsh > ~/.zfunc/_dbsplit
  dbsplit completions fish > ~/.config/fish/completions/dbsplit.fish";

pub const MAN: &str = "\
Examples:
  dbsplit man | man -l -
  dbsplit man > /usr/local/share/man/man1/dbsplit.1";

pub const CODEOWNERS: &str = "\
Examples:
  # From the repository root
  dbsplit codeowners > .github/CODEOWNERS
  dbsplit codeowners -m db/services.toml > .github/CODEOWNERS";

pub const SCHEMA: &str = "\
Examples:
  # Next to the manifest, whose first line is `#:schema ./services.schema.json`
  dbsplit schema > services.schema.json";

pub const DUMP: &str = "\
Examples:
  dbsplit dump billing --out billing.dump
  dbsplit dump billing > billing.dump";

pub const RESTORE: &str = "\
Examples:
  # Into the manifest's database, provisioned first
  dbsplit restore billing billing.dump

  # Into another database of the same server, over what is there
  dbsplit restore billing billing.dump --target app_staging --replace";

pub const MOVE: &str = "\
Examples:
  # Move billing to its own server, step by step
  dbsplit move billing start --to postgres://admin@billing-db.internal/app
  dbsplit move billing status --to postgres://admin@billing-db.internal/app
  dbsplit move billing cutover --to postgres://admin@billing-db.internal/app
  dbsplit move billing finish --to postgres://admin@billing-db.internal/app

The target can also come from DBSPLIT_MOVE_TARGET, or from a fleet manifest's
`database = ...` on the service.";

pub const MOVE_START: &str = "\
Examples:
  dbsplit move billing start --to postgres://admin@billing-db.internal/app";

pub const MOVE_STATUS: &str = "\
Examples:
  # Exits 0 when the copy is done and the lag small enough to cut over
  dbsplit move billing status --to postgres://admin@billing-db.internal/app
  dbsplit move billing status --format json";

pub const MOVE_CUTOVER: &str = "\
Examples:
  dbsplit move billing cutover --to postgres://admin@billing-db.internal/app
  dbsplit move billing cutover --timeout 2m --verify hash";

pub const MOVE_ABORT: &str = "\
Examples:
  dbsplit move billing abort --to postgres://admin@billing-db.internal/app";

pub const MOVE_FINISH: &str = "\
Examples:
  # Once the services run on the target and a rollback is no longer wanted
  dbsplit move billing finish --to postgres://admin@billing-db.internal/app";
