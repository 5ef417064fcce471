//! Prometheus metrics in the text exposition format (0.0.4): counters and histograms kept with
//! atomics (a read lock on the hot path, a write lock only for a new label set).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Request latency buckets in seconds: 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Rows per request.
pub const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// A histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum as f64 bits, updated by compare-and-swap.
    sum_bits: AtomicU64,
}

impl Histogram {
    /// Observations so far.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut current = self.sum_bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + value).to_bits();
            match self.sum_bits.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
    }
}

type Labels = Vec<(&'static str, String)>;

/// A metric family: one series per label set.
#[derive(Debug)]
struct Family<T> {
    series: RwLock<BTreeMap<Vec<String>, Arc<T>>>,
}

impl<T> Default for Family<T> {
    fn default() -> Self {
        Self {
            series: RwLock::new(BTreeMap::new()),
        }
    }
}

impl<T> Family<T> {
    fn get_or_insert(&self, key: Vec<String>, make: impl FnOnce() -> T) -> Arc<T> {
        if let Some(found) = self.series.read().ok().and_then(|s| s.get(&key).cloned()) {
            return found;
        }
        let mut series = match self.series.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        series
            .entry(key)
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    /// A new series under `key`, in place of any earlier one.
    fn replace(&self, key: Vec<String>, value: T) -> Arc<T> {
        let value = Arc::new(value);
        let mut series = match self.series.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        series.insert(key, value.clone());
        value
    }

    fn snapshot(&self) -> Vec<(Vec<String>, Arc<T>)> {
        self.series
            .read()
            .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

/// Counters of one loaded version, held by the version itself so the hot path takes no lock
/// and allocates nothing; they survive hot swaps while the version stays in the deployment
/// (a canary promoted to stable keeps its counts), and start over when it comes back.
#[derive(Debug)]
pub struct VersionMetrics {
    pub latency: Histogram,
    pub batch: Histogram,
    /// Rows per model call (requests ready together share one).
    pub calls: Histogram,
    /// Nanoseconds spent adding inputs to the drift window.
    drift_nanos: AtomicU64,
    /// Nanoseconds spent keeping answers by request id for their labels.
    feedback_nanos: AtomicU64,
    /// Responses by HTTP status code (100-599).
    codes: Vec<AtomicU64>,
    /// The version counted (empty for requests that reached none), for the request log.
    pub version: String,
}

impl VersionMetrics {
    fn new(version: &str) -> Self {
        Self {
            version: version.to_string(),
            latency: Histogram::new(LATENCY_BUCKETS),
            batch: Histogram::new(BATCH_BUCKETS),
            calls: Histogram::new(BATCH_BUCKETS),
            drift_nanos: AtomicU64::new(0),
            feedback_nanos: AtomicU64::new(0),
            codes: (0..500).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts a finished request and its latency.
    pub fn finished(&self, code: u16, seconds: f64) {
        if let Some(counter) = self.codes.get(usize::from(code).wrapping_sub(100)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.observe(seconds);
    }

    /// Counts time spent recording inputs for drift scoring.
    pub fn drift_recorded(&self, took: std::time::Duration) {
        self.drift_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Counts time spent keeping an answer for its label.
    pub fn feedback_recorded(&self, took: std::time::Duration) {
        self.feedback_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Everything the server counts.
#[derive(Debug, Default)]
pub struct Metrics {
    versions: Family<VersionMetrics>,
    in_flight: Family<AtomicI64>,
    rejected: AtomicU64,
}

/// A gauge value computed at scrape time (drift, model info, traffic share).
pub struct GaugeSample {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Labels,
    pub value: f64,
}

impl Metrics {
    /// The counters of a (model, version); version "" for requests that never reached one.
    pub fn version(&self, model: &str, version: &str) -> Arc<VersionMetrics> {
        self.versions
            .get_or_insert(vec![model.to_string(), version.to_string()], || {
                VersionMetrics::new(version)
            })
    }

    /// New counters for a version coming (back) into a deployment: a canary aborted and
    /// deployed again starts from zero, so its counts (and the promote gates judging them) are
    /// its own since it was loaded, never an earlier stint's.
    pub fn fresh_version(&self, model: &str, version: &str) -> Arc<VersionMetrics> {
        self.versions.replace(
            vec![model.to_string(), version.to_string()],
            VersionMetrics::new(version),
        )
    }

    /// The in-flight gauge of a model.
    pub fn in_flight_gauge(&self, model: &str) -> Arc<AtomicI64> {
        self.in_flight
            .get_or_insert(vec![model.to_string()], || AtomicI64::new(0))
    }

    pub fn rejected_busy(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the scrape-time gauges appended.
    pub fn encode(&self, gauges: &[GaugeSample]) -> String {
        let mut out = String::with_capacity(8192);
        let versions = self.versions.snapshot();
        header(
            &mut out,
            "flightdeck_requests_total",
            "Inference requests by model, version and HTTP status code.",
            "counter",
        );
        for (key, v) in &versions {
            for (i, counter) in v.codes.iter().enumerate() {
                let n = counter.load(Ordering::Relaxed);
                if n > 0 {
                    let code = (i + 100).to_string();
                    sample(
                        &mut out,
                        "flightdeck_requests_total",
                        &[("model", &key[0]), ("version", &key[1]), ("code", &code)],
                        n as f64,
                    );
                }
            }
        }
        header(
            &mut out,
            "flightdeck_drift_record_seconds_total",
            "Time spent adding request inputs to the drift window (what drift scoring costs requests; scoring itself runs when drift is read).",
            "counter",
        );
        for (key, v) in &versions {
            if !key[1].is_empty() {
                sample(
                    &mut out,
                    "flightdeck_drift_record_seconds_total",
                    &[("model", &key[0]), ("version", &key[1])],
                    v.drift_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                );
            }
        }
        header(
            &mut out,
            "flightdeck_feedback_record_seconds_total",
            "Time spent keeping answers by request id for the labels that may come (what the label join costs requests).",
            "counter",
        );
        for (key, v) in &versions {
            if !key[1].is_empty() {
                sample(
                    &mut out,
                    "flightdeck_feedback_record_seconds_total",
                    &[("model", &key[0]), ("version", &key[1])],
                    v.feedback_nanos.load(Ordering::Relaxed) as f64 / 1e9,
                );
            }
        }
        header(
            &mut out,
            "flightdeck_requests_rejected_total",
            "Requests refused with 503 because the inference queue was full.",
            "counter",
        );
        sample(
            &mut out,
            "flightdeck_requests_rejected_total",
            &[],
            self.rejected.load(Ordering::Relaxed) as f64,
        );
        histogram(
            &mut out,
            "flightdeck_request_duration_seconds",
            "Time from request received to response ready.",
            &versions,
            |v| &v.latency,
        );
        histogram(
            &mut out,
            "flightdeck_batch_size",
            "Rows per inference request.",
            &versions,
            |v| &v.batch,
        );
        histogram(
            &mut out,
            "flightdeck_model_call_rows",
            "Rows per model call; small requests ready at the same time share one call.",
            &versions,
            |v| &v.calls,
        );
        header(
            &mut out,
            "flightdeck_requests_in_flight",
            "Requests being processed now.",
            "gauge",
        );
        for (key, value) in self.in_flight.snapshot() {
            sample(
                &mut out,
                "flightdeck_requests_in_flight",
                &[("model", &key[0])],
                value.load(Ordering::Relaxed) as f64,
            );
        }
        let mut last = "";
        for g in gauges {
            if g.name != last {
                header(&mut out, g.name, g.help, "gauge");
                last = g.name;
            }
            let labels: Vec<(&str, &String)> = g.labels.iter().map(|(k, v)| (*k, v)).collect();
            sample(&mut out, g.name, &labels, g.value);
        }
        out
    }
}

/// Counts a request in flight until dropped.
pub fn in_flight(gauge: &Arc<AtomicI64>) -> InFlight {
    gauge.fetch_add(1, Ordering::Relaxed);
    InFlight(gauge.clone())
}

/// Decrements the in-flight gauge when dropped.
pub struct InFlight(Arc<AtomicI64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &String)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    versions: &[(Vec<String>, Arc<VersionMetrics>)],
    pick: impl Fn(&VersionMetrics) -> &Histogram,
) {
    header(out, name, help, "histogram");
    for (key, v) in versions {
        let h = pick(v);
        let count = h.count.load(Ordering::Relaxed);
        if count == 0 {
            continue;
        }
        let (model, version) = (&key[0], &key[1]);
        let mut cumulative = 0u64;
        for (bound, bucket) in h.bounds.iter().zip(&h.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = number(*bound);
            sample(
                out,
                &format!("{name}_bucket"),
                &[("model", model), ("version", version), ("le", &le)],
                cumulative as f64,
            );
        }
        let inf = "+Inf".to_string();
        sample(
            out,
            &format!("{name}_bucket"),
            &[("model", model), ("version", version), ("le", &inf)],
            count as f64,
        );
        let sum = f64::from_bits(h.sum_bits.load(Ordering::Relaxed));
        sample(
            out,
            &format!("{name}_sum"),
            &[("model", model), ("version", version)],
            sum,
        );
        sample(
            out,
            &format!("{name}_count"),
            &[("model", model), ("version", version)],
            count as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_labels_escaped() {
        let m = Metrics::default();
        let v = m.version("fr\"aud", "2");
        v.finished(200, 0.0002);
        v.finished(200, 0.003);
        v.finished(400, 20.0);
        let text = m.encode(&[]);
        assert!(
            text.contains(
                "flightdeck_requests_total{model=\"fr\\\"aud\",version=\"2\",code=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("le=\"0.00025\"} 1"), "{text}");
        assert!(text.contains("le=\"0.005\"} 2"), "{text}");
        assert!(text.contains("le=\"10\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains(
            "flightdeck_request_duration_seconds_count{model=\"fr\\\"aud\",version=\"2\"} 3"
        ));
    }
}
