//! The binary: logging, the flags (`cli.rs`), bind, signals, run. Errors end here, with one
//! line.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use http_server::server::Server;
use http_server::{Accounts, TlsFiles, server};
use log::{info, warn};
use logger::BufferedLogger;

mod cli;
mod logger;

fn main() {
    let logger = BufferedLogger::install();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(logger::FLUSH_INTERVAL);
            logger.flush_all();
        }
    });
    let result = run(logger);
    logger.flush_all();
    if let Err(e) = result {
        // one line, whatever RUST_LOG says
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// The steps of a run: flags to a set-up, bind, the start-up lines, signals, serve until a
/// signal stops it.
fn run(logger: &BufferedLogger) -> anyhow::Result<()> {
    let setup = cli::Args::parse().into_setup()?;
    let accounts = setup.services.accounts.clone();
    let tls = setup.services.tls.clone();
    raise_open_files_limit(setup.config.max_connections);
    let server = server::bind(setup.config, setup.services).map_err(cli::bind_error)?;
    info!("{}", setup.policy_line);
    if let Some(warning) = &setup.clear_text_warning {
        warn!("{warning}");
    }
    handle_signals(&server, accounts, tls)?;
    info!("listening on {}", server.local_addr()?);
    // tests and scripts wait for this line: do not leave it in the buffer
    logger.flush_all();
    server.run().context("server failed")?;
    info!("stopped");
    Ok(())
}

/// SIGINT and SIGTERM start a graceful shutdown; SIGHUP reloads the accounts and TLS files.
fn handle_signals(
    server: &Server,
    accounts: Option<Arc<Accounts>>,
    tls: Option<Arc<TlsFiles>>,
) -> anyhow::Result<()> {
    let handle = server.shutdown_handle()?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ])
    .context("cannot install signal handlers")?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                reload(accounts.as_deref(), tls.as_deref());
                continue;
            }
            info!("signal {signal}: shutting down");
            handle.shutdown();
            break;
        }
    });
    Ok(())
}

/// SIGHUP: reads the auth file and the TLS pair again; connections stay open, and whatever
/// fails to load keeps its old version.
fn reload(accounts: Option<&Accounts>, tls: Option<&TlsFiles>) {
    if let Some(accounts) = accounts {
        match accounts.reload() {
            Ok(n) => info!("{}", cli::accounts_reloaded(n)),
            Err(e) => warn!("kept the old accounts: {e}"),
        }
    }
    if let Some(tls) = tls {
        match tls.reload() {
            Ok(()) => info!("reloaded the TLS certificate and key"),
            Err(e) => warn!("kept the old TLS certificate: {}", cli::tls_error(&e)),
        }
    }
    if accounts.is_none() && tls.is_none() {
        info!("SIGHUP: nothing to reload");
    }
}

/// Raises the soft open-files limit to the hard one, as nginx and Go do: every connection is a
/// descriptor, and the default soft limit (often 1024) is far below the connection cap.
fn raise_open_files_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        // a few descriptors go to the listener, logs and files being served
        Ok(limit) if limit < max_connections as u64 + 64 => {
            warn!("{}", cli::too_few_open_files(limit, max_connections))
        }
        Ok(_) => {}
        Err(e) => warn!("cannot raise the open files limit: {e}"),
    }
}
