//! Volume set-up against real folders. The memory-backed volumes mount
//! tmpfs, which needs root (as the agent has); a guard unmounts them even
//! when an assertion fails.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};
use skiff_runtime::spec::{Mount, MountKind};

use super::*;

struct PodDir {
    dir: tempfile::TempDir,
}

impl PodDir {
    fn new() -> anyhow::Result<PodDir> {
        Ok(PodDir { dir: tempfile::tempdir()? })
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PodDir {
    fn drop(&mut self) {
        // Best effort: a failing test must not leave mounts behind.
        let _ = Volumes::tear_down(self.dir.path());
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn pod(volumes: Value) -> Value {
    json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1", "labels": {"app": "a"}},
        "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}}}],
                 "volumes": volumes}
    })
}

fn sources() -> Sources {
    let mut s = Sources { node_allocatable: (2000, 1 << 30), ..Sources::default() };
    s.config_maps.insert(
        "cfg".into(),
        json!({"metadata": {"name": "cfg"}, "data": {"app.conf": "x=1", "other": "o"}, "binaryData": {"blob": b64("\u{1}\u{2}")}}),
    );
    s.secrets.insert("sec".into(), json!({"metadata": {"name": "sec"}, "data": {"password": b64("hunter2")}}));
    s
}

fn mode(p: &Path) -> anyhow::Result<u32> {
    Ok(fs::metadata(p)?.permissions().mode() & 0o7777)
}

/// The mount options of whatever is mounted exactly on `dir`.
fn mount_options(dir: &Path) -> anyhow::Result<Vec<String>> {
    let dir = fs::canonicalize(dir)?;
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(dir.to_string_lossy().as_ref()))
        .map(|l| l.to_string())
        .collect())
}

fn err_text<T: std::fmt::Debug>(r: Result<T, VolumeError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn config_map_volume_updates_atomically() -> anyhow::Result<()> {
    let pd = PodDir::new()?;
    let p = pod(json!([{"name": "conf", "configMap": {"name": "cfg"}}]));
    let mut s = sources();
    let vols = set_up(&p, pd.path(), &s)?;
    let vol = vols.get("conf").ok_or_else(|| anyhow::anyhow!("no volume"))?;
    assert_eq!(vol.path, pd.path().join("volumes/kubernetes.io~configmap/conf"));
    assert_eq!(fs::read_to_string(vol.path.join("app.conf"))?, "x=1");
    assert_eq!(fs::read(vol.path.join("blob"))?, vec![1, 2]);
    assert_eq!(mode(&vol.path.join("app.conf"))?, 0o644);
    assert_eq!(fs::read_link(vol.path.join("app.conf"))?, Path::new("..data/app.conf"));
    let first = fs::read_link(vol.path.join("..data"))?;

    // Unchanged: the same version stays published.
    set_up(&p, pd.path(), &s)?;
    assert_eq!(fs::read_link(vol.path.join("..data"))?, first);

    // Changed: a new version, the dropped key's link goes.
    s.config_maps.insert("cfg".into(), json!({"data": {"app.conf": "x=2"}}));
    set_up(&p, pd.path(), &s)?;
    assert_ne!(fs::read_link(vol.path.join("..data"))?, first);
    assert_eq!(fs::read_to_string(vol.path.join("app.conf"))?, "x=2");
    assert!(fs::symlink_metadata(vol.path.join("other")).is_err());
    assert!(!vol.path.join(&first).exists());
    Ok(())
}

#[test]
fn config_map_items_modes_and_failures() -> anyhow::Result<()> {
    let pd = PodDir::new()?;
    let s = sources();
    let p = pod(json!([{"name": "conf", "configMap": {"name": "cfg", "defaultMode": 0o400,
        "items": [{"key": "app.conf", "path": "etc/app/app.conf", "mode": 0o600}, {"key": "other", "path": "o"}]}}]));
    let vols = set_up(&p, pd.path(), &s)?;
    let root = &vols.get("conf").ok_or_else(|| anyhow::anyhow!("no volume"))?.path;
    assert_eq!(fs::read_to_string(root.join("etc/app/app.conf"))?, "x=1");
    assert_eq!(mode(&root.join("etc/app/app.conf"))?, 0o600);
    assert_eq!(mode(&root.join("o"))?, 0o400);
    assert_eq!(fs::read_link(root.join("etc"))?, Path::new("..data/etc"));
    assert!(fs::symlink_metadata(root.join("blob")).is_err());

    let cases = [
        (json!({"name": "v", "configMap": {"name": "nope"}}), "MountVolume.SetUp failed for volume \"v\" : configmap \"nope\" not found"),
        (json!({"name": "v", "secret": {"secretName": "nope"}}), "MountVolume.SetUp failed for volume \"v\" : secret \"nope\" not found"),
        (
            json!({"name": "v", "configMap": {"name": "cfg", "items": [{"key": "k", "path": "k"}]}}),
            "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: k",
        ),
        (
            json!({"name": "v", "secret": {"secretName": "sec", "items": [{"key": "k", "path": "k"}]}}),
            "MountVolume.SetUp failed for volume \"v\" : secret references non-existent secret key: k",
        ),
        (
            json!({"name": "v", "configMap": {"name": "cfg", "items": [{"key": "other", "path": "../x"}]}}),
            "MountVolume.SetUp failed for volume \"v\" : invalid path: must not contain '..': ../x",
        ),
        (
            json!({"name": "v", "hostPath": {"path": "/proc/self/status", "type": "Directory"}}),
            "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: /proc/self/status is not a directory, it's a File",
        ),
    ];
    for (volume, want) in cases {
        assert_eq!(err_text(set_up(&pod(json!([volume])), pd.path(), &s)), want);
    }

    // Optional and missing: an empty volume, not an error.
    let p = pod(json!([{"name": "opt", "configMap": {"name": "nope", "optional": true}},
                       {"name": "optkey", "configMap": {"name": "cfg", "optional": true, "items": [{"key": "k", "path": "k"}]}}]));
    let vols = set_up(&p, pd.path(), &s)?;
    for name in ["opt", "optkey"] {
        let root = &vols.get(name).ok_or_else(|| anyhow::anyhow!("no volume"))?.path;
        let visible: Vec<_> = fs::read_dir(root)?
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with(".."))
            .collect();
        assert!(visible.is_empty());
    }
    Ok(())
}

#[test]
fn secret_and_memory_volumes_live_on_tmpfs() -> anyhow::Result<()> {
    let pd = PodDir::new()?;
    let p = pod(json!([
        {"name": "sec", "secret": {"secretName": "sec"}},
        {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {"name": "big", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {"name": "scratch", "emptyDir": {}}
    ]));
    let s = sources();
    let vols = set_up(&p, pd.path(), &s)?;
    let path = |n: &str| -> anyhow::Result<PathBuf> {
        Ok(vols.get(n).ok_or_else(|| anyhow::anyhow!("no volume {n}"))?.path.clone())
    };

    let secret = path("sec")?;
    assert_eq!(fs::read_to_string(secret.join("password"))?, "hunter2");
    assert_eq!(mode(&secret.join("password"))?, 0o644);
    let secret_mounts = mount_options(&secret)?;
    assert_eq!(secret_mounts.len(), 1, "{secret_mounts:?}");
    assert!(secret_mounts[0].contains("tmpfs"));

    let cache = path("cache")?;
    let cache_mounts = mount_options(&cache)?;
    assert_eq!(cache_mounts.len(), 1, "{cache_mounts:?}");
    assert!(cache_mounts[0].contains("size=1024k"), "{cache_mounts:?}");
    // The pod's 64Mi memory limit caps a larger sizeLimit.
    let big_mounts = mount_options(&path("big")?)?;
    assert!(big_mounts[0].contains("size=65536k"), "{big_mounts:?}");
    fs::write(cache.join("f"), "kept")?;

    let scratch = path("scratch")?;
    assert!(mount_options(&scratch)?.is_empty());
    assert_eq!(mode(&scratch)?, 0o777);
    assert_eq!(vols.get("scratch").map(|v| &v.kind), Some(&VolumeKind::EmptyDir { memory: false }));

    // Again: nothing mounted twice, nothing lost.
    set_up(&p, pd.path(), &s)?;
    assert_eq!(mount_options(&cache)?.len(), 1);
    assert_eq!(mount_options(&secret)?.len(), 1);
    assert_eq!(fs::read_to_string(cache.join("f"))?, "kept");

    Volumes::tear_down(pd.path())?;
    assert!(mount_options(&pd.path().join("volumes"))?.is_empty());
    assert!(!pd.path().join("volumes").join(EMPTY_DIR).exists());
    assert!(!pd.path().join("volumes").join(SECRET).exists());
    Volumes::tear_down(pd.path())?;
    Ok(())
}

#[test]
fn downward_api_and_projected() -> anyhow::Result<()> {
    let pd = PodDir::new()?;
    let items = json!([
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
        {"path": "cpu", "mode": 0o400, "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu", "divisor": "1m"}}
    ]);
    let mut p = pod(json!([
        {"name": "info", "downwardAPI": {"items": items}},
        {"name": "all", "projected": {"defaultMode": 0o440, "sources": [
            {"configMap": {"name": "cfg", "items": [{"key": "app.conf", "path": "app.conf"}]}},
            {"secret": {"name": "sec"}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            {"serviceAccountToken": {"path": "token"}}
        ]}}
    ]));
    let s = sources();
    let vols = set_up(&p, pd.path(), &s)?;
    let info = vols.get("info").ok_or_else(|| anyhow::anyhow!("no volume"))?.path.clone();
    assert_eq!(info, pd.path().join("volumes/kubernetes.io~downward-api/info"));
    assert_eq!(fs::read_to_string(info.join("labels"))?, "app=\"a\"");
    assert_eq!(fs::read_to_string(info.join("name"))?, "p");
    assert_eq!(fs::read_to_string(info.join("mem"))?, "64");
    assert_eq!(fs::read_to_string(info.join("cpu"))?, "500");
    assert_eq!(mode(&info.join("cpu"))?, 0o400);

    let all = vols.get("all").ok_or_else(|| anyhow::anyhow!("no volume"))?.path.clone();
    assert_eq!(fs::read_to_string(all.join("app.conf"))?, "x=1");
    assert_eq!(fs::read_to_string(all.join("password"))?, "hunter2");
    assert_eq!(fs::read_to_string(all.join("ns"))?, "ns");
    assert_eq!(mode(&all.join("ns"))?, 0o440);
    assert!(fs::symlink_metadata(all.join("token")).is_err());
    assert_eq!(vols.warnings.len(), 1, "{:?}", vols.warnings);
    assert_eq!(mount_options(&all)?.len(), 1);

    // Label changes reach the running pod; a token appears once there is one.
    p["metadata"]["labels"]["tier"] = json!("web");
    let mut s = sources();
    s.service_account_token = Some("tok".into());
    let vols = set_up(&p, pd.path(), &s)?;
    assert_eq!(fs::read_to_string(info.join("labels"))?, "app=\"a\"\ntier=\"web\"");
    assert_eq!(fs::read_to_string(all.join("token"))?, "tok");
    assert!(vols.warnings.is_empty());

    // A projected source failing reports the kubelet's aggregate.
    let bad = pod(json!([{"name": "bad", "projected": {"sources": [
        {"configMap": {"name": "x"}}, {"secret": {"name": "y"}}
    ]}}]));
    assert_eq!(
        err_text(set_up(&bad, pd.path(), &s)),
        "MountVolume.SetUp failed for volume \"bad\" : [configmap \"x\" not found, secret \"y\" not found]"
    );
    Ok(())
}

#[test]
fn container_mounts_and_sub_paths() -> anyhow::Result<()> {
    let pd = PodDir::new()?;
    let host = tempfile::tempdir()?;
    let p = pod(json!([
        {"name": "data", "emptyDir": {}},
        {"name": "conf", "configMap": {"name": "cfg"}},
        {"name": "host", "hostPath": {"path": host.path().to_string_lossy(), "type": "Directory"}},
        {"name": "claim", "persistentVolumeClaim": {"claimName": "x"}}
    ]));
    let vols = set_up(&p, pd.path(), &sources())?;
    assert_eq!(vols.unsupported, vec!["claim".to_string()]);
    let data = vols.get("data").ok_or_else(|| anyhow::anyhow!("no volume"))?.path.clone();
    let conf = vols.get("conf").ok_or_else(|| anyhow::anyhow!("no volume"))?.path.clone();

    let container = json!({"name": "app", "volumeMounts": [
        {"name": "data", "mountPath": "/data"},
        {"name": "data", "mountPath": "/logs", "subPath": "logs/app", "readOnly": true},
        {"name": "conf", "mountPath": "/etc/conf"},
        {"name": "conf", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
        {"name": "host", "mountPath": "/host"},
        {"name": "data", "mountPath": "/per-pod", "subPathExpr": "$(POD)"}
    ]});
    let env = vec![("POD".to_string(), "p-0".to_string())];
    let got = mounts_with_env(&container, &vols, &env)?;
    let bind = |source: PathBuf, destination: &str, read_only: bool| Mount {
        source,
        destination: destination.to_string(),
        kind: MountKind::Bind,
        read_only,
    };
    let ts = fs::read_link(conf.join("..data"))?;
    let canon_data = fs::canonicalize(&data)?;
    assert_eq!(
        got,
        vec![
            bind(data.clone(), "/data", false),
            bind(canon_data.join("logs/app"), "/logs", true),
            bind(conf.clone(), "/etc/conf", true),
            bind(fs::canonicalize(&conf)?.join(ts).join("app.conf"), "/etc/app.conf", true),
            bind(host.path().to_path_buf(), "/host", false),
            bind(canon_data.join("p-0"), "/per-pod", false),
        ]
    );
    assert!(data.join("logs/app").is_dir());
    assert_eq!(mode(&data.join("logs/app"))?, 0o777);

    // A symlink planted in the volume must not lead out of it.
    symlink("/etc", data.join("escape"))?;
    symlink("logs", data.join("inside"))?;
    let one = |m: Value| json!({"name": "app", "volumeMounts": [m]});
    assert_eq!(
        mounts(&one(json!({"name": "data", "mountPath": "/x", "subPath": "inside/app"})), &vols)?[0].source,
        canon_data.join("logs/app")
    );
    let cases = [
        (
            json!({"name": "data", "mountPath": "/x", "subPath": "escape"}),
            "failed to prepare subPath for volumeMount \"data\" of container \"app\"",
        ),
        (
            json!({"name": "data", "mountPath": "/x", "subPath": "escape/new"}),
            "failed to create subPath directory for volumeMount \"data\" of container \"app\"",
        ),
        (
            json!({"name": "data", "mountPath": "/x", "subPath": "a/../../etc"}),
            "unable to provision SubPath `a/../../etc`: must not contain '..'",
        ),
        (
            json!({"name": "data", "mountPath": "/x", "subPath": "/etc"}),
            "error SubPath `/etc` must not be an absolute path",
        ),
        (json!({"name": "nope", "mountPath": "/x"}), "cannot find volume \"nope\" to mount into container \"app\""),
        (json!({"name": "claim", "mountPath": "/x"}), "cannot find volume \"claim\" to mount into container \"app\""),
        (
            json!({"name": "data", "mountPath": "rel"}),
            "volumeMount \"data\" of container \"app\": mountPath \"rel\" must be an absolute path",
        ),
        (json!({"name": "data", "mountPath": "/x", "subPathExpr": "$(A)/$(B)"}), "missing value for A, B"),
    ];
    for (m, want) in cases {
        assert_eq!(err_text(mounts(&one(m), &vols)), want);
    }
    assert!(!Path::new("/etc/new").exists());

    // Volumes prepared elsewhere join in.
    let mut vols = vols;
    vols.insert("claim", Volume { path: host.path().to_path_buf(), kind: VolumeKind::Other { read_only: true } });
    assert!(mounts(&one(json!({"name": "claim", "mountPath": "/x"})), &vols)?[0].read_only);
    Ok(())
}
