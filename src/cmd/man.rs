//! `dbsplit man`: the man page (roff, section 1) from the clap definitions (clap_mangen).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;

/// Writes dbsplit(1): the synopsis, the long description, every global option, every command
/// with its own description, and the examples of `--help` as an EXAMPLES section.
pub fn run(out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let command = Cli::command();
    let examples = command
        .get_after_long_help()
        .map(|help| help.to_string())
        .unwrap_or_default();
    let man = clap_mangen::Man::new(command);
    // clap_mangen would title them EXTRA and fill them into one paragraph: written here, they
    // keep their lines, under the heading man pages use.
    (|| {
        man.render_title(out)?;
        man.render_name_section(out)?;
        man.render_synopsis_section(out)?;
        man.render_description_section(out)?;
        man.render_options_section(out)?;
        man.render_subcommands_section(out)?;
        out.write_all(examples_section(&examples).as_bytes())?;
        man.render_version_section(out)
    })()
    .context("cannot write the man page")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `.SH EXAMPLES` and the lines after `Examples:` unfilled, escaped for roff.
fn examples_section(help: &str) -> String {
    let body = help.strip_prefix("Examples:\n").unwrap_or(help);
    let mut roff = String::from(".SH EXAMPLES\n.nf\n");
    for line in body.lines() {
        // A backslash starts an escape; a leading `.` or `'` a request; `-` is a hyphen.
        let line = line.replace('\\', "\\e").replace('-', "\\-");
        if line.starts_with(['.', '\'']) {
            roff.push_str("\\&");
        }
        roff.push_str(&line);
        roff.push('\n');
    }
    roff.push_str(".fi\n");
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_keep_their_lines_and_cannot_run_requests() {
        assert_eq!(
            examples_section("Examples:\n  dbsplit plan --offline\n.rm x\na\\b\n"),
            ".SH EXAMPLES\n.nf\n  dbsplit plan \\-\\-offline\n\\&.rm x\na\\eb\n.fi\n"
        );
    }
}
