//! Control groups through cgroups-rs, on a v1 (or hybrid) host and on a v2
//! one alike: cpu shares and quota, memory limit, pids limit, and the OOM
//! killer's count that tells an `OOMKilled` exit from any other SIGKILL.

use std::path::PathBuf;

use cgroups_rs::cgroup_builder::CgroupBuilder;
use cgroups_rs::{hierarchies, Cgroup, CgroupPid, MaxValue};

use crate::spec::Resources;
use crate::Error;

/// The controllers skiff manages; cpuset is left alone (a new v1 cpuset group
/// would need its cpus and mems copied before it accepts tasks).
const CONTROLLERS: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];

fn err(path: &str, e: cgroups_rs::error::Error) -> Error {
    Error::Cgroup(format!("{path}: {e}"))
}

/// Makes the group with its limits.
pub fn create(path: &str, r: &Resources) -> Result<Cgroup, Error> {
    let mut b = CgroupBuilder::new(path).set_specified_controllers(CONTROLLERS.iter().map(|c| c.to_string()).collect());
    let mut cpu = b.cpu();
    if let Some(shares) = r.cpu_shares {
        cpu = cpu.shares(shares);
    }
    if let Some(period) = r.cpu_period {
        cpu = cpu.period(period);
    }
    if let Some(quota) = r.cpu_quota {
        cpu = cpu.quota(quota);
    }
    b = cpu.done();
    if let Some(limit) = r.memory_limit {
        // Without swap accounting the limit alone binds; with it, swap must not lift it.
        b = b.memory().memory_hard_limit(limit).done();
    }
    if let Some(pids) = r.pids_limit {
        b = b.pid().maximum_number_of_processes(MaxValue::Value(pids)).done();
    }
    b.build(hierarchies::auto()).map_err(|e| err(path, e))
}

pub fn add(group: &Cgroup, pid: i32) -> Result<(), Error> {
    group.add_task_by_tgid(CgroupPid::from(pid as u64)).map_err(|e| err(group.path(), e))
}

fn load(path: &str) -> Cgroup {
    Cgroup::load_with_specified_controllers(
        hierarchies::auto(),
        path,
        CONTROLLERS.iter().map(|c| c.to_string()).collect(),
    )
}

/// Puts the calling process into an existing group (exec joins its container's).
pub fn join(path: &str) -> Result<(), Error> {
    add(&load(path), std::process::id() as i32)
}

/// How many times the OOM killer has killed in this group.
pub fn oom_kills(path: &str) -> u64 {
    let (file, key) = if hierarchies::is_cgroup2_unified_mode() {
        (PathBuf::from(hierarchies::UNIFIED_MOUNTPOINT).join(path).join("memory.events"), "oom_kill")
    } else {
        (PathBuf::from("/sys/fs/cgroup/memory").join(path).join("memory.oom_control"), "oom_kill")
    };
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok()))
        .unwrap_or(0)
}

/// Removes a group that holds neither processes nor groups; anything else stays.
pub fn remove_if_empty(path: &str) {
    let group = load(path);
    if group.exists() && group.procs().is_empty() {
        let _ = group.delete();
    }
}

/// Kills what is left in the group, then removes it; a missing group is fine.
pub fn remove(path: &str) -> Result<(), Error> {
    let group = load(path);
    if !group.exists() {
        return Ok(());
    }
    for pid in group.procs() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid.pid as i32), nix::sys::signal::Signal::SIGKILL);
    }
    // The kernel frees a group only once its last task is reaped (delete itself retries for ~150 ms).
    for _ in 0..20 {
        if group.delete().is_ok() || !group.exists() {
            return Ok(());
        }
    }
    group.delete().map_err(|e| err(path, e))
}
