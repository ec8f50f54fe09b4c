//! `usage` and `audit --runtime`: what each role really ran, from `pg_stat_statements`, as the
//! relations of other services it read or wrote, with calls and rows. Pure: `read` fetches the
//! statements (a fixed number of queries), this resolves their names against the introspected
//! cluster and the service map (the manifest's, or inferred as `audit` infers it).
//!
//! Unqualified names resolve through the role's `search_path` as the server would for it: the
//! role's setting for this database, else its setting for all databases, else the database's
//! and the server's default (`"$user"` is the role's name). A name that is no relation of the
//! cluster (an alias, a CTE, `alias.column`) resolves to nothing. Statements of superusers and
//! dbsplit's own (marked with [`MARK`]) are left out.

pub mod parse;
pub mod read;
pub mod render;

use std::collections::BTreeMap;

use crate::audit::rules::is_relation;
use crate::audit::{Exception, Services};
use crate::catalog::model::{ClusterState, Database};
use crate::desired::parse_search_path;
use crate::finding::{self, Finding, Location, RuleId};

pub use parse::Access;

/// The comment dbsplit puts before the statements it runs as service roles (and its own read of
/// `pg_stat_statements`), which keeps it there, so `usage` can tell them apart.
pub const MARK: &str = "/* dbsplit */ ";

/// One row of `pg_stat_statements` for the current database: a normalized statement text
/// (`$1` for constants) as run by one role, with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub role: String,
    pub superuser: bool,
    pub query: String,
    pub calls: i64,
    pub rows: i64,
}

/// What `read` fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub statements: Vec<Statement>,
    /// Statements of other roles whose text this login may not see (`<insufficient privilege>`):
    /// only a superuser or a member of `pg_read_all_stats` sees every role's.
    pub hidden: u64,
    /// When the statistics were last reset (`pg_stat_statements_info`, PostgreSQL 14+).
    pub stats_reset: Option<String>,
    /// The search_path a role without its own setting gets in this database.
    pub default_search_path: String,
}

/// One relation of another service a role touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub schema: String,
    pub relation: String,
    /// The service (or `shared <name>`) the relation belongs to.
    pub service: String,
    pub access: Access,
    /// Distinct statements, their calls and the rows they returned or changed.
    pub statements: u64,
    pub calls: i64,
    pub rows: i64,
    /// Why it is allowed, when it is a declared read, a shared schema or an observer's read.
    pub declared: Option<String>,
}

impl Touch {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.relation)
    }
}

/// What one role ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleUsage {
    pub role: String,
    /// Its service; `None` for an observer or a role outside every service.
    pub service: Option<String>,
    pub observer: bool,
    /// The schemas its unqualified names resolve through.
    pub search_path: Vec<String>,
    /// Distinct statements that read or write rows, and their calls.
    pub statements: u64,
    pub calls: i64,
    /// Relations of other services it touched, sorted.
    pub touches: Vec<Touch>,
}

/// The whole answer of `usage`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Every service role and observer, and every other role with statements, sorted by name.
    pub roles: Vec<RoleUsage>,
    /// `cross-schema-query` warnings, sorted.
    pub findings: Vec<Finding>,
    /// Declared reads seen at runtime, sorted.
    pub exceptions: Vec<Exception>,
    pub hidden: u64,
    /// Statements left out: of superusers, and dbsplit's own.
    pub superuser_statements: u64,
    pub own_statements: u64,
    /// Data statements the SQL parser could not read: their names came from their tokens.
    pub unparsed: u64,
    pub stats_reset: Option<String>,
    pub inferred: bool,
}

/// Role, schema, relation, access: what `analyze` sums statements, calls and rows by.
type TouchKey = (String, String, String, Access);

/// Resolves and judges every statement of `stats` against one database of `state`.
pub fn analyze(stats: &Stats, state: &ClusterState, database: &str, services: &Services) -> Usage {
    let empty = Database::default();
    let db = state.databases.get(database).unwrap_or(&empty);
    let mut usage = Usage {
        hidden: stats.hidden,
        stats_reset: stats.stats_reset.clone(),
        inferred: services.inferred,
        ..Usage::default()
    };
    let mut roles: BTreeMap<String, RoleUsage> = BTreeMap::new();
    let new_role = |role: &str| RoleUsage {
        role: role.to_string(),
        service: services.of_role(role).map(str::to_string),
        observer: services.observers.contains_key(role),
        search_path: search_path(state, database, role, &stats.default_search_path),
        statements: 0,
        calls: 0,
        touches: Vec::new(),
    };
    for role in services
        .role_service
        .keys()
        .chain(services.observers.keys())
    {
        if state.roles.contains_key(role) {
            roles.insert(role.clone(), new_role(role));
        }
    }
    let mut totals: BTreeMap<TouchKey, (u64, i64, i64)> = BTreeMap::new();
    for statement in &stats.statements {
        if statement.superuser {
            usage.superuser_statements += 1;
            continue;
        }
        if statement.query.trim_start().starts_with(MARK.trim_end()) {
            usage.own_statements += 1;
            continue;
        }
        let Some(touched) = parse::touches(&statement.query) else {
            continue;
        };
        if !touched.parsed {
            usage.unparsed += 1;
        }
        let entry = roles
            .entry(statement.role.clone())
            .or_insert_with(|| new_role(&statement.role));
        entry.statements += 1;
        entry.calls += statement.calls;
        // One relation touched by several names of a statement counts once, as a write if any.
        let mut relations: BTreeMap<(String, String), Access> = BTreeMap::new();
        for (named, access) in &touched.names {
            let Some(schema) = resolve(db, named, &entry.search_path) else {
                continue;
            };
            let slot = relations
                .entry((schema, named.name.clone()))
                .or_insert(*access);
            *slot = (*slot).max(*access);
        }
        for ((schema, relation), access) in relations {
            let Some(target) = services.of_schema(&schema) else {
                continue;
            };
            if entry.service.as_deref() == Some(target) {
                continue;
            }
            let total = totals
                .entry((statement.role.clone(), schema, relation, access))
                .or_default();
            total.0 += 1;
            total.1 += statement.calls;
            total.2 += statement.rows;
        }
    }
    for ((role, schema, relation, access), (statements, calls, rows)) in totals {
        let Some(entry) = roles.get_mut(&role) else {
            continue;
        };
        let service = services.of_schema(&schema).unwrap_or_default().to_string();
        let declared = match access {
            Access::Read => services.read_exception(&role, &schema),
            Access::Write => None,
        };
        let touch = Touch {
            schema,
            relation,
            service,
            access,
            statements,
            calls,
            rows,
            declared,
        };
        judge(entry, &touch, services, &mut usage);
        entry.touches.push(touch);
    }
    usage.roles = roles.into_values().collect();
    finding::sort(&mut usage.findings);
    usage.exceptions.sort();
    usage
}

/// A finding for a service role's (or observer's) undeclared touch; an exception for a
/// declared read. Roles outside every service are listed, not judged: `audit`'s `shared-role`
/// and `cross-schema-grant` judge what they may do.
fn judge(role: &RoleUsage, touch: &Touch, services: &Services, usage: &mut Usage) {
    let object = touch.qualified();
    if let Some(reason) = &touch.declared {
        usage.exceptions.push(Exception {
            rule: RuleId::CrossSchemaQuery,
            object,
            role: Some(role.role.clone()),
            reason: reason.clone(),
        });
        return;
    }
    let whose = match (&role.service, role.observer) {
        (Some(service), _) => format!("service {service}"),
        (None, true) => "an observer".to_string(),
        (None, false) => return,
    };
    let verb = match touch.access {
        Access::Read => "read",
        Access::Write => "wrote",
    };
    let statements = plural(touch.statements, "statement");
    let mut finding = Finding::new(
        RuleId::CrossSchemaQuery,
        Location::Object {
            object: object.clone(),
        },
        format!(
            "`{}` ({whose}) {verb} `{object}` of {} at runtime: {statements}, {}, {}",
            role.role,
            touch.service,
            plural(touch.calls.max(0) as u64, "call"),
            plural(touch.rows.max(0) as u64, "row")
        ),
    )
    .target_schema(&touch.schema)
    .role(&role.role);
    if let Some(schema) = role
        .service
        .as_deref()
        .and_then(|s| services.schemas_of(s).first().copied())
    {
        finding = finding.schema(schema);
    }
    usage.findings.push(finding);
}

/// `1 statement`, `3 statements`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The schemas `role`'s unqualified names resolve through in `database`.
pub fn search_path(state: &ClusterState, database: &str, role: &str, default: &str) -> Vec<String> {
    let settings = state.roles.get(role).map(|r| &r.settings);
    let own = [database, ""].into_iter().find_map(|db| {
        settings
            .and_then(|s| s.get(db))
            .and_then(|s| s.get("search_path"))
    });
    parse_search_path(own.map_or(default, String::as_str))
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| if s == "$user" { role.to_string() } else { s })
        .collect()
}

/// The schema holding the relation `named` stands for: its own schema when qualified, else the
/// first schema of `path` that has a relation of that name.
fn resolve(db: &Database, named: &crate::lint::names::Named, path: &[String]) -> Option<String> {
    let holds = |schema: &str| {
        db.schemas
            .get(schema)
            .and_then(|s| s.objects.get(&named.name))
            .is_some_and(|o| is_relation(o.kind))
    };
    match &named.schema {
        Some(schema) => holds(schema).then(|| schema.clone()),
        None => path.iter().find(|s| holds(s)).cloned(),
    }
}

#[cfg(test)]
mod tests;
