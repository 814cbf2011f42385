//! Layers the configuration with `figment`: defaults → TOML file →
//! `BANTER_<FIELD>` environment variables → command-line flags, each layer
//! overriding the one before, then validates the result.
//!
//! One name per setting everywhere: the field `idle_timeout` is the TOML key
//! `idle_timeout`, the variable `BANTER_IDLE_TIMEOUT` and `--set
//! idle_timeout=45s`; nested ones use `.` in TOML and `--set`
//! (`account_http_limits.reads.per_minute`) and `__` in the environment
//! (`BANTER_ACCOUNT_HTTP_LIMITS__READS__PER_MINUTE`). A bad value is
//! reported with where it came from ("for key `idle_timeout` in
//! `BANTER_IDLE_TIMEOUT` environment variable").
//!
//! List settings (`database_urls`, `allowed_origins`, `trusted_proxies`,
//! `push_endpoint_hosts`) are left out of the generic environment layer: the
//! binary reads them as comma-separated variables of their own
//! (`BANTER_DATABASE_URL=a,b`), which a figment variable cannot express.

use std::path::PathBuf;

use figment::{
    providers::{Env, Format, Toml},
    Figment, Provider,
};

use super::{InvalidConfig, ServerConfig};

/// Why no configuration could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Value(Box<figment::Error>),
    #[error(transparent)]
    Invalid(#[from] InvalidConfig),
}

/// Where the settings other than the defaults come from.
pub struct ConfigSource<F: Provider> {
    /// A TOML file with any of the fields (`--config`).
    pub file: Option<PathBuf>,
    /// Whether `BANTER_<FIELD>` environment variables are read (tests of
    /// the binary's flags turn it off to be independent of their caller).
    pub environment: bool,
    /// The top layer: the command line.
    pub flags: F,
}

/// The configuration from every layer, validated.
pub fn load<F: Provider>(source: ConfigSource<F>) -> Result<ServerConfig, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = &source.file {
        // figment would skip a missing file silently; a file named on the
        // command line must exist.
        if let Err(source) = std::fs::metadata(path) {
            return Err(ConfigError::File { path: path.clone(), source });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    if source.environment {
        figment = figment.merge(environment());
    }
    let config: ServerConfig = figment.merge(source.flags).extract().map_err(|e| ConfigError::Value(Box::new(e)))?;
    config.validate()?;
    Ok(config)
}

/// `BANTER_<FIELD>` variables naming a scalar setting; others (`BANTER_LOG`,
/// `BANTER_CONFIG`, the comma-separated lists) belong to the binary.
fn environment() -> Env {
    Env::prefixed("BANTER_").split("__").filter(|key| {
        // The key may already be split into a dotted path, or not yet.
        let key = key.as_str().to_ascii_lowercase();
        let top = key.split("__").next().unwrap_or_default().split('.').next().unwrap_or_default();
        scalar_settings().any(|name| name == top)
    })
}

/// The top-level settings that are not lists.
fn scalar_settings() -> impl Iterator<Item = &'static str> {
    setting_names().filter(|name| !LIST_SETTINGS.contains(name))
}

/// Settings whose value is a list.
pub const LIST_SETTINGS: [&str; 4] = ["allowed_origins", "database_urls", "trusted_proxies", "push_endpoint_hosts"];

/// Every top-level field of [`ServerConfig`], from its serialized defaults.
pub fn setting_names() -> impl Iterator<Item = &'static str> {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| match serde_json::to_value(ServerConfig::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    });
    names.iter().map(String::as_str)
}

#[cfg(test)]
// figment's test jail returns its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use std::time::Duration;

    use figment::{providers::Serialized, Jail};

    use super::*;

    fn load_in(jail: &Jail, flags: Figment) -> Result<ServerConfig, ConfigError> {
        load(ConfigSource { file: Some(jail.directory().join("banter.toml")), environment: true, flags })
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "banter.toml",
                "idle_timeout = \"50s\"\nwrite_timeout = \"7s\"\nframes_burst = 9\n[account_http_limits.reads]\nper_minute = 5\nburst = 6\n",
            )?;
            jail.set_env("BANTER_WRITE_TIMEOUT", "8s");
            jail.set_env("BANTER_FRAMES_BURST", "10");
            jail.set_env("BANTER_ACCOUNT_HTTP_LIMITS__READS__BURST", "7");
            // Not settings: left to the binary, not refused as unknown.
            jail.set_env("BANTER_LOG", "debug");
            jail.set_env("BANTER_DATABASE_URL", "postgres://a,postgres://b");
            let flags = Figment::from(Serialized::default("frames_burst", 11));
            let config = load_in(jail, flags).map_err(|e| e.to_string())?;
            assert_eq!(config.idle_timeout, Duration::from_secs(50), "file");
            assert_eq!(config.write_timeout, Duration::from_secs(8), "environment over file");
            assert_eq!(config.frames_burst, 11, "flags over environment");
            assert_eq!((config.account_http_limits.reads.per_minute, config.account_http_limits.reads.burst), (5, 7));
            assert_eq!(config.heartbeat_interval, ServerConfig::default().heartbeat_interval, "default");
            assert!(config.database_urls.is_empty(), "lists come from the binary's own variables");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_says_where_it_came_from() {
        Jail::expect_with(|jail| {
            jail.create_file("banter.toml", "idle_timeout = 60\n")?;
            let error = load_in(jail, Figment::new()).unwrap_err().to_string();
            assert!(error.contains("60 has no unit") && error.contains("idle_timeout"), "{error}");
            assert!(error.contains("banter.toml"), "{error}");

            jail.create_file("banter.toml", "")?;
            jail.set_env("BANTER_IDLE_TIMEOUT", "soon");
            let error = load_in(jail, Figment::new()).unwrap_err().to_string();
            assert!(error.contains("not a duration") && error.contains("IDLE_TIMEOUT") && error.contains("`BANTER_` environment"), "{error}");

            jail.set_env("BANTER_IDLE_TIMEOUT", "45s");
            jail.create_file("banter.toml", "no_such_setting = 1\n")?;
            let error = load_in(jail, Figment::new()).unwrap_err().to_string();
            assert!(error.contains("no_such_setting"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn an_impossible_combination_is_refused_after_layering() {
        Jail::expect_with(|jail| {
            jail.create_file("banter.toml", "heartbeat_interval = \"1m\"\n")?;
            let error = load_in(jail, Figment::new()).unwrap_err();
            assert!(matches!(error, ConfigError::Invalid(_)), "{error}");
            assert!(error.to_string().contains("idle_timeout (45s) must be longer than heartbeat_interval (1m)"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let error = load(ConfigSource { file: Some("/no/such/banter.toml".into()), environment: false, flags: Figment::new() })
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot read the configuration file /no/such/banter.toml"), "{error}");
    }
}
