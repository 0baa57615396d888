//! The server's own PKI and credentials: a CA, a serving certificate signed by
//! it, the admin bearer token, and a kubeconfig that uses them. Created on
//! first start, kept across restarts (the serving certificate is reissued
//! each start so its names follow the listen address).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::RngCore;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
}

pub struct Credentials {
    pub cert_pem: String,
    pub key_pem: String,
    pub admin_token: String,
    pub kubeconfig: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_path_buf(), source }
}

/// Writes a file readable by its owner only (keys, tokens, kubeconfigs).
fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let mut f =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    f.write_all(contents.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    // Rename so a crash never leaves a half-written credential behind.
    fs::rename(&tmp, path).map_err(io(path))
}

fn read_or<F>(path: &Path, make: F) -> Result<String, PkiError>
where
    F: FnOnce() -> Result<String, PkiError>,
{
    match fs::read_to_string(path) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = make()?;
            write_private(path, &s)?;
            Ok(s)
        }
        Err(e) => Err(io(path)(e)),
    }
}

/// Loads or creates the credentials under `dir/pki`, and writes `dir/kubeconfig`
/// pointing at `server_url`.
pub fn ensure(dir: &Path, server_url: &str, names: &[String]) -> Result<Credentials, PkiError> {
    let pki = dir.join("pki");
    fs::create_dir_all(&pki).map_err(io(&pki))?;
    let ca_key_path = pki.join("ca.key");
    let ca_key_pem = read_or(&ca_key_path, || Ok(KeyPair::generate()?.serialize_pem()))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem)?;
    let ca_params = {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, "skiff-ca");
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2124, 1, 1);
        p
    };
    let ca_path = pki.join("ca.crt");
    let ca_pem = read_or(&ca_path, || Ok(ca_params.self_signed(&ca_key)?.pem()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key)?;

    let mut serving = CertificateParams::new(names.to_vec())?;
    serving.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    serving.not_before = rcgen::date_time_ymd(2024, 1, 1);
    serving.not_after = rcgen::date_time_ymd(2124, 1, 1);
    serving.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    // Strict verifiers (OpenSSL 3 with X509_STRICT, as Python uses) require the AKI.
    serving.use_authority_key_identifier_extension = true;
    serving.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let serving_key = KeyPair::generate()?;
    let cert_pem = serving.signed_by(&serving_key, &issuer)?.pem();
    let key_pem = serving_key.serialize_pem();
    write_private(&pki.join("serving.crt"), &cert_pem)?;
    write_private(&pki.join("serving.key"), &key_pem)?;

    let token_path = dir.join("token");
    let admin_token = read_or(&token_path, || {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    })?
    .trim()
    .to_string();

    let kubeconfig = dir.join("kubeconfig");
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {ca_data}\nusers:\n- name: admin\n  user:\n    token: {admin_token}\ncontexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: admin\ncurrent-context: skiff\n"
    );
    write_private(&kubeconfig, &config)?;
    Ok(Credentials { cert_pem, key_pem, admin_token, kubeconfig })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_survive_a_restart_and_the_kubeconfig_uses_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = ensure(dir.path(), "https://127.0.0.1:6443", &names).expect("first start");
        let ca = fs::read_to_string(dir.path().join("pki/ca.crt")).expect("ca");
        let second = ensure(dir.path(), "https://127.0.0.1:6443", &names).expect("restart");
        assert_eq!(ca, fs::read_to_string(dir.path().join("pki/ca.crt")).expect("ca"));
        assert_eq!(first.admin_token, second.admin_token);
        assert_eq!(first.admin_token.len(), 64);
        let kubeconfig = fs::read_to_string(&second.kubeconfig).expect("kubeconfig");
        assert!(kubeconfig.contains(&second.admin_token));
        assert!(kubeconfig.contains("server: https://127.0.0.1:6443"));
        let mode = fs::metadata(dir.path().join("token")).expect("token").permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    }
}
