//! Rules on who may do what: cross-schema-grant, public-grant, shared-writer,
//! public-schema-create. Privileges count when held directly or through role membership.

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::services::WRITES;
use crate::audit::{Audit, Exception};
use crate::catalog::model::{Acl, Grantee, ObjectKind, Privilege, Privileges};
use crate::finding::{Finding, Location, RuleId};
use crate::plan::change::keywords;

use super::{is_table, qualified};

/// Privileges that only read: what a declared read or an observer may hold.
fn read_only(privileges: &Privileges) -> bool {
    privileges
        .iter()
        .all(|p| matches!(p, Privilege::Select | Privilege::Usage))
}

/// One ACL of a service schema, with what it is on, for the rules to walk.
struct Target<'a> {
    schema: &'a str,
    /// `schema`, `schema.table`, `schema.table.column`, `schema.f(args)`.
    object: String,
    noun: &'static str,
    kind: Option<ObjectKind>,
    owner: &'a str,
    acl: &'a Acl,
}

fn targets<'a>(audit: &Audit<'a>) -> Vec<Target<'a>> {
    let mut out = Vec::new();
    for (name, schema) in &audit.db.schemas {
        if audit.services.of_schema(name).is_none() {
            continue;
        }
        out.push(Target {
            schema: name,
            object: name.clone(),
            noun: "schema",
            kind: None,
            owner: &schema.owner,
            acl: &schema.acl,
        });
        for object in schema.objects.values() {
            let qualified = qualified(name, object);
            for (column, acl) in &object.columns {
                out.push(Target {
                    schema: name,
                    object: format!("{qualified}.{column}"),
                    noun: "column",
                    kind: Some(object.kind),
                    owner: &object.owner,
                    acl,
                });
            }
            out.push(Target {
                schema: name,
                object: qualified,
                noun: object.kind.noun(),
                kind: Some(object.kind),
                owner: &object.owner,
                acl: &object.acl,
            });
        }
    }
    out
}

/// Privileges on a service's schema or objects held by another service's role, directly or
/// through a role it inherits from. Declared reads, shared schemas and observers' reads are
/// exceptions; an observer holding more than read access is a finding.
pub fn cross_schema_grant(audit: &mut Audit<'_>) {
    for target in targets(audit) {
        let owner_service = audit.services.of_schema(target.schema).map(str::to_string);
        for (grantee, privileges) in target.acl {
            let Grantee::Role(holder) = grantee else {
                continue;
            };
            if privileges.is_empty() || holder == target.owner {
                continue;
            }
            for user in audit.users.get(holder.as_str()).into_iter().flatten() {
                let user_service = audit.services.of_role(user).map(str::to_string);
                if user_service.is_some() && user_service == owner_service {
                    continue;
                }
                if read_only(privileges) {
                    if let Some(reason) = audit.services.read_exception(user, target.schema) {
                        audit.exceptions.push(Exception {
                            rule: RuleId::CrossSchemaGrant,
                            object: target.object.clone(),
                            role: Some(user.clone()),
                            reason,
                        });
                        continue;
                    }
                }
                let via = if user == holder {
                    String::new()
                } else {
                    format!(" through membership in `{holder}`")
                };
                let whose = match &user_service {
                    Some(service) => format!("service {service}'s role"),
                    None => "observer".to_string(),
                };
                let mut finding = Finding::new(
                    RuleId::CrossSchemaGrant,
                    Location::Object {
                        object: target.object.clone(),
                    },
                    format!(
                        "{whose} `{user}` holds {} on {} `{}`{via}",
                        keywords(privileges),
                        target.noun,
                        target.object
                    ),
                )
                .target_schema(target.schema)
                .role(user);
                let home = user_service
                    .as_deref()
                    .and_then(|s| audit.services.schemas_of(s).first().map(|s| s.to_string()));
                if let Some(home) = home {
                    finding = finding.schema(home);
                }
                audit.findings.push(finding);
            }
        }
    }
}

/// Privileges on a service's schema or objects granted to PUBLIC. Types keep PostgreSQL's
/// default USAGE for PUBLIC, which couples nothing.
pub fn public_grant(audit: &mut Audit<'_>) {
    for target in targets(audit) {
        let Some(privileges) = target.acl.get(&Grantee::Public) else {
            continue;
        };
        let mut privileges = privileges.clone();
        if matches!(target.kind, Some(ObjectKind::Type | ObjectKind::Domain)) {
            privileges.remove(&Privilege::Usage);
        }
        if privileges.is_empty() {
            continue;
        }
        audit.findings.push(
            Finding::new(
                RuleId::PublicGrant,
                Location::Object {
                    object: target.object.clone(),
                },
                format!(
                    "PUBLIC holds {} on {} `{}`",
                    keywords(&privileges),
                    target.noun,
                    target.object
                ),
            )
            .schema(target.schema)
            .target_schema(target.schema),
        );
    }
}

/// Tables that roles of two or more services can write, as owner or through privileges.
pub fn shared_writer(audit: &mut Audit<'_>) {
    for (name, schema) in &audit.db.schemas {
        if audit.services.of_schema(name).is_none() {
            continue;
        }
        for object in schema.objects.values().filter(|o| is_table(o.kind)) {
            let mut writers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            let mut add = |role: &str| {
                if let Some(service) = audit.services.of_role(role) {
                    writers
                        .entry(service.to_string())
                        .or_default()
                        .insert(role.to_string());
                }
            };
            // The owner, and whoever uses the owner's privileges, can write.
            for user in audit.users.get(&object.owner).into_iter().flatten() {
                add(user);
            }
            for (grantee, privileges) in &object.acl {
                if !WRITES.iter().any(|w| privileges.contains(w)) {
                    continue;
                }
                match grantee {
                    Grantee::Public => {
                        for role in audit.services.role_service.keys() {
                            add(role);
                        }
                    }
                    Grantee::Role(holder) => {
                        for user in audit.users.get(holder).into_iter().flatten() {
                            add(user);
                        }
                    }
                }
            }
            if writers.len() < 2 {
                continue;
            }
            let object_name = qualified(name, object);
            let list: Vec<String> = writers
                .iter()
                .map(|(service, roles)| {
                    format!(
                        "{service} ({})",
                        roles.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            let own = audit
                .services
                .of_schema(name)
                .unwrap_or_default()
                .to_string();
            let other_role = writers
                .iter()
                .find(|(service, _)| **service != own)
                .and_then(|(_, roles)| roles.iter().next().cloned());
            let mut finding = Finding::new(
                RuleId::SharedWriter,
                Location::Object {
                    object: object_name.clone(),
                },
                format!(
                    "table `{object_name}` can be written by {} services: {}",
                    writers.len(),
                    list.join("; ")
                ),
            )
            .schema(name);
            if let Some(role) = other_role {
                finding = finding.role(role);
            }
            audit.findings.push(finding);
        }
    }
}

/// PUBLIC, or a service role (directly or through membership), may CREATE in schema public.
pub fn public_schema_create(audit: &mut Audit<'_>) {
    let Some(public) = audit.db.schemas.get("public") else {
        return;
    };
    let creators: BTreeSet<&Grantee> = public
        .acl
        .iter()
        .filter(|(_, p)| p.contains(&Privilege::Create))
        .map(|(g, _)| g)
        .collect();
    if creators.contains(&Grantee::Public) {
        audit.findings.push(
            Finding::new(
                RuleId::PublicSchemaCreate,
                Location::Object {
                    object: "public".into(),
                },
                "PUBLIC may CREATE in schema `public`: every role can put objects there"
                    .to_string(),
            )
            .schema("public"),
        );
    }
    for (role, service) in &audit.services.role_service {
        let via = audit.inherited[role]
            .iter()
            .find(|g| creators.contains(&Grantee::Role((*g).clone())) || **g == public.owner);
        let Some(via) = via else { continue };
        let through = if via == role {
            String::new()
        } else {
            format!(" through membership in `{via}`")
        };
        audit.findings.push(
            Finding::new(
                RuleId::PublicSchemaCreate,
                Location::Object {
                    object: "public".into(),
                },
                format!("service {service}'s role `{role}` may CREATE in schema `public`{through}"),
            )
            .schema("public")
            .role(role),
        );
    }
}
