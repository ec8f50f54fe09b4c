//! `audit`: every coupling between services in a live cluster, as findings. Pure: the rules
//! read the introspected state (the same model `plan` uses) and a service map, from the
//! manifest or inferred; the command does the read-only I/O.

pub mod fleet;
pub mod read;
pub mod render;
pub mod rules;
pub mod services;
#[cfg(test)]
pub mod testing;

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::model::{ClusterState, Database};
use crate::finding::{self, Finding, RuleId};
use crate::plan::Plan;
use crate::pooler::activity::{self, Connections, ServiceSessions};

pub use services::Services;

/// A coupling the manifest declares: reported in verbose output, never as a finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Exception {
    pub rule: RuleId,
    pub object: String,
    pub role: Option<String>,
    pub reason: String,
}

/// What an audit found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Sorted and without duplicates.
    pub findings: Vec<Finding>,
    /// Declared exceptions, sorted.
    pub exceptions: Vec<Exception>,
    /// Whether the services were inferred from the cluster (no manifest).
    pub inferred: bool,
    /// Role -> the service it belongs to, as the rules saw it.
    pub roles: BTreeMap<String, String>,
    /// Per service, its login roles' sessions against their limits (when connections were
    /// read).
    pub sessions: Vec<ServiceSessions>,
    /// Whether other roles' application_name was hidden from the reading role (it lacks
    /// pg_read_all_stats): `shared-credentials` saw only its own sessions.
    pub sessions_hidden: bool,
}

/// The state the rules share.
pub struct Audit<'a> {
    pub state: &'a ClusterState,
    pub db: &'a Database,
    /// The database's name, for per-database role settings.
    pub database: &'a str,
    pub services: &'a Services,
    /// Service role -> the roles whose privileges it uses (itself included).
    pub inherited: BTreeMap<String, BTreeSet<String>>,
    /// Role -> the service roles and observers that use its privileges (the reverse).
    pub users: BTreeMap<String, BTreeSet<String>>,
    pub findings: Vec<Finding>,
    pub exceptions: Vec<Exception>,
    /// The server's limits and sessions, when read (`connection-budget`, `shared-credentials`).
    pub connections: Option<&'a Connections>,
}

/// Runs every rule over one database of `state`. `drift` is the plan `plan` would make, when
/// a manifest is given: each change becomes a `drift` warning.
pub fn audit(
    state: &ClusterState,
    database: &str,
    services: &Services,
    drift: Option<&Plan>,
) -> Report {
    audit_with(state, database, services, drift, None)
}

/// [`audit`], with the server's connection limits and sessions when they were read.
pub fn audit_with(
    state: &ClusterState,
    database: &str,
    services: &Services,
    drift: Option<&Plan>,
    connections: Option<&Connections>,
) -> Report {
    let empty = Database::default();
    let db = state.databases.get(database).unwrap_or(&empty);
    let inherited: BTreeMap<String, BTreeSet<String>> = services
        .role_service
        .keys()
        .chain(services.observers.keys())
        .map(|role| (role.clone(), services::inherited(state, role)))
        .collect();
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (role, groups) in &inherited {
        // An observer's privileges are its own: its memberships are managed elsewhere.
        if services.observers.contains_key(role) {
            users.entry(role.clone()).or_default().insert(role.clone());
            continue;
        }
        for group in groups {
            users.entry(group.clone()).or_default().insert(role.clone());
        }
    }
    let mut audit = Audit {
        state,
        db,
        database,
        services,
        inherited,
        users,
        findings: Vec::new(),
        exceptions: Vec::new(),
        connections,
    };
    rules::cross_schema_fk::check(&mut audit);
    rules::cross_schema_grant::check(&mut audit);
    rules::public_grant::check(&mut audit);
    rules::public_schema_create::check(&mut audit);
    rules::public_schema_objects::check(&mut audit);
    rules::cross_schema_view::check(&mut audit);
    rules::cross_schema_dependency::check(&mut audit);
    rules::foreign_owner::check(&mut audit);
    rules::shared_writer::check(&mut audit);
    rules::role_membership_leak::check(&mut audit);
    rules::search_path_leak::check(&mut audit);
    rules::privileged_service_role::check(&mut audit);
    rules::shared_role::check(&mut audit);
    rules::connection_budget::check(&mut audit);
    rules::shared_credentials::check(&mut audit);
    if let Some(plan) = drift {
        rules::drift::check(&mut audit, plan);
    }
    let mut findings = audit.findings;
    finding::sort(&mut findings);
    let mut exceptions = audit.exceptions;
    exceptions.sort();
    exceptions.dedup();
    Report {
        findings,
        exceptions,
        inferred: services.inferred,
        roles: services.role_service.clone(),
        sessions: connections
            .map(|c| activity::per_service(c, state, &services.role_service))
            .unwrap_or_default(),
        sessions_hidden: connections.is_some_and(|c| !c.all_visible),
    }
}
