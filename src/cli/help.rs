//! The command line as users meet it: the global options under one help
//! heading and shown only by the commands they apply to, `orakl man`, and
//! what `main` needs to know about arguments clap rejected.

use std::ffi::OsString;
use std::path::Path;

use clap::{CommandFactory, FromArgMatches};

use super::{Cli, Failure};

/// The heading of the options every command accepts.
pub const GLOBAL: &str = "Global options";

/// The global options each command reads; the others hide them in their
/// help (clap still accepts them anywhere, so scripts that pass `--state`
/// to every command keep working).
fn applies(command: &str, option: &str) -> bool {
    const CONFIGURED: [&str; 11] =
        ["run", "check", "record", "replay", "evaluate", "status", "health", "report", "export", "backup", "demo"];
    const TIMETABLE: [&str; 7] = ["run", "check", "record", "replay", "evaluate", "status", "health"];
    match option {
        "schedule" => TIMETABLE.contains(&command),
        // The demo reads no environment and keeps no state.
        "state" | "env_file" => CONFIGURED.contains(&command) && command != "demo",
        "verbose" | "quiet" => !matches!(command, "calendar" | "completions" | "man"),
        _ => true,
    }
}

/// The clap command with each global option hidden where it does not apply.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // A subcommand that has its own (hidden) copy of a global option is
    // skipped when clap copies the global options into the subcommands.
    // (Changing arguments after clap has built the command would break its
    // lookup tables.)
    let globals: Vec<clap::Arg> = cmd.get_arguments().filter(|a| a.is_global_set()).cloned().collect();
    for sub in cmd.get_subcommands_mut() {
        let name = sub.get_name().to_string();
        for option in globals.iter().filter(|a| !applies(&name, a.get_id().as_str())) {
            *sub = std::mem::take(sub).arg(option.clone().hide(true));
        }
    }
    cmd
}

/// Parses `args` against [`command`].
pub fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// The subcommand named in `args` (the first word that is neither an
/// option nor an option's value), read without clap: for an exit code when
/// clap has rejected the arguments.
pub fn subcommand(args: &[OsString]) -> Option<String> {
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy().into_owned());
    while let Some(w) = words.next() {
        if matches!(w.as_str(), "--schedule" | "--state" | "--env-file") {
            words.next();
        } else if !w.starts_with('-') {
            return Some(w);
        }
    }
    None
}

/// `orakl man`: the page on stdout, or every command's page into `dir`.
pub fn man(dir: Option<&Path>) -> Result<(), Failure> {
    match dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|_| clap_mangen::generate_to(command(), dir))
            .map_err(|e| Failure::runtime(anyhow::anyhow!("--out-dir {}: {e}", dir.display()))),
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command()).render(&mut page).map_err(Failure::runtime)?;
            super::print_out(&String::from_utf8_lossy(&page))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option and argument of every command says what it is for.
    #[test]
    fn every_option_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let builtin = matches!(a.get_id().as_str(), "help" | "version");
                if !builtin && a.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            // clap's own `help` subcommand says what it is for itself.
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&command(), "orakl", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
    }

    #[test]
    fn global_options_show_only_where_they_apply() {
        let help = |name: &str| {
            let mut cmd = command();
            // As parsing does: the global options copied in.
            cmd.build();
            let sub = cmd.find_subcommand_mut(name).expect(name);
            sub.render_long_help().to_string()
        };
        let status = help("status");
        for option in ["--schedule", "--state", "--env-file", "--verbose", "--quiet", GLOBAL] {
            assert!(status.contains(option), "status help lacks {option}:\n{status}");
        }
        let calendar = help("calendar");
        for option in ["--schedule", "--state", "--env-file", "--verbose", GLOBAL] {
            assert!(!calendar.contains(option), "calendar help shows {option}:\n{calendar}");
        }
        let report = help("report");
        assert!(report.contains("--state") && !report.contains("--schedule"), "{report}");
        // Hidden is not refused: scripts may pass them to any command.
        let args: Vec<OsString> = ["orakl", "--state", "x.db", "calendar", "2026"].map(OsString::from).to_vec();
        assert!(parse(&args).is_ok());
    }

    #[test]
    fn the_subcommand_is_found_past_global_options() {
        for (args, want) in [
            (vec!["orakl", "health", "--bogus"], Some("health")),
            (vec!["orakl", "--state", "health", "status"], Some("status")),
            (vec!["orakl", "-v", "--env-file", "x", "health"], Some("health")),
            (vec!["orakl", "--quiet"], None),
        ] {
            let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
            assert_eq!(subcommand(&args).as_deref(), want, "{args:?}");
        }
    }
}
