//! The `paddock` binary: parse the command line, run the command, map the outcome to
//! an exit status (0 ok, 1 Paddock/runtime error, 2 usage error, or the status of
//! the command `paddock lock` ran). Everything else is
//! in the library (`paddock_cli`).
use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = paddock_cli::Cli::parse();
    if let Err(err) = paddock_cli::run(cli).await {
        if err.downcast_ref::<paddock_cli::ExitWith>().is_none() {
            eprintln!("paddock: {err:#}");
        }
        std::process::exit(paddock_cli::exit_code(&err));
    }
}
