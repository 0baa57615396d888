//! `skiff plugin push|list|rollback|test`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};
use skiff_wasm::admission::{AdmissionPlugin, Change, Operation, Request, UserInfo};
use skiff_wasm::{EmptyCluster, EngineSettings, GroupVersionKind, GroupVersionResource, Limits, PluginEngine};

use super::Client;

const PLUGINS: &str = "/apis/plugins.skiff.dev/v1alpha1/wasmplugins";
const MODULES: &str = "/apis/plugins.skiff.dev/v1alpha1/modules";

#[derive(clap::Subcommand, Debug)]
pub enum PluginCommand {
    /// Upload a module and make it the plugin's new version (creating the plugin if needed).
    Push(Box<PushArgs>),
    /// Show the plugins, their active revision and state.
    List {
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// Go back to an earlier revision (default: the one before the active one).
    Rollback {
        name: String,
        #[arg(long)]
        to_revision: Option<i64>,
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// Run an admission plugin on a request locally: no server needed.
    Test(TestArgs),
}

#[derive(clap::Args, Debug)]
pub struct PushArgs {
    pub name: String,
    pub file: PathBuf,
    /// The plugin's world for a new plugin: admission or scheduler.
    #[arg(long, default_value = "admission")]
    pub world: String,
    /// For a scheduler plugin: the schedulerName it serves (default: its name).
    #[arg(long)]
    pub scheduler_name: Option<String>,
    /// The plugin's config: JSON text, or @FILE (JSON or YAML).
    #[arg(long)]
    pub config: Option<String>,
    /// Validating or Mutating (for a new admission plugin; default Validating).
    #[arg(long = "type")]
    pub type_: Option<String>,
    /// Resources the plugin sees: `pods`, `deployments.apps`, `pods/status`, `*` (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub resources: Vec<String>,
    /// CREATE, UPDATE, DELETE, CONNECT or * (comma-separated; default CREATE,UPDATE).
    #[arg(long, value_delimiter = ',')]
    pub operations: Vec<String>,
    #[arg(long)]
    pub failure_policy: Option<String>,
    #[arg(long)]
    pub timeout_seconds: Option<i32>,
    #[arg(long)]
    pub order: Option<i32>,
    #[arg(long)]
    pub memory_limit_mib: Option<i32>,
    /// Only for objects in namespaces with these labels (`k=v,k2=v2`).
    #[arg(long)]
    pub namespace_selector: Option<String>,
    /// Only for objects with these labels (`k=v,k2=v2`).
    #[arg(long)]
    pub object_selector: Option<String>,
    /// Return once the server has the new spec, without waiting for it to load.
    #[arg(long)]
    pub no_wait: bool,
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    pub file: PathBuf,
    /// An AdmissionReview (its `request`), or a bare object (tested as its CREATE).
    #[arg(long)]
    pub request: PathBuf,
    /// The plugin's config: JSON text or @FILE.
    #[arg(long)]
    pub config: Option<String>,
    /// Call `mutate` instead of `validate`.
    #[arg(long)]
    pub mutate: bool,
    #[arg(long, default_value_t = 10)]
    pub timeout_seconds: u64,
    #[arg(long, default_value_t = 128)]
    pub memory_limit_mib: usize,
}

pub async fn run(cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::Push(args) => push(*args).await,
        PluginCommand::List { kubeconfig } => list(Client::from_kubeconfig(kubeconfig)?).await,
        PluginCommand::Rollback { name, to_revision, kubeconfig } => {
            rollback(Client::from_kubeconfig(kubeconfig)?, &name, to_revision).await
        }
        PluginCommand::Test(args) => test(args).await,
    }
}

fn read_config(arg: &Option<String>) -> anyhow::Result<Option<Value>> {
    let Some(arg) = arg else { return Ok(None) };
    let text = match arg.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?,
        None => arg.clone(),
    };
    let value: Value = serde_yaml::from_str(&text).context("the config is neither JSON nor YAML")?;
    Ok(Some(value))
}

/// The `spec.admission` fields given on the command line.
fn admission_settings(args: &PushArgs) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut admission = serde_json::Map::new();
    let mut set = |field: &str, value: Option<Value>| {
        if let Some(v) = value {
            admission.insert(field.into(), v);
        }
    };
    set("type", args.type_.as_ref().map(|t| json!(t)));
    set("resources", (!args.resources.is_empty()).then(|| resource_rules(&args.resources)));
    set("operations", (!args.operations.is_empty()).then(|| json!(args.operations)));
    set("failurePolicy", args.failure_policy.as_ref().map(|p| json!(p)));
    set("timeoutSeconds", args.timeout_seconds.map(|t| json!(t)));
    set("order", args.order.map(|o| json!(o)));
    set("namespaceSelector", args.namespace_selector.as_deref().map(match_labels).transpose()?);
    set("objectSelector", args.object_selector.as_deref().map(match_labels).transpose()?);
    Ok(admission)
}

fn scheduler_settings(args: &PushArgs) -> serde_json::Map<String, Value> {
    let mut scheduler = serde_json::Map::new();
    if let Some(name) = &args.scheduler_name {
        scheduler.insert("schedulerName".into(), json!(name));
    }
    if let Some(t) = args.timeout_seconds {
        scheduler.insert("timeoutSeconds".into(), json!(t));
    }
    scheduler
}

/// `k=v,k2=v2` as a LabelSelector's matchLabels.
fn match_labels(text: &str) -> anyhow::Result<Value> {
    let mut labels = serde_json::Map::new();
    for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| anyhow!("selector {pair:?}: write key=value"))?;
        labels.insert(k.trim().to_string(), json!(v.trim()));
    }
    Ok(json!({"matchLabels": labels}))
}

/// `pods` → core pods; `deployments.apps` → group apps; `*` → every group.
fn resource_rules(resources: &[String]) -> Value {
    let rules: Vec<Value> = resources
        .iter()
        .map(|r| {
            let (res, sub) = match r.split_once('/') {
                Some((res, sub)) => (res, Some(sub)),
                None => (r.as_str(), None),
            };
            let (plural, group) = match res.split_once('.') {
                Some((p, g)) => (p, g),
                None if res == "*" => ("*", "*"),
                None => (res, ""),
            };
            let resource = match sub {
                Some(sub) => format!("{plural}/{sub}"),
                None => plural.to_string(),
            };
            json!({"apiGroups": [group], "resources": [resource]})
        })
        .collect();
    Value::Array(rules)
}

async fn push(args: PushArgs) -> anyhow::Result<()> {
    let client = Client::from_kubeconfig(args.kubeconfig.clone())?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let config = read_config(&args.config)?;
    let path = format!("{PLUGINS}/{}", args.name);
    let existing = client.get(&path).await?;
    let creating = existing.is_none();
    let world = match &existing {
        Some(obj) => obj["spec"]["world"].as_str().unwrap_or("admission").to_string(),
        None => args.world.clone(),
    };
    let (mut admission, scheduler) = match world.as_str() {
        "scheduler" => {
            if !admission_settings(&args)?.keys().all(|k| k == "timeoutSeconds") {
                bail!("--type, --resources, --operations, --failure-policy, --order and the selectors are for admission plugins");
            }
            (serde_json::Map::new(), scheduler_settings(&args))
        }
        _ => {
            if args.scheduler_name.is_some() {
                bail!("--scheduler-name is for scheduler plugins (--world scheduler)");
            }
            (admission_settings(&args)?, serde_json::Map::new())
        }
    };
    if creating && world == "admission" {
        if !admission.contains_key("resources") {
            bail!("a new admission plugin needs --resources (for example --resources pods or --resources deployments.apps)");
        }
        admission.entry("type").or_insert(json!("Validating"));
    }

    eprintln!("uploading {} ({:.1} MiB)…", args.file.display(), bytes.len() as f64 / (1 << 20) as f64);
    let started = Instant::now();
    let uploaded = client.post_bytes(MODULES, bytes).await?;
    let digest = uploaded["digest"].as_str().ok_or_else(|| anyhow!("the server did not return a digest"))?.to_string();
    eprintln!("uploaded {digest} in {:.1}s", started.elapsed().as_secs_f64());

    // A new plugin gets the whole spec; an existing one only what was given.
    let mut spec = json!({"module": digest});
    if let Some(c) = config {
        spec["config"] = c;
    }
    if !admission.is_empty() {
        spec["admission"] = Value::Object(admission);
    }
    if !scheduler.is_empty() {
        spec["scheduler"] = Value::Object(scheduler);
    }
    if let Some(m) = args.memory_limit_mib {
        spec["memoryLimitMiB"] = json!(m);
    }
    let after = if creating {
        spec["world"] = json!(args.world);
        let obj = json!({
            "apiVersion": "plugins.skiff.dev/v1alpha1",
            "kind": "WasmPlugin",
            "metadata": {"name": args.name},
            "spec": spec,
        });
        client.post_json(PLUGINS, &obj).await?
    } else {
        client.merge_patch(&path, &json!({"spec": spec})).await?
    };
    if args.no_wait {
        println!("wasmplugin.plugins.skiff.dev/{} configured", args.name);
        return Ok(());
    }
    let generation = after["metadata"]["generation"].as_i64().unwrap_or(1);
    wait_for_generation(&client, &args.name, generation).await
}

/// Polls until the server has tried `generation`, then reports what it made of it.
async fn wait_for_generation(client: &Client, name: &str, generation: i64) -> anyhow::Result<()> {
    eprintln!("waiting for the server to load it…");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let obj = client.get(&format!("{PLUGINS}/{name}")).await?.ok_or_else(|| anyhow!("plugin {name} vanished"))?;
        let status = &obj["status"];
        if status["observedGeneration"].as_i64().unwrap_or(0) >= generation {
            let degraded = condition(status, "Degraded");
            if degraded["status"] == "True" {
                bail!(
                    "plugin {name}: the new version did not load ({}): {}",
                    degraded["reason"].as_str().unwrap_or(""),
                    degraded["message"].as_str().unwrap_or("")
                );
            }
            println!(
                "wasmplugin.plugins.skiff.dev/{name} revision {} active ({})",
                status["activeRevision"],
                status["activeDigest"].as_str().unwrap_or("")
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("plugin {name}: the server has not loaded generation {generation} after 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == type_)).unwrap_or(&Value::Null)
}

async fn list(client: Client) -> anyhow::Result<()> {
    let list = client.get(PLUGINS).await?.unwrap_or(Value::Null);
    println!("{:<24} {:<10} {:<11} {:<9} {:<6} {:<24} DIGEST", "NAME", "WORLD", "TYPE", "REVISION", "READY", "REASON");
    for item in list["items"].as_array().into_iter().flatten() {
        let status = &item["status"];
        let ready = condition(status, "Ready");
        let degraded = condition(status, "Degraded");
        let reason = if degraded["status"] == "True" { &degraded["reason"] } else { &ready["reason"] };
        let digest = status["activeDigest"].as_str().unwrap_or("-");
        println!(
            "{:<24} {:<10} {:<11} {:<9} {:<6} {:<24} {}",
            item["metadata"]["name"].as_str().unwrap_or(""),
            item["spec"]["world"].as_str().unwrap_or(""),
            item["spec"]["admission"]["type"].as_str().unwrap_or("-"),
            status["activeRevision"].as_i64().map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            ready["status"].as_str().unwrap_or("Unknown"),
            reason.as_str().unwrap_or("-"),
            short_digest(digest),
        );
    }
    Ok(())
}

fn short_digest(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

async fn rollback(client: Client, name: &str, to: Option<i64>) -> anyhow::Result<()> {
    let path = format!("{PLUGINS}/{name}");
    let obj = client.get(&path).await?.ok_or_else(|| anyhow!("wasmplugins.plugins.skiff.dev \"{name}\" not found"))?;
    let revisions = obj["status"]["revisions"].as_array().cloned().unwrap_or_default();
    let active = obj["status"]["activeRevision"].as_i64();
    let target = match to {
        Some(n) => revisions.iter().find(|r| r["revision"].as_i64() == Some(n)).ok_or_else(|| {
            let kept: Vec<String> =
                revisions.iter().filter_map(|r| r["revision"].as_i64()).map(|r| r.to_string()).collect();
            anyhow!("plugin {name} has no revision {n} (kept: {})", kept.join(", "))
        })?,
        None => revisions
            .iter()
            .find(|r| r["revision"].as_i64() != active)
            .ok_or_else(|| anyhow!("plugin {name} has no earlier revision to roll back to"))?,
    };
    let patch =
        json!({"spec": {"module": target["module"], "config": target.get("config").cloned().unwrap_or(Value::Null)}});
    let after = client.merge_patch(&path, &patch).await?;
    eprintln!("rolling {name} back to revision {}", target["revision"]);
    wait_for_generation(&client, name, after["metadata"]["generation"].as_i64().unwrap_or(1)).await
}

async fn test(args: TestArgs) -> anyhow::Result<()> {
    let module = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let text = std::fs::read_to_string(&args.request).with_context(|| format!("reading {}", args.request.display()))?;
    let doc: Value = serde_yaml::from_str(&text).context("the request is neither JSON nor YAML")?;
    let request = request_from(&doc)?;
    let config = read_config(&args.config)?.unwrap_or_else(|| json!({})).to_string();
    let engine = PluginEngine::new(EngineSettings::default()).map_err(|e| anyhow!("{e}"))?;
    let limits =
        Limits { timeout: Duration::from_secs(args.timeout_seconds), memory_bytes: args.memory_limit_mib << 20 };
    let cluster = Arc::new(EmptyCluster);
    let name = args.file.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin").to_string();
    let plugin = AdmissionPlugin::load(&engine, &name, Arc::from(module), config, limits, cluster.clone())
        .await
        .map_err(|e| anyhow!("the plugin did not load: {e}"))?;
    let started = Instant::now();
    let (allowed, report) = if args.mutate {
        let m = plugin.mutate(&request, cluster).await.map_err(|e| anyhow!("the plugin failed: {e}"))?;
        let change = match m.change {
            Change::Unchanged => json!({"unchanged": true}),
            Change::JsonPatch(p) => json!({"patch": serde_json::from_str::<Value>(&p).unwrap_or(Value::String(p))}),
            Change::Object(o) => json!({"object": serde_json::from_str::<Value>(&o).unwrap_or(Value::String(o))}),
        };
        (m.allowed, json!({"allowed": m.allowed, "message": m.message, "warnings": m.warnings, "change": change}))
    } else {
        let v = plugin.validate(&request, cluster).await.map_err(|e| anyhow!("the plugin failed: {e}"))?;
        (v.allowed, json!({"allowed": v.allowed, "message": v.message, "code": v.code, "warnings": v.warnings}))
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "{} in {:.2} ms ({})",
        if allowed { "allowed" } else { "denied" },
        started.elapsed().as_secs_f64() * 1e3,
        plugin.digest()
    );
    if !allowed {
        std::process::exit(1);
    }
    Ok(())
}

/// An AdmissionReview's request, or a bare object as its CREATE.
fn request_from(doc: &Value) -> anyhow::Result<Request> {
    let r = if doc["kind"] == "AdmissionReview" { doc["request"].clone() } else { Value::Null };
    let object = if r.is_null() { doc.clone() } else { r["object"].clone() };
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = if r.is_null() {
        object["kind"].as_str().unwrap_or("").to_string()
    } else {
        r["kind"]["kind"].as_str().unwrap_or("").to_string()
    };
    let plural =
        r["resource"]["resource"].as_str().map(str::to_string).unwrap_or_else(|| format!("{}s", kind.to_lowercase()));
    let operation = match r["operation"].as_str().unwrap_or("CREATE") {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        "CONNECT" => Operation::Connect,
        other => bail!("unknown operation {other:?}"),
    };
    let text = |v: &Value| (!v.is_null()).then(|| v.to_string());
    Ok(Request {
        uid: r["uid"].as_str().unwrap_or("skiff-plugin-test").to_string(),
        kind: GroupVersionKind { group: group.into(), version: version.into(), kind },
        gvr: GroupVersionResource { group: group.into(), version: version.into(), plural },
        sub_resource: r["subResource"].as_str().map(str::to_string),
        name: r["name"].as_str().or(object["metadata"]["name"].as_str()).unwrap_or("").to_string(),
        namespace: r["namespace"].as_str().or(object["metadata"]["namespace"].as_str()).map(str::to_string),
        operation,
        user_info: UserInfo {
            username: r["userInfo"]["username"].as_str().unwrap_or("system:admin").to_string(),
            uid: String::new(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            extra: Vec::new(),
        },
        object: text(&object),
        old_object: text(&r["oldObject"]),
        dry_run: r["dryRun"].as_bool().unwrap_or(false),
    })
}
