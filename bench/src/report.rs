//! Turning measurements into the printed table or the `--json` document.

use serde::Serialize;

use crate::custom;
use crate::load::{per_sec, Histogram, PhaseResult};
use crate::watch::WatcherStats;

/// The ConfigMap create phase's row name.
pub const CREATE: &str = "create";
/// The custom-object create phase's row name.
pub const CUSTOM_CREATE: &str = "create (custom, schema)";
/// The delivery of the custom objects' ADDED events.
pub const CUSTOM_ADDED: &str = "ADDED (custom)";
/// What the custom create rate should reach, as a share of the ConfigMap one.
pub const CUSTOM_GOAL: f64 = 0.8;

#[derive(Serialize, Debug)]
pub struct Config {
    pub clients: usize,
    pub seconds: f64,
    pub watches: usize,
    pub objects: u64,
    pub value_size: usize,
    /// What ALPN chose for skiff's connections.
    pub protocol: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct Row {
    pub phase: String,
    pub ops: u64,
    pub ops_per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
}

impl From<&PhaseResult> for Row {
    fn from(r: &PhaseResult) -> Row {
        Row {
            phase: r.name.clone(),
            ops: r.ok,
            ops_per_sec: r.ops_per_sec(),
            p50_ms: r.latency.quantile_ms(0.5),
            p99_ms: r.latency.quantile_ms(0.99),
            errors: r.errors,
            first_error: r.first_error.clone(),
            seconds: r.elapsed.as_secs_f64(),
        }
    }
}

/// Fan-out of one kind of change (ADDED after creates, MODIFIED after updates).
#[derive(Serialize, Debug)]
pub struct Delivery {
    /// `ADDED`, `MODIFIED`, or `ADDED (custom)` for the custom objects' watches.
    pub event: &'static str,
    /// Successful writes, each of which every watcher should see once.
    pub writes: u64,
    pub delivered: u64,
    pub expected: u64,
    /// Delivered events over the time from the phase's start to the last event.
    pub events_per_sec: f64,
    /// From the write being sent to the event arriving at a watcher.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Watchers that saw every one of the writes.
    pub complete_watchers: usize,
}

impl Delivery {
    /// `modified` picks the MODIFIED counts of `watchers`, else the ADDED ones.
    pub fn new(event: &'static str, modified: bool, writes: u64, watchers: &[WatcherStats], span_us: u64) -> Delivery {
        let mut latency = Histogram::new();
        let mut delivered = 0;
        let mut complete = 0;
        for w in watchers {
            let (n, h) = if modified { (w.modified, &w.modified_latency) } else { (w.added, &w.added_latency) };
            delivered += n;
            latency.merge(h);
            if n >= writes {
                complete += 1;
            }
        }
        Delivery {
            event,
            writes,
            delivered,
            expected: writes * watchers.len() as u64,
            events_per_sec: per_sec(delivered, std::time::Duration::from_micros(span_us)),
            p50_ms: latency.quantile_ms(0.5),
            p99_ms: latency.quantile_ms(0.99),
            complete_watchers: complete,
        }
    }
}

#[derive(Serialize, Debug)]
pub struct WatchReport {
    /// Watches per watched collection (ConfigMaps, then custom objects).
    pub watchers: usize,
    pub deliveries: Vec<Delivery>,
    pub reopens: u64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl WatchReport {
    pub fn new(watchers: &[WatcherStats], deliveries: Vec<Delivery>) -> WatchReport {
        WatchReport {
            watchers: watchers.len(),
            deliveries,
            reopens: watchers.iter().map(|w| u64::from(w.reopens)).sum(),
            errors: watchers.iter().map(|w| w.errors).sum(),
            first_error: watchers.iter().find_map(|w| w.first_error.clone()),
        }
    }

    /// Adds a second set of watchers (on another collection) and its delivery.
    pub fn add(&mut self, watchers: &[WatcherStats], delivery: Delivery) {
        self.deliveries.push(delivery);
        self.reopens += watchers.iter().map(|w| u64::from(w.reopens)).sum::<u64>();
        self.errors += watchers.iter().map(|w| w.errors).sum::<u64>();
        if self.first_error.is_none() {
            self.first_error = watchers.iter().find_map(|w| w.first_error.clone());
        }
    }
}

#[derive(Serialize, Debug)]
pub struct Report {
    pub config: Config,
    pub skiff: Vec<Row>,
    pub watch: Option<WatchReport>,
    pub etcd_put: Option<Row>,
    /// skiff create ops/s ÷ etcd put ops/s.
    pub create_to_etcd_put_ratio: Option<f64>,
    /// The CRD set-up before the custom create phase; None when skipped.
    pub custom: Option<custom::Setup>,
    /// Custom-object create ops/s ÷ ConfigMap create ops/s (goal: ≥ 0.8).
    pub custom_create_to_configmap_create_ratio: Option<f64>,
}

impl Report {
    pub fn finish(
        config: Config,
        skiff: Vec<Row>,
        watch: Option<WatchReport>,
        etcd_put: Option<Row>,
        custom: Option<custom::Setup>,
    ) -> Report {
        let rate = |phase: &str| skiff.iter().find(|r| r.phase == phase).map(|r| r.ops_per_sec);
        let create = rate(CREATE);
        let ratio = match (create, &etcd_put) {
            (Some(c), Some(e)) if e.ops_per_sec > 0.0 => Some(c / e.ops_per_sec),
            _ => None,
        };
        let custom_ratio = match (rate(CUSTOM_CREATE), create) {
            (Some(c), Some(cm)) if cm > 0.0 => Some(c / cm),
            _ => None,
        };
        Report {
            config,
            skiff,
            watch,
            etcd_put,
            create_to_etcd_put_ratio: ratio,
            custom,
            custom_create_to_configmap_create_ratio: custom_ratio,
        }
    }

    /// True when every operation succeeded, every watcher saw every change
    /// and (unless skipped) the CRD was set up and every invalid object rejected.
    pub fn clean(&self) -> bool {
        let rows_ok = self.skiff.iter().chain(&self.etcd_put).all(|r| r.errors == 0);
        let watch_ok =
            self.watch.as_ref().is_none_or(|w| w.errors == 0 && w.deliveries.iter().all(|d| d.delivered == d.expected));
        let custom_ok = self.custom.as_ref().is_none_or(custom::Setup::clean);
        rows_ok && watch_ok && custom_ok
    }

    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "skiff-bench: {} clients, {}s per phase (at most {} objects), {} watches, {}-byte values, {}\n\n",
            c.clients,
            c.seconds,
            c.objects,
            c.watches,
            c.value_size,
            c.protocol.as_deref().unwrap_or("skiff not run"),
        );
        out.push_str(&format!(
            "{:<24} {:>9} {:>11} {:>9} {:>9} {:>7}\n",
            "phase", "ops", "ops/s", "p50 ms", "p99 ms", "errors"
        ));
        for r in self.skiff.iter().chain(&self.etcd_put) {
            out.push_str(&format!(
                "{:<24} {:>9} {:>11.1} {:>9} {:>9} {:>7}\n",
                r.phase,
                r.ops,
                r.ops_per_sec,
                ms(r.p50_ms),
                ms(r.p99_ms),
                r.errors
            ));
        }
        if let Some(w) = &self.watch {
            let per = if w.deliveries.iter().any(|d| d.event == CUSTOM_ADDED) { " per collection" } else { "" };
            out.push_str(&format!("\n{} watches{per} ({} reopened, {} errors):\n", w.watchers, w.reopens, w.errors));
            out.push_str(&format!(
                "{:<24} {:>9} {:>11} {:>9} {:>9} {:>7}\n",
                "event", "delivered", "events/s", "p50 ms", "p99 ms", "missing"
            ));
            for d in &w.deliveries {
                out.push_str(&format!(
                    "{:<24} {:>9} {:>11.1} {:>9} {:>9} {:>7}\n",
                    d.event,
                    d.delivered,
                    d.events_per_sec,
                    ms(d.p50_ms),
                    ms(d.p99_ms),
                    d.expected.saturating_sub(d.delivered)
                ));
            }
            for d in &w.deliveries {
                out.push_str(&format!(
                    "  {}/{} watchers saw all {} {} events\n",
                    d.complete_watchers, w.watchers, d.writes, d.event
                ));
            }
            out.push_str("  (latency: from the write being sent to the event reaching a watcher)\n");
        }
        if let Some(c) = &self.custom {
            out.push_str(&format!("\ncustom objects (CRD {}):\n", c.crd));
            if let Some(ms) = c.established_ms {
                out.push_str(&format!("  Established and served {ms:.0} ms after its create\n"));
            }
            if c.invalid_probes > 0 {
                out.push_str(&format!(
                    "  {}/{} invalid objects rejected with 422 naming the field\n",
                    c.invalid_rejected, c.invalid_probes
                ));
            }
            if let Some(u) = &c.first_unexpected {
                out.push_str(&format!("  not rejected as expected: {u}\n"));
            }
            if let Some(e) = &c.error {
                out.push_str(&format!("  the custom phase did not run: {e}\n"));
            }
        }
        let errors: Vec<String> = self
            .skiff
            .iter()
            .chain(&self.etcd_put)
            .filter_map(|r| r.first_error.as_ref().map(|e| format!("  {}: {e}", r.phase)))
            .chain(self.watch.iter().filter_map(|w| w.first_error.as_ref().map(|e| format!("  watch: {e}"))))
            .collect();
        if !errors.is_empty() {
            out.push_str("\nfirst error per phase:\n");
            out.push_str(&errors.join("\n"));
            out.push('\n');
        }
        match self.create_to_etcd_put_ratio {
            Some(r) => out.push_str(&format!("\nskiff create ops/s ÷ etcd put ops/s = {r:.3}\n")),
            None => {
                out.push_str("\nskiff create ops/s ÷ etcd put ops/s: n/a (a side was skipped or made no progress)\n")
            }
        }
        match self.custom_create_to_configmap_create_ratio {
            Some(r) => out.push_str(&format!(
                "custom create ops/s ÷ configmap create ops/s = {r:.3} (goal ≥ {CUSTOM_GOAL:.2}: {})\n",
                if r >= CUSTOM_GOAL { "met" } else { "not met" }
            )),
            None => out
                .push_str("custom create ops/s ÷ configmap create ops/s: n/a (skipped, not run or made no progress)\n"),
        }
        out
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn phase(name: &str, ok: u64, secs: u64) -> PhaseResult {
        let mut latency = Histogram::new();
        latency.record(Duration::from_millis(2));
        PhaseResult { name: name.into(), ok, errors: 0, first_error: None, elapsed: Duration::from_secs(secs), latency }
    }

    #[test]
    fn ratio_and_table() {
        let cfg = Config {
            clients: 2,
            seconds: 1.0,
            watches: 1,
            objects: 10,
            value_size: 8,
            protocol: Some("HTTP/2".into()),
        };
        let w = vec![WatcherStats { added: 10, ..Default::default() }];
        let watch = WatchReport::new(&w, vec![Delivery::new("ADDED", false, 10, &w, 1_000_000)]);
        let r = Report::finish(
            cfg,
            vec![Row::from(&phase("create", 100, 1))],
            Some(watch),
            Some(Row::from(&phase("etcd put", 400, 1))),
            None,
        );
        assert_eq!(r.create_to_etcd_put_ratio, Some(0.25));
        assert_eq!(r.custom_create_to_configmap_create_ratio, None);
        assert!(r.clean());
        let t = r.table();
        assert!(t.contains("create") && t.contains("etcd put") && t.contains("0.250"), "{t}");
        assert!(t.contains("1/1 watchers saw all 10 ADDED events"), "{t}");
        let json = serde_json::to_value(&r).expect("serializes");
        assert_eq!(json["skiff"][0]["ops"], 100);
    }

    #[test]
    fn custom_row_ratio_and_watches() {
        let cfg = Config {
            clients: 2,
            seconds: 1.0,
            watches: 1,
            objects: 10,
            value_size: 8,
            protocol: Some("HTTP/2".into()),
        };
        let w = vec![WatcherStats { added: 100, ..Default::default() }];
        let mut watch = WatchReport::new(&w, vec![Delivery::new("ADDED", false, 100, &w, 1_000_000)]);
        let c = vec![WatcherStats { added: 85, reopens: 1, ..Default::default() }];
        watch.add(&c, Delivery::new(CUSTOM_ADDED, false, 85, &c, 1_000_000));
        let setup = custom::Setup {
            crd: "gadgets.bench.skiff.dev".into(),
            established_ms: Some(12.0),
            invalid_probes: 6,
            invalid_rejected: 6,
            ..Default::default()
        };
        let rows = vec![Row::from(&phase(CREATE, 100, 1)), Row::from(&phase(CUSTOM_CREATE, 85, 1))];
        let r = Report::finish(cfg, rows, Some(watch), None, Some(setup));
        assert_eq!(r.custom_create_to_configmap_create_ratio, Some(0.85));
        assert!(r.clean());
        let t = r.table();
        assert!(t.contains("create (custom, schema)") && t.contains("= 0.850 (goal ≥ 0.80: met)"), "{t}");
        assert!(t.contains("1/1 watchers saw all 85 ADDED (custom) events"), "{t}");
        assert!(t.contains("6/6 invalid objects rejected with 422 naming the field"), "{t}");
        assert_eq!(r.watch.as_ref().map(|w| w.reopens), Some(1));
        let json = serde_json::to_value(&r).expect("serializes");
        assert_eq!(json["skiff"][1]["phase"], CUSTOM_CREATE);
        assert_eq!(json["custom"]["invalid_rejected"], 6);

        let mut unclean = r;
        if let Some(c) = unclean.custom.as_mut() {
            c.invalid_rejected = 5;
        }
        assert!(!unclean.clean(), "an accepted invalid object makes the run unclean");
    }
}
