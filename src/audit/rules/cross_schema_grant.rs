//! `cross-schema-grant`: privileges on a service's schema or objects held by another service's
//! role, directly or through a role it inherits from; declared reads, shared schemas and
//! observers' reads are exceptions.

use crate::audit::{Audit, Exception};
use crate::catalog::model::Grantee;
use crate::finding::{Finding, Location, RuleId};
use crate::plan::change::keywords;

use super::{read_only, targets};

/// Privileges on a service's schema or objects held by another service's role, directly or
/// through a role it inherits from. Declared reads, shared schemas and observers' reads are
/// exceptions; an observer holding more than read access is a finding.
pub fn check(audit: &mut Audit<'_>) {
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
