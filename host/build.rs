//! Builds the built-in plugins (the `plugins/` workspace, target
//! wasm32-wasip2) so the binary can embed them, and tells the crate where
//! they are (`SKIFF_PLUGINS_DIR`). The guest build has its own target
//! directory, so it never waits on the host build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

const BUILTINS: &[&str] = &["pod_security", "podpreset", "default_scheduler"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ lives in the repository root").to_path_buf();
    let plugins = root.join("plugins");
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("plugins"),
        None => root.join("target").join("plugins"),
    };
    watch(&plugins);
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for name in BUILTINS {
        build.args(["-p", &name.replace('_', "-")]);
    }
    // The outer build's flags and wrappers are for the host target, not the guests.
    for var in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET"]
    {
        build.env_remove(var);
    }
    let status = build.status().expect("running cargo to build the built-in plugins");
    if !status.success() {
        panic!("building the built-in plugins in plugins/ failed (see the output above)");
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    for name in BUILTINS {
        let wasm = out.join(format!("{name}.wasm"));
        assert!(wasm.exists(), "the plugin build did not produce {}", wasm.display());
    }
    println!("cargo:rustc-env=SKIFF_PLUGINS_DIR={}", out.display());
}

/// rust-toolchain.toml names the target, but rustup adds it only when it
/// installs the toolchain; add it to an existing toolchain too.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc).args(["--print", "sysroot"]).output().ok();
    let installed = sysroot
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("lib/rustlib/wasm32-wasip2").exists())
        .unwrap_or(false);
    if installed {
        return;
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", "wasm32-wasip2"]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        add.args(["--toolchain", &toolchain]);
    }
    match add.status() {
        Ok(s) if s.success() => {}
        _ => {
            println!("cargo:warning=could not add the wasm32-wasip2 target with rustup; the plugin build will say why")
        }
    }
}

/// Rebuild when a plugin source changes (not when the guest build writes its own target dir).
fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
