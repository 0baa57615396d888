//! Prometheus metrics served at `/metrics`, in the text exposition format:
//! request counts and latency by verb and code, and per plugin its calls,
//! errors, timeouts and latency.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS.len()], sum: 0.0, total: 0 }
    }
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.total += 1;
    }

    /// `name_bucket`, `name_sum` and `name_count` lines; `labels` is `k="v",...`.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            out.push_str(&format!("{name}_bucket{{{labels},le=\"{bound}\"}} {}\n", self.counts[i]));
        }
        out.push_str(&format!("{name}_bucket{{{labels},le=\"+Inf\"}} {}\n", self.total));
        out.push_str(&format!("{name}_sum{{{labels}}} {}\n", self.sum));
        out.push_str(&format!("{name}_count{{{labels}}} {}\n", self.total));
    }
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    plugins: Mutex<BTreeMap<String, PluginStats>>,
    /// Scheduling attempts by (profile, result).
    schedule_attempts: Mutex<BTreeMap<(String, &'static str), u64>>,
    pending_pods: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct PluginStats {
    world: String,
    /// By result: ok, or an error reason (Timeout, Trap, OutOfMemory, PluginError).
    calls: BTreeMap<&'static str, u64>,
    latency: Histogram,
}

/// Label values come from object names and reasons; keep them valid Prometheus strings.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    pub fn observe_request(&self, verb: &str, code: u16, elapsed: Duration) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((verb.to_string(), code)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            l.entry(verb.to_string()).or_default().observe(elapsed);
        }
    }

    /// One call of a plugin; `result` is `ok` or the failure's reason.
    pub fn observe_plugin_call(&self, plugin: &str, world: &str, result: &'static str, elapsed: Duration) {
        if let Ok(mut p) = self.plugins.lock() {
            let stats = p.entry(plugin.to_string()).or_default();
            stats.world = world.to_string();
            *stats.calls.entry(result).or_default() += 1;
            stats.latency.observe(elapsed);
        }
    }

    /// Pods the scheduler decided for a profile: `scheduled`, `unschedulable` or `error`.
    pub fn observe_schedule(&self, profile: &str, result: &'static str, pods: usize) {
        if let Ok(mut a) = self.schedule_attempts.lock() {
            *a.entry((profile.to_string(), result)).or_default() += pods as u64;
        }
    }

    pub fn set_scheduler_pending(&self, pods: usize) {
        self.pending_pods.store(pods, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets a deleted plugin's series.
    pub fn forget_plugin(&self, plugin: &str) {
        if let Ok(mut p) = self.plugins.lock() {
            p.remove(plugin);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Requests served, by HTTP method and response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((verb, code), n) in r.iter() {
                out.push_str(&format!("apiserver_request_total{{verb=\"{verb}\",code=\"{code}\"}} {n}\n"));
            }
        }
        out.push_str("# HELP apiserver_request_duration_seconds Request latency, by HTTP method.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        if let Ok(l) = self.latency.lock() {
            for (verb, h) in l.iter() {
                h.render(&mut out, "apiserver_request_duration_seconds", &format!("verb=\"{verb}\""));
            }
        }
        if let Ok(p) = self.plugins.lock() {
            self.render_plugins(&mut out, &p);
        }
        out.push_str("# HELP scheduler_schedule_attempts_total Pods the scheduler decided, by profile and result.\n");
        out.push_str("# TYPE scheduler_schedule_attempts_total counter\n");
        if let Ok(a) = self.schedule_attempts.lock() {
            for ((profile, result), n) in a.iter() {
                out.push_str(&format!(
                    "scheduler_schedule_attempts_total{{profile=\"{}\",result=\"{result}\"}} {n}\n",
                    label(profile)
                ));
            }
        }
        out.push_str("# HELP scheduler_pending_pods Pods waiting in the scheduling queue.\n");
        out.push_str("# TYPE scheduler_pending_pods gauge\n");
        let pending = self.pending_pods.load(std::sync::atomic::Ordering::Relaxed);
        out.push_str(&format!("scheduler_pending_pods {pending}\n"));
        out
    }

    fn render_plugins(&self, out: &mut String, plugins: &BTreeMap<String, PluginStats>) {
        out.push_str("# HELP skiff_plugin_calls_total Plugin calls, by plugin and result (ok or the failure).\n");
        out.push_str("# TYPE skiff_plugin_calls_total counter\n");
        for (name, stats) in plugins {
            for (result, n) in &stats.calls {
                out.push_str(&format!(
                    "skiff_plugin_calls_total{{plugin=\"{}\",world=\"{}\",result=\"{result}\"}} {n}\n",
                    label(name),
                    label(&stats.world)
                ));
            }
        }
        out.push_str(
            "# HELP skiff_plugin_errors_total Plugin calls that failed (trap, timeout, out of memory, error).\n",
        );
        out.push_str("# TYPE skiff_plugin_errors_total counter\n");
        for (name, stats) in plugins {
            let errors: u64 = stats.calls.iter().filter(|(r, _)| **r != "ok").map(|(_, n)| n).sum();
            out.push_str(&format!("skiff_plugin_errors_total{{plugin=\"{}\"}} {errors}\n", label(name)));
        }
        out.push_str("# HELP skiff_plugin_timeouts_total Plugin calls stopped at their deadline.\n");
        out.push_str("# TYPE skiff_plugin_timeouts_total counter\n");
        for (name, stats) in plugins {
            let timeouts = stats.calls.get("Timeout").copied().unwrap_or(0);
            out.push_str(&format!("skiff_plugin_timeouts_total{{plugin=\"{}\"}} {timeouts}\n", label(name)));
        }
        out.push_str("# HELP skiff_plugin_call_duration_seconds Plugin call latency, instantiation included.\n");
        out.push_str("# TYPE skiff_plugin_call_duration_seconds histogram\n");
        for (name, stats) in plugins {
            stats.latency.render(out, "skiff_plugin_call_duration_seconds", &format!("plugin=\"{}\"", label(name)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("GET", 200, Duration::from_millis(2));
        m.observe_request("GET", 404, Duration::from_millis(200));
        let text = m.render();
        assert!(text.contains("apiserver_request_total{verb=\"GET\",code=\"200\"} 1"));
        assert!(text.contains("apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"0.005\"} 1"));
        assert!(text.contains("apiserver_request_duration_seconds_bucket{verb=\"GET\",le=\"0.25\"} 2"));
        assert!(text.contains("apiserver_request_duration_seconds_count{verb=\"GET\"} 2"));
    }

    #[test]
    fn renders_plugin_calls_errors_and_timeouts() {
        let m = Metrics::default();
        m.observe_plugin_call("deny-all", "admission", "ok", Duration::from_millis(1));
        m.observe_plugin_call("deny-all", "admission", "Timeout", Duration::from_secs(1));
        m.observe_plugin_call("deny-all", "admission", "Trap", Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("skiff_plugin_calls_total{plugin=\"deny-all\",world=\"admission\",result=\"ok\"} 1"));
        assert!(text.contains("skiff_plugin_errors_total{plugin=\"deny-all\"} 2"));
        assert!(text.contains("skiff_plugin_timeouts_total{plugin=\"deny-all\"} 1"));
        assert!(text.contains("skiff_plugin_call_duration_seconds_count{plugin=\"deny-all\"} 3"));
        m.forget_plugin("deny-all");
        assert!(!m.render().contains("deny-all"));
    }
}
