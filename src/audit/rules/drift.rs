//! `drift` (with a manifest): each change `plan` would make is a warning.

use crate::audit::Audit;
use crate::finding::{Finding, Location, RuleId};
use crate::plan::{Change, Plan};

pub fn check(audit: &mut Audit<'_>, plan: &Plan) {
    for change in &plan.changes {
        let mut finding = Finding::new(
            RuleId::Drift,
            Location::Object {
                object: change.action.object(),
            },
            message(change),
        );
        if let Some(service) = change.scope.service() {
            if let Some(schema) = audit.services.schemas_of(service).first() {
                finding = finding.schema(*schema);
            }
        }
        audit.findings.push(finding);
    }
}

/// `service billing would create-schema: ...`: the finding's message for `change`.
pub fn message(change: &Change) -> String {
    format!(
        "{} would {}: {}",
        change.scope,
        change.action.kind(),
        change.action.describe()
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::audit;
    use crate::audit::testing::{Cluster, DB, declared, lines};
    use crate::plan::Plan;
    use crate::plan::change::{Action, Change, Scope};

    #[test]
    fn each_planned_change_is_a_warning_in_its_services_schema() {
        let cluster = Cluster::new();
        let services = declared(&[("billing", "billing", "billing_owner", &[])]);
        let plan = Plan {
            database: DB.into(),
            changes: vec![Change {
                scope: Scope::Service("billing".into()),
                action: Action::CreateSchema {
                    schema: "billing".into(),
                    owner: "billing_owner".into(),
                },
            }],
            notes: Vec::new(),
        };
        let report = audit(&cluster.state, DB, &services, Some(&plan));
        let drift = lines(&report, "drift");
        assert_eq!(drift.len(), 1);
        assert!(drift[0].contains("| billing -> - | -"), "{drift:?}");
        assert!(
            report.findings[0]
                .message
                .starts_with("service billing would "),
            "{}",
            report.findings[0].message
        );
        assert!(lines(&cluster.audit(&services), "drift").is_empty());
    }
}
