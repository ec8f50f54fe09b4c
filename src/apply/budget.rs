//! The lock budget: whether a plan fits one transaction, and the transactions of whole
//! services it is applied in when it does not. Reading the server's settings is the only I/O;
//! the estimate and the split are pure.
//!
//! Every lock a transaction takes stays until it ends, and all transactions share one lock
//! table of `max_locks_per_transaction × (max_connections + max_prepared_transactions + the
//! server's own processes)` entries (PostgreSQL's NLOCKENTS, see
//! <https://www.postgresql.org/docs/current/runtime-config-locks.html>). `ALTER TABLE ... OWNER`
//! takes an ACCESS EXCLUSIVE lock on the table and on everything that moves with it (its
//! indexes, its TOAST table and index, its owned sequences); GRANT and REVOKE take none. So a
//! cold apply of 10,000 tables needs about 50,000 entries, and a default server has 7,808.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use crate::catalog::model::ObjectKind;
use crate::plan::change::Object;
use crate::plan::{Action, Change, Plan, Scope};

/// Entries kept for the transaction's own catalog reads, its advisory lock and its XID.
const OWN_LOCKS: u64 = 64;

/// The settings that size the shared lock table, and the entries in use when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTable {
    pub max_locks_per_transaction: u64,
    pub max_connections: u64,
    pub max_prepared_transactions: u64,
    /// Autovacuum workers and launcher, background workers, WAL senders: they count in the
    /// table's size like connections.
    pub server_processes: u64,
    /// Entries held now by other sessions (`pg_locks` outside the fast path).
    pub in_use: u64,
}

impl LockTable {
    /// Reads the settings (any role may) and counts the entries in use.
    pub async fn read(client: &Client) -> Result<LockTable, tokio_postgres::Error> {
        let rows = client
            .query(
                "SELECT name, setting::bigint FROM pg_catalog.pg_settings
                  WHERE name IN ('max_locks_per_transaction', 'max_connections',
                                 'max_prepared_transactions', 'autovacuum_max_workers',
                                 'autovacuum_worker_slots', 'max_worker_processes',
                                 'max_wal_senders')",
                &[],
            )
            .await?;
        let settings: BTreeMap<String, u64> = rows
            .iter()
            .map(|row| {
                let value: i64 = row.get(1);
                (row.get(0), u64::try_from(value).unwrap_or(0))
            })
            .collect();
        let setting = |name: &str| settings.get(name).copied().unwrap_or(0);
        let in_use: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_locks WHERE NOT fastpath",
                &[],
            )
            .await?
            .get(0);
        Ok(LockTable {
            max_locks_per_transaction: setting("max_locks_per_transaction"),
            max_connections: setting("max_connections"),
            max_prepared_transactions: setting("max_prepared_transactions"),
            // 18 sizes autovacuum by its worker slots, earlier majors by the worker count.
            server_processes: setting("autovacuum_max_workers")
                .max(setting("autovacuum_worker_slots"))
                + 1
                + setting("max_worker_processes")
                + setting("max_wal_senders"),
            in_use: u64::try_from(in_use).unwrap_or(0),
        })
    }

    /// Entries in the shared lock table.
    pub fn capacity(&self) -> u64 {
        self.max_locks_per_transaction
            * (self.max_connections + self.max_prepared_transactions + self.server_processes)
    }

    /// What one apply transaction may take: the capacity less the entries in use and room
    /// for two other sessions' ordinary transactions.
    pub fn usable(&self) -> u64 {
        self.capacity()
            .saturating_sub(self.in_use)
            .saturating_sub(2 * self.max_locks_per_transaction)
            .saturating_sub(OWN_LOCKS)
    }

    /// The numbers, for messages.
    pub fn describe(&self) -> String {
        format!(
            "the server's lock table holds {} entries (max_locks_per_transaction {} × (max_connections {} + max_prepared_transactions {} + {} server processes)), {} in use",
            self.capacity(),
            self.max_locks_per_transaction,
            self.max_connections,
            self.max_prepared_transactions,
            self.server_processes,
            self.in_use
        )
    }
}

/// The locks a change holds until commit, estimated: an owner change of a table takes the
/// table, its index, its TOAST table and index and its sequence; any other owner change one;
/// GRANT and REVOKE none.
pub fn locks(action: &Action) -> u64 {
    match action {
        Action::AlterOwner {
            object: Object::InSchema { kind, .. },
            ..
        } => match kind {
            ObjectKind::Table | ObjectKind::PartitionedTable | ObjectKind::MaterializedView => 5,
            _ => 1,
        },
        Action::AlterOwner { .. } | Action::CreateSchema { .. } | Action::DropSchema { .. } => 1,
        _ => 0,
    }
}

/// A part of a plan that lands whole, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Roles and schemas, whichever scope they serve: every later part may need them.
    RolesAndSchemas,
    /// The rest of a scope's changes.
    Scope(Scope),
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::RolesAndSchemas => write!(f, "roles and schemas"),
            Part::Scope(scope) => write!(f, "{scope}"),
        }
    }
}

/// The part a change belongs to.
pub fn part(change: &Change) -> Part {
    let per_object = matches!(
        &change.action,
        Action::AlterOwner {
            object: Object::InSchema { .. } | Object::Column { .. },
            ..
        }
    );
    match change.action.phase() {
        crate::plan::change::Phase::Roles | crate::plan::change::Phase::Schemas if !per_object => {
            Part::RolesAndSchemas
        }
        _ => Part::Scope(change.scope.clone()),
    }
}

/// Dependency order of the parts: roles and schemas, shared schemas, services, observers
/// (which read the services' objects), then the database as a whole (schema public, PUBLIC's
/// CONNECT, prune), each in the plan's order.
fn rank(part: &Part) -> u8 {
    match part {
        Part::RolesAndSchemas => 0,
        Part::Scope(Scope::Shared(_)) => 1,
        Part::Scope(Scope::Service(_)) => 2,
        Part::Scope(Scope::Observer(_)) => 3,
        Part::Scope(Scope::Database(_)) => 4,
    }
}

/// One transaction of a split apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub parts: Vec<Part>,
    pub locks: u64,
}

impl Transaction {
    /// `roles and schemas, shared schema reference` or `services a, b, c`.
    pub fn describe(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut services: Vec<&str> = Vec::new();
        let flush = |services: &mut Vec<&str>, out: &mut Vec<String>| {
            match services.len() {
                0 => {}
                1 => out.push(format!("service {}", services[0])),
                _ => out.push(format!("services {}", services.join(", "))),
            }
            services.clear();
        };
        for part in &self.parts {
            match part {
                Part::Scope(Scope::Service(name)) => services.push(name),
                other => {
                    flush(&mut services, &mut out);
                    out.push(other.to_string());
                }
            }
        }
        flush(&mut services, &mut out);
        out.join(", ")
    }
}

/// How a plan is applied: in one transaction, or in several of whole parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// It fits one transaction.
    One { locks: u64 },
    /// In these transactions, in this order.
    Many {
        locks: u64,
        transactions: Vec<Transaction>,
    },
    /// Even one part alone needs more than one transaction may take.
    TooBig { locks: u64, part: Part },
}

impl Split {
    /// The locks the whole plan needs.
    pub fn locks(&self) -> u64 {
        match self {
            Split::One { locks } | Split::Many { locks, .. } | Split::TooBig { locks, .. } => {
                *locks
            }
        }
    }
}

/// Splits `plan` into transactions of whole parts, in dependency order, each within `usable`
/// lock entries: consecutive parts share a transaction while they fit.
pub fn split(plan: &Plan, usable: u64) -> Split {
    // The parts in the order the plan first names them, with their locks; `seen` finds a
    // part's place without a scan of the list (a plan of 100,000 tables has 1,000 parts).
    let mut parts: Vec<(Part, u64)> = Vec::new();
    let mut seen: BTreeMap<Part, usize> = BTreeMap::new();
    for change in &plan.changes {
        let part = part(change);
        let locks = locks(&change.action);
        match seen.get(&part) {
            Some(&at) => parts[at].1 += locks,
            None => {
                seen.insert(part.clone(), parts.len());
                parts.push((part, locks));
            }
        }
    }
    let total: u64 = parts.iter().map(|(_, locks)| locks).sum();
    if total <= usable {
        return Split::One { locks: total };
    }
    // A stable sort: within a rank, the plan's order.
    parts.sort_by_key(|(part, _)| rank(part));
    if let Some((part, locks)) = parts.iter().find(|(_, locks)| *locks > usable) {
        return Split::TooBig {
            locks: *locks,
            part: part.clone(),
        };
    }
    let mut transactions: Vec<Transaction> = Vec::new();
    for (part, locks) in parts {
        match transactions.last_mut() {
            Some(last) if last.locks + locks <= usable => {
                last.parts.push(part);
                last.locks += locks;
            }
            _ => transactions.push(Transaction {
                parts: vec![part],
                locks,
            }),
        }
    }
    Split::Many {
        locks: total,
        transactions,
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::model::{Grantee, Privilege};

    use super::*;

    fn table(schema: &str, name: &str) -> Object {
        Object::InSchema {
            kind: ObjectKind::Table,
            schema: schema.into(),
            name: name.into(),
            args: None,
        }
    }

    fn plan(services: &[(&str, usize)]) -> Plan {
        let mut changes = Vec::new();
        for (service, _) in services {
            changes.push(Change {
                scope: Scope::Service(service.to_string()),
                action: Action::CreateSchema {
                    schema: service.to_string(),
                    owner: format!("{service}_owner"),
                },
            });
        }
        for (service, tables) in services {
            for t in 0..*tables {
                let scope = Scope::Service(service.to_string());
                changes.push(Change {
                    scope: scope.clone(),
                    action: Action::AlterOwner {
                        object: table(service, &format!("t{t}")),
                        owner: format!("{service}_owner"),
                    },
                });
                changes.push(Change {
                    scope,
                    action: Action::Grant {
                        privileges: [Privilege::Select].into_iter().collect(),
                        on: table(service, &format!("t{t}")),
                        to: vec![Grantee::Role(format!("{service}_ro"))],
                    },
                });
            }
        }
        changes.push(Change {
            scope: Scope::Database("app".into()),
            action: Action::Revoke {
                privileges: None,
                on: Object::Schema("public".into()),
                from: vec![Grantee::Public],
            },
        });
        changes.push(Change {
            scope: Scope::Observer("bi".into()),
            action: Action::Grant {
                privileges: [Privilege::Select].into_iter().collect(),
                on: table("a", "t0"),
                to: vec![Grantee::Role("bi".into())],
            },
        });
        let mut plan = Plan {
            database: "app".into(),
            changes,
            notes: Vec::new(),
        };
        plan.sort();
        plan
    }

    #[test]
    fn a_plan_that_fits_is_one_transaction() {
        assert_eq!(
            split(&plan(&[("a", 10), ("b", 10)]), 102),
            Split::One { locks: 102 }
        );
    }

    #[test]
    fn a_plan_that_does_not_fit_goes_in_whole_services_in_dependency_order() {
        let Split::Many {
            locks,
            transactions,
        } = split(&plan(&[("a", 10), ("b", 10), ("c", 18)]), 103)
        else {
            panic!("expected a split");
        };
        assert_eq!(locks, 3 + 5 * 38);
        let described: Vec<String> = transactions.iter().map(Transaction::describe).collect();
        assert_eq!(
            described,
            [
                "roles and schemas, services a, b",
                "service c, observer bi, database app"
            ]
        );
        assert_eq!((transactions[0].locks, transactions[1].locks), (103, 90));
    }

    #[test]
    fn a_service_larger_than_the_budget_is_refused() {
        assert_eq!(
            split(&plan(&[("a", 10), ("b", 30)]), 100),
            Split::TooBig {
                locks: 150,
                part: Part::Scope(Scope::Service("b".into()))
            }
        );
    }

    #[test]
    fn the_capacity_counts_every_backend() {
        let table = LockTable {
            max_locks_per_transaction: 64,
            max_connections: 100,
            max_prepared_transactions: 0,
            server_processes: 3 + 1 + 8 + 10,
            in_use: 10,
        };
        assert_eq!(table.capacity(), 7808);
        assert_eq!(table.usable(), 7808 - 10 - 128 - OWN_LOCKS);
    }
}
