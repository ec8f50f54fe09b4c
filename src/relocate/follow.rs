//! `migrate` while a move is in progress. Logical replication carries rows, not DDL, so a
//! migration that creates a table on the side that takes the service's writes (the home) must
//! also reach the other side (the follower), and the new table must join the replication:
//!
//! - before cut-over the home is the source: the new definitions are restored on the target,
//!   the new tables join the forward publication (when it lists its tables: on 14, and on 15+
//!   when it was not made by a superuser; `FOR TABLES IN SCHEMA` picks them up by itself) and
//!   the target's subscription is refreshed, which copies their rows;
//! - after cut-over the home is the target: the same, the other way round (the source gets the
//!   definitions, the reverse publication the tables, the source's reverse subscription is
//!   refreshed), so an `abort` still finds every row on the source;
//! - during a cut-over or an abort (phases fenced, switched, aborting), and on the side that
//!   does not take the service's writes, `migrate` refuses before running anything.
//!
//! The new definitions are the entries of a `pg_dump --schema-only` of the home that the
//! follower's dump lacks (new tables, sequences, indexes, constraints, functions, views),
//! restored as the owner like `start` restores the schema. A change to an object both sides
//! hold (`ALTER TABLE ... ADD COLUMN`) is not carried: `migrate` names such tables and says
//! what to run on the follower.

use std::collections::BTreeSet;
use std::future::Future;
use std::process::Stdio;

use tokio_postgres::Client;

use crate::manifest::Service;
use crate::pg::connect::connect;
use crate::pg::ident::Ident;
use crate::pg::options::{ConnectOptions, Env, resolve};

use super::archive::{self, Contents};
use super::error::{Context, MoveError};
use super::hold::{self, BACK_CLOSED};
use super::replication::{self as repl, Conn};
use super::state::{Mark, Names, Phase};
use super::tools::{self, conninfo_value};

/// Where the connected database stands in a move of the service.
enum Side {
    /// No move of the service involves this database.
    None,
    /// It takes the service's writes; `follower` is the other side's address, `publication`
    /// the one this side publishes, `subscription` the follower's.
    Home {
        follower: String,
        publication: String,
        subscription: String,
        /// The role the follower's subscription reads this side as, when the move granted it
        /// SELECT for the copy (see `Mark::copier`): new tables need it too.
        copier: Option<String>,
        /// After cut-over: the copier is read from the source's mark (see [`reverse_copier`]).
        reverse: bool,
    },
    /// A migration must not run here now; the sentence says why and where to run it.
    Refuse(String),
}

/// Runs `migrations` (the service's pending migrations on `client`, connected with `options`)
/// and, when a move of the service is in progress, carries what they created to the other
/// side of the move. Refuses, before running anything, on a database that does not take the
/// service's writes because of a move. Without a move this is one catalog query on `client`;
/// during one, it opens its own connections (as `options` say, and to the other side).
pub async fn around<T, E>(
    client: &Client,
    options: &ConnectOptions,
    service: &Service,
    dry_run: bool,
    migrations: impl Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let side = side(client, service).await?;
    if let Side::Refuse(why) = &side {
        anyhow::bail!("{why}; nothing was migrated");
    }
    let done = migrations.await?;
    if let Side::Home {
        follower,
        publication,
        subscription,
        copier,
        reverse,
    } = side
        && !dry_run
    {
        let home = open(options).await?;
        let lines = follow(
            &home,
            options,
            service,
            &follower,
            &publication,
            &subscription,
            copier,
            reverse,
        )
        .await
        .map_err(|error| {
            anyhow::Error::new(error).context(format!(
                "the migrations of `{}` ran, but the move in progress could not follow them to {follower} (running migrate again retries)",
                service.name
            ))
        })?;
        for line in lines {
            if !crate::progress::quiet() {
                eprintln!("{}: {line}", service.name);
            }
        }
    }
    Ok(done)
}

async fn open(options: &ConnectOptions) -> Result<Client, MoveError> {
    let (client, _connection) = connect(options).await?;
    Ok(client)
}

/// Reads the move's objects in the connected database: the forward publication's mark (the
/// source), the forward subscription and the reverse publication (the target). One query.
async fn side(client: &Client, service: &Service) -> Result<Side, MoveError> {
    let names = Names::of(&service.name);
    let row = client
        .query_one(
            "SELECT (SELECT coalesce(obj_description(oid, 'pg_publication'), '') FROM pg_catalog.pg_publication WHERE pubname = $1),
                    (SELECT coalesce(obj_description(oid, 'pg_publication'), '') FROM pg_catalog.pg_publication WHERE pubname = $2),
                    EXISTS (SELECT FROM pg_catalog.pg_subscription WHERE subname = $1
                              AND subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))",
            &[&names.forward, &names.back],
        )
        .await
        .during(|| format!("cannot look for a move of service `{}`", service.name))?;
    let forward: Option<String> = row.get(0);
    let back: Option<String> = row.get(1);
    let subscribed: bool = row.get(2);
    let name = &service.name;
    if let Some(mark) = forward.as_deref().and_then(Mark::parse) {
        return Ok(match mark.phase {
            Phase::Copying => Side::Home {
                follower: mark.target,
                publication: names.forward.clone(),
                subscription: names.forward,
                copier: mark.copier,
                reverse: false,
            },
            Phase::CutOver => Side::Refuse(format!(
                "service `{name}` was cut over to {}: its migrations run there now (point --database-url at it)",
                mark.target
            )),
            phase => Side::Refuse(format!(
                "a cut-over or abort of service `{name}` is under way (phase {}): run `dbsplit move {name} cutover` or `abort` to the end first",
                phase.as_str()
            )),
        });
    }
    if subscribed {
        return Ok(Side::Refuse(format!(
            "service `{name}` is being moved here and its writes are still on the source until cut-over: run its migrations there"
        )));
    }
    match back.as_deref() {
        Some(comment) if comment == BACK_CLOSED => Ok(Side::Refuse(format!(
            "a cut-over or abort of service `{name}` is under way: run `dbsplit move {name} cutover` or `abort` to the end first"
        ))),
        Some(comment) => match hold::back_source(comment) {
            Some(source) => Ok(Side::Home {
                follower: source.to_string(),
                publication: names.back.clone(),
                subscription: names.back,
                copier: None,
                reverse: true,
            }),
            None => Ok(Side::Refuse(format!(
                "service `{name}` was cut over here by a dbsplit that did not record the source in publication `{}`: run `dbsplit move {name} cutover` again first",
                names.back
            ))),
        },
        None => Ok(Side::None),
    }
}

/// Carries the home's new definitions to the follower, adds the new tables to the publication
/// and refreshes the follower's subscription. Each step looks before it acts: running it again
/// does nothing more.
#[allow(clippy::too_many_arguments)]
async fn follow(
    home: &Client,
    home_options: &ConnectOptions,
    service: &Service,
    follower: &str,
    publication: &str,
    subscription: &str,
    copier: Option<String>,
    reverse: bool,
) -> Result<Vec<String>, MoveError> {
    let schema = service.schema.as_str();
    let follower_options = follower_options(home_options, follower)?;
    let far = Conn::new(open(&follower_options).await?, &service.owner).await?;
    let mut lines = Vec::new();
    let copier = match copier {
        Some(copier) => Some(copier),
        None if reverse => reverse_copier(home, &far, service).await?,
        None => None,
    };
    let copier = copier.as_deref();

    let entries = new_definitions(
        home,
        home_options,
        &far,
        &follower_options,
        schema,
        &service.owner,
    )
    .await?;
    if !entries.is_empty() {
        let home_archive = dump_definitions(home, home_options, schema, None).await?;
        let (version_num, _) = archive::server_version(&far).await?;
        let pg_restore = tools::find("pg_restore", tools::server_major(version_num))?;
        archive::restore_entries(
            &pg_restore,
            &follower_options,
            schema,
            &service.owner,
            &entries,
            &home_archive,
        )?;
        lines.push(format!(
            "restored {} new definition(s) of schema `{schema}` on {follower} as {}",
            entries.len(),
            service.owner
        ));
    }
    // The follower does not take the service's writes: what default privileges just gave the
    // writers on the new tables there is taken back.
    repl::fence(&far, schema, &hold::writers(service), &[], false).await?;

    let tables = repl::tables(home, schema).await?;
    let published = published(home, publication).await?;
    let missing: Vec<&String> = tables.iter().filter(|t| !published.contains(*t)).collect();
    if !missing.is_empty() {
        // The names come from format('%I.%I'): already quoted identifiers.
        let list: Vec<&str> = missing.iter().map(|t| t.as_str()).collect();
        // The follower's table-sync workers read the new tables as the copier.
        let read = copier
            .map(|copier| format!("; GRANT SELECT ON {} TO {}", list.join(", "), Ident(copier)))
            .unwrap_or_default();
        home.batch_execute(&format!(
            "ALTER PUBLICATION {} ADD TABLE {}{read}",
            Ident(publication),
            list.join(", ")
        ))
        .await
        .during(|| {
            format!("cannot add the new tables to publication `{publication}` (its owner may: the schema's owner `{}`, and the migrator as its member)", service.owner)
        })?;
        lines.push(format!(
            "publication {publication} now includes {}",
            list.join(", ")
        ));
    }
    let subscribed = repl::sync_states(&far, subscription).await?;
    let fresh: Vec<&String> = tables
        .iter()
        .filter(|t| !subscribed.iter().any(|(name, _)| name == *t))
        .collect();
    if !fresh.is_empty() {
        far.batch_execute(&format!(
            "ALTER SUBSCRIPTION {} REFRESH PUBLICATION WITH (copy_data = true)",
            Ident(subscription)
        ))
        .await
        .during(|| {
            format!("cannot refresh subscription `{subscription}` on {follower} (its owner, the role that runs the move, can)")
        })?;
        lines.push(format!(
            "subscription {subscription} on {follower} refreshed: it copies {}",
            fresh
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let altered = altered_tables(home, &far, schema).await?;
    if !altered.is_empty() {
        lines.push(format!(
            "warning: the columns of {} differ on {follower}: a migration changed a table both sides hold, which a move does not carry; run the same ALTER TABLE there as {} (replication of those tables stops until the columns match)",
            altered.join(", "),
            service.owner
        ));
    }
    Ok(lines)
}

/// After cut-over, the role the source's reverse subscription reads the home (the target) as,
/// when it is not a superuser: the role `move` connected to the target as, which its
/// subscription's CONNECTION names and the source's mark records (`user@host:port/dbname`).
/// Its table-sync workers read a new table with `COPY ... TO STDOUT`, which needs SELECT; the
/// move's `finish` or `abort` takes that back with the USAGE the move granted it
/// (`replication::end_move_reads`). `None` when the mark is gone or names a superuser.
async fn reverse_copier(
    home: &Client,
    source: &Client,
    service: &Service,
) -> Result<Option<String>, MoveError> {
    let names = Names::of(&service.name);
    let Some(mark) = repl::publication(source, &names.forward)
        .await?
        .as_deref()
        .and_then(Mark::parse)
    else {
        return Ok(None);
    };
    // The user is what precedes the last '@' of the address before its last '/': a user name
    // may hold an '@' (`user@server` on some providers), a host name may not.
    let Some((user, _)) = mark
        .target
        .rsplit_once('/')
        .and_then(|(rest, _)| rest.rsplit_once('@'))
    else {
        return Ok(None);
    };
    let row = home
        .query_opt(
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[&user],
        )
        .await
        .during(|| format!("cannot read the attributes of role `{user}`"))?;
    Ok(match row {
        Some(row) if !row.get::<_, bool>(0) => Some(user.to_string()),
        _ => None,
    })
}

/// The follower's settings: the address the move recorded (`user@host:port/dbname`) with the
/// home session's TLS settings; the password from the home session when the user is the same,
/// else from PGPASSWORD or the password file, as libpq would.
fn follower_options(home: &ConnectOptions, address: &str) -> Result<ConnectOptions, MoveError> {
    let unreadable = || {
        MoveError::Refused(format!(
            "cannot read the move's recorded address `{address}`"
        ))
    };
    let (rest, dbname) = address.rsplit_once('/').ok_or_else(unreadable)?;
    let (user, rest) = rest.split_once('@').ok_or_else(unreadable)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(unreadable)?;
    let host = match host {
        "[local]" => None,
        _ => Some(
            host.strip_prefix("[local:")
                .and_then(|h| h.strip_suffix(']'))
                .or_else(|| host.strip_prefix('[').and_then(|h| h.strip_suffix(']')))
                .unwrap_or(host),
        ),
    };
    let mut conninfo = format!(
        "port={} user={} dbname={} sslmode={}",
        conninfo_value(port),
        conninfo_value(user),
        conninfo_value(dbname),
        repl::conninfo(home)
            .split_whitespace()
            .find_map(|p| p.strip_prefix("sslmode="))
            .unwrap_or("prefer")
    );
    if let Some(host) = host {
        conninfo.push_str(&format!(" host={}", conninfo_value(host)));
    }
    let mut options = resolve(Some(&conninfo), &Env::process())
        .map_err(|e| MoveError::Refused(format!("cannot reach {address}: {e}")))?;
    options.sslrootcert = home.sslrootcert.clone();
    if options.user == home.user && home.password.is_some() {
        options.password = home.password.clone();
        options.password_source = home.password_source.clone();
    }
    Ok(options)
}

/// `pg_dump --schema-only` of the schema, custom format, as `role` when given.
async fn dump_definitions(
    client: &Client,
    options: &ConnectOptions,
    schema: &str,
    role: Option<&str>,
) -> Result<Vec<u8>, MoveError> {
    let (version_num, _) = archive::server_version(client).await?;
    let pg_dump = tools::find("pg_dump", tools::server_major(version_num))?;
    let mut bytes = Vec::new();
    archive::dump_archive(
        &pg_dump,
        options,
        schema,
        Contents::Definitions,
        role,
        &mut bytes,
    )?;
    Ok(bytes)
}

/// The table-of-contents lines of the home's definitions the follower's lack. The home is read
/// as the migrator, whose role inherits the owner's; the follower as the move's role, which
/// reads the schema as `owner` (`--role`) when it is not a superuser (it holds the owner with
/// SET but not INHERIT on 16+, see DESIGN.md "Who connects").
async fn new_definitions(
    home: &Client,
    home_options: &ConnectOptions,
    far: &Conn,
    far_options: &ConnectOptions,
    schema: &str,
    owner: &str,
) -> Result<Vec<String>, MoveError> {
    let mine = dump_definitions(home, home_options, schema, None).await?;
    let as_owner = far.acts_as_owner().then_some(owner);
    let theirs = dump_definitions(far, far_options, schema, as_owner).await?;
    let (version_num, _) = archive::server_version(far).await?;
    let pg_restore = tools::find("pg_restore", tools::server_major(version_num))?;
    let mine = toc(&pg_restore, &mine)?;
    let theirs: BTreeSet<String> = toc(&pg_restore, &theirs)?
        .iter()
        .filter_map(|line| toc_key(line))
        .collect();
    Ok(mine
        .into_iter()
        .filter(|line| toc_key(line).is_some_and(|key| !theirs.contains(&key)))
        .collect())
}

/// `pg_restore --list` of an archive: its entries, one a line.
fn toc(pg_restore: &tools::Tool, archive: &[u8]) -> Result<Vec<String>, MoveError> {
    let name = pg_restore.path.display().to_string();
    let mut child = std::process::Command::new(&pg_restore.path)
        .arg("--list")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .during(|| format!("cannot run {name}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let fed = std::io::Write::write_all(&mut stdin, archive);
    drop(stdin);
    let output = child
        .wait_with_output()
        .during(|| format!("{name} did not finish"))?;
    if !output.status.success() {
        return Err(MoveError::Refused(format!(
            "{name} --list failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    fed.during(|| format!("cannot feed the archive to {name}"))?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// What names an entry on any server: `DESC NAMESPACE TAG`, without the dump id, the catalog
/// oids and the owner (`217; 1259 16390 TABLE billing events billing_owner`).
fn toc_key(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("; ")?;
    let mut words = rest.splitn(3, ' ');
    let (_table_oid, _oid, rest) = (words.next()?, words.next()?, words.next()?);
    let (described, _owner) = rest.rsplit_once(' ')?;
    Some(described.to_string())
}

/// The tables the publication sends, as `format('%I.%I')` names.
async fn published(client: &Client, publication: &str) -> Result<BTreeSet<String>, MoveError> {
    let rows = client
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_catalog.pg_publication_tables WHERE pubname = $1",
            &[&publication],
        )
        .await
        .during(|| format!("cannot list the tables of publication `{publication}`"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The tables both sides hold whose columns (name and type, in order) differ.
pub(super) async fn altered_tables(
    home: &Client,
    far: &Client,
    schema: &str,
) -> Result<Vec<String>, MoveError> {
    const COLUMNS: &str = "SELECT format('%I.%I', n.nspname, c.relname),
            string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
         FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
         GROUP BY 1 ORDER BY 1";
    let mine = home
        .query(COLUMNS, &[&schema])
        .await
        .during(|| format!("cannot read the columns of schema `{schema}`"))?;
    let theirs = far
        .query(COLUMNS, &[&schema])
        .await
        .during(|| format!("cannot read the columns of schema `{schema}`"))?;
    Ok(mine
        .iter()
        .filter_map(|row| {
            let table: String = row.get(0);
            let columns: String = row.get(1);
            let other = theirs
                .iter()
                .find(|r| r.get::<_, String>(0) == table)?
                .get::<_, String>(1);
            (other != columns).then_some(table)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toc_entry_is_named_without_ids_and_owner() {
        assert_eq!(
            toc_key("217; 1259 16390 TABLE billing events billing_owner").as_deref(),
            Some("TABLE billing events")
        );
        assert_eq!(
            toc_key("3350; 2606 16399 CONSTRAINT billing events events_pkey billing_owner")
                .as_deref(),
            Some("CONSTRAINT billing events events_pkey")
        );
        assert_eq!(
            toc_key("216; 1259 16389 SEQUENCE billing events_id_seq billing_owner"),
            toc_key("9; 1259 99 SEQUENCE billing events_id_seq billing_owner")
        );
        assert_eq!(toc_key("; Archive created at"), None);
    }
}
