//! The player's link, throttled: a rate or a schedule of rates applied to every edge (and the
//! shield) through their rate-limit endpoint, so that on loopback dash.js has a reason to
//! leave the top rung. A new request replaces a running schedule.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::supervisor::Supervisor;

/// Body of `POST /api/throttle`: `{"bits_per_sec": N}` (0 = off) or
/// `{"schedule": [{"bits_per_sec": N, "secs": S}, ..., {"bits_per_sec": N}]}`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ThrottleRequest {
    /// One rate from now on.
    Rate {
        /// Bits per second per response; 0 = unlimited.
        bits_per_sec: u64,
    },
    /// Rates in turn; the last step without `secs` holds.
    Schedule {
        /// The steps.
        schedule: Vec<Step>,
    },
}

/// One step of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Bits per second per response; 0 = unlimited.
    pub bits_per_sec: u64,
    /// How long it lasts; absent = until the next request.
    pub secs: Option<f64>,
}

impl ThrottleRequest {
    /// The steps to apply, checked: a schedule is not empty and only its last step may
    /// hold forever; durations are finite and positive.
    pub fn steps(&self) -> Result<Vec<Step>, String> {
        match self {
            ThrottleRequest::Rate { bits_per_sec } => Ok(vec![Step {
                bits_per_sec: *bits_per_sec,
                secs: None,
            }]),
            ThrottleRequest::Schedule { schedule } => {
                if schedule.is_empty() {
                    return Err("empty schedule".into());
                }
                for (i, s) in schedule.iter().enumerate() {
                    match s.secs {
                        Some(d) if !(d.is_finite() && d > 0.0 && d < 86_400.0) => {
                            return Err(format!("schedule[{i}].secs = {d}: want 0 < secs < 86400"))
                        }
                        None if i + 1 < schedule.len() => {
                            return Err(format!(
                                "schedule[{i}] has no secs but is not the last step"
                            ))
                        }
                        _ => {}
                    }
                }
                Ok(schedule.clone())
            }
        }
    }
}

/// `6 Mbit/s`, `400 kbit/s`, `off`.
pub fn human_rate(bits_per_sec: u64) -> String {
    match bits_per_sec {
        0 => "off".into(),
        b if b >= 1_000_000 => format!("{} Mbit/s", b as f64 / 1e6),
        b if b >= 1_000 => format!("{} kbit/s", b as f64 / 1e3),
        b => format!("{b} bit/s"),
    }
}

/// Runs throttle requests one at a time: a new one aborts the schedule in progress.
#[derive(Clone)]
pub struct Throttle {
    sup: Supervisor,
    running: Arc<Mutex<Option<tokio::task::AbortHandle>>>,
}

impl Throttle {
    /// A throttle over the supervisor's edges.
    pub fn new(sup: Supervisor) -> Throttle {
        Throttle {
            sup,
            running: Arc::default(),
        }
    }

    /// Starts applying `steps` (checked with [`ThrottleRequest::steps`]) in the background.
    pub fn apply(&self, steps: Vec<Step>) {
        let sup = self.sup.clone();
        let task = tokio::spawn(async move {
            let n = steps.len();
            for (i, step) in steps.into_iter().enumerate() {
                let failed = sup.apply_rate(step.bits_per_sec).await;
                let mut msg = format!("throttle: {}", human_rate(step.bits_per_sec));
                if let Some(s) = step.secs {
                    msg.push_str(&format!(" for {s} s"));
                }
                if n > 1 {
                    msg.push_str(&format!(" (step {} of {n})", i + 1));
                }
                if !failed.is_empty() {
                    msg.push_str(&format!("; not applied on {}", failed.join(", ")));
                }
                sup.event("throttle", None, msg);
                match step.secs {
                    Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
                    None => break,
                }
            }
        });
        if let Some(old) = self.running.lock().unwrap().replace(task.abort_handle()) {
            old.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_rate_and_a_schedule() {
        let r: ThrottleRequest = serde_json::from_str(r#"{"bits_per_sec": 0}"#).unwrap();
        assert_eq!(
            r.steps().unwrap(),
            [Step {
                bits_per_sec: 0,
                secs: None
            }]
        );
        let r: ThrottleRequest = serde_json::from_str(
            r#"{"schedule":[{"bits_per_sec":6000000,"secs":8},{"bits_per_sec":400000,"secs":15},{"bits_per_sec":6000000}]}"#,
        )
        .unwrap();
        let steps = r.steps().unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(
            steps[1],
            Step {
                bits_per_sec: 400_000,
                secs: Some(15.0)
            }
        );
    }

    #[test]
    fn refuses_schedules_that_cannot_be_followed() {
        let steps = |j: &str| {
            serde_json::from_str::<ThrottleRequest>(j)
                .map_err(|e| e.to_string())
                .and_then(|r| r.steps())
        };
        assert!(steps(r#"{"schedule":[]}"#).is_err());
        assert!(
            steps(r#"{"schedule":[{"bits_per_sec":1},{"bits_per_sec":2}]}"#)
                .unwrap_err()
                .contains("schedule[0]")
        );
        assert!(steps(r#"{"schedule":[{"bits_per_sec":1,"secs":-1}]}"#).is_err());
        assert!(steps(r#"{"rate":5}"#).is_err());
    }

    #[test]
    fn rates_read_as_people_say_them() {
        assert_eq!(human_rate(6_000_000), "6 Mbit/s");
        assert_eq!(human_rate(400_000), "400 kbit/s");
        assert_eq!(human_rate(0), "off");
    }
}
