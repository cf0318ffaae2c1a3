//! Helpers of the doctor tests: both sandboxes in this process with a profile for them, and the
//! real binary run against them (never printing the secret).

use std::path::{Path, PathBuf};
use std::process::Command;

use syncmap::sandbox::{AuthConfig, Sandbox, SandboxConfig, Seed};

/// The variable the profiles name for the client secret.
pub const SECRET_ENV: &str = "SYNCMAP_DOCTOR_TEST_SECRET";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a run of the binary printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Standard output and error together.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Standard output as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }
}

/// Runs the binary in `dir` with extra environment (`None` removes a variable).
pub fn syncmap(dir: &Path, args: &[&str], env: &[(&str, Option<&str>)]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncmap"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SYNCMAP_ENV");
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Both sandboxes (demo data), a folder with `syncmap.toml` for them, and the secret.
pub struct Env {
    rt: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    pub dir: tempfile::TempDir,
    pub secret: String,
}

impl Env {
    pub fn start() -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let secret = format!("s3cr3t-{}", uuid::Uuid::new_v4().simple());
        let config = SandboxConfig {
            seed: Seed::Demo,
            auth: AuthConfig {
                client_secret: secret.clone(),
                ..AuthConfig::default()
            },
            ..SandboxConfig::default()
        };
        let sandbox = rt.block_on(Sandbox::start(config)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("syncmap.toml"),
            sandbox.profile_toml(SECRET_ENV),
        )
        .unwrap();
        Env {
            rt,
            sandbox: Some(sandbox),
            dir,
            secret,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Rewrites the profile.
    pub fn edit_profile(&self, f: impl FnOnce(String) -> String) {
        let p = self.path().join("syncmap.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, f(text)).unwrap();
    }

    /// `syncmap ARGS` in the folder with the secret set to `secret` (unset for `None`); the
    /// real secret must appear in no output.
    pub fn run_with_secret(&self, args: &[&str], secret: Option<&str>) -> Out {
        let out = syncmap(self.path(), args, &[(SECRET_ENV, secret)]);
        assert!(
            !out.all().contains(&self.secret),
            "the secret appeared in the output of {args:?}"
        );
        out
    }

    /// `syncmap ARGS` with the right secret.
    pub fn run(&self, args: &[&str]) -> Out {
        let secret = self.secret.clone();
        self.run_with_secret(args, Some(&secret))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}
