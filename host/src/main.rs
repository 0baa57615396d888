//! skiff: a small container orchestrator that speaks the Kubernetes API.

mod admission;
mod api;
mod auth;
mod cli;
mod controllers;
mod errors;
mod events;
mod meta;
mod metrics;
mod node;
mod plugins;
mod process;
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
    /// Run the API server, the store, the controllers, the scheduler and (as root) a local node.
    Server(server::ServerArgs),
    /// Manage WebAssembly plugins: push, list, roll back, test locally.
    #[command(subcommand)]
    Plugin(cli::plugin::PluginCommand),
    /// Development aids: simulated nodes for trying the scheduler at scale.
    #[command(subcommand)]
    Dev(cli::dev::DevCommand),
    /// Join a server as a node: run the pods bound to this machine.
    Agent(node::AgentArgs),
    /// The node's image store: pull, import, list, remove.
    #[command(subcommand)]
    Image(cli::image::ImageCommand),
    /// The node's containers: `reset` stops and removes them all.
    #[command(subcommand)]
    Node(NodeCommand),
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Stop and remove every container and pod sandbox of this node.
    Reset(node::ResetArgs),
}

fn main() -> anyhow::Result<()> {
    // The shim must stay single-threaded (fork, setns, unshare): it runs before anything else starts.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("shim") {
        std::process::exit(skiff_runtime::shim::main(&args[2..]));
    }
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
        Command::Agent(args) => runtime.block_on(node::run_agent(args)),
        Command::Image(cmd) => runtime.block_on(cli::image::run(cmd)),
        Command::Node(NodeCommand::Reset(args)) => node::reset(args),
    }
}
