//! skiff: a small container orchestrator that speaks the Kubernetes API.

mod admission;
mod api;
mod auth;
mod cli;
mod controllers;
mod events;
mod metrics;
mod plugins;
mod resources;
mod scheduler;
mod server;
mod store;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "skiff", version, about = "A small container orchestrator that speaks the Kubernetes API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server, the store and the controllers (and, later, a local node).
    Server(server::ServerArgs),
    /// Manage WebAssembly plugins: push, list, roll back, test locally.
    #[command(subcommand)]
    Plugin(cli::plugin::PluginCommand),
    /// Development aids: simulated nodes for trying the scheduler at scale.
    #[command(subcommand)]
    Dev(cli::dev::DevCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Server(args) => runtime.block_on(server::run(args)),
        Command::Plugin(cmd) => runtime.block_on(cli::plugin::run(cmd)),
        Command::Dev(cmd) => runtime.block_on(cli::dev::run(cmd)),
    }
}
