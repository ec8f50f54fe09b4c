//! One integration test binary (one link, one throwaway-server template) for everything that
//! runs the `dbsplit` executable or needs a real PostgreSQL server.

mod support;

// Connecting as psql would: TLS modes, passwords, sockets and connection errors.
mod connect;
// The CLI as users run it: exit codes, messages, output formats.
mod cli;
// `lint` on the SQL corpus and on a migrations tree; `new` and `migrate hash`.
mod lint;
// The offline bootstrap SQL, run by psql in a real cluster, then the boundary it draws proven by
// connecting as each service role.
mod offline;
// Live plan and apply: convergence, drift, atomicity, locking, scale.
mod live;
// Apply in bulk: grouped statements, many per round trip, a failure named mid-message.
mod bulk_apply;
// The lock budget: a plan larger than the lock table applies in transactions of whole services.
mod lockbudget;
// The live commands from the command line: plan, apply, demo.
mod commands;
// audit: every rule against real servers, inference, an ordinary role, formats.
mod audit;
// `migrate` as each service's owner: concurrency, rollback, checksums, no-transaction files,
// the lock, status; `init` without a terminal.
mod migrate;
// Managed PostgreSQL: membership options and grantors, a non-superuser admin, every major.
mod managed;
// Privileges: reads of the owner role, the history table, default privileges across services,
// prune, CONNECT.
mod privileges;
// `pooler`: the files it writes run a real PgBouncer.
mod pooler;
// verify: the boundary proven live as each service role, nothing written.
mod verify;
// import: the proposed manifest of a legacy cluster validates, applies without giving any role a
// privilege it lacked, and converges; 10,000 tables, timed.
mod import;
// --service: plan, apply and audit narrowed to some services; the rest left for a full plan.
mod service;
// Completions, the man page, pre-commit hooks, markdown reports, the GitHub Action's script.
mod ecosystem;
// usage: pg_stat_statements read back as cross-service reads and writes per role.
mod usage;
// graph: the services and their couplings drawn from a live cluster.
mod graph;
// The source's shape: no import cycles between the top-level modules of src/.
mod layout;
// Fleets: services across databases and clusters, on two servers at once.
mod fleet;
// migrate, usage and graph over a fleet: each service in its database, on two servers.
mod fleet_ops;
// `dump` and `restore`: a service's schema round-trips into another database, boundary included.
mod dump;
// Introspection: two sessions on one snapshot, the fallback to one, role dependents grouped.
mod catalog;
// `move`: a service graduates between two servers under a writer's load; abort and finish.
#[path = "move.rs"]
mod relocate;
