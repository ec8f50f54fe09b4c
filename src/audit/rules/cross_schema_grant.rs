//! `cross-schema-grant`: privileges on a service's schema or objects held by another service's
//! role, directly or through a role it inherits from; declared reads, shared schemas and
//! observers' reads are exceptions. Default privileges count too: those that give a service
//! role privileges on objects another service's or any other role creates (in another
//! service's schema, or anywhere when global), with the default ACL as the object.

use crate::audit::{Audit, Exception};
use crate::catalog::model::{Acl, DefaultAclKey, Grantee};
use crate::finding::{Finding, Location, RuleId};
use crate::plan::change::keywords;

use super::{read_only, targets};

/// Privileges on a service's schema or objects held by another service's role, directly or
/// through a role it inherits from. Declared reads, shared schemas and observers' reads are
/// exceptions; an observer holding more than read access is a finding.
pub fn check(audit: &mut Audit<'_>) {
    granted(audit);
    defaults(audit);
}

/// How many ACLs that yielded nothing [`granted`] remembers per schema.
const QUIET: usize = 8;

fn granted(audit: &mut Audit<'_>) {
    let services = audit.services;
    // What a target yields depends on its schema, owner and ACL alone, and a service's objects
    // mostly share a few (its tables one, its sequences another): a target like one of the
    // schema's last few that yielded nothing is skipped.
    let mut quiet: Vec<(&str, &str, &Acl)> = Vec::new();
    for target in targets(audit) {
        if quiet
            .first()
            .is_some_and(|(schema, _, _)| *schema != target.schema)
        {
            quiet.clear();
        }
        if quiet
            .iter()
            .any(|(_, owner, acl)| *owner == target.owner && *acl == target.acl)
        {
            continue;
        }
        let before = (audit.findings.len(), audit.exceptions.len());
        let owner_service = services.of_schema(target.schema);
        for (grantee, privileges) in target.acl {
            let Grantee::Role(holder) = grantee else {
                continue;
            };
            if privileges.is_empty() || holder == target.owner {
                continue;
            }
            for user in audit.users.get(holder.as_str()).into_iter().flatten() {
                let user_service = services.of_role(user);
                if user_service.is_some() && user_service == owner_service {
                    continue;
                }
                if read_only(privileges) {
                    if let Some(reason) = audit.services.read_exception(user, target.schema) {
                        audit.exceptions.push(Exception {
                            rule: RuleId::CrossSchemaGrant,
                            object: target.object(),
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
                        object: target.object(),
                    },
                    format!(
                        "{whose} `{user}` holds {} on {} `{}`{via}",
                        keywords(privileges),
                        target.noun,
                        target.object()
                    ),
                )
                .target_schema(target.schema)
                .role(user);
                let home = user_service
                    .and_then(|s| audit.services.schemas_of(s).first().map(|s| s.to_string()));
                if let Some(home) = home {
                    finding = finding.schema(home);
                }
                audit.findings.push(finding);
            }
        }
        if (audit.findings.len(), audit.exceptions.len()) == before {
            if quiet.len() == QUIET {
                quiet.remove(0);
            }
            quiet.push((target.schema, target.owner, target.acl));
        }
    }
}

/// Default privileges naming a service role (or an observer, through its own grants) for
/// objects that another service's role, or a role of no service, will create.
fn defaults(audit: &mut Audit<'_>) {
    for (key, acl) in &audit.db.default_acls {
        let creator_service = audit.services.of_role(&key.owner);
        let target_schema = match &key.schema {
            Some(schema) => {
                if audit.services.of_schema(schema).is_none() {
                    continue;
                }
                Some(schema.clone())
            }
            None => creator_service
                .and_then(|s| audit.services.schemas_of(s).first().map(|s| s.to_string())),
        };
        let object = default_acl_name(key);
        for (grantee, privileges) in acl {
            let Grantee::Role(holder) = grantee else {
                continue;
            };
            if privileges.is_empty() || *holder == key.owner {
                continue;
            }
            for user in audit.users.get(holder.as_str()).into_iter().flatten() {
                let user_service = audit.services.of_role(user);
                let foreign = match &key.schema {
                    Some(schema) => user_service != audit.services.of_schema(schema),
                    None => user_service.is_none() || user_service != creator_service,
                };
                if !foreign {
                    continue;
                }
                if read_only(privileges) {
                    let reason = target_schema
                        .as_deref()
                        .and_then(|t| audit.services.read_exception(user, t));
                    if let Some(reason) = reason {
                        audit.exceptions.push(Exception {
                            rule: RuleId::CrossSchemaGrant,
                            object: object.clone(),
                            role: Some(user.clone()),
                            reason,
                        });
                        continue;
                    }
                }
                let whose = match user_service {
                    Some(service) => format!("service {service}'s role"),
                    None => "observer".to_string(),
                };
                let via = if user == holder {
                    String::new()
                } else {
                    format!(" through membership in `{holder}`")
                };
                let place = match &key.schema {
                    Some(schema) => format!("in schema `{schema}`"),
                    None => "in any schema".to_string(),
                };
                let mut finding = Finding::new(
                    RuleId::CrossSchemaGrant,
                    Location::Object {
                        object: object.clone(),
                    },
                    format!(
                        "{whose} `{user}` gets {} on the {} `{}` creates {place}{via} (default privileges)",
                        keywords(privileges),
                        key.objects.keyword().to_lowercase(),
                        key.owner
                    ),
                )
                .role(user);
                if let Some(target) = &target_schema {
                    finding = finding.target_schema(target);
                }
                let home = user_service.and_then(|s| audit.services.schemas_of(s).first().copied());
                if let Some(home) = home {
                    finding = finding.schema(home);
                }
                audit.findings.push(finding);
            }
        }
    }
}

/// How a default ACL is named in findings: `default privileges for postgres in billing on
/// tables`, without `in ...` for global ones.
pub fn default_acl_name(key: &DefaultAclKey) -> String {
    let place = key
        .schema
        .as_ref()
        .map(|s| format!(" in {s}"))
        .unwrap_or_default();
    format!(
        "default privileges for {}{place} on {}",
        key.owner,
        key.objects.keyword().to_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, declared, lines};
    use crate::catalog::model::DefaultObjects::{Functions, Tables};
    use crate::catalog::model::Privilege::*;

    fn services() -> crate::audit::Services {
        let mut services = declared(&[
            (
                "billing",
                "billing",
                "billing_owner",
                &["billing_rw", "billing_ro"],
            ),
            ("monolith", "monolith", "monolith_owner", &["monolith_rw"]),
            ("reference", "reference", "reference_owner", &[]),
        ]);
        services
            .reads
            .insert(("billing".into(), "reference".into()), "codes".into());
        services
    }

    fn cluster() -> Cluster {
        Cluster::new()
            .schema("billing", "billing_owner")
            .table("billing.invoices")
            .schema("monolith", "monolith_owner")
            .table("monolith.customers")
            .schema("reference", "reference_owner")
    }

    #[test]
    fn grants_on_another_services_objects_are_found_directly_and_through_membership() {
        let report = cluster()
            .grant(&[Select], "monolith.customers", "billing_rw")
            .grant(&[Select], "monolith.customers", "legacy")
            .member("billing_ro", "legacy")
            .grant(&[Select, Insert], "billing.invoices", "billing_rw")
            .audit(&services());
        assert_eq!(
            lines(&report, "cross-schema-grant"),
            [
                "monolith.customers | billing -> monolith | billing_ro",
                "monolith.customers | billing -> monolith | billing_rw",
            ]
        );
    }

    #[test]
    fn default_privileges_for_objects_others_create_are_grants() {
        let report = cluster()
            // Global: whatever postgres creates, anywhere.
            .default_grant("postgres", None, Tables, &[Select], "billing_rw")
            // In another service's schema, by its owner.
            .default_grant(
                "monolith_owner",
                Some("monolith"),
                Tables,
                &[Select, Insert],
                "billing_ro",
            )
            // Near misses: the service's own objects, globally or in its schema by anyone;
            // a declared read; another service's own defaults.
            .default_grant("billing_owner", None, Tables, &[Select], "billing_rw")
            .default_grant(
                "postgres",
                Some("billing"),
                Functions,
                &[Execute],
                "billing_rw",
            )
            .default_grant(
                "reference_owner",
                Some("reference"),
                Tables,
                &[Select],
                "billing_ro",
            )
            .default_grant(
                "monolith_owner",
                Some("monolith"),
                Tables,
                &[Select],
                "monolith_rw",
            )
            .audit(&services());
        assert_eq!(
            lines(&report, "cross-schema-grant"),
            [
                "default privileges for monolith_owner in monolith on tables | billing -> monolith | billing_ro",
                "default privileges for postgres on tables | billing -> - | billing_rw",
            ]
        );
        let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(
            messages.contains(&"service billing's role `billing_rw` gets SELECT on the tables `postgres` creates in any schema (default privileges)"),
            "{messages:#?}"
        );
        assert_eq!(report.exceptions.len(), 1, "{:#?}", report.exceptions);
        assert_eq!(
            report.exceptions[0].object,
            "default privileges for reference_owner in reference on tables"
        );
    }
}
