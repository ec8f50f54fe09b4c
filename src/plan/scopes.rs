//! Which part of the manifest (service, shared schema, observer, database) each role, schema
//! and grant belongs to, so plans can be shown service by service.

use std::collections::BTreeMap;

use crate::catalog::model::{Acl, Grantee, Privileges};
use crate::manifest::Manifest;

use super::change::Scope;

/// Which part of the manifest each role and schema belongs to.
pub struct Scopes<'m> {
    manifest: &'m Manifest,
}

impl<'m> Scopes<'m> {
    pub fn new(manifest: &'m Manifest) -> Self {
        Scopes { manifest }
    }

    pub fn of_role(&self, role: &str) -> Scope {
        let m = self.manifest;
        if let Some(service) = m.service_of_role(role) {
            return Scope::Service(service.name.clone());
        }
        if let Some(shared) = m.shared.iter().find(|s| s.owner == role) {
            return Scope::Shared(shared.name.clone());
        }
        if let Some(observer) = m.observers.iter().find(|o| o.name == role) {
            return Scope::Observer(observer.name.clone());
        }
        Scope::Database(m.database.name.clone())
    }

    pub fn of_schema(&self, schema: &str) -> Scope {
        let m = self.manifest;
        if let Some(service) = m.service_of_schema(schema) {
            return Scope::Service(service.name.clone());
        }
        if let Some(shared) = m.shared.iter().find(|s| s.schema == schema) {
            return Scope::Shared(shared.name.clone());
        }
        Scope::Database(m.database.name.clone())
    }

    pub fn of_grantee(&self, grantee: &Grantee) -> Scope {
        match grantee {
            Grantee::Role(role) => self.of_role(role),
            Grantee::Public => Scope::Database(self.manifest.database.name.clone()),
        }
    }
}

/// The non-empty entries of an ACL grouped into GRANT statements: one per scope of the grantee
/// and privilege set. The object's owner is left out: it holds everything implicitly.
pub fn grouped(
    acl: &Acl,
    scopes: &Scopes<'_>,
    owner: Option<&str>,
) -> Vec<(Scope, Privileges, Vec<Grantee>)> {
    let mut groups: BTreeMap<(Scope, Privileges), Vec<Grantee>> = BTreeMap::new();
    for (grantee, privileges) in acl {
        if privileges.is_empty() || (owner.is_some() && grantee.role() == owner) {
            continue;
        }
        groups
            .entry((scopes.of_grantee(grantee), privileges.clone()))
            .or_default()
            .push(grantee.clone());
    }
    groups
        .into_iter()
        .map(|((scope, privileges), grantees)| (scope, privileges, grantees))
        .collect()
}
