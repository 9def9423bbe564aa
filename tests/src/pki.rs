//! A test certificate authority made with rcgen, for the TLS tests of the library,
//! the CLI and the interop tests: a CA and a server certificate it signed, written as
//! PEM files that the code under test loads the way a user's would be.
//!
//! Not a certificate policy: the certificates are whatever rcgen makes by default
//! (fresh keys each run), with the names a test asks for.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// PEM files: a test CA (`ca`), and a server certificate (`cert`, its key `key`)
/// signed by it.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A self-signed CA with common name `name`.
pub fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A CA named `ca_name` and a server certificate for `names` (DNS names or IP
/// addresses) signed by it, as `ca.pem`, `server.pem` and `server.key` in `dir`.
pub fn pki(dir: &Path, ca_name: &str, names: &[&str]) -> Pki {
    let ca = new_ca(ca_name);
    let key = KeyPair::generate().expect("server key");
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "lightstream test server");
    let cert = params.signed_by(&key, &ca).expect("server certificate");
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&pki.ca, ca.pem()).expect("write CA");
    std::fs::write(&pki.cert, cert.pem()).expect("write certificate");
    std::fs::write(&pki.key, key.serialize_pem()).expect("write key");
    pki
}
