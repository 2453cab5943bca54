//! `mlm serve` over HTTPS: with `[server] tls_cert`/`tls_key` it terminates TLS itself. A
//! private CA and a server certificate for `localhost`/`127.0.0.1` are made at test time
//! ([`TestPki`]); `HttpProvider` trusting that CA talks to the server, one without it is
//! refused with a certificate error, and plain HTTP to the TLS port fails. Start-up refuses
//! half or mismatched TLS settings, and warns about tokens in clear text.
#![cfg(all(unix, feature = "local"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::start;

use mlm_client::HttpProvider;
use mlm_core::{CreateModelRequest, ModelName, ModelRegistry};

const TOKEN: &str = "tls-test-operator-0123456789";

/// A private CA and a server certificate it signed, as PEM files in one folder:
/// `ca.pem` (what clients trust), `cert.pem` (the server's certificate, for `localhost`,
/// `127.0.0.1` and `::1`) and `key.pem` (its private key).
struct TestPki {
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

impl TestPki {
    fn write_to(dir: &Path) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mlm test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &ca).unwrap();

        let pki = Self {
            ca_pem: ca_cert.pem(),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(&pki.cert, server_cert.pem()).unwrap();
        std::fs::write(&pki.key, server_key.serialize_pem()).unwrap();
        pki
    }
}

fn mlm(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlm"));
    cmd.env_remove("MLM_TOKENS")
        .env("RUST_LOG", "info")
        .args(["serve", "--config"])
        .arg(config);
    cmd
}

/// A config file in `dir` serving on `bind` with the operator token, a local backend kept in
/// `dir`, and `extra` lines in `[server]`.
fn write_config(dir: &Path, bind: &str, extra: &str) -> PathBuf {
    let path = dir.join("mlm.toml");
    let data = dir.join("data");
    std::fs::write(
        &path,
        format!(
            "[server]\nbind = \"{bind}\"\ntokens = [{{ token = \"{TOKEN}\", role = \"operator\" }}]\n\
             {extra}\n[local]\ndata_dir = \"{}\"\n",
            data.display()
        ),
    )
    .unwrap();
    path
}

fn tls_lines(pki: &TestPki) -> String {
    format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        pki.cert.display(),
        pki.key.display()
    )
}

/// The error and its sources, as one lowercase line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.to_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write_to(dir.path());
    let config = write_config(dir.path(), "127.0.0.1:0", &tls_lines(&pki));
    let (running, base, logs) = start(mlm(&config));
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");

    // Trusting the CA: a real call, by address and by name.
    let mlm = HttpProvider::builder(&base)
        .ca_certificate_pem(pki.ca_pem.clone())
        .token(Some(TOKEN.into()))
        .connect()
        .await
        .unwrap();
    assert_eq!(mlm.remote_name(), "local");
    let model = ModelName::new("secure").unwrap();
    mlm.create_model(CreateModelRequest::new(model.clone()))
        .await
        .unwrap();
    let by_name = HttpProvider::builder(base.replace("127.0.0.1", "localhost"))
        .ca_certificate_pem(pki.ca_pem.clone())
        .token(Some(TOKEN.into()))
        .build()
        .unwrap();
    by_name.refresh_capabilities().await.unwrap();
    assert_eq!(by_name.get_model(&model).await.unwrap().name, model);

    // Without the CA: the certificate is refused.
    let untrusting = HttpProvider::builder(&base)
        .token(Some(TOKEN.into()))
        .build()
        .unwrap();
    let err = untrusting.refresh_capabilities().await.unwrap_err();
    let text = chain(&err);
    assert!(text.contains("certificate"), "{text}");

    // Plain HTTP to the TLS port: no answer.
    let plain = base.replace("https://", "http://");
    let err = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{}", chain(&err));

    // The server is still fine.
    mlm.refresh_capabilities().await.unwrap();
    drop(running);
    let logs = logs.join().unwrap();
    assert!(logs.contains("listening on https://"), "{logs}");
    assert!(!logs.contains("CLEAR TEXT"), "{logs}");
}

#[test]
fn half_or_mismatched_tls_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::write_to(dir.path());
    let other = tempfile::tempdir().unwrap();
    let other_pki = TestPki::write_to(other.path());
    let cases = [
        (
            format!("tls_cert = \"{}\"", pki.cert.display()),
            "tls_key is not".to_string(),
        ),
        (
            format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"",
                pki.cert.display(),
                other_pki.key.display()
            ),
            "does not belong to the certificate".to_string(),
        ),
        (
            format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"",
                pki.key.display(),
                pki.key.display()
            ),
            format!("tls_cert {} holds no certificate", pki.key.display()),
        ),
        (
            format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"",
                pki.cert.display(),
                dir.path().join("absent.pem").display()
            ),
            "tls_key: cannot read".to_string(),
        ),
    ];
    for (lines, expected) in cases {
        let config = write_config(dir.path(), "127.0.0.1:0", &lines);
        let out = mlm(&config).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{lines}: {err}");
        assert!(err.contains(&expected), "{lines}: {err}");
    }
    // The command line completes the file's setting.
    let config = write_config(
        dir.path(),
        "127.0.0.1:0",
        &format!("tls_cert = \"{}\"", pki.cert.display()),
    );
    let mut cmd = mlm(&config);
    cmd.arg("--tls-key").arg(&pki.key);
    let (_running, base, _) = start(cmd);
    assert!(base.starts_with("https://"), "{base}");
}

#[test]
fn tokens_in_clear_text_on_the_network_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "0.0.0.0:0", "");
    let (running, base, logs) = start(mlm(&config));
    assert!(base.starts_with("http://"), "{base}");
    drop(running);
    let logs = logs.join().unwrap();
    assert!(
        logs.contains("mlm: WARNING: serving plain HTTP on 0.0.0.0:0 with bearer tokens")
            && logs.contains("CLEAR TEXT")
            && logs.contains("tls_cert"),
        "{logs}"
    );
}
