//! Image references, parsed and normalised the way Docker and the kubelet do:
//! `busybox` is `docker.io/library/busybox:latest`, a first component with a
//! dot, a port or named `localhost` is a registry host, and a reference may
//! carry a tag, a digest or both.

use std::fmt;

/// Docker Hub's name in references; its API lives at [`DOCKER_HUB_API_HOST`].
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's distribution API answers.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: {reference:?}: {reason}")]
    Invalid { reference: String, reason: &'static str },
    #[error("invalid reference format: repository name must be lowercase: {0:?}")]
    Uppercase(String),
}

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io`, `quay.io`, `127.0.0.1:5000`, ...
    pub registry: String,
    /// `library/busybox`, `test/busybox`, ...
    pub repository: String,
    /// `None` only when a digest is given without a tag.
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason| ReferenceError::Invalid { reference: input.to_string(), reason };
        if input.is_empty() {
            return Err(invalid("empty reference"));
        }
        if input.len() > 4096 || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("contains whitespace or is too long"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(invalid)?;
                (rest, Some(digest.to_string()))
            }
            None => (input, None),
        };
        // A tag is after the last colon, but only when no slash follows it:
        // otherwise the colon belongs to a registry port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(invalid)?;
        }
        let (registry, repository) = split_registry(name);
        if repository.is_empty() {
            return Err(invalid("empty repository name"));
        }
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(input.to_string()));
        }
        validate_repository(&repository).map_err(invalid)?;
        validate_registry(&registry).map_err(invalid)?;
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference { registry, repository, tag, digest })
    }

    /// `registry/repository`, the name a `repo@digest` is built on.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// What the manifest is fetched by: the digest when pinned, else the tag.
    pub fn manifest_ref(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or(DEFAULT_TAG)
    }

    /// The host the distribution API is reached at.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The registry's host without its port.
    pub fn hostname(&self) -> &str {
        host_without_port(&self.registry)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// `host:port` → `host`, keeping bracketed IPv6 addresses whole.
pub(crate) fn host_without_port(registry: &str) -> &str {
    if let Some(end) = registry.strip_prefix('[').and_then(|r| r.find(']')) {
        return &registry[..end + 2];
    }
    registry.split(':').next().unwrap_or(registry)
}

/// Whether the first path component names a registry host, by Docker's rule.
fn is_registry_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost" || component.starts_with('[')
}

fn split_registry(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest)) if is_registry_host(first) => {
            let registry = if first == "index.docker.io" || first == DOCKER_HUB_API_HOST { DOCKER_HUB } else { first };
            let repository = if registry == DOCKER_HUB && !rest.contains('/') {
                format!("library/{rest}")
            } else {
                rest.to_string()
            };
            (registry.to_string(), repository)
        }
        Some(_) => (DOCKER_HUB.to_string(), name.to_string()),
        None => (DOCKER_HUB.to_string(), format!("library/{name}")),
    }
}

fn validate_digest(digest: &str) -> Result<(), &'static str> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err("digest must be ALGORITHM:HEX");
    };
    match algorithm {
        "sha256" if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) => Ok(()),
        "sha256" => Err("sha256 digest must be 64 lowercase hex digits"),
        _ => Err("unsupported digest algorithm"),
    }
}

fn validate_tag(tag: &str) -> Result<(), &'static str> {
    let mut bytes = tag.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !first_ok || tag.len() > 128 || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        return Err("invalid tag");
    }
    Ok(())
}

/// Path components are lowercase alphanumerics joined by `.`, `_`, `__` or dashes.
fn validate_repository(repository: &str) -> Result<(), &'static str> {
    if repository.len() > 255 {
        return Err("repository name too long");
    }
    for component in repository.split('/') {
        let bytes = component.as_bytes();
        let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
            return Err("empty path component");
        };
        if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
            return Err("path components must start and end with a letter or digit");
        }
        if !bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b)) {
            return Err("invalid character in repository name");
        }
        if component.contains("..") || component.contains("___") || component.contains("._") || component.contains("_.")
        {
            return Err("invalid separator in repository name");
        }
    }
    Ok(())
}

fn validate_registry(registry: &str) -> Result<(), &'static str> {
    let host = host_without_port(registry);
    if host.is_empty() {
        return Err("empty registry host");
    }
    if let Some(port) = registry.strip_prefix(host).and_then(|p| p.strip_prefix(':')) {
        if port.parse::<u16>().is_err() {
            return Err("invalid registry port");
        }
    }
    if !host.starts_with('[') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return Err("invalid registry host");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_like_docker() {
        let table = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            ("index.docker.io/library/busybox:1", "docker.io/library/busybox:1"),
            ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5"),
            ("127.0.0.1:5000/test/busybox:v1", "127.0.0.1:5000/test/busybox:v1"),
            ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/a/b/c:tag", "localhost:5000/a/b/c:tag"),
            ("registry.example.com/a.b_c-d/e__f:1.0-rc_1", "registry.example.com/a.b_c-d/e__f:1.0-rc_1"),
        ];
        for (input, want) in table {
            let parsed = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed.to_string(), want, "{input}");
        }
    }

    #[test]
    fn digests() {
        let r = Reference::parse(&format!("busybox@{DIGEST}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(DIGEST));
        assert_eq!(r.manifest_ref(), DIGEST);
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{DIGEST}"));

        let r = Reference::parse(&format!("127.0.0.1:5000/x:v1@{DIGEST}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.manifest_ref(), DIGEST);
        assert_eq!(r.name(), "127.0.0.1:5000/x");
    }

    #[test]
    fn hosts() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.api_host(), DOCKER_HUB_API_HOST);
        let r = Reference::parse("127.0.0.1:5000/a").unwrap();
        assert_eq!(r.api_host(), "127.0.0.1:5000");
        assert_eq!(r.hostname(), "127.0.0.1");
        let r = Reference::parse("[::1]:5000/a").unwrap();
        assert_eq!(r.hostname(), "[::1]");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "busybox@sha256:123",
            "busybox@md5:0123",
            "a//b",
            "/busybox",
            "busybox/",
            "a b",
            "host:99999/a",
            "_a",
            "a..b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(Reference::parse("quay.io/Foo"), Err(ReferenceError::Uppercase(_))));
    }
}
