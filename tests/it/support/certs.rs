//! A throwaway certificate authority and a server certificate for `localhost`, made with the
//! `openssl` command for the TLS tests.

use std::path::PathBuf;
use std::process::Command;

use super::TempDir;

pub struct Certs {
    /// The CA certificate (PEM), for `sslrootcert`.
    pub ca: PathBuf,
    /// The server certificate, signed by the CA, valid for DNS name `localhost` only.
    pub server_crt: Vec<u8>,
    pub server_key: Vec<u8>,
    _dir: TempDir,
}

impl Certs {
    /// A self-signed server certificate for `localhost`, made by the PostgreSQL documentation's
    /// recipe (server-certificates in ssl-tcp.html): no subjectAltName, and OpenSSL 3 marks it
    /// CA:TRUE. `ca` is the certificate itself, as a client gives it in `sslrootcert`.
    pub fn self_signed() -> Certs {
        let dir = TempDir::new("self-signed");
        let output = Command::new("openssl")
            .args(["req", "-new", "-x509", "-days", "365", "-nodes", "-text"])
            .args(["-out", "server.crt", "-keyout", "server.key"])
            .args(["-subj", "/CN=localhost"])
            .current_dir(dir.path())
            .output()
            .expect("the openssl command runs (install openssl)");
        assert!(output.status.success(), "openssl req: {output:?}");
        let read = |name: &str| std::fs::read(dir.path().join(name)).expect("read a certificate");
        Certs {
            ca: dir.path().join("server.crt"),
            server_crt: read("server.crt"),
            server_key: read("server.key"),
            _dir: dir,
        }
    }

    /// A CA named `ca_name` and a server certificate it signed.
    pub fn generate(ca_name: &str) -> Certs {
        let dir = TempDir::new("certs");
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("the openssl command runs (install openssl)");
            assert!(output.status.success(), "openssl {args:?}: {output:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &[
                    "req",
                    "-x509",
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN={ca_name}"),
                ],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.crt"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req", "-subj", "/CN=localhost"],
                &ec[..],
                &["-keyout", "server.key", "-out", "server.csr"],
            ]
            .concat(),
        );
        std::fs::write(
            dir.path().join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions file");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ]);
        let read = |name: &str| std::fs::read(dir.path().join(name)).expect("read a certificate");
        Certs {
            ca: dir.path().join("ca.crt"),
            server_crt: read("server.crt"),
            server_key: read("server.key"),
            _dir: dir,
        }
    }
}
