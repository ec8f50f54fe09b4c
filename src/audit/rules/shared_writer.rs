//! `shared-writer`: a table that roles of two or more services can write.

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::Audit;
use crate::audit::services::WRITES;
use crate::catalog::model::{Acl, Grantee};
use crate::finding::{Finding, Location, RuleId};

use super::{is_table, qualified};

/// Tables that roles of two or more services can write, as owner or through privileges.
pub fn check(audit: &mut Audit<'_>) {
    let services = audit.services;
    let mut findings = Vec::new();
    for (name, schema) in &audit.db.schemas {
        if services.of_schema(name).is_none() {
            continue;
        }
        // Who writes a table depends on its owner and ACL alone, mostly shared by a service's
        // tables: a table like the last one, which had one writing service at most, is skipped.
        let mut single: Option<(&str, &Acl)> = None;
        for object in schema.objects.values().filter(|o| is_table(o.kind)) {
            if single.is_some_and(|(owner, acl)| owner == object.owner && *acl == object.acl) {
                continue;
            }
            // Service -> its roles that can write; borrowed, as most tables have one writer.
            let mut writers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            let mut add = |role: &'_ str| {
                if let Some((role, service)) = services.role_service.get_key_value(role) {
                    writers.entry(service).or_default().insert(role);
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
                        for role in services.role_service.keys() {
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
                single = Some((&object.owner, &object.acl));
                continue;
            }
            single = None;
            let object_name = qualified(name, object);
            let list: Vec<String> = writers
                .iter()
                .map(|(service, roles)| {
                    format!(
                        "{service} ({})",
                        roles.iter().copied().collect::<Vec<_>>().join(", ")
                    )
                })
                .collect();
            let own = services.of_schema(name).unwrap_or_default();
            let other_role = writers
                .iter()
                .find(|(service, _)| **service != own)
                .and_then(|(_, roles)| roles.iter().next().copied());
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
            findings.push(finding);
        }
    }
    audit.findings.extend(findings);
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, declared, lines};
    use crate::catalog::model::Privilege::*;

    #[test]
    fn a_table_two_services_can_write_is_found_reads_are_not() {
        let cluster = Cluster::new()
            .schema("billing", "billing_owner")
            .table("billing.invoices")
            .table("billing.payments")
            .schema("monolith", "monolith_owner")
            .grant(&[Insert], "billing.invoices", "writers")
            .member("monolith_rw", "writers")
            .grant(&[Select], "billing.payments", "monolith_rw");
        let services = declared(&[
            ("billing", "billing", "billing_owner", &[]),
            ("monolith", "monolith", "monolith_owner", &["monolith_rw"]),
        ]);
        let report = cluster.audit(&services);
        assert_eq!(
            lines(&report, "shared-writer"),
            ["billing.invoices | billing -> - | monolith_rw"]
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.message
                    == "table `billing.invoices` can be written by 2 services: billing (billing_owner); monolith (monolith_rw)"),
            "{:#?}",
            report.findings
        );
    }
}
