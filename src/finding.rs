//! Findings: what `lint` (and later `audit`) reports, as data. A finding names its rule, its
//! severity, where it is (a place in a file, or an object in a cluster) and the schemas it
//! couples. Rendering lives in `report`; exit codes are picked in `cmd`.
//!
//! Rule ids are stable kebab-case strings: users write them in `-- dbsplit:allow <rule>` and CI
//! matches on them, so a rule is never renamed, only added.

use std::cmp::Ordering;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// How bad a finding is. Ordered: a warning is below an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every rule dbsplit knows. [`RULES`] holds the id, default severity and description of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    CrossSchemaReference,
    CrossSchemaWrite,
    CrossSchemaFk,
    CrossSchemaGrant,
    CreateInPublic,
    SearchPathChange,
    RoleChange,
    NonTransactionalStatement,
    TransactionControl,
    CopyFromStdin,
    PsqlMetaCommand,
    UnparsedStatement,
    StaleSum,
    BadDirective,
}

/// One row of the rule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: RuleId,
    /// The stable kebab-case name.
    pub name: &'static str,
    pub severity: Severity,
    /// One sentence: what the rule finds.
    pub description: &'static str,
}

/// The rule table: drives `FromStr`, `Display`, the SARIF rule list and the README table.
pub const RULES: &[Rule] = &[
    Rule {
        id: RuleId::CrossSchemaReference,
        name: "cross-schema-reference",
        severity: Severity::Error,
        description: "a read of another schema (query, view, function call, type, sequence, trigger function) that the service does not declare in `reads` and that is not a shared schema",
    },
    Rule {
        id: RuleId::CrossSchemaWrite,
        name: "cross-schema-write",
        severity: Severity::Error,
        description: "a write or DDL on an object in another schema (INSERT, UPDATE, DELETE, TRUNCATE, CREATE, ALTER, DROP, COMMENT, ALTER ... SET SCHEMA), declared reads and shared schemas included",
    },
    Rule {
        id: RuleId::CrossSchemaFk,
        name: "cross-schema-fk",
        severity: Severity::Error,
        description: "a foreign key to a table in another schema",
    },
    Rule {
        id: RuleId::CrossSchemaGrant,
        name: "cross-schema-grant",
        severity: Severity::Error,
        description: "a GRANT, REVOKE or ALTER DEFAULT PRIVILEGES on another schema, or to or from another service's role (role membership included)",
    },
    Rule {
        id: RuleId::CreateInPublic,
        name: "create-in-public",
        severity: Severity::Error,
        description: "an object created in (or moved to) schema public",
    },
    Rule {
        id: RuleId::SearchPathChange,
        name: "search-path-change",
        severity: Severity::Error,
        description: "SET search_path, set_config('search_path', ...) or a function's SET search_path naming a schema the service may not read",
    },
    Rule {
        id: RuleId::RoleChange,
        name: "role-change",
        severity: Severity::Error,
        description: "SET ROLE, RESET ROLE or SET SESSION AUTHORIZATION: migrations run as the service's owner role and the runner aborts when it changes",
    },
    Rule {
        id: RuleId::NonTransactionalStatement,
        name: "non-transactional-statement",
        severity: Severity::Error,
        description: "a statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM, ...) in a file without `-- dbsplit:no-transaction` on its first line",
    },
    Rule {
        id: RuleId::TransactionControl,
        name: "transaction-control",
        severity: Severity::Error,
        description: "BEGIN, COMMIT, ROLLBACK or END in a transactional file, which already runs in a transaction of its own",
    },
    Rule {
        id: RuleId::CopyFromStdin,
        name: "copy-from-stdin",
        severity: Severity::Error,
        description: "COPY ... FROM STDIN, which needs psql's copy protocol and cannot run as a migration",
    },
    Rule {
        id: RuleId::PsqlMetaCommand,
        name: "psql-meta-command",
        severity: Severity::Error,
        description: "a psql meta-command (\\connect, \\i, \\set, ...), which is not SQL",
    },
    Rule {
        id: RuleId::UnparsedStatement,
        name: "unparsed-statement",
        severity: Severity::Warning,
        description: "a statement the SQL parser does not understand; only schema and role names were checked in it",
    },
    Rule {
        id: RuleId::StaleSum,
        name: "stale-sum",
        severity: Severity::Warning,
        description: "dbsplit.sum is missing or does not match the migration files (edited, added or conflicting migrations)",
    },
    Rule {
        id: RuleId::BadDirective,
        name: "bad-directive",
        severity: Severity::Error,
        description: "a `-- dbsplit:` comment that is not understood: an unknown rule, an allow without a reason, or no-transaction below the first line",
    },
];

impl RuleId {
    /// This rule's row of [`RULES`].
    pub fn rule(self) -> &'static Rule {
        RULES
            .iter()
            .find(|rule| rule.id == self)
            .expect("every rule id has a row in RULES")
    }

    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        self.rule().name
    }

    /// The severity a finding of this rule has.
    pub fn severity(self) -> Severity {
        self.rule().severity
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown rule name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule `{0}`")]
pub struct UnknownRule(pub String);

impl FromStr for RuleId {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RULES
            .iter()
            .find(|rule| rule.name == s)
            .map(|rule| rule.id)
            .ok_or_else(|| UnknownRule(s.to_string()))
    }
}

/// Where a finding is: a place in a file (lint), or an object in a cluster (audit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// 1-based line and column (counted in characters).
    File {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    /// A qualified object name such as `billing.invoices`.
    Object { object: String },
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: RuleId,
    pub severity: Severity,
    pub location: Location,
    /// The schema the finding is in: the service's own schema for a migration file.
    pub schema: Option<String>,
    /// The schema it reaches into, when there is one.
    pub target_schema: Option<String>,
    /// The role involved (a grantee, a SET ROLE target), when there is one.
    pub role: Option<String>,
    /// What is wrong, lowercase, names in backticks.
    pub message: String,
}

impl Finding {
    /// A finding of `rule` at its default severity.
    pub fn new(rule: RuleId, location: Location, message: impl Into<String>) -> Self {
        Finding {
            rule,
            severity: rule.severity(),
            location,
            schema: None,
            target_schema: None,
            role: None,
            message: message.into(),
        }
    }

    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    pub fn target_schema(mut self, schema: impl Into<String>) -> Self {
        self.target_schema = Some(schema.into());
        self
    }

    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// The deterministic order of output: by location, then rule, then message.
    pub fn order(&self, other: &Finding) -> Ordering {
        (
            &self.location,
            self.rule,
            &self.message,
            &self.target_schema,
        )
            .cmp(&(
                &other.location,
                other.rule,
                &other.message,
                &other.target_schema,
            ))
    }
}

/// Sorts findings for output and drops exact duplicates.
pub fn sort(findings: &mut Vec<Finding>) {
    findings.sort_by(Finding::order);
    findings.dedup();
}

/// Whether any finding is at or above `threshold`: exit code 1 when so.
pub fn any_at_or_above(findings: &[Finding], threshold: Severity) -> bool {
    findings.iter().any(|f| f.severity >= threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_one_row_and_round_trips_through_its_name() {
        for rule in RULES {
            assert_eq!(rule.id.rule(), rule);
            assert_eq!(rule.name.parse::<RuleId>(), Ok(rule.id));
            assert_eq!(rule.id.to_string(), rule.name);
            assert!(
                rule.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{} is kebab-case",
                rule.name
            );
            assert_eq!(
                RULES.iter().filter(|r| r.id == rule.id).count(),
                1,
                "{}",
                rule.name
            );
        }
        assert_eq!(
            "no-such-rule".parse::<RuleId>(),
            Err(UnknownRule("no-such-rule".into()))
        );
    }

    #[test]
    fn the_readme_rules_table_lists_every_rule_with_its_severity() {
        let readme = include_str!("../README.md");
        for rule in RULES {
            let row = format!("| `{}` | {} |", rule.name, rule.severity);
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
    }

    #[test]
    fn findings_sort_by_file_position_then_rule() {
        let at = |line, column| Location::File {
            path: "m/a.sql".into(),
            line,
            column,
        };
        let mut findings = vec![
            Finding::new(RuleId::UnparsedStatement, at(3, 1), "b"),
            Finding::new(RuleId::CrossSchemaFk, at(2, 5), "a"),
            Finding::new(RuleId::CrossSchemaReference, at(2, 5), "a"),
            Finding::new(RuleId::CrossSchemaFk, at(2, 5), "a"),
        ];
        sort(&mut findings);
        let order: Vec<_> = findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            order,
            [
                "cross-schema-reference",
                "cross-schema-fk",
                "unparsed-statement"
            ]
        );
        assert!(any_at_or_above(&findings, Severity::Error));
        assert!(!any_at_or_above(&findings[2..], Severity::Error));
        assert!(any_at_or_above(&findings[2..], Severity::Warning));
    }
}
