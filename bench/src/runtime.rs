//! `skiff-bench runtime`: what it costs skiff to run a container, in one run.
//!
//! 1. **Lifecycle**: create + start + wait for exit + delete of a container
//!    running `/bin/true` on one busybox rootfs, by skiff-runtime (under the
//!    `skiff shim`, overlay rootfs), by `runc run` and by `crun run`, the
//!    three interleaved (the order rotates every round) so machine noise
//!    falls on each alike. All three get new pid, mount, ipc, uts and network
//!    namespaces and a cgroup with a memory limit.
//! 2. **Pod startup**: a `skiff server` with the busybox image imported
//!    beforehand; pods (`sleep 3600`, `IfNotPresent`) created one at a time,
//!    timed from the create being sent to a pod watch showing phase Running
//!    with the container running; then a burst created at once.
//!
//! The busybox image and rootfs come from `tests/e2e/images.py` (the same
//! image the end-to-end tests use). Every container, mount, cgroup, pod and
//! temp dir it makes is removed at the end, also on errors and Ctrl-C.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::Method;
use serde::Serialize;
use serde_json::{json, Value};
use skiff_runtime::spec::{ContainerSpec, Resources};
use skiff_runtime::{Runtime, Status};
use tokio::sync::mpsc;

use crate::conn::{Client, Endpoint};
use crate::kube::KubeConfig;
use crate::proc::find_program;
use crate::skiff;

#[derive(clap::Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// The skiff binary: the server, and the shim (`skiff shim`) of the lifecycle runs.
    #[arg(long, default_value = "target/release/skiff")]
    skiff: PathBuf,
    #[arg(long, default_value = "runc")]
    runc: PathBuf,
    #[arg(long, default_value = "crun")]
    crun: PathBuf,
    /// Timed lifecycle runs per runtime.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Untimed lifecycle runs per runtime first (page cache, first cgroups).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// How runc and crun get the rootfs: an overlay mounted per container (as
    /// skiff does, mount and unmount timed) or the folder itself, read-only.
    #[arg(long, value_enum, default_value_t = OciRootfs::Overlay)]
    oci_rootfs: OciRootfs,
    /// The memory limit of every lifecycle container's cgroup, in MiB.
    #[arg(long, default_value_t = 256)]
    memory_mib: i64,
    /// Pods created one at a time for the startup latency.
    #[arg(long, default_value_t = 50)]
    pods: usize,
    /// Pods created at once for the burst.
    #[arg(long, default_value_t = 20)]
    burst: usize,
    /// How long one pod (or the whole burst) may take to run.
    #[arg(long, default_value_t = 120)]
    pod_timeout: u64,
    #[arg(long, default_value_t = 120)]
    startup_timeout: u64,
    /// The folder of images.py (the end-to-end tests' image builder).
    #[arg(long, default_value = "tests/e2e")]
    images_py: PathBuf,
    /// Only the lifecycle comparison.
    #[arg(long, conflicts_with = "skip_lifecycle")]
    skip_pods: bool,
    /// Only the pod startup latency.
    #[arg(long)]
    skip_lifecycle: bool,
    /// Write the results as JSON to FILE (the table is still printed), or
    /// with no FILE print JSON instead of the table.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    json: Option<Option<PathBuf>>,
    /// Internal: run the lifecycle part in this work dir (see `lifecycle`).
    #[arg(long, hide = true)]
    lifecycle_child: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OciRootfs {
    Overlay,
    Readonly,
}

#[derive(Serialize, Debug, Default)]
pub struct Report {
    lifecycle: Option<LifecycleReport>,
    pods: Option<PodReport>,
}

#[derive(Serialize, Debug)]
pub struct LifecycleReport {
    count: usize,
    oci_rootfs: OciRootfs,
    memory_limit_mib: i64,
    runtimes: Vec<Summary>,
    /// skiff's figure divided by runc's / crun's (mean, p50, p99).
    skiff_over_runc: Ratios,
    skiff_over_crun: Ratios,
}

#[derive(Serialize, Debug, Clone)]
pub struct Summary {
    name: &'static str,
    count: usize,
    mean_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

#[derive(Serialize, Debug)]
pub struct Ratios {
    mean: f64,
    p50: f64,
    p99: f64,
}

#[derive(Serialize, Debug)]
pub struct PodReport {
    /// The first pod after the node is Ready, not counted in `sequential`.
    first_pod_ms: f64,
    sequential: Summary,
    burst: usize,
    /// From the first create sent to the last pod seen Running.
    burst_all_running_ms: f64,
    /// Each burst pod's create-sent-to-Running time.
    burst_each: Summary,
}

fn summarize(name: &'static str, samples: &[Duration]) -> Summary {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms.get(((ms.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    Summary {
        name,
        count: ms.len(),
        mean_ms: if ms.is_empty() { 0.0 } else { ms.iter().sum::<f64>() / ms.len() as f64 },
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        min_ms: ms.first().copied().unwrap_or(0.0),
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

fn ratios(skiff: &Summary, other: &Summary) -> Ratios {
    Ratios { mean: skiff.mean_ms / other.mean_ms, p50: skiff.p50_ms / other.p50_ms, p99: skiff.p99_ms / other.p99_ms }
}

pub async fn run(args: RuntimeArgs) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("skiff-bench runtime makes containers: run it as root");
    }
    if !args.skiff.is_file() {
        bail!("skiff binary {} not found; build it first with `cargo build --release -p skiff`", args.skiff.display());
    }
    if let Some(work) = &args.lifecycle_child {
        return lifecycle_child(&args, work).await;
    }
    let skiff_bin = args.skiff.canonicalize().with_context(|| format!("resolving {}", args.skiff.display()))?;
    let work = tempfile::Builder::new().prefix("skiff-bench-runtime-").tempdir().context("creating a temp dir")?;
    let image_tar = work.path().join("busybox.tar");
    let rootfs = work.path().join("rootfs");
    eprintln!("building the busybox image and rootfs with {}/images.py ...", args.images_py.display());
    make_image(&args.images_py, &image_tar, &rootfs).await?;

    let mut report = Report::default();
    if !args.skip_lifecycle {
        report.lifecycle = Some(lifecycle(&args, &skiff_bin, work.path()).await?);
    }
    if !args.skip_pods {
        report.pods = Some(pods(&args, &skiff_bin, &image_tar).await?);
    }

    let json = serde_json::to_string_pretty(&report)?;
    match &args.json {
        Some(None) => println!("{json}"),
        Some(Some(file)) => {
            std::fs::write(file, json + "\n").with_context(|| format!("writing {}", file.display()))?;
            print!("{}", table(&report));
        }
        None => print!("{}", table(&report)),
    }
    Ok(())
}

/// One Python call: the e2e busybox image as a `docker save` tarball (for
/// `skiff image import`) and its layers unpacked into `rootfs`.
async fn make_image(images_py: &Path, tar: &Path, rootfs: &Path) -> anyhow::Result<()> {
    const SCRIPT: &str = r#"
import io, sys, tarfile
sys.path.insert(0, sys.argv[1])
from images import busybox_image, save_docker_archive
image = busybox_image("busybox")
save_docker_archive(image, sys.argv[2], "bench")
for layer in image.layers:
    with tarfile.open(fileobj=io.BytesIO(layer.tar)) as t:
        t.extractall(sys.argv[3])
"#;
    if !images_py.join("images.py").is_file() {
        bail!("{}/images.py not found: run from the workspace root or pass --images-py", images_py.display());
    }
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(images_py)
        .arg(tar)
        .arg(rootfs)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running python3")?;
    if !out.status.success() {
        bail!("building the busybox image failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

// ---------------------------------------------------------------- lifecycle

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Skiff,
    Runc,
    Crun,
}

impl Engine {
    const ALL: [Engine; 3] = [Engine::Skiff, Engine::Runc, Engine::Crun];

    fn name(self) -> &'static str {
        match self {
            Engine::Skiff => "skiff",
            Engine::Runc => "runc",
            Engine::Crun => "crun",
        }
    }
}

/// Sets the flag when dropped: the blocking lifecycle loop stops at its next
/// round if the run is interrupted, and cleans up after itself.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The lifecycle runs in a child process of this binary with a mount
/// namespace of its own in which the cgroup2 mount of a hybrid host
/// (`/sys/fs/cgroup/unified`) is gone: crun refuses to work on a hybrid host
/// whose cgroup2 hierarchy has a controller (here hugetlb), and without that
/// mount all three runtimes see the same pure v1 hierarchies. The namespace
/// is a slave of the host's, so nothing mounted in it leaks out.
async fn lifecycle(args: &RuntimeArgs, skiff_bin: &Path, work: &Path) -> anyhow::Result<LifecycleReport> {
    let exe = std::env::current_exe().context("locating skiff-bench")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("runtime")
        .arg("--skiff")
        .arg(skiff_bin)
        .arg("--runc")
        .arg(&args.runc)
        .arg("--crun")
        .arg(&args.crun)
        .args(["--count", &args.count.to_string(), "--warmup", &args.warmup.to_string()])
        .args(["--memory-mib", &args.memory_mib.to_string()])
        .args(["--oci-rootfs", if args.oci_rootfs == OciRootfs::Overlay { "overlay" } else { "readonly" }])
        .arg("--lifecycle-child")
        .arg(work)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // SAFETY: between fork and exec only the three system calls run.
    unsafe {
        cmd.pre_exec(|| {
            use nix::mount::{mount, umount2, MntFlags, MsFlags};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>)?;
            match umount2(UNIFIED, MntFlags::MNT_DETACH) {
                // crun still writes a cgroup.procs below the folder: into a
                // tmpfs that goes with the namespace, not the host's /sys/fs/cgroup.
                Ok(()) => mount(Some("tmpfs"), UNIFIED, Some("tmpfs"), MsFlags::empty(), None::<&str>)?,
                Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(())
        });
    }
    let child = cmd.spawn().context("starting the lifecycle child")?;
    let pid = child.id().context("the lifecycle child has no pid")?;
    let guard = StopChild(Some(nix::unistd::Pid::from_raw(pid as i32)));
    let status = child.wait_with_output().await.context("waiting for the lifecycle child")?.status;
    drop(guard.disarm());
    if !status.success() {
        bail!("the lifecycle measurement failed ({status})");
    }
    let samples: Vec<Vec<f64>> =
        serde_json::from_slice(&std::fs::read(work.join(SAMPLES))?).context("reading the lifecycle samples")?;
    let runtimes: Vec<Summary> = Engine::ALL
        .iter()
        .zip(&samples)
        .map(|(e, s)| summarize(e.name(), &s.iter().map(|x| Duration::from_secs_f64(*x)).collect::<Vec<_>>()))
        .collect();
    if runtimes.len() != 3 {
        bail!("the lifecycle child wrote {} sample sets, not 3", runtimes.len());
    }
    Ok(LifecycleReport {
        count: args.count,
        oci_rootfs: args.oci_rootfs,
        memory_limit_mib: args.memory_mib,
        skiff_over_runc: ratios(&runtimes[0], &runtimes[1]),
        skiff_over_crun: ratios(&runtimes[0], &runtimes[2]),
        runtimes,
    })
}

/// Where a hybrid host mounts its cgroup2 hierarchy.
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// The lifecycle child's samples (seconds, per engine in `Engine::ALL` order).
const SAMPLES: &str = "samples.json";

/// SIGTERM to the lifecycle child if the run is interrupted, then a wait for
/// it to clean up and exit (it handles SIGTERM like Ctrl-C).
struct StopChild(Option<nix::unistd::Pid>);

impl StopChild {
    fn disarm(mut self) -> Self {
        self.0 = None;
        self
    }
}

impl Drop for StopChild {
    fn drop(&mut self) {
        let Some(pid) = self.0 else { return };
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(50)),
                _ => return,
            }
        }
    }
}

/// The child's side: measures and writes the samples into `work`.
async fn lifecycle_child(args: &RuntimeArgs, work: &Path) -> anyhow::Result<()> {
    let skiff_bin = args.skiff.canonicalize().with_context(|| format!("resolving {}", args.skiff.display()))?;
    let runc = find_program(&args.runc).with_context(|| format!("{} not found", args.runc.display()))?;
    let crun = find_program(&args.crun).with_context(|| format!("{} not found", args.crun.display()))?;
    let template_dir = work.join("template");
    std::fs::create_dir_all(&template_dir)?;
    let out = StdCommand::new(&runc).arg("spec").arg("--bundle").arg(&template_dir).output().context("runc spec")?;
    if !out.status.success() {
        bail!("runc spec failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let template: Value = serde_json::from_slice(&std::fs::read(template_dir.join("config.json"))?)
        .context("reading the config.json of runc spec")?;
    let runtime = Runtime::new(work.join("skiff"), vec![OsString::from(&skiff_bin), OsString::from("shim")])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bench = Lifecycle {
        runtime,
        rootfs: work.join("rootfs"),
        work: work.to_path_buf(),
        template,
        runc,
        crun,
        cgroup_parent: format!("skiff-bench-{}", std::process::id()),
        mode: args.oci_rootfs,
        memory: args.memory_mib << 20,
    };
    let (count, warmup) = (args.count, args.warmup);
    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_guard = CancelOnDrop(cancel.clone());
    eprintln!(
        "lifecycle: {warmup} warm-up + {count} timed runs each of skiff, runc, crun (oci rootfs: {:?}) ...",
        args.oci_rootfs
    );
    let samples = tokio::task::spawn_blocking(move || {
        let result = bench.measure(count, warmup, &cancel);
        bench.clean_up();
        result
    })
    .await
    .context("the lifecycle thread")??;
    let secs: Vec<Vec<f64>> = samples.iter().map(|s| s.iter().map(Duration::as_secs_f64).collect()).collect();
    std::fs::write(work.join(SAMPLES), serde_json::to_vec(&secs)?).context("writing the samples")?;
    Ok(())
}

struct Lifecycle {
    runtime: Runtime,
    rootfs: PathBuf,
    work: PathBuf,
    /// `runc spec`'s config.json, adjusted per container.
    template: Value,
    runc: PathBuf,
    crun: PathBuf,
    /// Every container's cgroup is below this one, in every hierarchy.
    cgroup_parent: String,
    mode: OciRootfs,
    memory: i64,
}

impl Lifecycle {
    /// Samples per engine, in `Engine::ALL` order.
    fn measure(&self, count: usize, warmup: usize, cancel: &AtomicBool) -> anyhow::Result<Vec<Vec<Duration>>> {
        let mut samples: Vec<Vec<Duration>> = (0..3).map(|_| Vec::with_capacity(count)).collect();
        for round in 0..warmup + count {
            for k in 0..3 {
                if cancel.load(Ordering::SeqCst) {
                    bail!("interrupted");
                }
                // Rotate who goes first, so each follows each alike.
                let i = (round + k) % 3;
                let engine = Engine::ALL[i];
                let id = format!("{}-{round}", engine.name());
                let took = match engine {
                    Engine::Skiff => self.skiff_once(&id),
                    Engine::Runc => self.oci_once(&self.runc, "runc", &id),
                    Engine::Crun => self.oci_once(&self.crun, "crun", &id),
                }
                .with_context(|| format!("{} container {id}", engine.name()))?;
                if round >= warmup {
                    samples[i].push(took);
                }
            }
            let done = round + 1;
            if done > warmup && (done - warmup).is_multiple_of(25) {
                eprintln!("lifecycle: {} of {count} rounds", done - warmup);
            }
        }
        Ok(samples)
    }

    fn skiff_once(&self, id: &str) -> anyhow::Result<Duration> {
        let spec = ContainerSpec {
            id: id.to_string(),
            layers: vec![self.rootfs.clone()],
            args: vec!["/bin/true".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            // Inside the container's folder, so `remove` takes it along.
            log_path: self.runtime.root().join("containers").join(id).join("container.log"),
            cgroup: format!("{}/{id}", self.cgroup_parent),
            hostname: "bench".into(),
            resources: Resources { memory_limit: Some(self.memory), ..Default::default() },
            ..Default::default()
        };
        let started = Instant::now();
        self.runtime.start(&spec).map_err(|e| anyhow::anyhow!("start: {e}"))?;
        // Runtime::wait polls every 5 ms; 1 ms keeps the quantisation below
        // the figures' noise.
        let deadline = started + Duration::from_secs(30);
        loop {
            match self.runtime.status(id).map_err(|e| anyhow::anyhow!("status: {e}"))? {
                Status::Exited(e) if e.exit_code == 0 && e.error.is_none() => break,
                Status::Exited(e) => bail!("/bin/true ended badly: {e:?}"),
                _ if Instant::now() > deadline => bail!("still running after 30s"),
                _ => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        self.runtime.remove(id).map_err(|e| anyhow::anyhow!("remove: {e}"))?;
        Ok(started.elapsed())
    }

    fn bundle(&self, id: &str) -> PathBuf {
        self.work.join("bundles").join(id)
    }

    fn state_root(&self, engine: &str) -> PathBuf {
        self.work.join(format!("state-{engine}"))
    }

    /// `runc run` / `crun run` in the foreground: create, start, wait and
    /// delete in one command. Writing the bundle and, with an overlay,
    /// mounting and unmounting it are timed too, since skiff's start writes
    /// its spec and mounts its overlay.
    fn oci_once(&self, bin: &Path, engine: &str, id: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let bundle = self.bundle(id);
        std::fs::create_dir_all(&bundle).with_context(|| format!("creating {}", bundle.display()))?;
        let root = match self.mode {
            OciRootfs::Readonly => self.rootfs.clone(),
            OciRootfs::Overlay => {
                let (upper, workdir, merged) = (bundle.join("upper"), bundle.join("work"), bundle.join("merged"));
                for d in [&upper, &workdir, &merged] {
                    std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
                }
                let opts = format!(
                    "lowerdir={},upperdir={},workdir={}",
                    self.rootfs.display(),
                    upper.display(),
                    workdir.display()
                );
                nix::mount::mount(
                    Some("overlay"),
                    &merged,
                    Some("overlay"),
                    nix::mount::MsFlags::empty(),
                    Some(&*opts),
                )
                .with_context(|| format!("mounting an overlay on {}", merged.display()))?;
                merged
            }
        };
        let config = self.oci_config(&root, &format!("/{}/{id}", self.cgroup_parent));
        std::fs::write(bundle.join("config.json"), serde_json::to_vec(&config)?)?;
        let out = StdCommand::new(bin)
            .arg("--root")
            .arg(self.state_root(engine))
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(id)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", bin.display()));
        if self.mode == OciRootfs::Overlay {
            nix::mount::umount(&root).with_context(|| format!("unmounting {}", root.display()))?;
        }
        std::fs::remove_dir_all(&bundle).with_context(|| format!("removing {}", bundle.display()))?;
        let took = started.elapsed();
        let out = out?;
        if !out.status.success() {
            bail!(
                "{engine} run: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(took)
    }

    /// `runc spec`'s defaults, with what makes it comparable to skiff's
    /// container: the same command and rootfs, no terminal, the five
    /// namespaces skiff gives a container and a memory-limited cgroup.
    fn oci_config(&self, root: &Path, cgroup: &str) -> Value {
        let mut c = self.template.clone();
        c["process"]["args"] = json!(["/bin/true"]);
        c["process"]["terminal"] = json!(false);
        c["root"] = json!({"path": root, "readonly": self.mode == OciRootfs::Readonly});
        c["hostname"] = json!("bench");
        c["linux"]["namespaces"] =
            json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]);
        c["linux"]["cgroupsPath"] = json!(cgroup);
        c["linux"]["resources"]["memory"] = json!({"limit": self.memory});
        c
    }

    /// Whatever a failed or interrupted run left: skiff containers, OCI
    /// containers and their overlays, and the cgroups below the parent.
    fn clean_up(&self) {
        for id in self.runtime.list() {
            if let Err(e) = self.runtime.remove(&id) {
                eprintln!("cleanup: removing skiff container {id}: {e}");
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.work.join("bundles")) {
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                for (engine, bin) in [("runc", &self.runc), ("crun", &self.crun)] {
                    if id.starts_with(engine) {
                        let _ = StdCommand::new(bin)
                            .arg("--root")
                            .arg(self.state_root(engine))
                            .args(["delete", "--force", &id])
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status();
                    }
                }
                let merged = entry.path().join("merged");
                if merged.exists() {
                    let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
        // v1: one hierarchy per folder of /sys/fs/cgroup; v2: the folder itself.
        // Only cgroup filesystems count (not the tmpfs over the cgroup2 mount).
        let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            roots.extend(hierarchies.flatten().map(|h| h.path()));
        }
        for root in roots.iter().filter(|r| r.join("cgroup.procs").exists()) {
            remove_cgroup_tree(&root.join(&self.cgroup_parent));
        }
    }
}

/// rmdir of a cgroup folder and every group below it, deepest first.
fn remove_cgroup_tree(dir: &Path) {
    if !dir.is_dir() {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("cleanup: removing cgroup {}: {e}", dir.display());
    }
}

// --------------------------------------------------------------- pod startup

const PODS: &str = "/api/v1/namespaces/default/pods";
const IMAGE: &str = "busybox:bench";
const LABEL: &str = "skiff-bench-runtime";

fn pod(name: &str) -> Bytes {
    Bytes::from(
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": LABEL}},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "c", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                "command": ["sleep", "3600"]}],
            },
        })
        .to_string(),
    )
}

/// Runs `skiff node reset` on the data dir when dropped (after the server
/// that ran the pods has stopped), so no container outlives the benchmark.
struct ResetOnDrop {
    skiff: PathBuf,
    data_dir: PathBuf,
    /// The node's parent cgroup (`skiff`) did not exist before: remove it too.
    remove_parent_cgroups: bool,
}

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        eprintln!("skiff node reset ...");
        match StdCommand::new(&self.skiff).args(["node", "reset", "--data-dir"]).arg(&self.data_dir).output() {
            Ok(out) if out.status.success() => eprint!("{}", String::from_utf8_lossy(&out.stdout)),
            Ok(out) => eprintln!("skiff node reset failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)),
            Err(e) => eprintln!("skiff node reset: {e}"),
        }
        if self.remove_parent_cgroups {
            for dir in node_cgroups() {
                if let Err(e) = std::fs::remove_dir(&dir) {
                    eprintln!("cleanup: removing cgroup {}: {e}", dir.display());
                }
            }
        }
    }
}

/// The node agent's parent cgroup (`skiff`) in every hierarchy that has it.
fn node_cgroups() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|rd| rd.flatten().map(|h| h.path().join("skiff")).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    let v2 = Path::new("/sys/fs/cgroup/skiff");
    if v2.join("cgroup.procs").exists() {
        out.push(v2.to_path_buf());
    }
    out
}

async fn pods(args: &RuntimeArgs, skiff_bin: &Path, image_tar: &Path) -> anyhow::Result<PodReport> {
    let data = tempfile::Builder::new().prefix("skiff-bench-node-").tempdir().context("creating a temp dir")?;
    let data_dir = data.path().join("data");
    let out = tokio::process::Command::new(skiff_bin)
        .args(["image", "import"])
        .arg(image_tar)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running skiff image import")?;
    if !out.status.success() {
        bail!("skiff image import failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    // Declared after `data` and before the server: dropped after the server
    // stops and before the data dir goes.
    let _reset = ResetOnDrop {
        skiff: skiff_bin.to_path_buf(),
        data_dir: data_dir.clone(),
        remove_parent_cgroups: node_cgroups().is_empty(),
    };
    eprintln!("starting {} server ...", skiff_bin.display());
    let mut server = skiff::start_on(skiff_bin, &data_dir, Duration::from_secs(args.startup_timeout), &[]).await?;
    let endpoint = KubeConfig::load(&server.kubeconfig)?.endpoint(false)?;
    let result = measure_pods(args, &endpoint).await;
    if let Err(e) = server.process.ensure_running() {
        eprintln!("note: {e:#}");
    } else if let Err(e) = delete_pods(&endpoint).await {
        eprintln!("note: deleting the pods: {e:#}");
    }
    eprintln!("stopping skiff (SIGTERM) ...");
    if let Err(e) = server.process.stop().await {
        eprintln!("note: stopping skiff: {e:#}");
    }
    result
}

async fn measure_pods(args: &RuntimeArgs, endpoint: &Endpoint) -> anyhow::Result<PodReport> {
    let timeout = Duration::from_secs(args.pod_timeout);
    wait_node_ready(endpoint, Duration::from_secs(args.startup_timeout)).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let path = format!("{PODS}?watch=true&labelSelector=app%3D{LABEL}");
    let watch = tokio::spawn(skiff::watch_pods(endpoint.clone(), path, tx, |pod: Value| {
        is_running(&pod).then(|| pod["metadata"]["name"].as_str().map(str::to_string)).flatten()
    }));
    let mut running = Running { rx, seen: HashMap::new(), endpoint: endpoint.clone() };
    running.opened().await?;
    let mut client = Client::new(endpoint.clone());

    // The first pod pays for what is done once (the namespace's service
    // account, first cgroups, page cache); it is reported apart.
    let first = create_and_wait(&mut client, &mut running, "first", timeout).await?;
    eprintln!("first pod Running after {:.1} ms", first.as_secs_f64() * 1e3);

    eprintln!("{} pods one at a time ...", args.pods);
    let mut sequential = Vec::with_capacity(args.pods);
    for i in 0..args.pods {
        sequential.push(create_and_wait(&mut client, &mut running, &format!("seq-{i}"), timeout).await?);
        if (i + 1).is_multiple_of(10) {
            eprintln!("{} of {} pods", i + 1, args.pods);
        }
    }

    eprintln!("{} pods at once ...", args.burst);
    let names: Vec<String> = (0..args.burst).map(|i| format!("burst-{i}")).collect();
    let t0 = Instant::now();
    let mut creates = Vec::new();
    for name in &names {
        let (endpoint, name) = (endpoint.clone(), name.clone());
        creates.push(tokio::spawn(async move {
            let sent = Instant::now();
            Client::new(endpoint)
                .expect_ok(Method::POST, PODS, Some(pod(&name)))
                .await
                .map_err(|e| anyhow::anyhow!("creating pod {name}: {e}"))?;
            anyhow::Ok(sent)
        }));
    }
    let mut sent = Vec::with_capacity(names.len());
    for c in creates {
        sent.push(c.await??);
    }
    let at = running.wait_all(&names, timeout).await?;
    let all = at.iter().max().map_or(Duration::ZERO, |last| last.duration_since(t0));
    let each: Vec<Duration> = at.iter().zip(&sent).map(|(a, s)| a.duration_since(*s)).collect();
    watch.abort();
    Ok(PodReport {
        first_pod_ms: first.as_secs_f64() * 1e3,
        sequential: summarize("pod", &sequential),
        burst: args.burst,
        burst_all_running_ms: all.as_secs_f64() * 1e3,
        burst_each: summarize("burst pod", &each),
    })
}

async fn create_and_wait(
    client: &mut Client,
    running: &mut Running,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let sent = Instant::now();
    client.expect_ok(Method::POST, PODS, Some(pod(name))).await.map_err(|e| anyhow::anyhow!("creating {name}: {e}"))?;
    let at = running.wait_all(&[name.to_string()], timeout).await?;
    Ok(at[0].duration_since(sent))
}

async fn wait_node_ready(endpoint: &Endpoint, timeout: Duration) -> anyhow::Result<()> {
    let mut client = Client::new(endpoint.clone());
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(body) = client.expect_ok(Method::GET, "/api/v1/nodes", None).await {
            let list: Value = serde_json::from_slice(&body).unwrap_or_default();
            let ready = list["items"].as_array().into_iter().flatten().any(|n| {
                n["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            if ready {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("no node was Ready within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first moment the watch showed each pod Running.
struct Running {
    rx: mpsc::UnboundedReceiver<(String, Instant)>,
    seen: HashMap<String, Instant>,
    endpoint: Endpoint,
}

impl Running {
    /// Waits for the watch's start signal (an empty name).
    async fn opened(&mut self) -> anyhow::Result<()> {
        match tokio::time::timeout(Duration::from_secs(30), self.rx.recv()).await {
            Ok(Some(_)) => Ok(()),
            _ => bail!("the pod watch did not open"),
        }
    }

    async fn wait_all(&mut self, names: &[String], timeout: Duration) -> anyhow::Result<Vec<Instant>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(at) = names.iter().map(|n| self.seen.get(n).copied()).collect::<Option<Vec<_>>>() {
                return Ok(at);
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((name, at))) => {
                    self.seen.entry(name).or_insert(at);
                }
                Ok(None) => bail!("the pod watch ended"),
                Err(_) => {
                    let missing: Vec<&String> = names.iter().filter(|n| !self.seen.contains_key(*n)).collect();
                    let mut detail = String::new();
                    if let Some(name) = missing.first() {
                        let mut client = Client::new(self.endpoint.clone());
                        if let Ok(body) = client.expect_ok(Method::GET, &format!("{PODS}/{name}"), None).await {
                            let pod: Value = serde_json::from_slice(&body).unwrap_or_default();
                            detail = format!("; {name}'s status: {}", pod["status"]);
                        }
                    }
                    bail!("{} pod(s) not Running within {timeout:?}{detail}", missing.len());
                }
            }
        }
    }
}

/// A pod in phase Running whose containers all run.
fn is_running(pod: &Value) -> bool {
    let statuses = pod["status"]["containerStatuses"].as_array();
    pod["status"]["phase"] == "Running"
        && statuses.is_some_and(|s| !s.is_empty() && s.iter().all(|c| c["state"]["running"].is_object()))
}

/// Deletes every benchmark pod with grace 0 and waits (at most a minute)
/// until the API has none left.
async fn delete_pods(endpoint: &Endpoint) -> anyhow::Result<()> {
    let mut client = Client::new(endpoint.clone());
    let list_path = format!("{PODS}?labelSelector=app%3D{LABEL}");
    let names = |body: &[u8]| -> Vec<String> {
        let list: Value = serde_json::from_slice(body).unwrap_or_default();
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
            .collect()
    };
    let body = client.expect_ok(Method::GET, &list_path, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let all = names(&body);
    eprintln!("deleting {} pods (grace 0) ...", all.len());
    for name in &all {
        let reply = client.call(Method::DELETE, &format!("{PODS}/{name}?gracePeriodSeconds=0"), None).await?;
        if !reply.status.is_success() && reply.status != http::StatusCode::NOT_FOUND {
            eprintln!("deleting pod {name}: HTTP {}", reply.status);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = client.expect_ok(Method::GET, &list_path, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let left = names(&body).len();
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{left} pods still listed a minute after their deletion");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// -------------------------------------------------------------------- table

fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if let Some(l) = &r.lifecycle {
        let rootfs = match l.oci_rootfs {
            OciRootfs::Overlay => "an overlay per container for all three (runc/crun: mounted by the bench, timed)",
            OciRootfs::Readonly => "skiff: overlay; runc/crun: the folder itself, read-only",
        };
        let _ = writeln!(
            s,
            "Container lifecycle: create+start+wait+delete of /bin/true, {} runs each, interleaved\n\
             (rootfs: {rootfs}; namespaces pid, mount, ipc, uts, net; cgroup with a {} MiB memory limit)\n",
            l.count, l.memory_limit_mib
        );
        let _ = writeln!(
            s,
            "{:<8} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "runtime", "mean ms", "p50 ms", "p99 ms", "min ms", "max ms"
        );
        for x in &l.runtimes {
            let _ = writeln!(
                s,
                "{:<8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                x.name, x.mean_ms, x.p50_ms, x.p99_ms, x.min_ms, x.max_ms
            );
        }
        for (name, ratio) in [("skiff/runc", &l.skiff_over_runc), ("skiff/crun", &l.skiff_over_crun)] {
            let _ = writeln!(s, "{:<10} {:>8.2}x {:>9.2}x {:>9.2}x", name, ratio.mean, ratio.p50, ratio.p99);
        }
        s.push('\n');
    }
    if let Some(p) = &r.pods {
        let q = &p.sequential;
        let _ = writeln!(s, "Pod startup: create sent -> watch shows Running (image present, sleep 3600)\n");
        let _ = writeln!(s, "{:<26} {:>10} {:>10} {:>10} {:>10}", "", "mean ms", "p50 ms", "p99 ms", "max ms");
        let _ = writeln!(
            s,
            "{:<26} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            format!("{} pods, one at a time", q.count),
            q.mean_ms,
            q.p50_ms,
            q.p99_ms,
            q.max_ms
        );
        let b = &p.burst_each;
        let _ = writeln!(
            s,
            "{:<26} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            format!("{} pods at once, each", p.burst),
            b.mean_ms,
            b.p50_ms,
            b.p99_ms,
            b.max_ms
        );
        let _ = writeln!(s, "burst: all {} Running after {:.1} ms", p.burst, p.burst_all_running_ms);
        let _ = writeln!(s, "first pod after the node was Ready (not counted above): {:.1} ms", p.first_pod_ms);
    }
    s
}
