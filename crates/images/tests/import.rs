//! `skiff image import`: docker-save and OCI image-layout archives built here.

mod common;

use common::{digest, Entry, Layer, TestImage};
use skiff_images::ImageStore;

fn image() -> TestImage {
    TestImage::new(
        vec![
            Layer::new(&[Entry::Dir("bin", 0o755), Entry::File("bin/app", 0o755, b"app")]),
            Layer::new(&[Entry::Dir("etc", 0o755), Entry::File("etc/app.conf", 0o600, b"conf")]),
        ],
        &["/bin/app"],
    )
}

#[tokio::test]
async fn imports_docker_save_archives() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let image = image();
    let archive = dir.path().join("app.tar");
    common::write_docker_archive(&image, &["skiff-test/app:v1", "127.0.0.1:5000/app:v1"], &archive)?;
    let store = ImageStore::open(&dir.path().join("images"))?;

    let imported = store.import(&archive).await?;
    let references: Vec<_> = imported.iter().map(|i| i.reference.as_str()).collect();
    assert_eq!(references, ["docker.io/skiff-test/app:v1", "127.0.0.1:5000/app:v1"]);
    let got = store.get("skiff-test/app:v1").expect("imported image");
    assert_eq!(got.id, image.id());
    assert_eq!(got.config.cmd, vec!["/bin/app"]);
    assert_eq!(got.layers.len(), 2);
    assert_eq!(std::fs::read(got.layers[0].join("bin/app"))?, b"app");
    assert_eq!(std::fs::read(got.layers[1].join("etc/app.conf"))?, b"conf");
    assert!(got.repo_digest.starts_with("docker.io/skiff-test/app@sha256:"), "{}", got.repo_digest);
    // The scratch directory is gone.
    assert_eq!(std::fs::read_dir(dir.path().join("images/tmp"))?.count(), 0);

    // Importing again changes nothing and unpacks nothing.
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&got.layers[0])?);
    store.import(&archive).await?;
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&got.layers[0])?), inode);
    assert_eq!(store.list()?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn imports_oci_layout_archives() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let image = image();
    let archive = dir.path().join("app.oci.tar.gz");
    common::write_oci_archive(
        &image,
        &[("docker.io/library/app:v2", "v2"), ("", "registry.example.com/team/app:v3"), ("", "latest")],
        &archive,
    )?;
    let store = ImageStore::open(dir.path())?;
    let imported = store.import(&archive).await?;
    let references: Vec<_> = imported.iter().map(|i| i.reference.clone()).collect();
    // A bare tag names no repository: that image is kept by its ID.
    assert_eq!(references, ["docker.io/library/app:v2", "registry.example.com/team/app:v3", &image.id()]);
    let got = store.get("app:v2").expect("imported");
    assert_eq!(got.manifest_digest, digest(&image.manifest));
    assert_eq!(got.repo_digest, format!("docker.io/library/app@{}", digest(&image.manifest)));
    assert_eq!(store.get(&image.id()).map(|i| i.id), Some(image.id()));
    assert_eq!(std::fs::read(got.layers[1].join("etc/app.conf"))?, b"conf");
    Ok(())
}

#[tokio::test]
async fn refuses_bad_archives() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(&dir.path().join("images"))?;

    let empty = dir.path().join("empty.tar");
    tar::Builder::new(std::fs::File::create(&empty)?).finish()?;
    let err = store.import(&empty).await.expect_err("no manifest");
    assert!(err.to_string().contains("neither manifest.json"), "{err}");

    // A layer whose content does not match the config's diff ID.
    let mut image = image();
    image.layers[1] = Layer::new(&[Entry::File("tampered", 0o644, b"x")]);
    let tampered = dir.path().join("tampered.tar");
    common::write_docker_archive(&image, &["tampered:v1"], &tampered)?;
    let err = store.import(&tampered).await.expect_err("diff ID mismatch");
    assert!(err.to_string().contains("does not match"), "{err}");
    assert!(store.get("tampered:v1").is_none());

    let err = store.import(&dir.path().join("missing.tar")).await.expect_err("no file");
    assert!(err.to_string().contains("missing.tar"), "{err}");
    Ok(())
}
