//! The shim on its own (`skiff-shim run DIR`, `skiff-shim exec DIR -- CMD`),
//! for the runtime's tests and benchmark; `skiff shim …` is the same code.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(skiff_runtime::shim::main(&args));
}
