//! `--service NAME`: narrowing `plan`, `apply` and `audit` to some services. A filter over the
//! desired and live models (and over findings), applied before the diff, so the diff itself
//! knows nothing of it: the selected services' roles, schemas, grants and default privileges
//! stay; other services, shared schemas and observers' own roles drop out of both sides, and
//! what belongs to the whole database (PUBLIC's CONNECT, schema public, prune) is left alone.
//! Pure: no I/O.

use std::collections::BTreeSet;

use crate::catalog::model::{ClusterState, Grantee};
use crate::desired::Desired;
use crate::finding::Finding;
use crate::manifest::{Manifest, PublicSchema};

/// A `--service` name the manifest does not declare.
#[derive(Debug, thiserror::Error)]
#[error("unknown service `{name}`; the manifest declares {known}")]
pub struct UnknownService {
    pub name: String,
    pub known: String,
}

/// The services a command works on, with their schemas and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub services: BTreeSet<String>,
    /// The selected services' schemas.
    schemas: BTreeSet<String>,
    /// The selected services' owners and login roles.
    roles: BTreeSet<String>,
    /// Every other schema of the manifest (other services', shared ones).
    other_schemas: BTreeSet<String>,
    /// Every other role of the manifest (other services', shared owners, observers).
    other_roles: BTreeSet<String>,
    /// The other roles granted something on a selected schema: other services' roles that
    /// declare `reads` of it, observers. Created when missing so those grants can land (a
    /// fresh cluster has none of them), never altered or given settings here.
    readers: BTreeSet<String>,
}

impl Selection {
    /// The selection for `names`; `None` when no name is given (the whole database).
    pub fn new(manifest: &Manifest, names: &[String]) -> Result<Option<Selection>, UnknownService> {
        if names.is_empty() {
            return Ok(None);
        }
        for name in names {
            if manifest.service(name).is_none() {
                let known: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
                return Err(UnknownService {
                    name: name.clone(),
                    known: if known.is_empty() {
                        "no service".to_string()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
        let services: BTreeSet<String> = names.iter().cloned().collect();
        let mut selection = Selection {
            services,
            schemas: BTreeSet::new(),
            roles: BTreeSet::new(),
            other_schemas: BTreeSet::new(),
            other_roles: BTreeSet::new(),
            readers: BTreeSet::new(),
        };
        for service in &manifest.services {
            let (schemas, roles) = if selection.services.contains(&service.name) {
                (&mut selection.schemas, &mut selection.roles)
            } else {
                (&mut selection.other_schemas, &mut selection.other_roles)
            };
            schemas.insert(service.schema.clone());
            roles.insert(service.owner.clone());
            roles.extend(service.roles.iter().map(|r| r.name.clone()));
        }
        for shared in &manifest.shared {
            selection.other_schemas.insert(shared.schema.clone());
            selection.other_roles.insert(shared.owner.clone());
        }
        selection
            .other_roles
            .extend(manifest.observers.iter().map(|o| o.name.clone()));
        selection.readers = selection.grantees(&crate::desired::desired_state(manifest));
        Ok(Some(selection))
    }

    /// The roles outside the selection that `desired` grants something on a selected schema
    /// or its objects, directly or by default privileges.
    fn grantees(&self, desired: &Desired) -> BTreeSet<String> {
        let Some(db) = desired.state.databases.get(&desired.database) else {
            return BTreeSet::new();
        };
        let schemas = db
            .schemas
            .iter()
            .filter(|(name, _)| self.schemas.contains(*name))
            .flat_map(|(_, schema)| {
                std::iter::once(&schema.acl).chain(schema.objects.values().map(|o| &o.acl))
            });
        let defaults = db
            .default_acls
            .iter()
            .filter(|(key, _)| {
                key.schema
                    .as_ref()
                    .is_some_and(|s| self.schemas.contains(s))
            })
            .map(|(_, acl)| acl);
        schemas
            .chain(defaults)
            .flat_map(|acl| acl.keys().filter_map(Grantee::role))
            .filter(|role| !self.roles.contains(*role))
            .map(str::to_string)
            .collect()
    }

    /// The desired state of the selected services alone: their roles, schemas (with every
    /// grant on them, other services' declared reads included), default privileges and their
    /// roles' CONNECT; the readers of those schemas only as roles to create when missing;
    /// nothing database-wide.
    pub fn desired(&self, desired: &Desired) -> Desired {
        let mut narrowed = desired.clone();
        narrowed
            .state
            .roles
            .retain(|name, _| self.roles.contains(name) || self.readers.contains(name));
        for name in &self.readers {
            if let Some(reader) = narrowed.state.roles.get_mut(name) {
                // Only its existence: its memberships and settings are its own service's.
                reader.member_of.clear();
                reader.memberships.clear();
                reader.settings.clear();
            }
        }
        narrowed
            .enforced_roles
            .retain(|name| self.roles.contains(name));
        narrowed
            .password_envs
            .retain(|name, _| self.roles.contains(name));
        narrowed
            .password_versions
            .retain(|name, _| self.roles.contains(name));
        narrowed.public_schema = PublicSchema::Unmanaged;
        if let Some(db) = narrowed.state.databases.get_mut(&narrowed.database) {
            db.schemas.retain(|name, _| self.schemas.contains(name));
            db.default_acls
                .retain(|key, _| self.roles.contains(&key.owner));
            db.acl.retain(|grantee, _| match grantee {
                Grantee::Public => false,
                Grantee::Role(role) => self.roles.contains(role),
            });
        }
        narrowed
    }

    /// The live state as the selected services see it: other services' and shared schemas,
    /// and the manifest's other roles, are left out (so they are neither changed nor listed as
    /// unmanaged), as are roles dbsplit created that are not selected (so none is pruned).
    pub fn live(&self, live: &ClusterState) -> ClusterState {
        let mut narrowed = live.clone();
        narrowed.roles.retain(|name, role| {
            self.roles.contains(name)
                || self.readers.contains(name)
                || (!self.other_roles.contains(name) && role.mark().is_none())
        });
        for db in narrowed.databases.values_mut() {
            db.schemas
                .retain(|name, _| !self.other_schemas.contains(name));
        }
        narrowed
    }

    /// The findings that concern the selected services: in one of their schemas, reaching into
    /// one, or about one of their roles.
    pub fn findings(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter(|f| {
                [&f.schema, &f.target_schema]
                    .into_iter()
                    .flatten()
                    .any(|s| self.schemas.contains(s))
                    || f.role.as_ref().is_some_and(|r| self.roles.contains(r))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::desired_state;
    use crate::finding::{Location, RuleId};

    fn example() -> Manifest {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("services.toml.example");
        Manifest::load(&path).expect("the example manifest loads")
    }

    #[test]
    fn no_name_selects_everything_and_an_unknown_one_is_refused() {
        let manifest = example();
        assert_eq!(Selection::new(&manifest, &[]).unwrap(), None);
        let error = Selection::new(&manifest, &["biling".to_string()]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown service `biling`; the manifest declares monolith, billing, notifications"
        );
    }

    #[test]
    fn the_desired_state_keeps_the_selected_services_and_nothing_database_wide() {
        let manifest = example();
        let desired = desired_state(&manifest);
        let selection = Selection::new(&manifest, &["billing".to_string()])
            .unwrap()
            .unwrap();
        let narrowed = selection.desired(&desired);
        let roles: Vec<&str> = narrowed.state.roles.keys().map(String::as_str).collect();
        assert_eq!(
            roles,
            [
                "billing_migrator",
                "billing_owner",
                "billing_ro",
                "billing_rw"
            ]
        );
        let db = narrowed.db();
        assert_eq!(db.schemas.keys().collect::<Vec<_>>(), ["billing"]);
        assert!(db.default_acls.keys().all(|k| k.owner == "billing_owner"));
        assert!(
            !db.acl.contains_key(&Grantee::Public),
            "PUBLIC's CONNECT is database-wide"
        );
        assert!(db.acl.contains_key(&Grantee::Role("billing_rw".into())));
        assert_eq!(narrowed.public_schema, PublicSchema::Unmanaged);
    }

    #[test]
    fn the_live_state_loses_other_services_and_unselected_dbsplit_roles() {
        use crate::catalog::model::{Database, Role, Schema};
        let manifest = example();
        let selection = Selection::new(&manifest, &["billing".to_string()])
            .unwrap()
            .unwrap();
        let mut live = ClusterState::default();
        for name in [
            "billing_rw",
            "monolith_rw",
            "reference_owner",
            "bob",
            "gone",
        ] {
            live.roles.insert(name.into(), Role::default());
        }
        live.roles.get_mut("gone").unwrap().comment = Some("managed by dbsplit".into());
        let schema = |owner: &str| Schema {
            owner: owner.into(),
            acl: Default::default(),
            grant_options: Default::default(),
            objects: Default::default(),
        };
        let mut db = Database::default();
        for (name, owner) in [
            ("billing", "billing_owner"),
            ("monolith", "monolith_owner"),
            ("reference", "reference_owner"),
            ("public", "postgres"),
            ("legacy", "bob"),
        ] {
            db.schemas.insert(name.into(), schema(owner));
        }
        live.databases.insert("app".into(), db);
        let narrowed = selection.live(&live);
        assert_eq!(
            narrowed.roles.keys().collect::<Vec<_>>(),
            ["billing_rw", "bob"]
        );
        assert_eq!(
            narrowed.databases["app"].schemas.keys().collect::<Vec<_>>(),
            ["billing", "legacy", "public"]
        );
    }

    #[test]
    fn findings_are_kept_when_they_touch_a_selected_schema_or_role() {
        let manifest = example();
        let selection = Selection::new(&manifest, &["billing".to_string()])
            .unwrap()
            .unwrap();
        let finding = |schema: Option<&str>, target: Option<&str>, role: Option<&str>| {
            let mut f = Finding::new(
                RuleId::CrossSchemaGrant,
                Location::Object {
                    object: "x.t".into(),
                },
                "m",
            );
            f.schema = schema.map(Into::into);
            f.target_schema = target.map(Into::into);
            f.role = role.map(Into::into);
            f
        };
        let kept = selection.findings(vec![
            finding(Some("billing"), None, None),
            finding(Some("monolith"), Some("billing"), None),
            finding(Some("monolith"), None, Some("billing_rw")),
            finding(Some("monolith"), Some("notifications"), Some("monolith_rw")),
            finding(None, None, None),
        ]);
        assert_eq!(kept.len(), 3);
    }
}
