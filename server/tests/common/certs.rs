//! Test certificates made by the tests themselves (rcgen): a CA, and members' and
//! clients' certificates signed by it, written as PEM files into a directory.
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A certificate authority that can sign certificates.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// Its certificate as a PEM file.
    pub pem: PathBuf,
}

/// A certificate and its key as PEM files.
#[derive(Clone, Debug)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    /// A new CA named `name`, its certificate written to `dir/<name>.pem`.
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        let pem = dir.join(format!("{name}.pem"));
        std::fs::write(&pem, cert.pem()).expect("write CA");
        Ca { cert, key, pem }
    }

    /// A certificate for `common_name`, valid for `names` (IP addresses become IP
    /// subject alternative names, anything else DNS names), written to
    /// `dir/<file>.crt` and `dir/<file>.key`.
    pub fn issue(&self, dir: &Path, file: &str, common_name: &str, names: &[&str]) -> Identity {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        let id = Identity {
            cert: dir.join(format!("{file}.crt")),
            key: dir.join(format!("{file}.key")),
        };
        std::fs::write(&id.cert, cert.pem()).expect("write certificate");
        std::fs::write(&id.key, key.serialize_pem()).expect("write key");
        id
    }
}

/// The host part of a `host:port` address.
pub fn host(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr)
}
