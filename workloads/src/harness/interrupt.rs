//! SIGINT and SIGTERM during a run: a thread of [`exit_on_interrupt`] waits for either
//! (through `signal-hook`), abandons the run's report ([`super::report_dir::abandon_all`]:
//! its staging directory is removed, the previous report at `--out` stays as it was), says
//! so on stderr and exits with 128 plus the signal's number: 130 for SIGINT, 143 for
//! SIGTERM.

use super::report_dir::abandon_all;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::sync::OnceLock;

/// Makes SIGINT and SIGTERM end the process as the module says, the message naming
/// `workload`: `<workload>: interrupted by SIGTERM; wrote no report`, or `… after
/// writing its report in <out>` once the report is in place. Installs the handler once
/// per process; later calls return the first call's outcome.
pub fn exit_on_interrupt(workload: &'static str) -> Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(|| install(workload)).clone()
}

fn install(workload: &'static str) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot handle SIGINT and SIGTERM: {e}");
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| fail(&e))?;
    std::thread::Builder::new()
        .name("interrupts".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                abandon_all(|placed| {
                    match placed.first() {
                        None => eprintln!("{workload}: interrupted by {name}; wrote no report"),
                        Some(out) => eprintln!(
                            "{workload}: interrupted by {name} after writing its report in {}",
                            out.display()
                        ),
                    }
                    std::process::exit(128 + signal)
                })
            }
        })
        .map(drop)
        .map_err(|e| fail(&e))
}
