//! GitHub Actions workflow commands, one per finding
//! (https://docs.github.com/actions/reference/workflow-commands-for-github-actions):
//! `::error file=F,line=L,col=C,title=RULE::MESSAGE`, which GitHub shows on the pull request's
//! lines, as squawk writes them; and `::notice title=dbsplit plan: service S::CHANGE` per
//! plan change, with who answers for the service.

use std::io::{self, Write};

use crate::finding::{Finding, Location, Severity};
use crate::plan::Plan;

use super::plan::{Owners, owned_by};

/// Writes one notice per plan change: the change is not wrong, it is what `apply` would do.
/// Nothing is written for an empty plan (the exit code of `--exit-code` says it).
pub fn plan(plan: &Plan, owners: &Owners, out: &mut impl Write) -> io::Result<()> {
    for change in &plan.changes {
        let mut message = format!(
            "{} {} {}: {}",
            change.action.marker().symbol(),
            change.action.kind(),
            change.action.object(),
            change.action.describe()
        );
        if let Some(owner) = owners.of_scope(&change.scope) {
            message = format!("{message} ({})", owned_by(owner));
        }
        let title = format!("dbsplit plan: {}", change.scope);
        writeln!(
            out,
            "::notice title={}::{}",
            property(&title),
            data(&message)
        )?;
    }
    Ok(())
}

/// Writes one annotation per finding.
pub fn github(findings: &[Finding], out: &mut impl Write) -> io::Result<()> {
    for f in findings {
        // GitHub's workflow commands (::error, ::warning), not our severity words.
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut properties = Vec::new();
        let mut message = f.message.clone();
        match &f.location {
            Location::File { path, line, column } => {
                properties.push(format!("file={}", property(&path.display().to_string())));
                properties.push(format!("line={line}"));
                properties.push(format!("col={column}"));
            }
            Location::Object { object } => message = format!("{object}: {message}"),
        }
        if let Some(place) = &f.place {
            message = format!("{}: {message}", place.label());
        }
        if let Some(owner) = &f.owner {
            message = format!("{message} (team: {})", owner.describe());
        }
        properties.push(format!("title={}", property(f.rule.as_str())));
        writeln!(
            out,
            "::{command} {}::{}",
            properties.join(","),
            data(&message)
        )?;
    }
    Ok(())
}

/// Escapes a command's message (`%`, CR, LF), as the Actions toolkit does.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value: a message's escapes, and `:` and `,` too.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(data("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
