//! `move start`'s preflight: what the source and the target must offer before anything is
//! created, every gap listed at once with what fixes it. [`gaps`] is pure over [`Facts`];
//! [`source_facts`] and [`target_facts`] read them with one query each.

use tokio_postgres::Client;

use super::error::{Context, MoveError};

/// What the source offers.
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    pub major: u32,
    pub wal_level: String,
    pub max_replication_slots: i64,
    pub used_slots: i64,
    pub max_wal_senders: i64,
    pub used_senders: i64,
    /// Whether this move's slot exists already (a re-run needs no new one).
    pub own_slot: bool,
    pub superuser: bool,
    pub replication: bool,
    /// Tables of the schema with neither a primary key nor a usable replica identity.
    pub without_identity: Vec<String>,
}

/// What the target offers, or why it could not be reached.
#[derive(Debug, Clone)]
pub enum TargetFacts {
    Unreachable(String),
    Reached {
        major: u32,
        wal_level: String,
        max_replication_slots: i64,
        /// Superuser, or on 16+ a member of pg_create_subscription.
        may_subscribe: bool,
    },
}

/// Every gap, each a sentence saying what to change.
pub fn gaps(source: &SourceFacts, target: &TargetFacts, source_user: &str) -> Vec<String> {
    let mut gaps = Vec::new();
    if source.wal_level != "logical" {
        gaps.push(format!(
            "the source's wal_level is `{}`: set wal_level = logical and restart it",
            source.wal_level
        ));
    }
    if !source.own_slot && source.used_slots >= source.max_replication_slots {
        gaps.push(format!(
            "the source has no free replication slot ({} of max_replication_slots = {} used): raise it and restart",
            source.used_slots, source.max_replication_slots
        ));
    }
    if source.used_senders >= source.max_wal_senders {
        gaps.push(format!(
            "the source has no free WAL sender ({} of max_wal_senders = {} busy): raise it and restart",
            source.used_senders, source.max_wal_senders
        ));
    }
    if !source.superuser && !source.replication {
        gaps.push(format!(
            "role `{source_user}` on the source has neither REPLICATION nor SUPERUSER: `ALTER ROLE {} REPLICATION` (or connect as a role that has it)",
            crate::pg::ident::Ident(source_user)
        ));
    }
    for table in &source.without_identity {
        gaps.push(format!(
            "table {table} has no primary key and no replica identity: add a primary key, or `ALTER TABLE {table} REPLICA IDENTITY FULL`"
        ));
    }
    match target {
        TargetFacts::Unreachable(why) => gaps.push(format!("the target is unreachable: {why}")),
        TargetFacts::Reached {
            major,
            wal_level,
            max_replication_slots,
            may_subscribe,
        } => {
            if *major < source.major {
                gaps.push(format!(
                    "the target runs PostgreSQL {major}, older than the source's {}: logical replication moves to the same or a newer major only",
                    source.major
                ));
            }
            if wal_level != "logical" {
                gaps.push(format!(
                    "the target's wal_level is `{wal_level}`: set wal_level = logical and restart it (the reverse subscription that keeps a rollback possible after cut-over needs it)"
                ));
            }
            if *max_replication_slots < 1 {
                gaps.push(
                    "the target's max_replication_slots is 0: a subscription needs one (replication origins) and the reverse slot another".to_string(),
                );
            }
            if !may_subscribe {
                gaps.push(
                    "the role connecting to the target may not create subscriptions: it must be a superuser, or on PostgreSQL 16+ a member of pg_create_subscription".to_string(),
                );
            }
        }
    }
    gaps
}

/// Reads the source's facts for `schema` and `slot`.
pub async fn source_facts(
    client: &Client,
    schema: &str,
    slot: &str,
) -> Result<SourceFacts, MoveError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000 AS major,
                    current_setting('wal_level') AS wal_level,
                    current_setting('max_replication_slots')::bigint AS max_slots,
                    (SELECT count(*) FROM pg_catalog.pg_replication_slots) AS used_slots,
                    current_setting('max_wal_senders')::bigint AS max_senders,
                    (SELECT count(*) FROM pg_catalog.pg_stat_replication) AS used_senders,
                    EXISTS (SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = $2) AS own_slot,
                    r.rolsuper, r.rolreplication,
                    ARRAY(SELECT format('%I.%I', n.nspname, c.relname)
                          FROM pg_catalog.pg_class c
                          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
                            AND (c.relreplident = 'n'
                                 OR (c.relreplident = 'd' AND NOT EXISTS (
                                       SELECT FROM pg_catalog.pg_index i
                                       WHERE i.indrelid = c.oid AND i.indisprimary))
                                 OR (c.relreplident = 'i' AND NOT EXISTS (
                                       SELECT FROM pg_catalog.pg_index i
                                       WHERE i.indrelid = c.oid AND i.indisreplident)))
                          ORDER BY 1) AS without_identity
             FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
            &[&schema, &slot],
        )
        .await
        .during(|| "cannot read the source's replication settings".to_string())?;
    Ok(SourceFacts {
        major: u32::try_from(row.get::<_, i32>("major")).unwrap_or(0),
        wal_level: row.get("wal_level"),
        max_replication_slots: row.get("max_slots"),
        used_slots: row.get("used_slots"),
        max_wal_senders: row.get("max_senders"),
        used_senders: row.get("used_senders"),
        own_slot: row.get("own_slot"),
        superuser: row.get("rolsuper"),
        replication: row.get("rolreplication"),
        without_identity: row.get("without_identity"),
    })
}

/// Reads the target's facts.
pub async fn target_facts(client: &Client) -> Result<TargetFacts, MoveError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000 AS major,
                    current_setting('wal_level') AS wal_level,
                    current_setting('max_replication_slots')::bigint AS max_slots,
                    r.rolsuper OR (to_regrole('pg_create_subscription') IS NOT NULL
                                   AND pg_has_role('pg_create_subscription', 'MEMBER')) AS may_subscribe
             FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .during(|| "cannot read the target's settings".to_string())?;
    Ok(TargetFacts::Reached {
        major: u32::try_from(row.get::<_, i32>("major")).unwrap_or(0),
        wal_level: row.get("wal_level"),
        max_replication_slots: row.get("max_slots"),
        may_subscribe: row.get("may_subscribe"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> SourceFacts {
        SourceFacts {
            major: 15,
            wal_level: "logical".into(),
            max_replication_slots: 10,
            used_slots: 0,
            max_wal_senders: 10,
            used_senders: 0,
            own_slot: false,
            superuser: true,
            replication: false,
            without_identity: vec![],
        }
    }

    fn target(major: u32) -> TargetFacts {
        TargetFacts::Reached {
            major,
            wal_level: "logical".into(),
            max_replication_slots: 10,
            may_subscribe: true,
        }
    }

    #[test]
    fn a_ready_pair_has_no_gap() {
        assert!(gaps(&ready(), &target(15), "postgres").is_empty());
        assert!(gaps(&ready(), &target(17), "postgres").is_empty());
    }

    #[test]
    fn every_gap_is_listed_at_once() {
        let source = SourceFacts {
            wal_level: "replica".into(),
            used_slots: 10,
            used_senders: 10,
            superuser: false,
            without_identity: vec!["billing.log".into()],
            ..ready()
        };
        let found = gaps(&source, &target(14), "admin");
        let text = found.join("\n");
        assert_eq!(found.len(), 6, "{text}");
        for expected in [
            "wal_level is `replica`",
            "no free replication slot",
            "no free WAL sender",
            "neither REPLICATION nor SUPERUSER",
            "billing.log has no primary key",
            "PostgreSQL 14, older than the source's 15",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
        let unreachable = gaps(&ready(), &TargetFacts::Unreachable("refused".into()), "x");
        assert_eq!(unreachable, vec!["the target is unreachable: refused"]);
    }
}
