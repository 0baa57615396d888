//! The agent's own counters, served at its /metrics (as the kubelet serves its).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Default)]
pub struct Stats {
    starts_ok: AtomicU64,
    starts_failed: AtomicU64,
    pulls_ok: AtomicU64,
    pulls_failed: AtomicU64,
    /// Pod start (first seen → all containers running), in µs, summed, and counted.
    pod_start_micros: AtomicU64,
    pod_starts: AtomicU64,
}

impl Stats {
    pub fn container_started(&self, ok: bool) {
        let c = if ok { &self.starts_ok } else { &self.starts_failed };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn image_pulled(&self, ok: bool) {
        let c = if ok { &self.pulls_ok } else { &self.pulls_failed };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn pod_started(&self, took: Duration) {
        self.pod_start_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.pod_starts.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text, with the gauges the caller counts.
    pub fn render(&self, pods: usize, running_containers: usize) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "# HELP skiff_agent_pods Pods this agent runs.\n# TYPE skiff_agent_pods gauge\nskiff_agent_pods {pods}\n\
             # HELP skiff_agent_running_containers Containers running on this node.\n# TYPE skiff_agent_running_containers gauge\nskiff_agent_running_containers {running_containers}\n\
             # HELP skiff_agent_container_starts_total Container starts by result.\n# TYPE skiff_agent_container_starts_total counter\n\
             skiff_agent_container_starts_total{{result=\"ok\"}} {}\nskiff_agent_container_starts_total{{result=\"error\"}} {}\n\
             # HELP skiff_agent_image_pulls_total Image pulls by result.\n# TYPE skiff_agent_image_pulls_total counter\n\
             skiff_agent_image_pulls_total{{result=\"ok\"}} {}\nskiff_agent_image_pulls_total{{result=\"error\"}} {}\n\
             # HELP skiff_agent_pod_start_duration_seconds From the agent seeing a pod to all its containers running.\n# TYPE skiff_agent_pod_start_duration_seconds summary\n\
             skiff_agent_pod_start_duration_seconds_sum {}\nskiff_agent_pod_start_duration_seconds_count {}\n",
            get(&self.starts_ok),
            get(&self.starts_failed),
            get(&self.pulls_ok),
            get(&self.pulls_failed),
            get(&self.pod_start_micros) as f64 / 1e6,
            get(&self.pod_starts),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts() {
        let s = Stats::default();
        s.container_started(true);
        s.container_started(false);
        s.image_pulled(true);
        s.pod_started(Duration::from_millis(1500));
        let text = s.render(2, 3);
        assert!(text.contains("skiff_agent_pods 2\n"));
        assert!(text.contains("skiff_agent_running_containers 3\n"));
        assert!(text.contains("skiff_agent_container_starts_total{result=\"error\"} 1\n"));
        assert!(text.contains("skiff_agent_image_pulls_total{result=\"ok\"} 1\n"));
        assert!(text.contains("skiff_agent_pod_start_duration_seconds_sum 1.5\n"));
    }
}
