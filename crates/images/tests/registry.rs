//! Real pulls from Debian's `docker-registry` on loopback. Skipped with a
//! message only when the binary is absent and `CI` is unset.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::sync::Mutex;

use common::{digest, start_registry, Entry, Layer, TestImage};
use skiff_images::{ImageStore, Progress, RegistryAuth};

fn base_layer() -> Layer {
    Layer::new(&[
        Entry::Dir("bin", 0o755),
        Entry::File("bin/hello", 0o755, b"#!/bin/sh\necho hello\n"),
        Entry::Symlink("bin/hi", "hello"),
        Entry::Dir("etc", 0o755),
        Entry::File("etc/motd", 0o644, b"welcome\n"),
        Entry::File("etc/hostname", 0o644, b"base\n"),
        Entry::Dir("var", 0o755),
        Entry::Dir("var/cache", 0o755),
        Entry::File("var/cache/old", 0o644, b"old\n"),
        Entry::Dir("tmp", 0o1777),
    ])
}

fn upper_layer() -> Layer {
    Layer::new(&[
        Entry::Dir("etc", 0o755),
        Entry::File("etc/.wh.motd", 0o644, b""),
        Entry::Dir("var/cache", 0o755),
        Entry::File("var/cache/.wh..wh..opq", 0o644, b""),
        Entry::File("var/cache/new", 0o644, b"new\n"),
        Entry::Dir("usr/bin", 0o755),
        Entry::File("usr/bin/su", 0o4755, b"setuid"),
        Entry::HardLink("usr/bin/su-again", "usr/bin/su"),
    ])
}

struct Events(Mutex<Vec<Progress>>);

impl Events {
    fn new() -> Events {
        Events(Mutex::new(Vec::new()))
    }
    fn record(&self) -> impl Fn(Progress) + Send + Sync + '_ {
        move |p| self.0.lock().expect("events").push(p)
    }
    fn take(&self) -> Vec<Progress> {
        std::mem::take(&mut *self.0.lock().expect("events"))
    }
}

#[tokio::test]
async fn pulls_a_multi_layer_image_with_whiteouts() -> anyhow::Result<()> {
    let Some(registry) = start_registry(false) else { return Ok(()) };
    let image = TestImage::new(vec![base_layer(), upper_layer()], &["sh", "-c", "echo hi"]);
    registry.push("test/app", "v1", &image).await?;

    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(&dir.path().join("images"))?;
    let reference = format!("{}/test/app:v1", registry.url);
    let events = Events::new();
    let pulled = store.pull(&reference, &[], &events.record()).await?;

    assert_eq!(pulled.reference, reference);
    assert_eq!(pulled.id, image.id());
    assert_eq!(pulled.manifest_digest, digest(&image.manifest));
    assert_eq!(pulled.repo_digest, format!("{}/test/app@{}", registry.url, digest(&image.manifest)));
    assert_eq!(pulled.config.cmd, vec!["sh", "-c", "echo hi"]);
    assert_eq!(pulled.config.exposed_ports, vec!["8080/tcp"]);
    assert_eq!(pulled.config.labels.get("test").map(String::as_str), Some("skiff"));
    assert!(pulled.created.is_some());
    assert_eq!(pulled.diff_ids, vec![image.layers[0].diff_id(), image.layers[1].diff_id()]);
    assert_eq!(pulled.layers.len(), 2);

    let (lower, upper) = (&pulled.layers[0], &pulled.layers[1]);
    assert_eq!(std::fs::read(lower.join("bin/hello"))?, b"#!/bin/sh\necho hello\n");
    assert_eq!(std::fs::read_link(lower.join("bin/hi"))?, std::path::Path::new("hello"));
    assert_eq!(std::fs::metadata(lower.join("tmp"))?.mode() & 0o7777, 0o1777);
    assert_eq!(std::fs::metadata(upper.join("usr/bin/su"))?.mode() & 0o7777, 0o4755);
    assert_eq!(
        std::fs::metadata(upper.join("usr/bin/su"))?.ino(),
        std::fs::metadata(upper.join("usr/bin/su-again"))?.ino()
    );
    if common::is_root() {
        let whiteout = std::fs::symlink_metadata(upper.join("etc/motd"))?;
        assert!(whiteout.file_type().is_char_device(), "whiteout is a character device");
        assert_eq!(whiteout.rdev(), 0);
        assert_eq!(common::xattr(&upper.join("var/cache"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
        assert_overlay_view(&pulled.layers)?;
    }

    let first_events = events.take();
    assert!(matches!(first_events.first(), Some(Progress::Resolving { .. })));
    assert!(matches!(first_events.last(), Some(Progress::Done { .. })));
    assert_eq!(first_events.iter().filter(|e| matches!(e, Progress::Unpacking { .. })).count(), 2);
    assert!(first_events
        .iter()
        .any(|e| matches!(e, Progress::Downloading { downloaded, total, .. } if downloaded == total)));

    // Lookups normalise and know the repo digest and the ID.
    assert_eq!(store.get(&reference).map(|i| i.id), Some(image.id()));
    assert_eq!(store.get(&pulled.repo_digest).map(|i| i.id), Some(image.id()));
    assert_eq!(store.get(&image.id()).map(|i| i.reference), Some(reference.clone()));
    assert!(store.get(&format!("{}/test/app:v2", registry.url)).is_none());
    assert_eq!(store.list()?.len(), 1);

    // A second pull resolves again but fetches and unpacks nothing.
    let inode = std::fs::metadata(upper)?.ino();
    let again = store.pull(&reference, &[], &events.record()).await?;
    assert_eq!(again, pulled);
    let second_events = events.take();
    assert_eq!(second_events.iter().filter(|e| matches!(e, Progress::LayerExists { .. })).count(), 2);
    assert!(!second_events.iter().any(|e| matches!(e, Progress::Downloading { .. } | Progress::Unpacking { .. })));
    assert_eq!(std::fs::metadata(upper)?.ino(), inode);

    // A fresh store on the same directory sees the same images.
    let reopened = ImageStore::open(&dir.path().join("images"))?;
    assert_eq!(reopened.get(&reference), Some(pulled));
    Ok(())
}

/// Mounts the layers as overlayfs does for a container and checks what a
/// process would see: the whiteout hides a file, the opaque dir hides the
/// lower layer's contents.
fn assert_overlay_view(layers: &[std::path::PathBuf]) -> anyhow::Result<()> {
    let target = tempfile::tempdir()?;
    let lowerdir = layers.iter().rev().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
    let status = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &format!("lowerdir={lowerdir}")])
        .arg(target.path())
        .status()?;
    if !status.success() {
        eprintln!("overlayfs mount unavailable here; skipped the merged-view check");
        return Ok(());
    }
    let check = || -> anyhow::Result<()> {
        let root = target.path();
        assert!(!root.join("etc/motd").exists(), "whiteout hides etc/motd");
        assert_eq!(std::fs::read(root.join("etc/hostname"))?, b"base\n");
        let cache: Vec<_> = std::fs::read_dir(root.join("var/cache"))?.flatten().map(|e| e.file_name()).collect();
        assert_eq!(cache, vec![std::ffi::OsString::from("new")], "opaque dir hides the lower contents");
        assert!(root.join("bin/hello").exists());
        Ok(())
    };
    let result = check();
    let _ = std::process::Command::new("umount").arg(target.path()).status();
    result
}

#[tokio::test]
async fn pulls_the_host_platform_from_an_index() -> anyhow::Result<()> {
    let Some(registry) = start_registry(false) else { return Ok(()) };
    let image = TestImage::new(vec![base_layer()], &["sh"]);
    registry.push("multi/arch", &digest(&image.manifest), &image).await?;
    let foreign = TestImage::new(vec![upper_layer()], &["foreign"]);
    registry.push("multi/arch", &digest(&foreign.manifest), &foreign).await?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(&foreign.manifest), "size": foreign.manifest.len(),
             "platform": {"os": "linux", "architecture": "not-this-arch"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(&image.manifest), "size": image.manifest.len(),
             "platform": {"os": "linux", "architecture": common::host_arch()}},
        ],
    });
    let index = serde_json::to_vec(&index)?;
    registry.push_manifest("multi/arch", "latest", "application/vnd.oci.image.index.v1+json", &index).await?;

    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(dir.path())?;
    let pulled = store.pull(&format!("{}/multi/arch", registry.url), &[], &|_| {}).await?;
    assert_eq!(pulled.reference, format!("{}/multi/arch:latest", registry.url));
    assert_eq!(pulled.manifest_digest, digest(&image.manifest));
    assert_eq!(pulled.repo_digest, format!("{}/multi/arch@{}", registry.url, digest(&index)));

    // By digest too.
    let by_digest = format!("{}/multi/arch@{}", registry.url, digest(&index));
    let pinned = store.pull(&by_digest, &[], &|_| {}).await?;
    assert_eq!(pinned.id, pulled.id);
    assert_eq!(pinned.reference, by_digest);
    Ok(())
}

#[tokio::test]
async fn unknown_images_are_not_found_with_the_registry_message() -> anyhow::Result<()> {
    let Some(registry) = start_registry(false) else { return Ok(()) };
    registry.push("test/app", "v1", &TestImage::new(vec![base_layer()], &["sh"])).await?;
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(dir.path())?;

    let missing = format!("{}/nope:v1", registry.url);
    let err = store.pull(&missing, &[], &|_| {}).await.expect_err("no such repository");
    assert!(err.is_not_found(), "{err}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("failed to resolve reference \"{missing}\": {missing}: not found")), "{text}");
    assert!(
        text.contains("manifest unknown") || text.contains("name unknown"),
        "carries the registry's message: {text}"
    );

    let missing_tag = format!("{}/test/app:v2", registry.url);
    let err = store.pull(&missing_tag, &[], &|_| {}).await.expect_err("no such tag");
    assert!(err.is_not_found());
    assert!(err.to_string().contains("manifest unknown"), "{err}");

    let err = store.pull("127.0.0.1:1/closed:v1", &[], &|_| {}).await.expect_err("nothing listens");
    assert!(!err.is_not_found());
    assert!(err.to_string().contains("failed to do request"), "{err}");

    let err = store.pull("Not A Reference", &[], &|_| {}).await.expect_err("bad reference");
    assert!(err.to_string().contains("invalid reference format"), "{err}");
    Ok(())
}

#[tokio::test]
async fn registries_with_basic_auth_need_credentials() -> anyhow::Result<()> {
    let Some(registry) = start_registry(true) else { return Ok(()) };
    let image = TestImage::new(vec![base_layer()], &["sh"]);
    registry.push("private/app", "v1", &image).await?;
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(dir.path())?;
    let reference = format!("{}/private/app:v1", registry.url);

    let err = store.pull(&reference, &[], &|_| {}).await.expect_err("anonymous");
    assert!(err.is_unauthorized(), "{err}");
    assert!(err.to_string().contains("unauthorized: authentication required"), "{err}");

    let wrong = RegistryAuth::from_docker_config_json(&common::docker_config_json(&registry.url, "wrong"))?;
    let err = store.pull(&reference, &wrong, &|_| {}).await.expect_err("wrong password");
    assert!(err.is_unauthorized(), "{err}");

    // Credentials for another registry are not sent.
    let elsewhere =
        RegistryAuth::from_docker_config_json(&common::docker_config_json("127.0.0.1:1", common::PASSWORD))?;
    assert!(store.pull(&reference, &elsewhere, &|_| {}).await.is_err());

    // The kubelet tries every matching credential; a wrong one first must not stop the right one.
    let mut auths = wrong;
    auths.extend(RegistryAuth::from_docker_config_json(&common::docker_config_json(
        &format!("http://{}/v1/", registry.url),
        common::PASSWORD,
    ))?);
    let pulled = store.pull(&reference, &auths, &|_| {}).await?;
    assert_eq!(pulled.id, image.id());
    Ok(())
}

#[tokio::test]
async fn remove_keeps_layers_other_images_use() -> anyhow::Result<()> {
    let Some(registry) = start_registry(false) else { return Ok(()) };
    let first = TestImage::new(vec![base_layer(), upper_layer()], &["sh"]);
    let second = TestImage::new(vec![base_layer(), Layer::new(&[Entry::File("second", 0o644, b"2")])], &["sh"]);
    registry.push("test/first", "v1", &first).await?;
    registry.push("test/second", "v1", &second).await?;
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(dir.path())?;
    let first_ref = format!("{}/test/first:v1", registry.url);
    let second_ref = format!("{}/test/second:v1", registry.url);

    // Two stores on one directory pulling at once (two kubelets, or a CLI
    // pull during a kubelet pull) both succeed with one copy of each layer.
    let other = ImageStore::open(dir.path())?;
    let (a, b) = tokio::join!(store.pull(&first_ref, &[], &|_| {}), other.pull(&second_ref, &[], &|_| {}));
    let (a, b) = (a?, b?);
    assert_eq!(a.layers[0], b.layers[0], "the shared base layer is one directory");
    assert_eq!(store.list()?.len(), 2);
    assert_eq!(std::fs::read_dir(dir.path().join("layers"))?.count(), 3);

    store.remove(&first_ref)?;
    assert!(store.get(&first_ref).is_none());
    assert!(!a.layers[1].exists(), "the first image's own layer is gone");
    assert!(b.layers.iter().all(|l| l.exists()), "the second image keeps its layers");
    assert_eq!(store.get(&second_ref).map(|i| i.id), Some(second.id()));

    let err = store.remove(&first_ref).expect_err("already removed");
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");

    store.remove(&second.id())?;
    assert!(store.list()?.is_empty());
    assert_eq!(std::fs::read_dir(dir.path().join("layers"))?.count(), 0);
    assert_eq!(std::fs::read_dir(dir.path().join("blobs/sha256"))?.count(), 0);
    Ok(())
}
