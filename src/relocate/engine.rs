//! `dbsplit move SERVICE start | status | cutover | abort | finish`: the steps of a move, each
//! safe to run again. The phase lives in the source publication's comment ([`Mark`]); every
//! step reads it first and resumes where a killed run stopped.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::desired::Desired;
use crate::manifest::{Manifest, Service};
use crate::pg::connect::connect;
use crate::pg::ident::{Ident, Literal};
use crate::pg::options::ConnectOptions;
use crate::pooler::Upstream;
use crate::pooler::repoint::repoint;

use super::archive::{self, Contents, Existing};
use super::error::{Context, MoveError};
use super::hold::{self, BACK_CLOSED};
use super::preflight::{self, TargetFacts};
use super::provision::provision;
use super::replication::{self as repl, Conn, SubscriptionOptions};
use super::state::{Mark, Names, Phase};
use super::tools;

/// One service's move from the database it is in to another.
pub struct Move<'a> {
    pub service: &'a Service,
    /// The manifest for the target database (its name is the target's).
    pub target_manifest: &'a Manifest,
    pub source: &'a ConnectOptions,
    pub target: &'a ConnectOptions,
    /// Reads the roles' passwords from the environment, for provisioning the target.
    pub passwords: fn(&Desired) -> std::collections::BTreeMap<String, String>,
    /// The admin consoles of the PgBouncers whose alias of the service cutover repoints.
    pub poolers: &'a [ConnectOptions],
}

/// How `cutover` proves the target holds what the source holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    Count,
    Hash,
}

impl Verify {
    pub fn as_str(self) -> &'static str {
        match self {
            Verify::Count => "count",
            Verify::Hash => "hash",
        }
    }
}

/// Settings of `cutover` (and of `abort` after a cut-over).
#[derive(Debug, Clone, Copy)]
pub struct CutoverOptions {
    /// Refuse to fence while the subscriber is further behind than this.
    pub max_lag: i64,
    /// How long to wait for the subscriber to replay the fenced position.
    pub timeout: Duration,
    pub verify: Verify,
}

/// What `cutover` did.
#[derive(Debug, Clone)]
pub struct CutoverReport {
    /// From the fence to writes opening on the target, in this run.
    pub window: Option<Duration>,
    /// How long comparing the two sides took (`--verify count` or `hash`), in this run.
    pub verified: Option<Duration>,
    pub sequences: usize,
    pub tables: usize,
    /// One connection string per login role of the service, on the target, no password.
    pub connection_strings: Vec<(String, String)>,
}

/// One table in `status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableStatus {
    pub table: String,
    pub state: String,
    pub source_rows: Option<i64>,
    pub target_rows: Option<i64>,
}

/// What `status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub service: String,
    pub source: String,
    pub target: String,
    /// `none`, a phase, or `finished`.
    pub phase: String,
    pub tables: Vec<TableStatus>,
    pub lag_bytes: Option<i64>,
    pub lag_seconds: Option<f64>,
    /// Ready for the next step: `cutover` while copying, `finish` after a cut-over.
    pub ready: bool,
    /// What to do next, in one sentence.
    pub next: String,
}

impl Move<'_> {
    fn names(&self) -> Names {
        Names::of(&self.service.name)
    }

    fn schema(&self) -> &str {
        &self.service.schema
    }

    fn writers(&self) -> Vec<&str> {
        hold::writers(self.service)
    }

    fn logins(&self) -> Vec<&str> {
        self.service.roles.iter().map(|r| r.name.as_str()).collect()
    }

    /// A session on `options`' database that acts as the schema's owner where it must.
    async fn open(&self, options: &ConnectOptions) -> Result<Conn, MoveError> {
        let (client, _connection) = connect(options).await?;
        Conn::new(client, &self.service.owner).await
    }

    /// The mark of `phase`. While the forward subscription may still copy (copying, fenced), it
    /// names the role that reads the source for it when that role is not a superuser (see
    /// [`repl::grant_move_reads`]).
    fn mark(&self, source: &Conn, phase: Phase) -> String {
        let mut mark = Mark::new(&self.service.name, phase, &self.target.redacted());
        if source.acts_as_owner() && matches!(phase, Phase::Copying | Phase::Fenced) {
            mark.copier = Some(self.source.user.clone());
        }
        mark.to_comment()
    }

    /// The move's mark on the source, `None` when no move is in progress.
    async fn read_mark(&self, source: &Conn) -> Result<Option<Mark>, MoveError> {
        let name = self.names().forward;
        match repl::publication(source, &name).await? {
            None => Ok(None),
            Some(comment) => match Mark::parse(&comment) {
                Some(mark) => Ok(Some(mark)),
                None => Err(MoveError::Refused(format!(
                    "publication `{name}` on the source was not made by dbsplit move (its comment is not a move's mark); rename or drop it first"
                ))),
            },
        }
    }

    async fn set_phase(&self, source: &Conn, phase: Phase) -> Result<(), MoveError> {
        repl::set_comment(source, &self.names().forward, &self.mark(source, phase)).await
    }

    /// `start`: preflight, provision the target, copy the DDL, publish, subscribe.
    pub async fn start(&self, out: &mut impl Write) -> Result<(), MoveError> {
        let names = self.names();
        let source = self.open(self.source).await?;
        if let Some(mark) = self.read_mark(&source).await? {
            if mark.phase != Phase::Copying {
                return Err(MoveError::Refused(format!(
                    "the move of service `{}` is past its start (phase {}); see `dbsplit move {} status`",
                    self.service.name,
                    mark.phase.as_str(),
                    self.service.name
                )));
            }
        }
        let facts =
            preflight::source_facts(&source, self.schema(), &names.forward, &self.service.owner)
                .await?;
        let target = self.open(self.target).await;
        let target_facts = match &target {
            Ok(client) => preflight::target_facts(client).await?,
            Err(error) => TargetFacts::Unreachable(error.to_string()),
        };
        let gaps = preflight::gaps(
            &facts,
            &target_facts,
            &self.source.user,
            self.schema(),
            &self.service.owner,
        );
        if !gaps.is_empty() {
            return Err(MoveError::Refused(format!(
                "cannot start the move of service `{}`; nothing was changed:\n  - {}",
                self.service.name,
                gaps.join("\n  - ")
            )));
        }
        let mut target = target?;
        let log = |out: &mut dyn Write, line: String| {
            let _ = writeln!(out, "{line}");
        };

        let changes = provision(&mut target, self.target_manifest, self.passwords).await?;
        log(
            out,
            format!(
                "provisioned {} from the manifest ({changes} change(s))",
                self.target.redacted()
            ),
        );

        if !repl::subscription(&target, &names.forward).await? {
            self.copy_definitions(&source, &target, &facts, out).await?;
        }
        // The target's service roles may not write before cut-over: a write there would be lost
        // or conflict with the rows streaming in.
        repl::fence(&target, self.schema(), &self.writers(), &[], false).await?;

        repl::create_publication(
            &source,
            &names.forward,
            self.schema(),
            &self.mark(&source, Phase::Copying),
        )
        .await?;
        repl::grant_move_reads(&source, self.schema(), &self.source.user, true).await?;
        if !repl::subscription(&target, &names.forward).await? {
            // A slot left by a start killed before it subscribed is remade: its position
            // may predate rows the copy will not see twice, but a fresh one is certain.
            if repl::slot(&source, &names.forward).await? == Some(false) {
                repl::drop_slot(&source, &names.forward).await?;
            }
            repl::create_slot(&source, &names.forward).await?;
            repl::grant_move_reads(&target, self.schema(), &self.target.user, false).await?;
            repl::create_subscription(
                &target,
                &names.forward,
                &repl::conninfo(self.source),
                &names.forward,
                SubscriptionOptions {
                    copy_data: true,
                    origin_none: false,
                },
            )
            .await?;
        }
        log(
            out,
            format!(
                "publication {} on the source, subscription {} on the target: copying; `dbsplit move {} status` says when it is ready for cutover",
                names.forward, names.forward, self.service.name
            ),
        );
        Ok(())
    }

    /// Restores the schema's definitions on the target as its owner, unless a previous run
    /// did (the tables are there, all empty, the same as the source's).
    async fn copy_definitions(
        &self,
        source: &Conn,
        target: &Conn,
        facts: &preflight::SourceFacts,
        out: &mut impl Write,
    ) -> Result<(), MoveError> {
        let source_major = facts.major;
        let source_tables = repl::tables(source, self.schema()).await?;
        let target_tables = repl::tables(target, self.schema()).await?;
        if !target_tables.is_empty()
            && schema_comment(target, self.schema())
                .await?
                .is_some_and(|c| c.starts_with(ABORTED_COPY))
        {
            return self
                .empty_copy(source, target, &source_tables, &target_tables, out)
                .await;
        }
        if !target_tables.is_empty() {
            let rows = repl::counts(target, &target_tables).await?;
            if target_tables == source_tables && rows.iter().all(|n| *n == 0) {
                let _ = writeln!(
                    out,
                    "the target already holds the schema's {} table(s), empty: definitions kept",
                    target_tables.len()
                );
                return Ok(());
            }
            return Err(MoveError::Refused(format!(
                "schema `{}` on the target already holds tables ({}) that are not an empty copy of the source's; a move never writes over them",
                self.schema(),
                target_tables.join(", ")
            )));
        }
        let pg_dump = tools::find("pg_dump", source_major)?;
        let copying = crate::progress::Progress::spinner("copying the schema's definitions");
        let mut definitions = Vec::new();
        archive::dump_archive(
            &pg_dump,
            self.source,
            self.schema(),
            Contents::Definitions,
            (!facts.superuser).then_some(self.service.owner.as_str()),
            &mut definitions,
        )?;
        archive::restore(
            target,
            self.target,
            self.schema(),
            &self.service.owner,
            Existing::Refuse,
            &mut definitions.as_slice(),
        )
        .await?;
        drop(copying);
        let _ = writeln!(
            out,
            "copied the definitions of schema `{}` ({} table(s)) with {}, restored as {}",
            self.schema(),
            source_tables.len(),
            pg_dump.version,
            self.service.owner
        );
        Ok(())
    }

    /// Marks the target's schema as the copy an aborted move left: the source holds every row
    /// of it, so a later `start` may empty it and copy again.
    async fn mark_copy(&self, target: &Conn) -> Result<(), MoveError> {
        let comment = format!(
            "{ABORTED_COPY} of service {}; the source {} holds every row of it; `dbsplit move {} start` empties it and copies again",
            self.service.name,
            self.source.redacted(),
            self.service.name
        );
        target
            .run_as_owner(&format!(
                "COMMENT ON SCHEMA {} IS {}",
                Ident(self.schema()),
                Literal(&comment)
            ))
            .await
            .during(|| {
                format!(
                    "cannot mark schema `{}` on the target as an aborted move's copy",
                    self.schema()
                )
            })
    }

    /// Empties the copy an aborted move left on the target (see [`Move::mark_copy`]) when its
    /// definitions are still the source's, so the new subscription copies every row again.
    async fn empty_copy(
        &self,
        source: &Conn,
        target: &Conn,
        source_tables: &[String],
        target_tables: &[String],
        out: &mut impl Write,
    ) -> Result<(), MoveError> {
        let altered = super::follow::altered_tables(source, target, self.schema()).await?;
        if source_tables != target_tables || !altered.is_empty() {
            return Err(MoveError::Refused(format!(
                "schema `{}` on the target holds the copy an aborted move left, but its definitions are no longer the source's ({}); a person drops it there (`DROP SCHEMA {} CASCADE`), then start again",
                self.schema(),
                if altered.is_empty() {
                    format!(
                        "tables {} against {}",
                        source_tables.join(", "),
                        target_tables.join(", ")
                    )
                } else {
                    format!("the columns of {} differ", altered.join(", "))
                },
                Ident(self.schema())
            )));
        }
        // The names come from format('%I.%I'): already quoted identifiers.
        target
            .run_as_owner(&format!(
                "TRUNCATE {}; COMMENT ON SCHEMA {} IS NULL",
                target_tables.join(", "),
                Ident(self.schema())
            ))
            .await
            .during(|| {
                format!(
                    "cannot empty the aborted move's copy of schema `{}` on the target",
                    self.schema()
                )
            })?;
        let _ = writeln!(
            out,
            "emptied the copy an aborted move left in schema `{}` on the target ({} table(s), the source holds every row): copying again",
            self.schema(),
            target_tables.len()
        );
        Ok(())
    }

    /// `status`: the phase, per table its sync state and rows on each side, the lag.
    pub async fn status(&self) -> Result<Status, MoveError> {
        let names = self.names();
        let source = self.open(self.source).await?;
        let mark = self.read_mark(&source).await?;
        let target = self.open(self.target).await;
        let mut status = Status {
            service: self.service.name.clone(),
            source: self.source.redacted(),
            target: self.target.redacted(),
            phase: mark
                .as_ref()
                .map_or("none", |m| m.phase.as_str())
                .to_string(),
            tables: Vec::new(),
            lag_bytes: None,
            lag_seconds: None,
            ready: false,
            next: String::new(),
        };
        let target = match target {
            Ok(client) => client,
            Err(error) => {
                status.next =
                    format!("the target is unreachable ({error}); fix that, then run status again");
                return Ok(status);
            }
        };
        let tables = repl::tables(&source, self.schema()).await?;
        let states = repl::sync_states(&target, &names.forward).await?;
        let source_rows = repl::counts(&source, &tables).await?;
        let target_tables = repl::tables(&target, self.schema()).await?;
        let target_rows = repl::counts(&target, &target_tables).await?;
        for (table, rows) in tables.iter().zip(&source_rows) {
            let state = states
                .iter()
                .find(|(name, _)| name == table)
                .map_or_else(|| "-".to_string(), |(_, state)| state.clone());
            let target_rows = target_tables
                .iter()
                .position(|name| name == table)
                .map(|i| target_rows[i]);
            status.tables.push(TableStatus {
                table: table.clone(),
                state,
                source_rows: Some(*rows),
                target_rows,
            });
        }
        let name = &self.service.name;
        match mark.map(|m| m.phase) {
            None => {
                let left = schema_comment(&source, self.schema()).await?;
                if left.is_some_and(|c| c.starts_with("dbsplit: left behind")) {
                    status.phase = "finished".to_string();
                    status.ready = true;
                    status.next = format!(
                        "the move is finished: the service writes to {}; schema `{}` stays on the source, fenced, until a person drops it",
                        self.target.redacted(),
                        self.schema()
                    );
                } else {
                    status.next = format!("no move in progress: `dbsplit move {name} start`");
                }
            }
            Some(Phase::Copying) => {
                status.lag_bytes = repl::lag_bytes(&source, &names.forward).await?;
                status.lag_seconds = repl::lag_seconds(&source, &names.forward).await?;
                let behind: Vec<&str> = status
                    .tables
                    .iter()
                    .filter(|t| t.state != "ready")
                    .map(|t| t.table.as_str())
                    .collect();
                status.ready = behind.is_empty() && status.lag_bytes.is_some();
                status.next = if status.ready {
                    format!("ready: `dbsplit move {name} cutover`")
                } else if !behind.is_empty() {
                    format!("still copying: {}", behind.join(", "))
                } else {
                    "the subscription has not connected yet".to_string()
                };
            }
            Some(Phase::Fenced | Phase::Switched) => {
                status.next = format!(
                    "a cut-over was interrupted; the source refuses the service's writes: run `dbsplit move {name} cutover` again, or `abort`"
                );
            }
            Some(Phase::CutOver) => {
                status.lag_bytes = repl::lag_bytes(&target, &names.back).await?;
                status.lag_seconds = repl::lag_seconds(&target, &names.back).await?;
                status.ready = true;
                status.next = format!(
                    "cut over: the service writes to the target, which streams back to the source; `dbsplit move {name} finish` when sure, `abort` to go back"
                );
            }
            Some(Phase::Aborting) => {
                status.next = format!(
                    "an abort after cut-over was interrupted: run `dbsplit move {name} abort` again"
                );
            }
        }
        Ok(status)
    }

    /// `cutover`: fence the source, wait, set the sequences, verify, reverse, open the target.
    pub async fn cutover(
        &self,
        options: &CutoverOptions,
        out: &mut impl Write,
    ) -> Result<CutoverReport, MoveError> {
        let names = self.names();
        let name = &self.service.name;
        let source = self.open(self.source).await?;
        let target = self.open(self.target).await?;
        let Some(mark) = self.read_mark(&source).await? else {
            return Err(MoveError::Refused(format!(
                "no move of service `{name}` is in progress: run `dbsplit move {name} start` first"
            )));
        };
        let mut report = CutoverReport {
            window: None,
            verified: None,
            sequences: 0,
            tables: 0,
            connection_strings: self.connection_strings(),
        };
        let mut phase = mark.phase;
        let mut fenced_at = None;
        if phase == Phase::Aborting {
            return Err(MoveError::Refused(format!(
                "an abort is in progress: run `dbsplit move {name} abort` again to complete it"
            )));
        }
        if phase == Phase::Copying {
            let states = repl::sync_states(&target, &names.forward).await?;
            let behind: Vec<&str> = states
                .iter()
                .filter(|(_, s)| s != "ready")
                .map(|(t, _)| t.as_str())
                .collect();
            if !behind.is_empty() {
                return Err(MoveError::Refused(format!(
                    "not ready for cut-over, still copying: {}",
                    behind.join(", ")
                )));
            }
            let lag = repl::lag_bytes(&source, &names.forward).await?;
            if lag.is_none_or(|lag| lag > options.max_lag) {
                return Err(MoveError::Refused(format!(
                    "the target is {} bytes behind, more than --max-lag {}: nothing was fenced; try again later",
                    lag.map_or_else(|| "an unknown number of".to_string(), |l| l.to_string()),
                    options.max_lag
                )));
            }
            self.set_phase(&source, Phase::Fenced).await?;
            phase = Phase::Fenced;
        }
        if phase == Phase::Fenced {
            fenced_at = Some(Instant::now());
            let ended = repl::fence(
                &source,
                self.schema(),
                &self.writers(),
                &self.logins(),
                true,
            )
            .await?;
            failpoint("cutover-fenced");
            let lsn = repl::current_lsn(&source).await?;
            let _ = writeln!(
                out,
                "fenced the source: the service's roles lost their writes on `{}`, {ended} session(s) ended; waiting for the target to replay {lsn}",
                self.schema()
            );
            let caught_up =
                repl::wait_replayed(&source, &names.forward, &lsn, options.timeout).await?;
            if !caught_up {
                self.reopen_source(&source).await?;
                return Err(MoveError::Refused(format!(
                    "the target did not replay {lsn} within {:?}; the source takes writes again (phase copying): run cutover again later",
                    options.timeout
                )));
            }
            report.sequences = repl::copy_sequences(&source, &target, self.schema()).await?;
            let comparing = Instant::now();
            let mismatches = self.settled(&source, &target, options).await?;
            report.verified = Some(comparing.elapsed());
            if !mismatches.is_empty() {
                self.reopen_source(&source).await?;
                return Err(MoveError::Refused(format!(
                    "the target does not hold what the source holds ({}); the source takes writes again (phase copying)",
                    mismatches.join("; ")
                )));
            }
            // The reverse publication marks the target's writes closed before the forward
            // subscription, the other mark `plan` reads there, goes (see `hold`). Without a
            // slot it decodes nothing yet.
            repl::create_publication(&target, &names.back, self.schema(), BACK_CLOSED).await?;
            failpoint("cutover-verified");
            repl::drop_subscription(&target, &names.forward).await?;
            repl::drop_slot(&source, &names.forward).await?;
            self.set_phase(&source, Phase::Switched).await?;
            failpoint("cutover-switched");
            phase = Phase::Switched;
        }
        if phase == Phase::Switched {
            report.sequences = repl::copy_sequences(&source, &target, self.schema()).await?;
            // The reverse slot exists before the target takes its first write, so the source
            // receives every one of them.
            repl::create_publication(&target, &names.back, self.schema(), BACK_CLOSED).await?;
            repl::create_slot(&target, &names.back).await?;
            let source_major = archive::server_version(&source).await?.0 / 10_000;
            repl::create_subscription(
                &source,
                &names.back,
                &repl::conninfo(self.target),
                &names.back,
                SubscriptionOptions {
                    copy_data: false,
                    origin_none: source_major >= 16,
                },
            )
            .await?;
            failpoint("cutover-reversed");
            self.align_verifiers(&target, out).await?;
            repl::unfence(&target, self.schema(), &self.writers()).await?;
            repl::set_comment(
                &target,
                &names.back,
                &hold::back_open(&self.source.redacted()),
            )
            .await?;
            self.repoint(self.target, out).await?;
            self.set_phase(&source, Phase::CutOver).await?;
            report.window = fenced_at.map(|at| at.elapsed());
        }
        if mark.phase == Phase::CutOver {
            repl::set_comment(
                &target,
                &names.back,
                &hold::back_open(&self.source.redacted()),
            )
            .await?;
            self.repoint(self.target, out).await?;
        }
        report.tables = repl::tables(&target, self.schema()).await?.len();
        Ok(report)
    }

    /// Gives the service's login roles on the target the SCRAM verifiers PgBouncer's userlist
    /// holds for them (what `dbsplit pooler` wrote for the source): each server salts its own,
    /// and PgBouncer logs in to the server with the keys of its userlist, so without this its
    /// logins as the service's roles would fail on the target. The passwords stay the same.
    async fn align_verifiers(&self, target: &Conn, out: &mut impl Write) -> Result<(), MoveError> {
        let logins = self.logins();
        for admin in self.poolers {
            let (file, verifiers) =
                crate::pooler::repoint::userlist_verifiers(admin, &logins).await?;
            if verifiers.is_empty() {
                continue;
            }
            let sql: String = verifiers
                .iter()
                .map(|(role, verifier)| {
                    format!("ALTER ROLE {} PASSWORD {};", Ident(role), Literal(verifier))
                })
                .collect();
            target
                .batch_execute(&format!("BEGIN; {sql} COMMIT"))
                .await
                .during(|| {
                    "cannot give the target's roles the verifiers of PgBouncer's userlist"
                        .to_string()
                })?;
            let _ = writeln!(
                out,
                "PgBouncer {}: the target's password verifiers of {} are now those of {}, so its logins work there",
                admin.redacted(),
                verifiers
                    .iter()
                    .map(|(r, _)| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                file.display()
            );
        }
        Ok(())
    }

    /// Points the service's alias on every PgBouncer given at `to`.
    async fn repoint(&self, to: &ConnectOptions, out: &mut impl Write) -> Result<(), MoveError> {
        let upstream = Upstream::of(to);
        for admin in self.poolers {
            let file = repoint(admin, &self.service.name, &upstream).await?;
            let _ = writeln!(
                out,
                "PgBouncer {}: alias `{}` points at {}:{}/{} ({} rewritten, reloaded)",
                admin.redacted(),
                self.service.name,
                upstream.host,
                upstream.port,
                upstream.dbname,
                file.display()
            );
        }
        Ok(())
    }

    /// Takes back, on both sides, what the move let its roles reach (see
    /// [`repl::grant_move_reads`]).
    async fn end_move_reads(&self, source: &Conn, target: &Conn) -> Result<(), MoveError> {
        repl::end_move_reads(source, self.schema(), &self.source.user).await?;
        repl::end_move_reads(target, self.schema(), &self.target.user).await
    }

    /// Gives the target its writes back after a failed abort and records phase cut-over.
    async fn reopen_target(&self, source: &Conn, target: &Conn) -> Result<(), MoveError> {
        let names = self.names();
        repl::unfence(target, self.schema(), &self.writers()).await?;
        repl::set_comment(
            target,
            &names.back,
            &hold::back_open(&self.source.redacted()),
        )
        .await?;
        self.set_phase(source, Phase::CutOver).await
    }

    /// Gives the source its writes back and records phase copying.
    async fn reopen_source(&self, source: &Conn) -> Result<(), MoveError> {
        repl::unfence(source, self.schema(), &self.writers()).await?;
        self.set_phase(source, Phase::Copying).await
    }

    /// What still differs between the two sides once the subscriber has had up to
    /// `options.timeout` to show it. The writer side is fenced here, so the sides can only
    /// converge. Since the position waited for is the WAL insert position (see
    /// [`repl::current_lsn`]), the first comparison agrees in every test; waiting for the
    /// written position instead made it disagree every run on servers with
    /// `synchronous_commit = off`. The retry stays as a margin.
    async fn settled(
        &self,
        from: &Conn,
        to: &Conn,
        options: &CutoverOptions,
    ) -> Result<Vec<String>, MoveError> {
        let deadline = Instant::now() + options.timeout;
        loop {
            let mismatches = self.compare(from, to, options.verify).await?;
            if mismatches.is_empty() || Instant::now() >= deadline {
                return Ok(mismatches);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What differs between the two sides, one sentence per table.
    async fn compare(
        &self,
        from: &Conn,
        to: &Conn,
        verify: Verify,
    ) -> Result<Vec<String>, MoveError> {
        // Each side is read on its own server at the same time: the service waits for this.
        let (tables, target_tables) = tokio::try_join!(
            repl::tables(from, self.schema()),
            repl::tables(to, self.schema())
        )?;
        if tables != target_tables {
            return Ok(vec![format!(
                "tables differ: {} against {}",
                tables.join(", "),
                target_tables.join(", ")
            )]);
        }
        Ok(match verify {
            Verify::Count => {
                let (a, b) =
                    tokio::try_join!(repl::counts(from, &tables), repl::counts(to, &tables))?;
                tables
                    .iter()
                    .zip(a.iter().zip(&b))
                    .filter(|(_, (x, y))| x != y)
                    .map(|(t, (x, y))| format!("{t}: {x} rows against {y}"))
                    .collect()
            }
            Verify::Hash => {
                let (a, b) =
                    tokio::try_join!(repl::hashes(from, &tables), repl::hashes(to, &tables))?;
                tables
                    .iter()
                    .zip(a.iter().zip(&b))
                    .filter(|(_, (x, y))| x != y)
                    .map(|(t, _)| format!("{t}: the rows' hashes differ"))
                    .collect()
            }
        })
    }

    /// `abort`: before cut-over, drop the replication objects; after, move writes back.
    pub async fn abort(
        &self,
        options: &CutoverOptions,
        out: &mut impl Write,
    ) -> Result<(), MoveError> {
        let names = self.names();
        let source = self.open(self.source).await?;
        let target = self.open(self.target).await?;
        let mark = self.read_mark(&source).await?;
        let phase = mark.map(|m| m.phase);
        // A cut-over killed after it made the reverse subscription may have opened the
        // target's writes: bring them back like after a cut-over.
        let reversed =
            phase == Some(Phase::Switched) && repl::subscription(&source, &names.back).await?;
        if phase.is_none()
            && schema_comment(&source, self.schema())
                .await?
                .is_some_and(|c| c.starts_with("dbsplit: left behind"))
        {
            return Err(MoveError::Refused(format!(
                "the move of service `{}` is finished: the service lives in {}; abort has nothing to undo",
                self.service.name,
                self.target.redacted()
            )));
        }
        match phase {
            None | Some(Phase::Copying | Phase::Fenced | Phase::Switched) if !reversed => {
                let sync_slots = repl::sync_slot_prefix(&target, &names.forward).await?;
                repl::drop_subscription(&target, &names.forward).await?;
                repl::drop_slot(&source, &names.forward).await?;
                if let Some(prefix) = sync_slots {
                    repl::drop_sync_slots(&source, &prefix).await?;
                }
                repl::drop_subscription(&source, &names.back).await?;
                repl::drop_slot(&target, &names.back).await?;
                repl::drop_publication(&target, &names.back).await?;
                repl::unfence(&source, self.schema(), &self.writers()).await?;
                if phase.is_some() {
                    self.mark_copy(&target).await?;
                }
                self.end_move_reads(&source, &target).await?;
                repl::drop_publication(&source, &names.forward).await?;
                let _ = writeln!(
                    out,
                    "aborted: the replication objects are gone, the source takes the service's writes; schema `{}` on the target keeps what was copied, fenced (a later start empties it and copies again)",
                    self.schema()
                );
            }
            _ => {
                self.set_phase(&source, Phase::Aborting).await?;
                if repl::publication(&target, &names.back).await?.is_some() {
                    repl::set_comment(&target, &names.back, BACK_CLOSED).await?;
                }
                let started = Instant::now();
                repl::fence(
                    &target,
                    self.schema(),
                    &self.writers(),
                    &self.logins(),
                    true,
                )
                .await?;
                let lsn = repl::current_lsn(&target).await?;
                if repl::subscription(&source, &names.back).await? {
                    let caught_up =
                        repl::wait_replayed(&target, &names.back, &lsn, options.timeout).await?;
                    if !caught_up {
                        self.reopen_target(&source, &target).await?;
                        return Err(MoveError::Refused(format!(
                            "the source did not replay the target's {lsn} within {:?}; the target takes writes again (phase cut-over): run abort again later",
                            options.timeout
                        )));
                    }
                }
                repl::copy_sequences(&target, &source, self.schema()).await?;
                let comparing = Instant::now();
                let mismatches = self.settled(&target, &source, options).await?;
                let verified = comparing.elapsed();
                if !mismatches.is_empty() {
                    self.reopen_target(&source, &target).await?;
                    return Err(MoveError::Refused(format!(
                        "the source does not hold what the target holds ({}); the target takes writes again (phase cut-over)",
                        mismatches.join("; ")
                    )));
                }
                repl::drop_subscription(&source, &names.back).await?;
                repl::drop_slot(&target, &names.back).await?;
                repl::drop_publication(&target, &names.back).await?;
                repl::unfence(&source, self.schema(), &self.writers()).await?;
                self.repoint(self.source, out).await?;
                self.mark_copy(&target).await?;
                self.end_move_reads(&source, &target).await?;
                repl::drop_publication(&source, &names.forward).await?;
                let _ = writeln!(
                    out,
                    "aborted after cut-over: writes are back on the source {} (refused for {:.2} s; the sides compared by {} in {:.2} s), which holds every row the target took; the target's schema stays, fenced (a later start empties it and copies again)",
                    self.source.redacted(),
                    started.elapsed().as_secs_f64(),
                    options.verify.as_str(),
                    verified.as_secs_f64()
                );
            }
        }
        Ok(())
    }

    /// `finish`: drop the reverse replication and the publication; the source schema stays,
    /// fenced, marked as left behind.
    pub async fn finish(&self, out: &mut impl Write) -> Result<(), MoveError> {
        let names = self.names();
        let name = &self.service.name;
        let source = self.open(self.source).await?;
        let target = self.open(self.target).await?;
        match self.read_mark(&source).await?.map(|m| m.phase) {
            Some(Phase::CutOver) => {}
            None if schema_comment(&source, self.schema())
                .await?
                .is_some_and(|c| c.starts_with("dbsplit: left behind")) =>
            {
                let _ = writeln!(out, "the move of service `{name}` is already finished");
                return Ok(());
            }
            None => {
                return Err(MoveError::Refused(format!(
                    "no move of service `{name}` is in progress"
                )));
            }
            Some(phase) => {
                return Err(MoveError::Refused(format!(
                    "finish needs a completed cut-over; the move is in phase {}",
                    phase.as_str()
                )));
            }
        }
        repl::drop_subscription(&source, &names.back).await?;
        repl::drop_slot(&target, &names.back).await?;
        repl::drop_publication(&target, &names.back).await?;
        let comment = format!(
            "dbsplit: left behind by the move of service {name} to {}; fenced and read-only, drop it by hand once it is no longer needed",
            self.target.redacted()
        );
        source
            .run_as_owner(&format!(
                "COMMENT ON SCHEMA {} IS {}",
                Ident(self.schema()),
                Literal(&comment)
            ))
            .await
            .during(|| format!("cannot mark schema `{}` as left behind", self.schema()))?;
        self.end_move_reads(&source, &target).await?;
        repl::drop_publication(&source, &names.forward).await?;
        let _ = writeln!(
            out,
            "finished: service `{name}` lives in {}; schema `{}` stays on the source, fenced and read-only, until a person drops it",
            self.target.redacted(),
            self.schema()
        );
        Ok(())
    }

    /// The target's connection string for each login role, without a password.
    fn connection_strings(&self) -> Vec<(String, String)> {
        self.service
            .roles
            .iter()
            .map(|role| {
                let mut options = self.target.clone();
                options.user = role.name.clone();
                options.password = None;
                (role.name.clone(), repl::conninfo(&options))
            })
            .collect()
    }
}

/// How the comment of the target's schema begins once an abort left a copy there.
const ABORTED_COPY: &str = "dbsplit: the copy an aborted move left";

/// The comment on a schema, when it has one.
async fn schema_comment(
    client: &tokio_postgres::Client,
    schema: &str,
) -> Result<Option<String>, MoveError> {
    let row = client
        .query_opt(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_catalog.pg_namespace WHERE nspname = $1",
            &[&schema],
        )
        .await
        .during(|| format!("cannot read the comment of schema `{schema}`"))?;
    Ok(row.and_then(|r| r.get(0)))
}

/// Test hook: with `DBSPLIT_FAILPOINT=NAME` (set only by dbsplit's own tests) the process dies
/// at the point of that name, as `kill -9` would, so the tests can show that a re-run or
/// `abort` resumes from whatever state a killed step leaves.
fn failpoint(name: &str) {
    if std::env::var("DBSPLIT_FAILPOINT").is_ok_and(|point| point == name) {
        std::process::abort();
    }
}
