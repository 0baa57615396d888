//! Control groups through cgroups-rs, on a v1 (or hybrid) host and on a v2
//! one alike: cpu shares and quota, memory limit, pids limit, and the OOM
//! killer's count that tells an `OOMKilled` exit from any other SIGKILL.

use std::path::PathBuf;

use cgroups_rs::cgroup_builder::CgroupBuilder;
use cgroups_rs::devices::{DevicePermissions, DeviceType};
use cgroups_rs::{hierarchies, Cgroup, CgroupPid, MaxValue};

use crate::spec::Resources;
use crate::Error;

/// The controllers skiff manages; cpuset is left alone (a new v1 cpuset group
/// would need its cpus and mems copied before it accepts tasks).
const CONTROLLERS: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];

/// The devices a container may use, as runc allows them: null, zero, full,
/// random, urandom, tty, console, ptmx, the pseudo-terminals and tun; and
/// mknod of any (a node it may not open is harmless).
const ALLOWED_DEVICES: [(DeviceType, i64, i64, &str); 12] = [
    (DeviceType::Char, -1, -1, "m"),
    (DeviceType::Block, -1, -1, "m"),
    (DeviceType::Char, 1, 3, "rwm"),
    (DeviceType::Char, 1, 5, "rwm"),
    (DeviceType::Char, 1, 7, "rwm"),
    (DeviceType::Char, 1, 8, "rwm"),
    (DeviceType::Char, 1, 9, "rwm"),
    (DeviceType::Char, 5, 0, "rwm"),
    (DeviceType::Char, 5, 1, "rwm"),
    (DeviceType::Char, 5, 2, "rwm"),
    (DeviceType::Char, 136, -1, "rwm"),
    (DeviceType::Char, 10, 200, "rwm"),
];

fn permissions(text: &str) -> Vec<DevicePermissions> {
    text.chars()
        .filter_map(|c| match c {
            'r' => Some(DevicePermissions::Read),
            'w' => Some(DevicePermissions::Write),
            'm' => Some(DevicePermissions::MkNod),
            _ => None,
        })
        .collect()
}

/// The kubelet's conversion of cpu shares (2..262144) to a v2 cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

fn err(path: &str, e: cgroups_rs::error::Error) -> Error {
    Error::Cgroup(format!("{path}: {e}"))
}

/// Makes the group with its limits; an unprivileged container gets only
/// the usual devices (v1's devices controller; on v2 that takes an eBPF
/// program skiff does not load yet).
pub fn create(path: &str, r: &Resources, privileged: bool) -> Result<Cgroup, Error> {
    let v2 = hierarchies::is_cgroup2_unified_mode();
    let mut controllers: Vec<String> = CONTROLLERS.iter().map(|c| c.to_string()).collect();
    if !v2 && !privileged {
        controllers.push("devices".into());
    }
    let mut b = CgroupBuilder::new(path).set_specified_controllers(controllers);
    if !v2 && !privileged {
        let all = vec![DevicePermissions::Read, DevicePermissions::Write, DevicePermissions::MkNod];
        let mut d = b.devices().device(-1, -1, DeviceType::All, false, all);
        for (kind, major, minor, access) in ALLOWED_DEVICES {
            d = d.device(major, minor, kind, true, permissions(access));
        }
        b = d.done();
    }
    let mut cpu = b.cpu();
    if let Some(shares) = r.cpu_shares {
        // cgroups-rs writes the value to cpu.weight on v2 as it is.
        cpu = cpu.shares(if v2 { shares_to_weight(shares) } else { shares });
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

/// The group as made: with its devices group when it has one (unprivileged, v1).
fn load(path: &str) -> Cgroup {
    let mut controllers: Vec<String> = CONTROLLERS.iter().map(|c| c.to_string()).collect();
    if PathBuf::from(hierarchies::UNIFIED_MOUNTPOINT).join("devices").join(path).is_dir() {
        controllers.push("devices".into());
    }
    Cgroup::load_with_specified_controllers(hierarchies::auto(), path, controllers)
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

/// Removes a group that holds neither processes nor groups; anything else
/// stays (rmdir of the group itself: cgroups-rs' delete also takes empty children).
pub fn remove_if_empty(path: &str) {
    let root = PathBuf::from(hierarchies::UNIFIED_MOUNTPOINT);
    let dirs: Vec<PathBuf> = if hierarchies::is_cgroup2_unified_mode() {
        vec![root.join(path)]
    } else {
        CONTROLLERS.iter().chain(["devices"].iter()).map(|c| root.join(c).join(path)).collect()
    };
    for d in dirs {
        let _ = std::fs::remove_dir(d);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_as_the_kubelet_converts_shares() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(10_000_000), 10_000);
    }

    #[test]
    fn device_permissions() {
        assert_eq!(permissions("rwm").len(), 3);
        assert_eq!(permissions("m").len(), 1);
    }
}
