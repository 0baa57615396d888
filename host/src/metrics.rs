//! Prometheus metrics served at `/metrics`: request counts and latency by
//! verb and code, in the text exposition format.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    total: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    pub fn observe_request(&self, verb: &str, code: u16, elapsed: Duration) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((verb.to_string(), code)).or_default() += 1;
        }
        if let Ok(mut l) = self.latency.lock() {
            let h = l
                .entry(verb.to_string())
                .or_insert_with(|| Histogram { counts: vec![0; BUCKETS.len()], ..Default::default() });
            let secs = elapsed.as_secs_f64();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.total += 1;
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
                for (i, bound) in BUCKETS.iter().enumerate() {
                    out.push_str(&format!(
                        "apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",le=\"{bound}\"}} {}\n",
                        h.counts[i]
                    ));
                }
                out.push_str(&format!(
                    "apiserver_request_duration_seconds_bucket{{verb=\"{verb}\",le=\"+Inf\"}} {}\n",
                    h.total
                ));
                out.push_str(&format!("apiserver_request_duration_seconds_sum{{verb=\"{verb}\"}} {}\n", h.sum));
                out.push_str(&format!("apiserver_request_duration_seconds_count{{verb=\"{verb}\"}} {}\n", h.total));
            }
        }
        out
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
}
