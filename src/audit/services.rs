//! Which service each schema and role belongs to, from the manifest or, without one, inferred
//! from the live cluster; and the declared exceptions (reads, shared schemas, observers).
//!
//! Inference: each schema outside the system ones and `public` is a service. Its roles are the
//! schema's owner, the roles that are members of the owner (directly or not), and the roles
//! that hold privileges on that schema's objects only (or write there and only read elsewhere).
//! A role that owns several schemas, or a superuser owning a schema, is an administrator, not
//! a service role.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::model::{ClusterState, Database, Grantee, Privilege};

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
        let mut services = Services::default();
        let is_admin = |role: &str| {
            role.starts_with("pg_")
                || state
                    .roles
                    .get(role)
                    .is_some_and(|r| r.attributes.superuser)
        };
        let mut owned: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, schema) in &db.schemas {
            if name != "public" {
                owned.entry(schema.owner.as_str()).or_default().push(name);
            }
        }
        for (name, schema) in &db.schemas {
            if name == "public" {
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
        // Members of an owner role, at any depth, belong to its service.
        let owners: Vec<(String, String)> = services
            .owners
            .iter()
            .map(|(service, owner)| (owner.clone(), service.clone()))
            .collect();
        for (owner, service) in owners {
            for member in members_of(state, &owner) {
                if !is_admin(&member) {
                    services
                        .role_service
                        .entry(member)
                        .or_insert(service.clone());
                }
            }
        }
        // Roles holding privileges on one service's schemas only belong to it; failing that,
        // a role that writes in exactly one service (and only reads elsewhere) belongs to it.
        let mut holds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut writes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, schema) in &db.schemas {
            let Some(service) = services.schema_service.get(name) else {
                continue;
            };
            let acls = std::iter::once(&schema.acl)
                .chain(schema.objects.values().map(|o| &o.acl))
                .chain(schema.objects.values().flat_map(|o| o.columns.values()));
            for acl in acls {
                for (grantee, privileges) in acl {
                    if let Grantee::Role(role) = grantee {
                        if !privileges.is_empty() {
                            holds
                                .entry(role.clone())
                                .or_default()
                                .insert(service.clone());
                        }
                        if privileges.iter().any(|p| WRITES.contains(p)) {
                            writes
                                .entry(role.clone())
                                .or_default()
                                .insert(service.clone());
                        }
                    }
                }
            }
        }
        for (role, held) in holds {
            if is_admin(&role) || services.role_service.contains_key(&role) {
                continue;
            }
            let written = writes.get(&role).filter(|w| w.len() == 1);
            let home = if held.len() == 1 {
                Some(&held)
            } else {
                written
            };
            if let Some(service) = home.and_then(|h| h.iter().next()) {
                services.role_service.insert(role, service.clone());
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

/// Every role that is a member of `role`, directly or through other roles.
pub fn members_of(state: &ClusterState, role: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut queue = vec![role.to_string()];
    while let Some(group) = queue.pop() {
        for (name, r) in &state.roles {
            if r.member_of.contains(&group) && found.insert(name.clone()) {
                queue.push(name.clone());
            }
        }
    }
    found
}

/// Every role whose privileges `role` uses without SET ROLE: itself and, when it inherits, the
/// roles it is a member of, at any depth. (PostgreSQL 16's per-grant INHERIT option is read as
/// the member's INHERIT attribute.)
pub fn inherited(state: &ClusterState, role: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::from([role.to_string()]);
    let mut queue = vec![role.to_string()];
    while let Some(current) = queue.pop() {
        let Some(r) = state.roles.get(&current) else {
            continue;
        };
        if !r.attributes.inherit {
            continue;
        }
        for group in &r.member_of {
            if found.insert(group.clone()) {
                queue.push(group.clone());
            }
        }
    }
    found
}
