//! Prometheus metrics (§8.1) on `--metrics-port`: the Go proxy's three series with the same names, labels,
//! help strings and buckets, written in the text exposition format on every path.
//!
//! Recording is one short mutex per request; the label space is small (services × 10 methods × statuses).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::{header, HeaderValue, Response};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::body::{self, ProxyBody};

/// `prometheus.DefBuckets`.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum: f64,
    /// Non-cumulative counts per bucket; the exposition sums them.
    buckets: [u64; BUCKETS.len()],
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(String, &'static str, u16), Series>>,
    in_flight: Mutex<HashMap<String, i64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Known methods keep their name; anything else is `OTHER`, so clients cannot explode the label space.
pub fn normalize_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        _ => "OTHER",
    }
}

impl Metrics {
    pub fn record(&self, service: &str, method: &str, status: u16, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let mut requests = lock(&self.requests);
        let key = (service.to_string(), normalize_method(method), status);
        let series = requests.entry(key).or_default();
        series.count += 1;
        series.sum += seconds;
        if let Some(index) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            series.buckets[index] += 1;
        }
    }

    pub fn enter(&self, service: &str) {
        *lock(&self.in_flight).entry(service.to_string()).or_default() += 1;
    }

    pub fn leave(&self, service: &str) {
        *lock(&self.in_flight).entry(service.to_string()).or_default() -= 1;
    }

    /// The text exposition format, series sorted so the output is stable.
    pub fn render(&self) -> String {
        let requests: BTreeMap<(String, &'static str, u16), Series> = lock(&self.requests)
            .iter()
            .map(|(key, series)| (key.clone(), series.clone()))
            .collect();
        let in_flight: BTreeMap<String, i64> = lock(&self.in_flight).clone().into_iter().collect();
        let mut out = String::with_capacity(1024);
        out.push_str("# HELP kamal_proxy_http_in_flight_requests Number of in-flight HTTP requests, labeled by service.\n");
        out.push_str("# TYPE kamal_proxy_http_in_flight_requests gauge\n");
        for (service, value) in &in_flight {
            let _ = writeln!(
                out,
                "kamal_proxy_http_in_flight_requests{{service=\"{}\"}} {value}",
                escape(service)
            );
        }
        out.push_str("# HELP kamal_proxy_http_request_duration_seconds Duration of HTTP requests, labeled by service, status code and method.\n");
        out.push_str("# TYPE kamal_proxy_http_request_duration_seconds histogram\n");
        for ((service, method, status), series) in &requests {
            let labels = format!(
                "method=\"{method}\",service=\"{}\",status=\"{status}\"",
                escape(service)
            );
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(series.buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "kamal_proxy_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "kamal_proxy_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                series.count
            );
            let _ = writeln!(
                out,
                "kamal_proxy_http_request_duration_seconds_sum{{{labels}}} {}",
                series.sum
            );
            let _ = writeln!(
                out,
                "kamal_proxy_http_request_duration_seconds_count{{{labels}}} {}",
                series.count
            );
        }
        out.push_str("# HELP kamal_proxy_http_requests_total HTTP requests processed, labeled by service, status code and method.\n");
        out.push_str("# TYPE kamal_proxy_http_requests_total counter\n");
        for ((service, method, status), series) in &requests {
            let _ = writeln!(
                out,
                "kamal_proxy_http_requests_total{{method=\"{method}\",service=\"{}\",status=\"{status}\"}} {}",
                escape(service),
                series.count
            );
        }
        if let Some(resident) = resident_memory_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
            out.push_str("# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {resident}");
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Serves the exposition on every path until `stop`.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, stop: CancellationToken) {
    while let Some((stream, _)) = crate::server::accept(&listener, &stop).await {
        let metrics = metrics.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request| {
                let metrics = metrics.clone();
                async move {
                    let mut response: Response<ProxyBody> = Response::new(body::full(metrics.render()));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            let connection =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_are_other() {
        assert_eq!(normalize_method("GET"), "GET");
        assert_eq!(normalize_method("PATCH"), "PATCH");
        assert_eq!(normalize_method("CUSTOM"), "OTHER");
        assert_eq!(normalize_method(""), "OTHER");
    }

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.record("web", "GET", 200, Duration::from_millis(7));
        metrics.record("web", "GET", 200, Duration::from_secs(20));
        metrics.enter("web");
        let text = metrics.render();
        assert!(text
            .contains("kamal_proxy_http_requests_total{method=\"GET\",service=\"web\",status=\"200\"} 2\n"));
        assert!(text.contains(
            "kamal_proxy_http_request_duration_seconds_bucket{method=\"GET\",service=\"web\",status=\"200\",le=\"0.005\"} 0\n"
        ));
        assert!(text.contains(
            "kamal_proxy_http_request_duration_seconds_bucket{method=\"GET\",service=\"web\",status=\"200\",le=\"0.01\"} 1\n"
        ));
        assert!(text.contains(
            "kamal_proxy_http_request_duration_seconds_bucket{method=\"GET\",service=\"web\",status=\"200\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("kamal_proxy_http_in_flight_requests{service=\"web\"} 1\n"));
    }
}
