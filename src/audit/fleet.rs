//! `audit` over a fleet: each target's report is placed in its cluster and database, and the
//! reports of every target merged into one. Roles are per cluster and schemas per database:
//! a finding about a role or about the server (its attributes, its memberships, the
//! connection budget, sessions) belongs to the cluster, and is reported once there even when
//! several of its databases saw it. Pure: the command does the reading.

use std::collections::BTreeSet;

use crate::finding::{Finding, Place, RuleId};
use crate::plan::{Action, Plan};

use super::Report;

/// Whether a planned change acts on the cluster (a role, a membership) rather than on one
/// database.
fn cluster_wide(action: &Action) -> bool {
    matches!(
        action,
        Action::CreateRole { .. }
            | Action::AlterRole { .. }
            | Action::MarkRole { .. }
            | Action::SetPassword { .. }
            | Action::GrantRole { .. }
            | Action::RevokeRole { .. }
            | Action::GrantRoleOptions { .. }
            | Action::RevokeRoleOption { .. }
            | Action::SelfGrant { .. }
            | Action::DropRole { .. }
    )
}

/// Whether `finding` is about the cluster as a whole; `drift` is the plan its `drift`
/// findings came from.
fn is_cluster_wide(finding: &Finding, drift: &Plan) -> bool {
    match finding.rule {
        RuleId::PrivilegedServiceRole
        | RuleId::RoleMembershipLeak
        | RuleId::ConnectionBudget
        | RuleId::SharedCredentials => true,
        RuleId::Drift => drift.changes.iter().any(|change| {
            cluster_wide(&change.action) && super::rules::drift::message(change) == finding.message
        }),
        _ => false,
    }
}

/// Places every finding of `report`, one target's, in `cluster` and `database` (cluster-wide
/// ones in the cluster alone).
pub fn place(report: &mut Report, drift: &Plan, cluster: &str, database: &str) {
    for finding in &mut report.findings {
        let database = (!is_cluster_wide(finding, drift)).then(|| database.to_string());
        finding.place = Some(Place {
            cluster: cluster.to_string(),
            database,
        });
    }
}

/// One report of the targets' reports, in their order: a cluster-wide finding seen by two
/// databases of its cluster once; exceptions, role map and sessions together.
pub fn merge(reports: Vec<Report>) -> Report {
    let mut merged = Report::default();
    let mut seen: BTreeSet<(Place, String, String)> = BTreeSet::new();
    for report in reports {
        for finding in report.findings {
            if let Some(place) = finding.place.clone().filter(|p| p.database.is_none()) {
                let key = (
                    place,
                    finding.rule.as_str().to_string(),
                    finding.message.clone(),
                );
                if !seen.insert(key) {
                    continue;
                }
            }
            merged.findings.push(finding);
        }
        merged.exceptions.extend(report.exceptions);
        merged.roles.extend(report.roles);
        merged.sessions.extend(report.sessions);
        merged.sessions_hidden |= report.sessions_hidden;
    }
    merged.exceptions.sort();
    merged.exceptions.dedup();
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Location;
    use crate::plan::{Change, Scope};

    fn finding(rule: RuleId, message: &str) -> Finding {
        Finding::new(rule, Location::Object { object: "x".into() }, message)
    }

    #[test]
    fn role_findings_belong_to_the_cluster_once_and_schema_findings_to_their_database() {
        let create = Change {
            scope: Scope::Observer("warehouse".into()),
            action: Action::DropRole {
                role: "warehouse".into(),
            },
        };
        let drift = Plan {
            database: "app".into(),
            changes: vec![create.clone()],
            notes: Vec::new(),
        };
        let report = |database: &str| {
            let mut report = Report {
                findings: vec![
                    finding(RuleId::CrossSchemaFk, "fk"),
                    finding(RuleId::PrivilegedServiceRole, "superuser"),
                    finding(RuleId::Drift, &super::super::rules::drift::message(&create)),
                ],
                ..Report::default()
            };
            place(&mut report, &drift, "main", database);
            report
        };
        let merged = merge(vec![report("app"), report("reports")]);
        let placed: Vec<(RuleId, String)> = merged
            .findings
            .iter()
            .map(|f| {
                (
                    f.rule,
                    f.place.as_ref().map(Place::label).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            placed,
            [
                (RuleId::CrossSchemaFk, "main/app".to_string()),
                (RuleId::PrivilegedServiceRole, "main".to_string()),
                (RuleId::Drift, "main".to_string()),
                (RuleId::CrossSchemaFk, "main/reports".to_string()),
            ]
        );
    }
}
