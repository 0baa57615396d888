//! The runtime against the real kernel: namespaces, overlay rootfs, cgroups,
//! the shim's logs and exit records, exec. Needs root (as CI has) and
//! Debian's busybox-static for the image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use skiff_runtime::spec::{ContainerSpec, Mount, MountKind, Resources};
use skiff_runtime::{HostShares, Runtime, Status};

const BUSYBOX: &str = "/bin/busybox";

fn ready() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let busybox = Path::new(BUSYBOX).exists();
    if !(root && busybox) {
        assert!(std::env::var_os("CI").is_none(), "CI must run the runtime tests as root with busybox-static");
        eprintln!("skipping: needs root and {BUSYBOX}");
        return false;
    }
    true
}

/// A one-layer image: busybox, its applets, /etc/passwd.
fn layer(dir: &Path) -> PathBuf {
    let l = dir.join("layer");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
        std::fs::create_dir_all(l.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, l.join("bin/busybox")).unwrap();
    for applet in
        ["sh", "echo", "cat", "ls", "sleep", "hostname", "ps", "id", "head", "dd", "true", "mkdir", "touch", "wc"]
    {
        std::os::unix::fs::symlink("busybox", l.join("bin").join(applet)).unwrap();
    }
    std::fs::write(l.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
        .unwrap();
    std::fs::write(l.join("etc/hello"), "from the image\n").unwrap();
    l
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    rt: Runtime,
    layer: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let rt = Runtime::new(dir.join("rt"), vec![env!("CARGO_BIN_EXE_skiff-shim").into()]).unwrap();
    let layer = layer(&dir);
    Fixture { _tmp: tmp, dir, rt, layer }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Containers a failed assertion left running, then their groups.
        for id in self.rt.list() {
            let _ = self.rt.remove(&id);
        }
        // The tests' parent group, once no test uses it any more.
        skiff_runtime::cgroups::remove_if_empty("skiff-test");
    }
}

impl Fixture {
    fn spec(&self, id: &str, script: &str) -> ContainerSpec {
        ContainerSpec {
            id: id.into(),
            layers: vec![self.layer.clone()],
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into(), "GREETING=hi".into()],
            log_path: self.dir.join("logs").join(format!("{id}.log")),
            cgroup: format!("skiff-test/{}-{id}", std::process::id()),
            hostname: "box".into(),
            labels: BTreeMap::new(),
            ..Default::default()
        }
    }

    fn run(&self, spec: &ContainerSpec) -> (skiff_runtime::Exited, String) {
        self.rt.start(spec).expect("start");
        let exited = self.rt.wait(&spec.id, Duration::from_secs(30)).unwrap().expect("the container ends");
        let log = std::fs::read_to_string(&spec.log_path).unwrap_or_default();
        let text: Vec<String> = log.lines().map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_string()).collect();
        self.rt.remove(&spec.id).unwrap();
        (exited, text.join("\n"))
    }
}

#[test]
fn isolated_process_with_its_own_root_and_logs() {
    if !ready() {
        return;
    }
    let f = fixture();
    let spec =
        f.spec("iso", "echo $$; hostname; cat /etc/hello; echo /proc/[0-9]*; echo oops >&2; echo $GREETING; exit 3");
    let (exited, text) = f.run(&spec);
    assert_eq!(exited.exit_code, 3, "{text}");
    assert!(!exited.oom_killed);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "1", "the command is PID 1: {text}");
    assert_eq!(lines[1], "box");
    assert_eq!(lines[2], "from the image");
    assert_eq!(lines[3], "/proc/1", "only its own processes: {text}");
    assert!(text.contains("oops") && text.contains("hi"));
}

#[test]
fn start_errors_are_reported() {
    if !ready() {
        return;
    }
    let f = fixture();
    let mut spec = f.spec("missing", "");
    spec.args = vec!["nope".into()];
    let err = f.rt.start(&spec).unwrap_err().to_string();
    assert!(err.contains("executable file not found in $PATH"), "{err}");
    match f.rt.status("missing").unwrap() {
        Status::Exited(e) => assert_eq!(e.exit_code, 128),
        other => panic!("{other:?}"),
    }
    f.rt.remove("missing").unwrap();
}

#[test]
fn memory_limit_oom_kills() {
    if !ready() {
        return;
    }
    let f = fixture();
    let mut spec = f.spec("oom", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=200; tail /dev/zero");
    spec.args = vec!["sh".into(), "-c".into(), "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived".into()];
    spec.resources = Resources { memory_limit: Some(20 << 20), ..Default::default() };
    let (exited, text) = f.run(&spec);
    assert!(exited.oom_killed, "{exited:?} {text}");
    assert!(!text.contains("survived"));
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    if !ready() {
        return;
    }
    let f = fixture();
    let mut spec = f.spec("bomb", "for i in $(seq 1 50); do sleep 5 & done; echo started; sleep 1; ps | wc -l");
    spec.resources = Resources { pids_limit: Some(10), ..Default::default() };
    let (_exited, text) = f.run(&spec);
    assert!(
        text.contains("can't fork") || text.contains("Resource temporarily unavailable") || text.contains("fork"),
        "{text}"
    );
}

#[test]
fn users_capabilities_read_only_root_and_mounts() {
    if !ready() {
        return;
    }
    let f = fixture();
    let vol = f.dir.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("data"), "volume\n").unwrap();
    let mut spec = f.spec("sec", "id -u; id -g; cat /data/data; touch /x 2>&1 || echo readonly; touch /scratch/y && echo tmpfs-ok; grep CapBnd /proc/self/status; echo home=$HOME");
    spec.user.name = Some("nobody".into());
    spec.security.read_only_rootfs = true;
    spec.security.drop_capabilities = vec!["ALL".into()];
    spec.security.add_capabilities = vec!["NET_BIND_SERVICE".into()];
    spec.mounts = vec![
        Mount { source: vol.clone(), destination: "/data".into(), kind: MountKind::Bind, read_only: true },
        Mount {
            source: "tmpfs".into(),
            destination: "/scratch".into(),
            kind: MountKind::Tmpfs { size: 1 << 20 },
            read_only: false,
        },
    ];
    let (exited, text) = f.run(&spec);
    assert_eq!(exited.exit_code, 0, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "65534");
    assert_eq!(lines[1], "65534");
    assert_eq!(lines[2], "volume");
    assert!(text.contains("readonly"), "{text}");
    assert!(text.contains("tmpfs-ok"), "{text}");
    assert!(text.contains("CapBnd:\t0000000000000400"), "only NET_BIND_SERVICE is left: {text}");
    assert!(text.contains("home=/\n") || text.ends_with("home=/"), "HOME from passwd: {text}");
}

#[test]
fn sandbox_shares_network_and_hostname_and_exec_enters() {
    if !ready() {
        return;
    }
    let f = fixture();
    let uid = format!("test-{}", std::process::id());
    let sandbox = f.rt.create_sandbox(&uid, "podname", HostShares::default()).unwrap();
    // Unpinned even if an assertion fails: the pins are mounts on the host.
    struct Unpin<'a>(&'a Runtime, &'a str);
    impl Drop for Unpin<'_> {
        fn drop(&mut self) {
            let _ = self.0.remove_sandbox(self.1);
        }
    }
    let _unpin = Unpin(&f.rt, &uid);
    let mut spec = f.spec("long", "echo up; sleep 30");
    spec.namespaces.net = sandbox.net.clone();
    spec.namespaces.uts = sandbox.uts.clone();
    spec.namespaces.ipc = sandbox.ipc.clone();
    spec.hostname.clear();
    let started = f.rt.start(&spec).unwrap();
    assert!(started.pid > 0);
    let out =
        f.rt.exec_command(
            "long",
            &["sh".into(), "-c".into(), "hostname; echo $$; cat /proc/1/cmdline | tr '\\0' ' '".into()],
            false,
        )
        .unwrap()
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "podname");
    assert_ne!(lines[1], "1");
    assert!(lines[2].starts_with("sleep 30"), "{text}");
    let nope = f.rt.exec_command("long", &["nope".into()], false).unwrap().output().unwrap();
    assert_eq!(nope.status.code(), Some(127));
    f.rt.signal("long", nix::sys::signal::Signal::SIGKILL).unwrap();
    let exited = f.rt.wait("long", Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(exited.exit_code, 137);
    f.rt.remove("long").unwrap();
}

#[test]
fn a_terminal_of_its_own() {
    if !ready() {
        return;
    }
    let f = fixture();
    let mut spec = f.spec("tty", "tty; echo $$; sleep 0.2");
    spec.tty = true;
    let (exited, text) = f.run(&spec);
    assert_eq!(exited.exit_code, 0, "{text}");
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert_eq!(lines[0], "/dev/pts/0", "the terminal is in the container's devpts: {text}");
    assert_eq!(lines[1], "1");
}

#[test]
fn only_the_usual_devices() {
    if !ready() {
        return;
    }
    let f = fixture();
    // A block device node may be made (mknod is allowed) but never opened.
    let spec = f.spec(
        "dev",
        "mknod /tmp/disk b 7 0 && echo made; head -c1 /tmp/disk 2>&1; echo ok > /dev/null && echo null-ok",
    );
    let (exited, text) = f.run(&spec);
    assert_eq!(exited.exit_code, 0, "{text}");
    assert!(text.contains("made") && text.contains("Operation not permitted") && text.contains("null-ok"), "{text}");
}
