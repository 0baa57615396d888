//! The files the kubelet manages for a pod and bind-mounts into each of its
//! containers: /etc/hosts, /etc/hostname and /etc/resolv.conf.

use std::path::Path;

use serde_json::Value;

use super::spec::pod_files;

fn hosts(pod: &Value, hostname: &str, host_network: bool) -> String {
    if host_network {
        // A host-network pod sees the node's own file, as the kubelet gives it.
        return std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    }
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    // No pod address yet (it comes with pod networking): the name resolves to loopback.
    out.push_str(&format!("127.0.1.1\t{hostname}\n"));
    let aliases = pod["spec"]["hostAliases"].as_array().cloned().unwrap_or_default();
    if !aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let names: Vec<&str> = a["hostnames"].as_array().into_iter().flatten().filter_map(|h| h.as_str()).collect();
            out.push_str(&format!("{}\t{}\n", a["ip"].as_str().unwrap_or_default(), names.join("\t")));
        }
    }
    out
}

fn resolv_conf(pod: &Value) -> String {
    let node = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let cfg = &pod["spec"]["dnsConfig"];
    let list = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(str::to_string)).collect()
    };
    let mut nameservers: Vec<String> = Vec::new();
    let mut searches: Vec<String> = Vec::new();
    let mut options: Vec<String> = Vec::new();
    if pod["spec"]["dnsPolicy"].as_str() != Some("None") {
        // Cluster DNS arrives with the networking issue; until then pods resolve as the node does.
        for line in node.lines() {
            let mut f = line.split_whitespace();
            match f.next() {
                Some("nameserver") => nameservers.extend(f.map(str::to_string)),
                Some("search") => searches.extend(f.map(str::to_string)),
                Some("options") => options.extend(f.map(str::to_string)),
                _ => {}
            }
        }
    }
    nameservers.extend(list(&cfg["nameservers"]));
    searches.extend(list(&cfg["searches"]));
    for o in cfg["options"].as_array().into_iter().flatten() {
        let name = o["name"].as_str().unwrap_or_default();
        options.retain(|x| x.split(':').next() != Some(name));
        match o["value"].as_str() {
            Some(v) => options.push(format!("{name}:{v}")),
            None => options.push(name.to_string()),
        }
    }
    let mut out = String::new();
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for n in nameservers.iter().take(3) {
        out.push_str(&format!("nameserver {n}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

pub fn write(pod: &Value, pod_dir: &Path, hostname: &str, host_network: bool) -> std::io::Result<()> {
    let [(hosts_path, _), (hostname_path, _), (resolv_path, _)] = pod_files(pod_dir);
    let node_name = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let name = if host_network { node_name.as_str() } else { hostname };
    std::fs::write(hosts_path, hosts(pod, hostname, host_network))?;
    std::fs::write(hostname_path, format!("{name}\n"))?;
    std::fs::write(resolv_path, resolv_conf(pod))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hosts_file_with_aliases() {
        let pod = json!({"spec": {"hostAliases": [{"ip": "10.1.2.3", "hostnames": ["a.local", "b.local"]}]}});
        let text = hosts(&pod, "web-0", false);
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(text.contains("127.0.1.1\tweb-0\n"));
        assert!(text.ends_with("# Entries added by HostAliases.\n10.1.2.3\ta.local\tb.local\n"));
    }

    #[test]
    fn dns_config_none_and_options() {
        let pod = json!({"spec": {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.2.3.4"], "searches": ["ns1.svc.cluster-domain.example"], "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}});
        assert_eq!(
            resolv_conf(&pod),
            "search ns1.svc.cluster-domain.example\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"
        );
    }
}
