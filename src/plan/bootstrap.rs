//! The offline plan: everything a cluster where nothing exists yet needs, computed from the
//! desired state alone, plus defensive revokes (nothing to take away on an empty cluster, but the
//! script stays right when it runs again on one that drifted).

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::model::{Grantee, Privilege};
use crate::desired::Desired;
use crate::manifest::{Manifest, PublicSchema};

use super::change::{Action, Change, Existing, Object, Plan, Scope};
use super::scopes::{Scopes, grouped};

/// The complete bootstrap of `desired` for an empty cluster, in apply order.
pub fn bootstrap(manifest: &Manifest, desired: &Desired) -> Plan {
    let scopes = Scopes::new(manifest);
    let db = desired.db();
    let mut changes = Vec::new();
    let mut push = |scope: Scope, action: Action| changes.push(Change { scope, action });

    for (name, role) in &desired.state.roles {
        let existing = if desired.enforced_roles.contains(name) {
            Existing::Alter
        } else {
            Existing::Keep
        };
        push(
            scopes.of_role(name),
            Action::CreateRole {
                role: name.clone(),
                attributes: role.attributes.clone(),
                password_env: desired.password_envs.get(name).cloned(),
                existing,
            },
        );
    }

    for (name, schema) in &db.schemas {
        push(
            scopes.of_schema(name),
            Action::CreateSchema {
                schema: name.clone(),
                owner: schema.owner.clone(),
            },
        );
    }

    // Memberships, grouped by the role granted.
    let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, role) in &desired.state.roles {
        for group in &role.member_of {
            members.entry(group).or_default().push(name.clone());
        }
    }
    for (group, members) in members {
        push(
            scopes.of_role(group),
            Action::GrantRole {
                group: group.to_string(),
                members,
            },
        );
    }

    let database = Object::Database(desired.database.clone());
    for (scope, privileges, grantees) in grouped(&db.acl, &scopes, None) {
        push(
            scope,
            Action::Grant {
                privileges,
                on: database.clone(),
                to: grantees,
            },
        );
    }
    for (name, schema) in &db.schemas {
        for (scope, privileges, grantees) in grouped(&schema.acl, &scopes, Some(&schema.owner)) {
            push(
                scope,
                Action::Grant {
                    privileges,
                    on: Object::Schema(name.clone()),
                    to: grantees,
                },
            );
        }
    }

    for (key, acl) in &db.default_acls {
        for (scope, privileges, grantees) in grouped(acl, &scopes, Some(&key.owner)) {
            push(
                scope,
                Action::DefaultPrivileges {
                    owner: key.owner.clone(),
                    schema: key.schema.clone(),
                    objects: key.objects,
                    grant: true,
                    privileges: Some(privileges),
                    grantees,
                },
            );
        }
        let none: Vec<Grantee> = acl
            .iter()
            .filter(|(_, privileges)| privileges.is_empty())
            .map(|(grantee, _)| grantee.clone())
            .collect();
        if !none.is_empty() {
            push(
                scopes.of_role(&key.owner),
                Action::DefaultPrivileges {
                    owner: key.owner.clone(),
                    schema: key.schema.clone(),
                    objects: key.objects,
                    grant: false,
                    privileges: Some(key.objects.all_privileges()),
                    grantees: none,
                },
            );
        }
    }

    for (name, role) in &desired.state.roles {
        let Some(settings) = role.settings.get(&desired.database) else {
            continue;
        };
        if let Some(path) = settings.get("search_path") {
            push(
                scopes.of_role(name),
                Action::SetSearchPath {
                    role: name.clone(),
                    database: desired.database.clone(),
                    schemas: crate::desired::parse_search_path(path),
                },
            );
        }
    }

    // Revokes: everything on a managed schema from PUBLIC and from every managed role the
    // desired ACL does not name.
    let managed: BTreeSet<&String> = desired.state.roles.keys().collect();
    for (name, schema) in &db.schemas {
        let mut from = vec![Grantee::Public];
        from.extend(
            managed
                .iter()
                .filter(|role| {
                    **role != &schema.owner
                        && !schema.acl.contains_key(&Grantee::Role((**role).clone()))
                })
                .map(|role| Grantee::Role((*role).clone())),
        );
        push(
            scopes.of_schema(name),
            Action::Revoke {
                privileges: None,
                on: Object::Schema(name.clone()),
                from,
            },
        );
    }
    let db_scope = Scope::Database(desired.database.clone());
    if db.acl.get(&Grantee::Public).is_some_and(BTreeSet::is_empty) {
        push(
            db_scope.clone(),
            Action::Revoke {
                privileges: Some(BTreeSet::from([Privilege::Connect, Privilege::Temporary])),
                on: database,
                from: vec![Grantee::Public],
            },
        );
    }
    match desired.public_schema {
        PublicSchema::Lockdown => {
            let mut from = vec![Grantee::Public];
            from.extend(managed.iter().map(|role| Grantee::Role((*role).clone())));
            push(
                db_scope,
                Action::Revoke {
                    privileges: Some(BTreeSet::from([Privilege::Create])),
                    on: Object::Schema("public".to_string()),
                    from,
                },
            );
        }
        PublicSchema::Drop => push(
            db_scope,
            Action::DropSchema {
                schema: "public".to_string(),
            },
        ),
        PublicSchema::Unmanaged => {}
    }

    let mut plan = Plan {
        database: desired.database.clone(),
        changes,
        notes: Vec::new(),
    };
    plan.sort();
    plan
}
