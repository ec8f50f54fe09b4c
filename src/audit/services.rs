//! Which service each schema and role belongs to, from the manifest or, without one, inferred
//! from the live cluster; and the declared exceptions (reads, shared schemas, observers).
//!
//! Inference (DESIGN.md, "Audit rules"): each schema outside the system ones and `public` is a
//! service. Its roles are the schema's owner and the roles that are members of the owner
//! (directly or not), and no other: privileges never place a role, so API roles that read
//! several schemas (PostgREST's `anon`, `authenticated`) belong to no service and are judged by
//! `shared-role` and `public-grant`. A role that owns several schemas, a member of several
//! owners, or a superuser, is an administrator, not a service role.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::model::{ClusterState, Database, Privilege, Role};

/// Privileges that change data.
pub const WRITES: [Privilege; 4] = [
    Privilege::Insert,
    Privilege::Update,
    Privilege::Delete,
    Privilege::Truncate,
];
use crate::manifest::Manifest;

/// The service map the audit rules work on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    /// Service schema (shared schemas included) -> the service (or shared schema) it belongs to.
    pub schema_service: BTreeMap<String, String>,
    /// Service -> the role that should own its schemas and objects.
    pub owners: BTreeMap<String, String>,
    /// Role -> the service it belongs to.
    pub role_service: BTreeMap<String, String>,
    /// Shared schemas: readable by every service.
    pub shared: BTreeSet<String>,
    /// Declared reads: (service, schema) -> reason.
    pub reads: BTreeMap<(String, String), String>,
    /// Observer role -> the schemas it may read, and why.
    pub observers: BTreeMap<String, (BTreeSet<String>, String)>,
    /// Whether the map was inferred from the cluster (no manifest).
    pub inferred: bool,
}

impl Services {
    /// The services a manifest declares.
    pub fn from_manifest(manifest: &Manifest) -> Services {
        let mut services = Services::default();
        for service in &manifest.services {
            let name = service.name.clone();
            services
                .schema_service
                .insert(service.schema.clone(), name.clone());
            services.owners.insert(name.clone(), service.owner.clone());
            services
                .role_service
                .insert(service.owner.clone(), name.clone());
            for role in &service.roles {
                services
                    .role_service
                    .insert(role.name.clone(), name.clone());
            }
            for read in &service.reads {
                services
                    .reads
                    .insert((name.clone(), read.schema.clone()), read.reason.clone());
            }
        }
        for shared in &manifest.shared {
            let name = format!("shared {}", shared.name);
            services
                .schema_service
                .insert(shared.schema.clone(), name.clone());
            services.owners.insert(name.clone(), shared.owner.clone());
            services.role_service.insert(shared.owner.clone(), name);
            services.shared.insert(shared.schema.clone());
        }
        for observer in &manifest.observers {
            services.observers.insert(
                observer.name.clone(),
                (
                    observer.reads.iter().cloned().collect(),
                    observer.reason.clone(),
                ),
            );
        }
        services
    }

    /// Services inferred from a live cluster; see the module documentation.
    pub fn infer(state: &ClusterState, db: &Database) -> Services {
        let mut services = Services {
            inferred: true,
            ..Services::default()
        };
        let is_admin = |role: &str| is_admin(state, role);
        let mut owned: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, schema) in &db.schemas {
            if name != crate::pg::PUBLIC_SCHEMA {
                owned.entry(schema.owner.as_str()).or_default().push(name);
            }
        }
        for (name, schema) in &db.schemas {
            if name == crate::pg::PUBLIC_SCHEMA {
                continue;
            }
            services.schema_service.insert(name.clone(), name.clone());
            let owner = schema.owner.as_str();
            let sole_owner = owned.get(owner).is_some_and(|s| s.len() == 1) && !is_admin(owner);
            if sole_owner {
                services.owners.insert(name.clone(), owner.to_string());
                services
                    .role_service
                    .insert(owner.to_string(), name.clone());
            }
        }
        // Members of an owner role, at any depth, belong to its service; a member of the
        // owners of several services belongs to none.
        let mut memberships: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (service, owner) in &services.owners {
            for member in members_of(state, owner) {
                if !is_admin(&member) && !services.role_service.contains_key(&member) {
                    memberships
                        .entry(member)
                        .or_default()
                        .insert(service.clone());
                }
            }
        }
        for (member, of) in memberships {
            if let (Some(service), 1) = (of.first(), of.len()) {
                services.role_service.insert(member, service.clone());
            }
        }
        services
    }

    /// The service of a schema, if it is a service (or shared) schema.
    pub fn of_schema(&self, schema: &str) -> Option<&str> {
        self.schema_service.get(schema).map(String::as_str)
    }

    /// The service of a role.
    pub fn of_role(&self, role: &str) -> Option<&str> {
        self.role_service.get(role).map(String::as_str)
    }

    /// The schemas of a service.
    pub fn schemas_of(&self, service: &str) -> Vec<&str> {
        self.schema_service
            .iter()
            .filter(|(_, s)| s.as_str() == service)
            .map(|(schema, _)| schema.as_str())
            .collect()
    }

    /// Why `role` may read `schema`, when it is a declared exception: a declared read of its
    /// service, a shared schema, or an observer's read.
    pub fn read_exception(&self, role: &str, schema: &str) -> Option<String> {
        if let Some(service) = self.of_role(role) {
            if let Some(reason) = self.may_read(service, schema) {
                return Some(reason);
            }
        }
        let (schemas, reason) = self.observers.get(role)?;
        schemas
            .contains(schema)
            .then(|| format!("observer: {reason}"))
    }

    /// Whether `service` declares it reads `schema`, or `schema` is shared.
    pub fn may_read(&self, service: &str, schema: &str) -> Option<String> {
        if let Some(reason) = self.reads.get(&(service.to_string(), schema.to_string())) {
            return Some(format!("declared read: {reason}"));
        }
        self.shared
            .contains(schema)
            .then(|| format!("{schema} is a shared schema"))
    }
}

/// Whether `role` stands above the services: a superuser or a predefined `pg_*` role.
pub fn is_admin(state: &ClusterState, role: &str) -> bool {
    role.starts_with("pg_")
        || state
            .roles
            .get(role)
            .is_some_and(|r| r.attributes.superuser)
}

/// The roles `role` is a direct member of. With [`inherits`], the only place the rules read
/// `Role.member_of`.
pub fn groups(role: &Role) -> impl Iterator<Item = &str> {
    role.member_of.iter().map(String::as_str)
}

/// Whether `role` uses the privileges of `group`, one of its [`groups`], without SET ROLE: when
/// one of the grants has INHERIT (PostgreSQL 16's per-grant option; before 16 the member's
/// INHERIT attribute, which introspection puts on each grant). A state without grant details
/// falls back to the attribute.
pub fn inherits(role: &Role, group: &str) -> bool {
    let mut grants = role
        .memberships
        .iter()
        .filter(|m| m.group == group)
        .peekable();
    if grants.peek().is_none() {
        return role.attributes.inherit;
    }
    grants.any(|m| m.inherit)
}

/// Every role that is a member of `role`, directly or through other roles.
pub fn members_of(state: &ClusterState, role: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut queue = vec![role.to_string()];
    while let Some(group) = queue.pop() {
        for (name, r) in &state.roles {
            if groups(r).any(|g| g == group) && found.insert(name.clone()) {
                queue.push(name.clone());
            }
        }
    }
    found
}

/// Every role `role` is a member of, directly or through other roles, whether it inherits
/// their privileges or must SET ROLE to use them.
pub fn member_of_all(state: &ClusterState, role: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut queue = vec![role.to_string()];
    while let Some(current) = queue.pop() {
        let Some(r) = state.roles.get(&current) else {
            continue;
        };
        for group in groups(r) {
            if found.insert(group.to_string()) {
                queue.push(group.to_string());
            }
        }
    }
    found
}

/// Every role whose privileges `role` uses without SET ROLE: itself and the roles it inherits
/// from, at any depth.
pub fn inherited(state: &ClusterState, role: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::from([role.to_string()]);
    let mut queue = vec![role.to_string()];
    while let Some(current) = queue.pop() {
        let Some(r) = state.roles.get(&current) else {
            continue;
        };
        for group in groups(r).filter(|g| inherits(r, g)) {
            if found.insert(group.to_string()) {
                queue.push(group.to_string());
            }
        }
    }
    found
}
