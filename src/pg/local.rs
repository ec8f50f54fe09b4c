//! Throwaway local PostgreSQL servers, for the test suite and `dbsplit demo`.
//!
//! A server is a copy of a template data directory (made once by `initdb` and kept in the temp
//! folder), started by `pg_ctl` on a free loopback port with its unix socket in its own folder,
//! and with durability switched off because nothing in it needs to survive. Dropping a
//! [`LocalServer`] stops it and deletes its folder, also while a test panics; folders left by a
//! killed process are reaped by the next start. PostgreSQL refuses to run as root, so as root the
//! server runs as the `postgres` OS user through `runuser`.

use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bump when the template's initdb options change, so an old template is not reused.
const TEMPLATE_FORMAT: u32 = 1;
const OS_USER: &str = "postgres";
/// The superuser of every local server.
pub const SUPERUSER: &str = "postgres";

/// Why a local server could not be started.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LocalServerError(String);

impl From<io::Error> for LocalServerError {
    fn from(error: io::Error) -> Self {
        LocalServerError(error.to_string())
    }
}

/// Extra settings for [`LocalServer::start_with`]; the default is the plain server of
/// [`LocalServer::start`].
#[derive(Debug, Clone, Default)]
pub struct LocalConfig {
    /// Lines appended to postgresql.conf after dbsplit's own (the last occurrence wins).
    pub conf: Vec<String>,
    /// The whole pg_hba.conf; `None` keeps initdb's, which trusts everyone.
    pub hba: Option<String>,
    /// Files written into the data directory, readable by the server's OS user only
    /// (`server.crt`, `server.key`: PostgreSQL refuses a key that others can read).
    pub files: Vec<(String, Vec<u8>)>,
}

/// A running throwaway PostgreSQL server.
#[derive(Debug)]
pub struct LocalServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as: Option<&'static str>,
    stopped: bool,
}

struct Setup {
    bin: PathBuf,
    run_as: Option<&'static str>,
    root: PathBuf,
    template: PathBuf,
}

static SETUP: OnceLock<Result<Setup, String>> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

impl LocalServer {
    /// Starts a new, empty server. Fails loudly, saying what to install, when PostgreSQL is
    /// missing.
    pub fn start() -> Result<LocalServer, LocalServerError> {
        LocalServer::start_with(&LocalConfig::default())
    }

    /// Starts a new, empty server with extra settings, its own pg_hba.conf and files.
    pub fn start_with(config: &LocalConfig) -> Result<LocalServer, LocalServerError> {
        LocalServer::start_on(None, config)
    }

    /// Like [`LocalServer::start_with`], on another PostgreSQL's bin folder (`Some`: a move
    /// across majors) instead of the binaries and cached template every other server uses.
    pub fn start_on(
        bin: Option<&Path>,
        config: &LocalConfig,
    ) -> Result<LocalServer, LocalServerError> {
        let setup = setup()?;
        let mut server = LocalServer::allocate(setup)?;
        let data = server.data_dir();
        match bin {
            None => drop(run(Command::new("cp")
                .arg("-a")
                .arg(&setup.template)
                .arg(&data))?),
            Some(bin) => {
                // Another major than the template's: a data directory of its own.
                server.bin = bin.to_path_buf();
                let mut initdb = server.command(&bin.join("initdb"));
                initdb
                    .arg("-D")
                    .arg(&data)
                    .args(["--no-sync", "-A", "trust", "-U", SUPERUSER, "-E", "UTF8"])
                    .args(["--locale=C", "--no-instructions"]);
                run(&mut initdb)?;
            }
        }
        let hba = config
            .hba
            .as_ref()
            .map(|text| ("pg_hba.conf", text.as_bytes()));
        let files = config
            .files
            .iter()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()));
        for (name, bytes) in hba.into_iter().chain(files) {
            let path = data.join(name);
            fs::write(&path, bytes)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
            server.hand_over(&path)?;
        }
        server.launch(&config.conf)?;
        Ok(server)
    }

    /// Starts a hot standby of this server: a copy by `pg_basebackup -R` that streams this
    /// server's changes and refuses writes.
    pub fn start_standby(&self) -> Result<LocalServer, LocalServerError> {
        let setup = setup()?;
        let mut standby = LocalServer::allocate(setup)?;
        run(standby
            .command(&standby.bin.join("pg_basebackup"))
            .arg("-D")
            .arg(standby.data_dir())
            .args([
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-h",
                "127.0.0.1",
                "-U",
                SUPERUSER,
            ])
            .args(["-p", &self.port.to_string()]))?;
        standby.launch(&["hot_standby = on".to_string()])?;
        Ok(standby)
    }

    /// A new, empty server folder owned by the server's OS user.
    fn allocate(setup: &Setup) -> Result<LocalServer, LocalServerError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = setup.root.join(format!("{}-{n}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir(&dir)?;
        let server = LocalServer {
            dir,
            port: 0,
            bin: setup.bin.clone(),
            run_as: setup.run_as,
            stopped: true,
        };
        server.hand_over(&server.dir)?;
        Ok(server)
    }

    /// Configures and starts the server of a ready data directory on a free port.
    fn launch(&mut self, conf: &[String]) -> Result<(), LocalServerError> {
        let server = self;
        // A port picked as free can be taken before the server binds it: try a few.
        let mut last_error = None;
        for _ in 0..5 {
            server.port = free_port()?;
            server.configure(conf)?;
            match server.pg_ctl(&["start", "-w", "-t", "60", "-l"], Some(&server.log_path())) {
                Ok(_) => {
                    server.stopped = false;
                    return Ok(());
                }
                Err(error) => last_error = Some(error),
            }
        }
        let log = fs::read_to_string(server.log_path()).unwrap_or_default();
        Err(LocalServerError(format!(
            "could not start a local PostgreSQL server: {}\nserver log:\n{log}",
            last_error.map_or_else(String::new, |e| e.0)
        )))
    }

    /// The TCP port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of the PostgreSQL binaries in use (psql, pg_ctl, ...).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// A libpq key=value connection string over TCP for `user` and `database`.
    pub fn connection_string(&self, user: &str, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user='{}' dbname='{}'",
            self.port,
            escape_conninfo(user),
            escape_conninfo(database)
        )
    }

    /// A `psql` command connected as the superuser to `database`, quiet and without psqlrc.
    pub fn psql(&self, database: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                database,
            ]);
        command
    }

    /// Keeps the server for the rest of this process, for tests that share one server: a
    /// watchdog process stops it and deletes its folder once this process has exited (statics
    /// are never dropped, and a killed test binary runs no destructor either).
    pub fn until_process_exit(mut self) -> Result<&'static LocalServer, LocalServerError> {
        self.stop_at_process_exit()?;
        // The watchdog stops it; this value is never dropped.
        Ok(Box::leak(Box::new(self.take())))
    }

    /// Starts a watchdog process that stops the server and deletes its folder once this
    /// process has exited, whether or not this value is dropped first (stopping twice is
    /// harmless): for servers kept in a static, such as a test harness's pool.
    pub fn stop_at_process_exit(&self) -> Result<(), LocalServerError> {
        let stop = |program: &str| -> String {
            let mut words = Vec::new();
            if let Some(user) = self.run_as {
                words.extend(["runuser".to_string(), "-u".into(), user.into(), "--".into()]);
            }
            words.push(self.bin.join(program).display().to_string());
            words
                .iter()
                .map(|w| shell_quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {pg_ctl} stop -m immediate -w -D {data} >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = stop("pg_ctl"),
            data = shell_quote(&self.data_dir().display().to_string()),
            dir = shell_quote(&self.dir.display().to_string()),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| LocalServerError(format!("cannot start the server's watchdog: {e}")))?;
        Ok(())
    }

    /// Moves the server into the value returned, which stops it when dropped; `self` is left
    /// stopped and empty, and dropping it does nothing. For a holder that cannot give up its
    /// value (a `Drop` impl) but hands the running server on.
    pub fn take(&mut self) -> LocalServer {
        let server = LocalServer {
            dir: std::mem::take(&mut self.dir),
            port: self.port,
            bin: self.bin.clone(),
            run_as: self.run_as,
            stopped: self.stopped,
        };
        self.stopped = true;
        server
    }

    /// Stops the server and deletes its folder. Called by `Drop` too.
    pub fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"], None);
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Appends this server's settings, then `extra`; the last occurrence of a setting wins.
    fn configure(&self, extra: &[String]) -> Result<(), LocalServerError> {
        let conf = self.data_dir().join("postgresql.conf");
        let mut text = fs::read_to_string(&conf)?;
        text.push_str(&format!(
            "\n# dbsplit throwaway server\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\nshared_buffers = 32MB\n",
            self.port,
            self.dir.display().to_string().replace('\'', "''")
        ));
        for line in extra {
            text.push_str(line);
            text.push('\n');
        }
        fs::write(&conf, text)?;
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str], log: Option<&Path>) -> Result<Output, LocalServerError> {
        let mut command = self.command(&self.bin.join("pg_ctl"));
        command.args(args);
        if let Some(log) = log {
            command.arg(log);
        }
        command.arg("-D").arg(self.data_dir());
        run(&mut command)
    }

    fn command(&self, program: &Path) -> Command {
        as_user(self.run_as, program)
    }

    fn hand_over(&self, path: &Path) -> Result<(), LocalServerError> {
        hand_over(self.run_as, path)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn setup() -> Result<&'static Setup, LocalServerError> {
    SETUP
        .get_or_init(|| prepare().map_err(|e| e.0))
        .as_ref()
        .map_err(|e| LocalServerError(e.clone()))
}

fn as_user(run_as: Option<&str>, program: &Path) -> Command {
    match run_as {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// Gives a folder to the OS user the server runs as.
fn hand_over(run_as: Option<&str>, path: &Path) -> Result<(), LocalServerError> {
    if let Some(user) = run_as {
        run(Command::new("chown").arg(format!("{user}:")).arg(path))?;
    }
    Ok(())
}

fn run(command: &mut Command) -> Result<Output, LocalServerError> {
    let output = command
        .output()
        .map_err(|e| LocalServerError(format!("cannot run {:?}: {e}", command.get_program())))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(LocalServerError(format!(
            "{:?} {:?} failed ({}): {}{}",
            command.get_program(),
            command.get_args().collect::<Vec<_>>(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// Finds the binaries, reaps servers of dead processes and makes the template data directory.
fn prepare() -> Result<Setup, LocalServerError> {
    let bin = find_bin_dir()?;
    let root_user = fs::metadata("/proc/self")?.uid() == 0;
    let (run_as, owner) = if root_user {
        let id = Command::new("id").arg("-u").arg(OS_USER).output();
        let uid = id.ok().filter(|o| o.status.success()).and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u32>()
                .ok()
        });
        let Some(uid) = uid else {
            return Err(LocalServerError(format!(
                "running as root, but there is no `{OS_USER}` OS user to run PostgreSQL as (it refuses to run as root); install Debian's postgresql package or `useradd --system {OS_USER}`"
            )));
        };
        (Some(OS_USER), uid)
    } else {
        (None, fs::metadata("/proc/self")?.uid())
    };
    let root = work_dir()?;
    private_dir(&root, owner, run_as)?;
    reap(&root, &bin, run_as);
    let version = run(Command::new(bin.join("pg_ctl")).arg("--version"))?;
    // "pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)": the word after "(PostgreSQL)".
    let version = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .skip_while(|word| *word != "(PostgreSQL)")
        .nth(1)
        .unwrap_or("unknown")
        .to_string();
    let template = root.join(template_name(&version, &bin));
    if !template.join("PG_VERSION").exists() {
        let staging = root.join(format!("template-staging-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir(&staging)?;
        hand_over(run_as, &staging)?;
        let mut initdb = as_user(run_as, &bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&staging)
            .args(["--no-sync", "-A", "trust", "-U", SUPERUSER, "-E", "UTF8"])
            .arg("--locale=C");
        // initdb learnt --no-instructions in PostgreSQL 14.
        if major(&version).is_none_or(|major| major >= 14) {
            initdb.arg("--no-instructions");
        }
        run(&mut initdb)?;
        // Another process may have made it meanwhile; either copy is as good.
        if fs::rename(&staging, &template).is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
    }
    Ok(Setup {
        bin,
        run_as,
        root,
        template,
    })
}

/// The major version of a version string: 13 for "13.22", 18 for "18beta1".
fn major(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The folder of the throwaway servers and of the cached template: `$XDG_CACHE_HOME/dbsplit`
/// when XDG_CACHE_HOME is set, else `dbsplit-<uid>` in `DBSPLIT_PG_TMP`, else in the temp
/// folder (TMPDIR; as root `/tmp`, which the `postgres` OS user can always reach).
pub fn work_dir() -> Result<PathBuf, LocalServerError> {
    let uid = fs::metadata("/proc/self")?.uid();
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
    {
        return Ok(cache.join("dbsplit"));
    }
    let base = match std::env::var_os("DBSPLIT_PG_TMP") {
        Some(dir) => PathBuf::from(dir),
        None if uid == 0 => PathBuf::from("/tmp"),
        None => std::env::temp_dir(),
    };
    Ok(base.join(format!("dbsplit-{uid}")))
}

/// Creates `dir` private to the OS user `owner` (mode 0700), or checks that it is: another
/// user able to write there could swap the template the servers are copied from, or read
/// what they hold.
fn private_dir(dir: &Path, owner: u32, run_as: Option<&str>) -> Result<(), LocalServerError> {
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => hand_over(run_as, dir)?,
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(LocalServerError(format!(
                "cannot create {}: {error}",
                dir.display()
            )));
        }
    }
    let meta = fs::symlink_metadata(dir)?;
    let problem = if !meta.file_type().is_dir() {
        Some("it is not a folder (a symbolic link is refused too)".to_string())
    } else if meta.mode() & 0o077 != 0 {
        Some(format!(
            "other users may use it (mode {:04o}, not 0700)",
            meta.mode() & 0o7777
        ))
    } else if meta.uid() != owner {
        Some(format!(
            "it belongs to uid {}, not to uid {owner} who runs the servers",
            meta.uid()
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(LocalServerError(format!(
            "refusing to keep throwaway PostgreSQL servers in {}: {problem}; delete it, or point XDG_CACHE_HOME elsewhere",
            dir.display()
        )));
    }
    if let Some(user) = run_as {
        let reachable = as_user(run_as, Path::new("test"))
            .arg("-w")
            .arg(dir)
            .status()
            .is_ok_and(|status| status.success());
        if !reachable {
            return Err(LocalServerError(format!(
                "the `{user}` OS user, which runs the servers as root, cannot reach {}; point XDG_CACHE_HOME at a folder it can reach",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The cached template's folder name: one per server version and binaries folder.
fn template_name(version: &str, bin: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bin.as_os_str().as_encoded_bytes());
    let key = crate::text::hex(&digest[..6]);
    format!("template-{version}-{key}-{TEMPLATE_FORMAT}")
}

/// Stops and deletes the servers of processes that no longer exist.
fn reap(root: &Path, bin: &Path, run_as: Option<&str>) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let owner = name
            .strip_prefix("template-staging-")
            .or(Some(name.as_str()))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = owner else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let data = entry.path().join("data");
        if data.join("postmaster.pid").exists() {
            let _ = as_user(run_as, &bin.join("pg_ctl"))
                .args(["stop", "-m", "immediate", "-w", "-D"])
                .arg(&data)
                .output();
        }
        let _ = fs::remove_dir_all(entry.path());
    }
}

/// The folder holding initdb and pg_ctl: `PG_BIN`, then `PATH`, then the newest
/// `/usr/lib/postgresql/*/bin`.
fn find_bin_dir() -> Result<PathBuf, LocalServerError> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        if has_tools(&dir) {
            return Ok(dir);
        }
        return Err(LocalServerError(format!(
            "PG_BIN={} holds no initdb and pg_ctl",
            dir.display()
        )));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.is_file() {
                // Debian links /usr/bin wrappers and friends; use the real folder.
                let real = fs::canonicalize(&initdb)?;
                if let Some(real_dir) = real.parent().filter(|d| has_tools(d)) {
                    return Ok(real_dir.to_path_buf());
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        LocalServerError(
            "PostgreSQL server binaries (initdb, pg_ctl) were found neither in PG_BIN, on PATH, nor in /usr/lib/postgresql/*/bin; install them (Debian/Ubuntu: apt-get install postgresql) or set PG_BIN".into(),
        )
    })
}

fn free_port() -> Result<u16, LocalServerError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A word for `sh`, single-quoted.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Escapes a value for a single-quoted libpq conninfo value.
fn escape_conninfo(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}
