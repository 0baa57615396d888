//! `skiff image pull|import|ls|rm`: the node's local image store (what
//! `crictl pull|images|rmi` and `ctr image import` do on a containerd node).
//! It works on the store directly, no server needed.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use skiff_images::{human, short, Image, ImageStore, Progress, ProgressView, Reference, RegistryAuth};

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// Pull an image from its registry into the local store.
    Pull(PullArgs),
    /// Load the images of a `docker save` or OCI image-layout tarball (gzip allowed).
    Import {
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the images in the local store.
    Ls {
        /// Only print image IDs.
        #[arg(short, long)]
        quiet: bool,
        /// Show repo digests.
        #[arg(long)]
        digests: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove images by reference or ID; layers no other image uses are deleted.
    Rm {
        #[arg(required = true)]
        images: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// The node's data dir; images live in DIR/images.
    #[arg(long, env = "SKIFF_DATA_DIR", default_value_os_t = crate::process::default_data_dir())]
    pub data_dir: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// `busybox`, `127.0.0.1:5000/test/busybox:v1`, `repo@sha256:…`
    pub image: String,
    #[arg(long, requires = "password")]
    pub username: Option<String>,
    #[arg(long, requires = "username")]
    pub password: Option<String>,
    /// Credentials from a Docker config file (`~/.docker/config.json`, or a
    /// `kubernetes.io/dockerconfigjson` secret's decoded `.dockerconfigjson`).
    #[arg(long)]
    pub docker_config: Option<PathBuf>,
    /// A registry (`host` or `host:port`) to reach over plain HTTP; repeatable.
    /// Loopback registries always are.
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// No progress output; only the image reference at the end.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The same default as `skiff server`'s data dir.
fn open_store(args: &StoreArgs) -> anyhow::Result<ImageStore> {
    let root = args.data_dir.join("images");
    ImageStore::open(&root).with_context(|| format!("opening the image store in {}", root.display()))
}

pub async fn run(cmd: ImageCommand) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Pull(args) => pull(args).await,
        ImageCommand::Import { file, store } => import(&open_store(&store)?, &file).await,
        ImageCommand::Ls { quiet, digests, store } => list(&open_store(&store)?, quiet, digests),
        ImageCommand::Rm { images, store: args } => remove(&open_store(&args)?, &args.data_dir, &images),
    }
}

async fn pull(args: PullArgs) -> anyhow::Result<()> {
    let store = open_store(&args.store)?;
    store.set_insecure_registries(args.insecure_registries.clone());
    let reference = Reference::parse(&args.image)?;
    let mut auths = Vec::new();
    if let (Some(username), Some(password)) = (&args.username, &args.password) {
        auths.push(RegistryAuth {
            registry: reference.registry.clone(),
            username: username.clone(),
            password: password.clone(),
            ..Default::default()
        });
    }
    if let Some(path) = &args.docker_config {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        auths.extend(RegistryAuth::from_docker_config_json(&data).with_context(|| path.display().to_string())?);
    }
    let display = Display::new(!args.quiet);
    let image = store.pull(&args.image, &auths, &|event| display.show(&event)).await?;
    display.finish();
    if args.quiet {
        println!("{}", image.reference);
    } else {
        println!("Digest: {}", image.repo_digest.rsplit('@').next().unwrap_or_default());
        println!("Image ID: {}", image.id);
        println!("{}", image.reference);
    }
    Ok(())
}

/// Renders pull progress: on a terminal, one live line per layer redrawn in
/// place as `docker pull` does; otherwise one plain line per state change.
struct Display {
    enabled: bool,
    terminal: bool,
    state: Mutex<DisplayState>,
}

struct DisplayState {
    view: ProgressView,
    drawn_lines: usize,
    last_draw: Option<Instant>,
}

const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl Display {
    fn new(enabled: bool) -> Display {
        Display {
            enabled,
            terminal: std::io::stdout().is_terminal(),
            state: Mutex::new(DisplayState { view: ProgressView::default(), drawn_lines: 0, last_draw: None }),
        }
    }

    fn show(&self, event: &Progress) {
        if !self.enabled {
            return;
        }
        let Ok(mut state) = self.state.lock() else { return };
        let line = state.view.apply(event);
        if !self.terminal {
            if let Some(line) = line {
                println!("{line}");
            }
            return;
        }
        if matches!(event, Progress::Done { .. }) {
            return;
        }
        // Byte counts arrive per network chunk; redraw at a human pace.
        let throttled = matches!(event, Progress::Downloading { .. })
            && state.last_draw.is_some_and(|t| t.elapsed() < REDRAW_EVERY);
        if !throttled {
            draw(&mut state);
        }
    }

    fn finish(&self) {
        if self.enabled && self.terminal {
            if let Ok(mut state) = self.state.lock() {
                draw(&mut state);
            }
        }
    }
}

fn draw(state: &mut DisplayState) {
    let lines = state.view.lines();
    let mut out = std::io::stdout().lock();
    if state.drawn_lines > 0 {
        let _ = write!(out, "\x1b[{}A", state.drawn_lines);
    }
    for line in &lines {
        let _ = writeln!(out, "\x1b[2K{line}");
    }
    let _ = out.flush();
    state.drawn_lines = lines.len();
    state.last_draw = Some(Instant::now());
}

async fn import(store: &ImageStore, file: &std::path::Path) -> anyhow::Result<()> {
    let images = store.import(file).await?;
    if images.is_empty() {
        bail!("{} holds no images", file.display());
    }
    for image in images {
        println!("Imported {} ({})", image.reference, short(&image.id));
    }
    Ok(())
}

/// `docker.io/library/busybox:latest` → (`docker.io/library/busybox`, `latest`).
fn name_and_tag(image: &Image) -> (String, String) {
    match Reference::parse(&image.reference) {
        Ok(r) => (r.name(), r.tag.unwrap_or_else(|| "<none>".into())),
        Err(_) => ("<none>".into(), "<none>".into()),
    }
}

fn list(store: &ImageStore, quiet: bool, digests: bool) -> anyhow::Result<()> {
    let images = store.list()?;
    if quiet {
        let ids: BTreeSet<&str> = images.iter().map(|i| i.id.as_str()).collect();
        for id in ids {
            println!("{id}");
        }
        return Ok(());
    }
    let mut rows = vec![{
        let mut header = vec!["IMAGE".to_string(), "TAG".into()];
        if digests {
            header.push("DIGEST".into());
        }
        header.extend(["IMAGE ID".into(), "CREATED".into(), "SIZE".into()]);
        header
    }];
    for image in &images {
        let (name, tag) = name_and_tag(image);
        let mut row = vec![name, tag];
        if digests {
            row.push(image.repo_digest.rsplit('@').next().filter(|d| !d.is_empty()).unwrap_or("<none>").to_string());
        }
        let created = image.created.map(|c| c.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
        row.extend([short(&image.id).to_string(), created, human(image.size)]);
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", cells.join("   ").trim_end());
    }
    Ok(())
}

/// The live containers of the node's runtime that run `image` (its layers, exactly).
fn users(data_dir: &std::path::Path, image: &Image) -> Vec<String> {
    let runtime = match skiff_runtime::Runtime::new(data_dir.join("runtime"), vec!["skiff".into()]) {
        Ok(r) => r,
        Err(_) => return Vec::new(),
    };
    runtime
        .list()
        .into_iter()
        .filter(|id| {
            let live =
                matches!(runtime.status(id), Ok(skiff_runtime::Status::Running(_) | skiff_runtime::Status::Creating));
            live && runtime.spec(id).is_ok_and(|s| s.layers == image.layers)
        })
        .collect()
}

fn remove(store: &ImageStore, data_dir: &std::path::Path, images: &[String]) -> anyhow::Result<()> {
    let mut failed = 0;
    for image in images {
        if let Some(found) = store.get(image) {
            let users = users(data_dir, &found);
            if let Some(first) = users.first() {
                // As docker rmi: a running container keeps its image (its layers are its root filesystem).
                eprintln!("error: conflict: unable to remove image {image}: container {first} is using it");
                failed += 1;
                continue;
            }
        }
        match store.remove(image) {
            Ok(()) => println!("Deleted: {image}"),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} images could not be removed", images.len());
    }
    Ok(())
}
