//! `public-grant`: privileges on a service schema or its objects granted to PUBLIC.

use crate::audit::Audit;
use crate::catalog::model::{Grantee, ObjectKind, Privilege};
use crate::finding::{Finding, Location, RuleId};
use crate::plan::change::keywords;

use super::targets;

/// Privileges on a service's schema or objects granted to PUBLIC. Types keep PostgreSQL's
/// default USAGE for PUBLIC, which couples nothing.
pub fn check(audit: &mut Audit<'_>) {
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
