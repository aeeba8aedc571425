//! Tests only: a throw-away PostgreSQL cluster in a temporary directory, on a free loopback
//! port, with trust authentication for user `postgres`; stopped (and its files removed) when
//! dropped, so a failing test does not leave a server behind.
//!
//! It uses Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`, installed by
//! `scripts/setup.sh`); without it, [`Cluster::start`] fails the test saying so. As root the
//! server refuses to run, so it then runs as the `postgres` user (`runuser`), owning the
//! directory. The integration tests include this file with `#[path]`, so it uses only std and
//! `tempfile`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// A running throw-away cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    created: Mutex<HashSet<String>>,
}

impl Cluster {
    /// `initdb` and start a cluster; panics (failing the test) with what to do when
    /// PostgreSQL is not installed or does not start.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// [`start`](Self::start) a cluster that also accepts TLS, with this certificate and key
    /// (PEM).
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Self {
        let bin = bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): \
                 run scripts/setup.sh, which installs Debian's postgresql package"
            )
        });
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("tm-pg-")
            .tempdir()
            .expect("a temporary directory");
        let mut tls_options = String::new();
        if let Some((cert, key)) = tls {
            let (cert_file, key_file) =
                (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert_file, cert).unwrap();
            std::fs::write(&key_file, key).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                // The server refuses a key file others may read.
                std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
                    .unwrap();
            }
            tls_options = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_file.display(),
                key_file.display()
            );
        }
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let mut cluster = Self {
            dir,
            bin,
            port: 0,
            as_postgres,
            created: Mutex::new(HashSet::new()),
        };
        let data = cluster.data();
        run(cluster.command("initdb").arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        ]));
        // A free port can be taken between our probe and the server's bind: try a few.
        for attempt in 0..5 {
            cluster.port = free_port();
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off{tls_options}",
                cluster.port,
                cluster.dir.path().display()
            );
            let status = cluster
                .command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(cluster.log())
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("pg_ctl runs");
            if status.success() {
                return cluster;
            }
            if attempt == 4 {
                let log = std::fs::read_to_string(cluster.log()).unwrap_or_default();
                panic!("the throw-away PostgreSQL cluster did not start:\n{log}");
            }
        }
        unreachable!()
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name`, created (empty) on first use.
    pub fn database(&self, name: &str) -> String {
        let db = format!("tm_{name}");
        let mut created = self.created.lock().unwrap();
        if created.insert(db.clone()) {
            run(self
                .command("createdb")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .arg(&db));
        }
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// One of the cluster's binaries, as the `postgres` user when we are root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Immediate: no checkpoint of data about to be deleted; connections still open (a
        // test that failed mid-way) are cut.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(Path::new("/usr/lib/postgresql"))
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn run(command: &mut Command) {
    let out = command.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
