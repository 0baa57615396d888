//! skiff's container runtime: pod sandboxes (shared network, IPC and UTS
//! namespaces), containers started and supervised by a shim that outlives the
//! agent, overlay root filesystems, cgroups (v1 and v2), and exec.

pub mod spec;
