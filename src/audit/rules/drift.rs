//! `drift` (with a manifest): each change `plan` would make is a warning.

use crate::audit::Audit;
use crate::finding::{Finding, Location, RuleId};
use crate::plan::Plan;

pub fn check(audit: &mut Audit<'_>, plan: &Plan) {
    for change in &plan.changes {
        let mut finding = Finding::new(
            RuleId::Drift,
            Location::Object {
                object: change.action.object(),
            },
            format!(
                "{} would {}: {}",
                change.scope,
                change.action.kind(),
                change.action.describe()
            ),
        );
        if let Some(service) = change.scope.service() {
            if let Some(schema) = audit.services.schemas_of(service).first() {
                finding = finding.schema(*schema);
            }
        }
        audit.findings.push(finding);
    }
}
