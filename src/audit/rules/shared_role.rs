//! `shared-role` (inferred services): a role outside every service that can write the tables
//! of two or more services, directly or through the roles it inherits from. Without a
//! manifest such a role belongs to no service, so no other rule sees it couple them.

use std::collections::BTreeMap;

use crate::audit::Audit;
use crate::audit::services::{self, WRITES};
use crate::catalog::model::Grantee;
use crate::finding::{Finding, Location, RuleId};

use super::{is_table, qualified};

pub fn check(audit: &mut Audit<'_>) {
    if !audit.services.inferred {
        return;
    }
    for name in audit.state.roles.keys() {
        let owns_schema = audit.db.schemas.values().any(|s| &s.owner == name);
        if owns_schema
            || audit.services.of_role(name).is_some()
            || services::is_admin(audit.state, name)
        {
            continue;
        }
        let inherited = services::inherited(audit.state, name);
        // Service -> the first table it can write there, and through which role.
        let mut written: BTreeMap<&str, (String, &str)> = BTreeMap::new();
        for (schema_name, schema) in &audit.db.schemas {
            let Some(service) = audit.services.of_schema(schema_name) else {
                continue;
            };
            if written.contains_key(service) {
                continue;
            }
            for object in schema.objects.values().filter(|o| is_table(o.kind)) {
                let via = inherited.iter().find(|holder| {
                    object.owner == **holder
                        || object
                            .acl
                            .get(&Grantee::Role((*holder).clone()))
                            .is_some_and(|p| WRITES.iter().any(|w| p.contains(w)))
                });
                if let Some(via) = via {
                    written.insert(service, (qualified(schema_name, object), via));
                    break;
                }
            }
        }
        if written.len() < 2 {
            continue;
        }
        let list: Vec<String> = written
            .iter()
            .map(|(service, (table, via))| {
                let through = if via == name {
                    String::new()
                } else {
                    format!(" through membership in `{via}`")
                };
                format!("{service} (`{table}`{through})")
            })
            .collect();
        audit.findings.push(
            Finding::new(
                RuleId::SharedRole,
                Location::Object {
                    object: name.clone(),
                },
                format!(
                    "role `{name}` belongs to no service but can write the tables of {} services: {}",
                    written.len(),
                    list.join(", ")
                ),
            )
            .role(name),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, lines};
    use crate::catalog::model::Privilege::*;

    /// Two services (auth, storage) and the roles around them, as on Supabase.
    fn supabase() -> Cluster {
        Cluster::new()
            .schema("auth", "supabase_auth_admin")
            .table("auth.users")
            .schema("storage", "supabase_storage_admin")
            .table("storage.objects")
            .grant(&[Usage], "auth", "anon")
            .grant(&[Usage], "storage", "anon")
            .grant(&[Select], "auth.users", "anon")
            .grant(&[Select], "storage.objects", "anon")
            .grant(&[Select], "auth.users", "authenticated")
            .grant(&[Select, Insert], "storage.objects", "authenticated")
    }

    #[test]
    fn a_role_writing_two_services_is_one_finding() {
        let cluster = supabase()
            .grant(&[Insert], "auth.users", "etl")
            .grant(&[Update], "storage.objects", "etl_group")
            .member("etl", "etl_group");
        let report = cluster.audit_inferred();
        assert_eq!(
            lines(&report, "shared-role"),
            ["etl | - -> - | etl"],
            "etl_group writes one service only"
        );
        let message = &report.findings[0].message;
        assert!(
            message.contains("auth (`auth.users`)")
                && message
                    .contains("storage (`storage.objects` through membership in `etl_group`)"),
            "{message}"
        );
    }

    #[test]
    fn readers_single_writers_owners_admins_and_noinherit_members_are_not_shared() {
        let cluster = supabase()
            .grant(&[Insert], "auth.users", "supabase_admin")
            .grant(&[Insert], "storage.objects", "supabase_admin")
            .role_with("supabase_admin", |r| r.attributes.superuser = true)
            .grant(&[Insert], "auth.users", "switcher_a")
            .grant(&[Insert], "storage.objects", "switcher_b")
            .member("authenticator", "switcher_a")
            .member("authenticator", "switcher_b")
            .role_with("authenticator", |r| r.attributes.inherit = false)
            .schema("billing", "multi_owner")
            .schema("ledger", "multi_owner");
        let report = cluster.audit_inferred();
        assert!(lines(&report, "shared-role").is_empty(), "{report:#?}");
        assert!(
            lines(&report, "cross-schema-grant").is_empty(),
            "API roles reading several services belong to none: {:#?}",
            lines(&report, "cross-schema-grant")
        );
    }

    #[test]
    fn a_membership_granted_without_inherit_gives_no_write() {
        use crate::catalog::model::Membership;
        let grant = |group: &str, inherit| Membership {
            inherit,
            ..Membership::wanted(group)
        };
        let cluster = supabase()
            .grant(&[Insert], "auth.users", "writes_auth")
            .grant(&[Insert], "storage.objects", "writes_storage")
            .member("dbsplit_admin", "writes_auth")
            .member("dbsplit_admin", "writes_storage")
            .role_with("dbsplit_admin", |r| {
                r.memberships = vec![grant("writes_auth", true), grant("writes_storage", false)];
            });
        assert!(lines(&cluster.audit_inferred(), "shared-role").is_empty());
        let cluster = cluster.role_with("dbsplit_admin", |r| {
            r.memberships = vec![
                grant("writes_auth", true),
                grant("writes_storage", false),
                grant("writes_storage", true),
            ];
        });
        assert_eq!(
            lines(&cluster.audit_inferred(), "shared-role"),
            ["dbsplit_admin | - -> - | dbsplit_admin"],
            "one grant with INHERIT is enough (PostgreSQL 16: one grant per grantor)"
        );
    }

    #[test]
    fn with_a_manifest_the_rule_is_silent() {
        let cluster = supabase().grant(&[Insert], "auth.users", "etl").grant(
            &[Insert],
            "storage.objects",
            "etl",
        );
        let services = crate::audit::testing::declared(&[
            ("auth", "auth", "supabase_auth_admin", &[]),
            ("storage", "storage", "supabase_storage_admin", &[]),
        ]);
        assert!(lines(&cluster.audit(&services), "shared-role").is_empty());
    }
}
