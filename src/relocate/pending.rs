//! What `plan` says about moves: a service whose move is in progress (its publication's mark on
//! this database) and a schema a finished move left behind (its comment). Two catalog queries,
//! whatever the number of services.

use tokio_postgres::Client;

use crate::manifest::Manifest;

use super::error::{Context, MoveError};
use super::state::{Mark, Names, Phase};

/// One sentence per move in progress and per schema left behind, for the manifest's services.
pub async fn notes(client: &Client, manifest: &Manifest) -> Result<Vec<String>, MoveError> {
    let marks = client
        .query(
            "SELECT pubname::text, coalesce(obj_description(oid, 'pg_publication'), '')
             FROM pg_catalog.pg_publication WHERE pubname LIKE 'dbsplit\\_move\\_%'",
            &[],
        )
        .await
        .during(|| "cannot read the publications of moves".to_string())?;
    let left = client
        .query(
            "SELECT nspname::text FROM pg_catalog.pg_namespace
             WHERE obj_description(oid, 'pg_namespace') LIKE 'dbsplit: left behind%'",
            &[],
        )
        .await
        .during(|| "cannot read the schemas' comments".to_string())?;
    let mut notes = Vec::new();
    for service in &manifest.services {
        let forward = Names::of(&service.name).forward;
        let mark = marks
            .iter()
            .filter(|row| row.get::<_, &str>(0) == forward)
            .find_map(|row| Mark::parse(row.get(1)));
        if let Some(mark) = mark {
            let writes = if mark.phase == Phase::Copying {
                "its writes stay here until cut-over"
            } else {
                "its writes here are fenced by the move, and apply leaves them so"
            };
            notes.push(format!(
                "service `{}` is being moved to {} (phase {}): {writes}; see `dbsplit move {} status`",
                service.name,
                mark.target,
                mark.phase.as_str(),
                service.name
            ));
        }
        if left
            .iter()
            .any(|row| row.get::<_, &str>(0) == service.schema)
        {
            notes.push(format!(
                "schema `{}` was left behind by a move of service `{}`: fenced and read-only here; dbsplit never drops it, a person does",
                service.schema, service.name
            ));
        }
    }
    Ok(notes)
}
