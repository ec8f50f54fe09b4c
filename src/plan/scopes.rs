//! Which part of the manifest (service, shared schema, observer, database) each role, schema
//! and grant belongs to, so plans can be shown service by service.

use crate::catalog::model::Grantee;
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
