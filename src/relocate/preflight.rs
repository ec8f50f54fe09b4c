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
    /// What a role that is not a superuser needs besides (see [`Managed`]).
    pub managed: Managed,
}

/// What a connecting role that is not a superuser (a managed provider's admin) needs on one
/// side of a move, each true for a superuser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Managed {
    /// May end the service's sessions at the fence: the privileges of pg_signal_backend.
    pub may_signal: bool,
    /// May create a subscription here: on 16+ a member of pg_create_subscription with CREATE
    /// on the database (the forward one on the target, the reverse one on the source).
    pub may_subscribe: bool,
    /// May publish as the schema's owner: the owner has CREATE on the database, or the role may
    /// grant it for the moment of CREATE PUBLICATION (the database's owner may).
    pub may_publish: bool,
    /// May act as the schema's owner (SET ROLE; membership on 14 and 15), which `apply` gives
    /// it. Always true on the target, which the move provisions first.
    pub may_act_as_owner: bool,
}

impl Default for Managed {
    fn default() -> Self {
        Managed {
            may_signal: true,
            may_subscribe: true,
            may_publish: true,
            may_act_as_owner: true,
        }
    }
}

/// The columns of [`Managed`] for the connecting role, the schema owner `$owner` and the
/// current database; `rolsuper` of `r`, the connecting role's row of pg_roles.
fn managed_columns(owner: &str) -> String {
    format!(
        "r.rolsuper OR pg_has_role('pg_signal_backend', 'USAGE') AS may_signal,
         r.rolsuper OR (to_regrole('pg_create_subscription') IS NOT NULL
                        AND pg_has_role('pg_create_subscription', 'MEMBER')
                        AND has_database_privilege(current_database(), 'CREATE')) AS may_subscribe,
         r.rolsuper OR has_database_privilege(current_database(), 'CREATE WITH GRANT OPTION')
           OR CASE WHEN {owner} IS NULL THEN false
                   ELSE has_database_privilege({owner}, current_database(), 'CREATE') END AS may_publish,
         r.rolsuper OR CASE WHEN {owner} IS NULL THEN false
                            ELSE pg_has_role({owner}, 'MEMBER') END AS may_act_as_owner"
    )
}

fn managed(row: &tokio_postgres::Row) -> Managed {
    Managed {
        may_signal: row.get("may_signal"),
        may_subscribe: row.get("may_subscribe"),
        may_publish: row.get("may_publish"),
        may_act_as_owner: row.get("may_act_as_owner"),
    }
}

/// What the target offers, or why it could not be reached.
#[derive(Debug, Clone)]
pub enum TargetFacts {
    Unreachable(String),
    Reached {
        major: u32,
        wal_level: String,
        max_replication_slots: i64,
        /// What the connecting role may do there (`may_act_as_owner` is not asked: the move
        /// provisions the target, which gives it the owner).
        managed: Managed,
    },
}

/// Every gap, each a sentence saying what to change. `schema` and `owner` are the service's;
/// `source_user` the role connecting to the source.
pub fn gaps(
    source: &SourceFacts,
    target: &TargetFacts,
    source_user: &str,
    schema: &str,
    owner: &str,
) -> Vec<String> {
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
    let role = crate::pg::ident::Ident(source_user);
    let managed = &source.managed;
    if !managed.may_act_as_owner {
        gaps.push(format!(
            "role `{source_user}` on the source cannot act as schema `{schema}`'s owner `{owner}`, which runs the fence and the publication: run `dbsplit apply` as `{source_user}` first (it gives itself the owner roles it manages), or `GRANT {} TO {role}`",
            crate::pg::ident::Ident(owner)
        ));
    }
    if !managed.may_publish {
        gaps.push(format!(
            "`{owner}` may not publish its tables on the source: it needs CREATE on the database for CREATE PUBLICATION, which `{source_user}` can neither give for that moment (it needs CREATE WITH GRANT OPTION, as the database's owner has) nor finds granted"
        ));
    }
    if !managed.may_signal {
        gaps.push(format!(
            "role `{source_user}` on the source may not end the service's sessions at cut-over: `GRANT pg_signal_backend TO {role}` (managed providers' admin roles have it)"
        ));
    }
    if !managed.may_subscribe {
        gaps.push(format!(
            "role `{source_user}` on the source may not create the reverse subscription that cut-over keeps so that abort can move writes back: it must be a superuser, or on PostgreSQL 16+ a member of pg_create_subscription with CREATE on the database"
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
            managed,
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
            if !managed.may_subscribe {
                gaps.push(
                    "the role connecting to the target may not create subscriptions: it must be a superuser, or on PostgreSQL 16+ a member of pg_create_subscription with CREATE on the database".to_string(),
                );
            }
            if !managed.may_publish {
                gaps.push(format!(
                    "`{owner}` may not publish its tables on the target (the reverse publication at cut-over): the role connecting there needs CREATE WITH GRANT OPTION on the database (its owner has it) to give it CREATE for that moment"
                ));
            }
            if !managed.may_signal {
                gaps.push(
                    "the role connecting to the target may not end the service's sessions there, as abort after cut-over does: `GRANT pg_signal_backend TO` it (managed providers' admin roles have it)".to_string(),
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
    owner: &str,
) -> Result<SourceFacts, MoveError> {
    let row = client
        .query_one(
            &format!("SELECT {},
                    current_setting('server_version_num')::int / 10000 AS major,
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
            managed_columns("(SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = $3)")),
            &[&schema, &slot, &owner],
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
        managed: managed(&row),
    })
}

/// Reads the target's facts.
pub async fn target_facts(client: &Client) -> Result<TargetFacts, MoveError> {
    let row = client
        .query_one(
            &format!(
                "SELECT current_setting('server_version_num')::int / 10000 AS major,
                        current_setting('wal_level') AS wal_level,
                        current_setting('max_replication_slots')::bigint AS max_slots,
                        {}
                 FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
                managed_columns("NULL::name")
            ),
            &[],
        )
        .await
        .during(|| "cannot read the target's settings".to_string())?;
    Ok(TargetFacts::Reached {
        major: u32::try_from(row.get::<_, i32>("major")).unwrap_or(0),
        wal_level: row.get("wal_level"),
        max_replication_slots: row.get("max_slots"),
        managed: Managed {
            // The move provisions the target first, which gives it the owner.
            may_act_as_owner: true,
            ..managed(&row)
        },
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
            managed: Managed::default(),
        }
    }

    fn target(major: u32) -> TargetFacts {
        TargetFacts::Reached {
            major,
            wal_level: "logical".into(),
            max_replication_slots: 10,
            managed: Managed::default(),
        }
    }

    #[test]
    fn a_ready_pair_has_no_gap() {
        assert!(
            gaps(
                &ready(),
                &target(15),
                "postgres",
                "billing",
                "billing_owner"
            )
            .is_empty()
        );
        assert!(
            gaps(
                &ready(),
                &target(17),
                "postgres",
                "billing",
                "billing_owner"
            )
            .is_empty()
        );
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
        let found = gaps(&source, &target(14), "admin", "billing", "billing_owner");
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
        let unreachable = gaps(
            &ready(),
            &TargetFacts::Unreachable("refused".into()),
            "x",
            "billing",
            "billing_owner",
        );
        assert_eq!(unreachable, vec!["the target is unreachable: refused"]);
    }

    #[test]
    fn a_managed_admin_is_told_which_role_needs_what_on_which_side() {
        let lacking = Managed {
            may_signal: false,
            may_subscribe: false,
            may_publish: false,
            may_act_as_owner: false,
        };
        let source = SourceFacts {
            superuser: false,
            replication: true,
            managed: lacking,
            ..ready()
        };
        let target = TargetFacts::Reached {
            major: 17,
            wal_level: "logical".into(),
            max_replication_slots: 10,
            managed: lacking,
        };
        let found = gaps(&source, &target, "admin", "billing", "billing_owner");
        let text = found.join("\n");
        assert_eq!(found.len(), 7, "{text}");
        for expected in [
            "role `admin` on the source cannot act as schema `billing`'s owner `billing_owner`",
            "`billing_owner` may not publish its tables on the source",
            "`GRANT pg_signal_backend TO \"admin\"`",
            "may not create the reverse subscription",
            "the role connecting to the target may not create subscriptions",
            "`billing_owner` may not publish its tables on the target",
            "may not end the service's sessions there",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
    }
}
