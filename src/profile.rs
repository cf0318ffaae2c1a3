//! Profiles (`syncmap.toml`): where each system and the state store live. Secrets never go in
//! the file; they come from the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A loaded profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Where the state store lives.
    #[serde(default)]
    pub state: StateConfig,
    /// Connection details by system alias.
    #[serde(default)]
    pub systems: BTreeMap<String, SystemConfig>,
    /// Tuning of runs.
    #[serde(default)]
    pub run: RunConfig,
    /// The folder of the profile file: relative paths in it are taken from here.
    #[serde(skip)]
    pub base: PathBuf,
}

/// `[state]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `sqlite://PATH`.
    #[serde(default = "default_state_url")]
    pub url: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            url: default_state_url(),
        }
    }
}

fn default_state_url() -> String {
    "sqlite://.syncmap/state.db".into()
}

/// `[systems.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// `sqlite://PATH` or the service's base URL.
    pub url: String,
}

/// `[run]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Rows read per page.
    #[serde(default = "default_page")]
    pub page_size: usize,
    /// Rows processed (and written) per batch.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            page_size: default_page(),
            batch_size: default_batch(),
        }
    }
}

fn default_page() -> usize {
    1000
}
fn default_batch() -> usize {
    200
}

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read profile `{path}`: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid profile.
    #[error("profile `{path}` is not valid: {message}")]
    Invalid {
        /// The path.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
}

impl Profile {
    /// Reads a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut p = Self::parse(&text).map_err(|message| ProfileError::Invalid {
            path: path.display().to_string(),
            message,
        })?;
        p.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(p)
    }

    /// Parses profile text.
    pub fn parse(text: &str) -> Result<Profile, String> {
        let p: Profile = toml::from_str(text).map_err(|e| e.to_string())?;
        if p.run.page_size == 0 || p.run.batch_size == 0 {
            return Err("`run.page_size` and `run.batch_size` must be at least 1".into());
        }
        Ok(p)
    }

    /// The state store URL with a relative SQLite path taken from the profile's folder.
    pub fn state_url(&self) -> String {
        match self.state.url.strip_prefix("sqlite://") {
            Some(p) if !Path::new(p).is_absolute() => {
                format!("sqlite://{}", self.base.join(p).display())
            }
            _ => self.state.url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_systems_state_and_defaults() {
        let p = Profile::parse(
            "[state]\nurl = \"sqlite://s.db\"\n[systems.bc]\nurl = \"sqlite://bc.db\"\n",
        )
        .unwrap();
        assert_eq!(p.systems["bc"].url, "sqlite://bc.db");
        assert_eq!(p.run.batch_size, 200);
        let err = Profile::parse("[systems.bc]\nurl = 1\n").unwrap_err();
        assert!(err.contains("url"), "{err}");
        assert!(
            Profile::parse("[stat]\n").is_err(),
            "unknown sections are errors"
        );
    }
}
