//! An application that upgrades its database at start-up: a legacy one is bridged, an empty
//! one installed, one at head left as it is.
//!
//!     embedded_app sqlite:notes.db        (or DATABASE_URL=postgres://… embedded_app)

use std::process::ExitCode;

use ferry::{Migrator, Progress};

fn main() -> ExitCode {
    let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DATABASE_URL").ok())
    else {
        eprintln!("usage: embedded_app DATABASE_URL (or set DATABASE_URL)");
        return ExitCode::from(2);
    };
    let upgraded = Migrator::new(ferry::include_migrations!())
        .database(&url)
        .on_progress(|p| {
            if let Progress::Finished { label, duration, .. } = p {
                eprintln!("migrated: {label} ({} ms)", duration.as_millis());
            }
        })
        .upgrade();
    match upgraded {
        Ok(report) => {
            println!(
                "database ready: was {}, ran {} step(s), now at {}",
                ferry::runner::describe(&report.before),
                report.steps.len(),
                report.heads.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot start: the database was not upgraded: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
