//! `host`: the tier runner. Parses the command line, runs one verb, and maps
//! the outcome to the exit code documented in docs/operator.md.

use clap::Parser;
use host::cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("HOST_LOG"))
        .with_writer(std::io::stderr)
        .init();
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this `host` is a debug build: libpg_query carries C assertions that abort on some input; \
             operators run the release build (`make install`)"
        );
    }
    let cli = cli::Cli::parse();
    if cli.command.read_only() {
        // `host grants … | head`: end quietly on a closed pipe, like other
        // Unix tools. Verbs that write keep going (their output is logged).
        // std has no safe call to set a signal's disposition.
        #[allow(unsafe_code)]
        // SAFETY: restoring the default disposition of a signal at start-up.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL)
        };
    }
    // One thread: the host's work is a sequence (one plugin call, one
    // statement at a time), and handing each statement's socket I/O to a
    // worker thread costs more than it overlaps. Measured
    // (docs/performance.md): 10,000 statements of one text took 0.23 s of CPU on
    // the current-thread runtime, 0.34 s on the multi-thread one. Plugin
    // compiles, the grants check and the epoch ticker have threads of
    // their own, and a running plugin yields to the runtime every epoch
    // tick, so timers and Ctrl-C are still served.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.exit_code())
        }
    }
}
