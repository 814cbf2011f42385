//! Impossible combinations, refused at start with every problem named at
//! once (an operator fixes the file in one go, not one error per restart).
//!
//! Only what cannot work is refused: a zero where the server divides by it
//! or waits on it, an idle timeout that would close connections between
//! their heartbeats, a NATS cluster without the shared PostgreSQL it needs.
//! Unusual but workable values (a tiny queue, a huge limit) are the
//! operator's call.

use std::time::Duration;

use super::{Budget, ServerConfig};

/// Why a configuration was refused: one line per problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {}", .problems.join("; "))]
pub struct InvalidConfig {
    pub problems: Vec<String>,
}

impl ServerConfig {
    /// Every impossible combination in this configuration, or `Ok`.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, problem: &str| {
            if !ok {
                problems.push(problem.to_owned());
            }
        };
        let positive_durations = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
            ("frames_refusal_window", self.frames_refusal_window),
            ("session_max_age", self.session_max_age),
            ("session_idle_timeout", self.session_idle_timeout),
            ("session_check_interval", self.session_check_interval),
            ("http_header_timeout", self.http_header_timeout),
            ("http_request_timeout", self.http_request_timeout),
            ("presence_grace", self.presence_grace),
            ("sync_queue_timeout", self.sync_queue_timeout),
        ];
        for (name, value) in positive_durations {
            check(!value.is_zero(), &format!("{name} must be more than 0s"));
        }
        check(
            self.idle_timeout > self.heartbeat_interval,
            &format!(
                "idle_timeout ({}) must be longer than heartbeat_interval ({}): connections would be closed between their heartbeats",
                super::duration::format(self.idle_timeout),
                super::duration::format(self.heartbeat_interval)
            ),
        );
        let positive_counts = [
            ("outbound_queue_frames", self.outbound_queue_frames as u64),
            ("outbound_queue_bytes", self.outbound_queue_bytes as u64),
            ("frames_per_second", u64::from(self.frames_per_second)),
            ("frames_burst", u64::from(self.frames_burst)),
            ("account_frames_per_second", u64::from(self.account_frames_per_second)),
            ("account_frames_burst", u64::from(self.account_frames_burst)),
            ("database_pool_size", u64::from(self.database_pool_size)),
            ("max_concurrent_syncs", u64::from(self.max_concurrent_syncs)),
            ("push_max_attempts", u64::from(self.push_max_attempts)),
        ];
        for (name, value) in positive_counts {
            check(value > 0, &format!("{name} must be at least 1"));
        }
        check(self.max_concurrent_password_hashes != Some(0), "max_concurrent_password_hashes must be at least 1 (or unset: one per CPU)");
        let limits = &self.account_http_limits;
        let budgets: [(&str, Budget); 8] = [
            ("reads", limits.reads),
            ("lookups", limits.lookups),
            ("lookups_per_address", limits.lookups_per_address),
            ("membership", limits.membership),
            ("updates", limits.updates),
            ("profile", limits.profile),
            ("sessions", limits.sessions),
            ("push", limits.push),
        ];
        for (name, budget) in budgets {
            check(budget.per_minute > 0 && budget.burst > 0, &format!("account_http_limits.{name}: per_minute and burst must be at least 1"));
        }
        check(
            self.nats_url.is_none() || !self.database_urls.is_empty(),
            "nats_url needs database_urls: the nodes of a cluster share PostgreSQL (with SQLite each node would keep its own history)",
        );
        let prefix_ok = !self.nats_subject_prefix.is_empty()
            && self.nats_subject_prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        check(prefix_ok, "nats_subject_prefix must be one NATS token: letters, digits, '-' or '_'");
        check(
            self.cluster_node_lease >= Duration::from_secs(1),
            "cluster_node_lease must be at least 1s (the node renews it every third of it)",
        );
        let apns = [
            self.apns_key_file.is_some(),
            self.apns_key_id.is_some(),
            self.apns_team_id.is_some(),
            self.apns_topic.is_some(),
        ];
        check(
            apns.iter().all(|set| *set) || apns.iter().all(|set| !*set),
            "apns_key_file, apns_key_id, apns_team_id and apns_topic go together: set all four (APNs) or none",
        );
        match problems.is_empty() {
            true => Ok(()),
            false => Err(InvalidConfig { problems }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(ServerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn every_impossible_combination_is_named_at_once() {
        let config = ServerConfig {
            idle_timeout: Duration::from_millis(60),
            write_timeout: Duration::ZERO,
            frames_burst: 0,
            nats_url: Some("nats://127.0.0.1:4222".into()),
            nats_subject_prefix: "a.b".into(),
            apns_key_id: Some("KEY1234567".into()),
            ..ServerConfig::default()
        };
        let problems = config.validate().unwrap_err().problems;
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(problems[0].contains("write_timeout must be more than 0s"), "{problems:?}");
        assert!(problems[1].contains("idle_timeout (60ms) must be longer than heartbeat_interval (10s)"), "{problems:?}");
        assert!(problems[2].contains("frames_burst must be at least 1"), "{problems:?}");
        assert!(problems[3].contains("nats_url needs database_urls"), "{problems:?}");
        assert!(problems[4].contains("nats_subject_prefix"), "{problems:?}");
        assert!(problems[5].contains("apns_key_file, apns_key_id, apns_team_id and apns_topic go together"), "{problems:?}");
    }
}
