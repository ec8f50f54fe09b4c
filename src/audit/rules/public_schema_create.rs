//! `public-schema-create`: PUBLIC or a service role can CREATE in schema public.

use std::collections::BTreeSet;

use crate::audit::Audit;
use crate::catalog::model::{Grantee, Privilege};
use crate::finding::{Finding, Location, RuleId};

/// PUBLIC, or a service role (directly or through membership), may CREATE in schema public.
pub fn check(audit: &mut Audit<'_>) {
    let Some(public) = audit.db.schemas.get(crate::pg::PUBLIC_SCHEMA) else {
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

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, declared, lines};
    use crate::catalog::model::Privilege::*;

    #[test]
    fn public_and_service_roles_creating_in_public_are_found() {
        let cluster = Cluster::new()
            .schema("billing", "billing_owner")
            .grant(&[Usage, Create], "public", "PUBLIC")
            .grant(&[Create], "public", "legacy_creators")
            .member("billing_rw", "legacy_creators")
            .grant(&[Usage], "public", "billing_ro");
        let services = declared(&[(
            "billing",
            "billing",
            "billing_owner",
            &["billing_rw", "billing_ro"],
        )]);
        let report = cluster.audit(&services);
        assert_eq!(
            lines(&report, "public-schema-create"),
            [
                "public | public -> - | -",
                "public | public -> - | billing_rw",
            ]
        );
        assert!(
            report.findings[1]
                .message
                .ends_with("through membership in `legacy_creators`"),
            "{}",
            report.findings[1].message
        );
    }
}
