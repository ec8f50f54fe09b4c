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
    RoleManagement,
    GrantOutsideService,
    NonTransactionalStatement,
    TransactionControl,
    CopyFromStdin,
    PsqlMetaCommand,
    UnparsedStatement,
    StaleSum,
    BadDirective,
    PublicGrant,
    PublicSchemaCreate,
    PublicSchemaObjects,
    CrossSchemaView,
    CrossSchemaDependency,
    ForeignOwner,
    SharedWriter,
    RoleMembershipLeak,
    SearchPathLeak,
    PrivilegedServiceRole,
    Drift,
    SharedRole,
    CrossSchemaQuery,
    ConnectionBudget,
    SharedCredentials,
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
    /// One line: how to fix a finding of it.
    pub fix: &'static str,
}

/// The rule table: drives `FromStr`, `Display`, the SARIF rule list and the README table.
pub const RULES: &[Rule] = &[
    Rule {
        id: RuleId::CrossSchemaReference,
        name: "cross-schema-reference",
        severity: Severity::Error,
        description: "a read of another schema (query, view, function call, type, sequence, trigger function) that the service does not declare in `reads` and that is not a shared schema",
        fix: "read through the owning service's API or events; or declare the read in `reads` with a reason",
    },
    Rule {
        id: RuleId::CrossSchemaWrite,
        name: "cross-schema-write",
        severity: Severity::Error,
        description: "a write or DDL on an object in another schema (INSERT, UPDATE, DELETE, TRUNCATE, CREATE, ALTER, DROP, COMMENT, ALTER ... SET SCHEMA), declared reads and shared schemas included",
        fix: "ask the owning service to make the change, through its API or its own migration",
    },
    Rule {
        id: RuleId::CrossSchemaFk,
        name: "cross-schema-fk",
        severity: Severity::Error,
        description: "a foreign key from a table in one service's schema to a table in another's",
        fix: "drop the foreign key and keep the id; validate it through the owning service's API or events",
    },
    Rule {
        id: RuleId::CrossSchemaGrant,
        name: "cross-schema-grant",
        severity: Severity::Error,
        description: "a privilege on another service's schema or objects: granted by a migration (GRANT, REVOKE, ALTER DEFAULT PRIVILEGES, role membership) or held in a live cluster, directly or through role membership",
        fix: "revoke it (`dbsplit apply` does); a service reads another's data through its API, or a declared `reads`",
    },
    Rule {
        id: RuleId::CreateInPublic,
        name: "create-in-public",
        severity: Severity::Error,
        description: "an object created in (or moved to) schema public",
        fix: "create it in the service's own schema: leave the name unqualified",
    },
    Rule {
        id: RuleId::SearchPathChange,
        name: "search-path-change",
        severity: Severity::Error,
        description: "SET search_path, set_config('search_path', ...) or a function's SET search_path naming a schema the service may not read",
        fix: "leave search_path alone: migrations run with the service's own path",
    },
    Rule {
        id: RuleId::RoleChange,
        name: "role-change",
        severity: Severity::Error,
        description: "SET ROLE, RESET ROLE or SET SESSION AUTHORIZATION: migrations run as the service's owner role and the runner aborts when it changes",
        fix: "remove it: migrations run as the service's owner role",
    },
    Rule {
        id: RuleId::RoleManagement,
        name: "role-management",
        severity: Severity::Error,
        description: "CREATE, ALTER or DROP ROLE (USER, GROUP), or a GRANT or REVOKE of role membership, in a migration: roles and memberships are the manifest's",
        fix: "declare the role or membership in services.toml; `dbsplit apply` makes it",
    },
    Rule {
        id: RuleId::GrantOutsideService,
        name: "grant-outside-service",
        severity: Severity::Error,
        description: "a GRANT or ALTER DEFAULT PRIVILEGES ... GRANT to a role outside the service (PUBLIC is `public-grant`, another service's role `cross-schema-grant`)",
        fix: "grant to the service's own roles only; access for others is declared in services.toml (`reads`, observers)",
    },
    Rule {
        id: RuleId::NonTransactionalStatement,
        name: "non-transactional-statement",
        severity: Severity::Error,
        description: "a statement that cannot run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM, ...) in a file without `-- dbsplit:no-transaction` on its first line",
        fix: "move it to its own file starting with `-- dbsplit:no-transaction`, written with IF [NOT] EXISTS",
    },
    Rule {
        id: RuleId::TransactionControl,
        name: "transaction-control",
        severity: Severity::Error,
        description: "BEGIN, COMMIT, ROLLBACK or END in a transactional file, which already runs in a transaction of its own",
        fix: "remove it: each file already runs in one transaction",
    },
    Rule {
        id: RuleId::CopyFromStdin,
        name: "copy-from-stdin",
        severity: Severity::Error,
        description: "COPY ... FROM STDIN, which needs psql's copy protocol and cannot run as a migration",
        fix: "load data with INSERT, or outside migrations",
    },
    Rule {
        id: RuleId::PsqlMetaCommand,
        name: "psql-meta-command",
        severity: Severity::Error,
        description: "a psql meta-command (\\connect, \\i, \\set, ...), which is not SQL",
        fix: "remove it: migrations are plain SQL",
    },
    Rule {
        id: RuleId::UnparsedStatement,
        name: "unparsed-statement",
        severity: Severity::Warning,
        description: "a statement the SQL parser does not understand; only schema and role names were checked in it",
        fix: "check the statement by hand; `-- dbsplit:allow unparsed-statement <reason>` records that you did",
    },
    Rule {
        id: RuleId::StaleSum,
        name: "stale-sum",
        severity: Severity::Warning,
        description: "dbsplit.sum is missing or does not match the migration files (edited, added or conflicting migrations)",
        fix: "run `dbsplit migrate hash <service>` and commit dbsplit.sum",
    },
    Rule {
        id: RuleId::BadDirective,
        name: "bad-directive",
        severity: Severity::Error,
        description: "a `-- dbsplit:` comment that is not understood: an unknown rule, an allow without a reason, or no-transaction below the first line",
        fix: "write `-- dbsplit:allow <rule> <reason>`, or `-- dbsplit:no-transaction` on the first line",
    },
    Rule {
        id: RuleId::PublicGrant,
        name: "public-grant",
        severity: Severity::Error,
        description: "a privilege on a service schema or its objects granted to PUBLIC",
        fix: "revoke it from PUBLIC (`dbsplit apply` does); grant to the service's own roles",
    },
    Rule {
        id: RuleId::PublicSchemaCreate,
        name: "public-schema-create",
        severity: Severity::Error,
        description: "PUBLIC or a service role can CREATE in schema public",
        fix: "REVOKE CREATE ON SCHEMA public FROM PUBLIC (public_schema = \"lockdown\")",
    },
    Rule {
        id: RuleId::PublicSchemaObjects,
        name: "public-schema-objects",
        severity: Severity::Warning,
        description: "tables, views, functions living in schema public, where every service reaches them",
        fix: "move each into the schema of the service that owns it (ALTER ... SET SCHEMA)",
    },
    Rule {
        id: RuleId::CrossSchemaView,
        name: "cross-schema-view",
        severity: Severity::Error,
        description: "a view or materialized view in one service's schema reading a relation in another's",
        fix: "replace the view with a call to the owning service's API, or declare the read",
    },
    Rule {
        id: RuleId::CrossSchemaDependency,
        name: "cross-schema-dependency",
        severity: Severity::Warning,
        description: "another dependency from one service's schema into another's: a column type, a sequence default, a trigger function, a function body",
        fix: "give the service its own copy of the type or function, or move the dependency behind an API",
    },
    Rule {
        id: RuleId::ForeignOwner,
        name: "foreign-owner",
        severity: Severity::Error,
        description: "an object in a service's schema owned by a role that is not the schema's owner",
        fix: "ALTER ... OWNER TO the service's owner role (`dbsplit apply` does)",
    },
    Rule {
        id: RuleId::SharedWriter,
        name: "shared-writer",
        severity: Severity::Error,
        description: "a table that roles of two services can INSERT, UPDATE, DELETE or TRUNCATE",
        fix: "let one service own the writes; the other calls its API or publishes events",
    },
    Rule {
        id: RuleId::RoleMembershipLeak,
        name: "role-membership-leak",
        severity: Severity::Error,
        description: "a service role that is a member of another service's role",
        fix: "REVOKE the membership (`dbsplit apply` does for roles it manages)",
    },
    Rule {
        id: RuleId::SearchPathLeak,
        name: "search-path-leak",
        severity: Severity::Warning,
        description: "a service role whose search_path names another service's schema or public",
        fix: "set search_path to the service's own schema (`dbsplit apply` does)",
    },
    Rule {
        id: RuleId::PrivilegedServiceRole,
        name: "privileged-service-role",
        severity: Severity::Error,
        description: "a service role with SUPERUSER, BYPASSRLS, CREATEROLE or CREATEDB, or a member of a predefined role that reaches every schema (pg_read_all_data, pg_write_all_data, pg_read_server_files, pg_write_server_files, pg_execute_server_program), or one holding ADMIN OPTION on a membership",
        fix: "ALTER ROLE ... NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB, REVOKE the predefined role and REVOKE ADMIN OPTION FOR the role (`dbsplit apply` does)",
    },
    Rule {
        id: RuleId::Drift,
        name: "drift",
        severity: Severity::Warning,
        description: "(with a manifest) anything `dbsplit plan` would change",
        fix: "run `dbsplit plan` to review and `dbsplit apply` to converge",
    },
    Rule {
        id: RuleId::SharedRole,
        name: "shared-role",
        severity: Severity::Error,
        description: "(inferred services) a role outside every service that can INSERT, UPDATE, DELETE or TRUNCATE the tables of two or more services",
        fix: "give each service its own role; a job that feeds several services goes through their APIs",
    },
    Rule {
        id: RuleId::CrossSchemaQuery,
        name: "cross-schema-query",
        severity: Severity::Warning,
        description: "(`usage`, `audit --runtime`) statements a service role or an observer ran against another service's relations, from pg_stat_statements",
        fix: "move the access behind the owning service's API, or declare the read in `reads`; then `dbsplit apply` can revoke the privilege without breaking the application",
    },
    Rule {
        id: RuleId::ConnectionBudget,
        name: "connection-budget",
        severity: Severity::Error,
        description: "the login roles' connection limits (pool_size × instances for a role without one), plus superuser_reserved_connections and reserved_connections, exceed max_connections",
        fix: "lower connection_limit or pool_size of the roles, or raise max_connections",
    },
    Rule {
        id: RuleId::SharedCredentials,
        name: "shared-credentials",
        severity: Severity::Warning,
        description: "sessions of one service's role whose application_name names another service: that service logs in with these credentials",
        fix: "give the other service its own login role in the manifest, and its own password",
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
    /// Who answers for the service the finding concerns, when the manifest names them.
    pub owner: Option<Owner>,
    /// Where in a fleet the finding is (audit of a fleet manifest); `None` otherwise.
    pub place: Option<Place>,
}

/// A finding's target in a fleet: its cluster, and its database unless it is about the
/// cluster as a whole (roles are per cluster, schemas per database).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub cluster: String,
    pub database: Option<String>,
}

impl Place {
    /// `cluster/database`, or the cluster's name alone for a cluster-wide finding.
    pub fn label(&self) -> String {
        match &self.database {
            Some(database) => format!("{}/{database}", self.cluster),
            None => self.cluster.clone(),
        }
    }
}

/// A service's `team` and `contact` from the manifest: at least one is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub team: Option<String>,
    pub contact: Option<String>,
}

impl Owner {
    /// `@acme/billing (#billing-oncall)`, for tables and annotations.
    pub fn describe(&self) -> String {
        match (&self.team, &self.contact) {
            (Some(team), Some(contact)) => format!("{team} ({contact})"),
            (Some(one), None) | (None, Some(one)) => one.clone(),
            (None, None) => String::new(),
        }
    }
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
            owner: None,
            place: None,
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

    /// The rule after `id` in declaration order, by an exhaustive match: a new rule id does not
    /// compile until it is placed here, and then fails the test below until it has its row.
    fn next(id: RuleId) -> Option<RuleId> {
        use RuleId::*;
        match id {
            CrossSchemaReference => Some(CrossSchemaWrite),
            CrossSchemaWrite => Some(CrossSchemaFk),
            CrossSchemaFk => Some(CrossSchemaGrant),
            CrossSchemaGrant => Some(CreateInPublic),
            CreateInPublic => Some(SearchPathChange),
            SearchPathChange => Some(RoleChange),
            RoleChange => Some(RoleManagement),
            RoleManagement => Some(GrantOutsideService),
            GrantOutsideService => Some(NonTransactionalStatement),
            NonTransactionalStatement => Some(TransactionControl),
            TransactionControl => Some(CopyFromStdin),
            CopyFromStdin => Some(PsqlMetaCommand),
            PsqlMetaCommand => Some(UnparsedStatement),
            UnparsedStatement => Some(StaleSum),
            StaleSum => Some(BadDirective),
            BadDirective => Some(PublicGrant),
            PublicGrant => Some(PublicSchemaCreate),
            PublicSchemaCreate => Some(PublicSchemaObjects),
            PublicSchemaObjects => Some(CrossSchemaView),
            CrossSchemaView => Some(CrossSchemaDependency),
            CrossSchemaDependency => Some(ForeignOwner),
            ForeignOwner => Some(SharedWriter),
            SharedWriter => Some(RoleMembershipLeak),
            RoleMembershipLeak => Some(SearchPathLeak),
            SearchPathLeak => Some(PrivilegedServiceRole),
            PrivilegedServiceRole => Some(Drift),
            Drift => Some(SharedRole),
            SharedRole => Some(CrossSchemaQuery),
            CrossSchemaQuery => Some(ConnectionBudget),
            ConnectionBudget => Some(SharedCredentials),
            SharedCredentials => None,
        }
    }

    #[test]
    fn every_rule_id_has_exactly_one_row() {
        let mut ids = vec![RuleId::CrossSchemaReference];
        while let Some(id) = next(ids[ids.len() - 1]) {
            ids.push(id);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(*id as usize, i, "{id:?} is visited in declaration order");
            let rows = RULES.iter().filter(|r| r.id == *id).count();
            assert_eq!(rows, 1, "{id:?} has one row in RULES");
        }
        assert_eq!(RULES.len(), ids.len(), "RULES has no row of its own");
    }

    #[test]
    fn every_rule_round_trips_through_its_name() {
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
                RULES.iter().filter(|r| r.name == rule.name).count(),
                1,
                "{} names one rule",
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
