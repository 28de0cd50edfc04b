//! The Prometheus text exposition format (version 0.0.4).

use std::fmt::Write as _;

use super::histogram::BOUNDS;
use super::{Histogram, Metrics};
use crate::model::QueueStats;

/// The metrics as Prometheus text: the counters, the queues' depths, and the dispatcher's
/// answers by class.
pub fn render(metrics: &Metrics, queues: &[QueueStats], answers: &[(&'static str, u64)]) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "errand_queue_tasks",
        "gauge",
        "Tasks in a queue now, by state.",
    );
    for queue in queues {
        for (state, n) in [
            ("scheduled", queue.scheduled),
            ("queued", queue.queued),
            ("running", queue.running),
            ("waiting", queue.waiting),
        ] {
            let _ = writeln!(
                out,
                "errand_queue_tasks{{queue=\"{}\",state=\"{state}\"}} {n}",
                escape(&queue.name)
            );
        }
    }
    header(
        &mut out,
        "errand_queue_paused",
        "gauge",
        "1 if claiming from the queue is paused.",
    );
    for queue in queues {
        let _ = writeln!(
            out,
            "errand_queue_paused{{queue=\"{}\"}} {}",
            escape(&queue.name),
            u8::from(queue.paused)
        );
    }
    metrics.with(|counters| {
        header(
            &mut out,
            "errand_task_transitions_total",
            "counter",
            "Tasks that entered a state, by queue and state.",
        );
        for ((queue, state), n) in &counters.entered {
            let _ = writeln!(
                out,
                "errand_task_transitions_total{{queue=\"{}\",state=\"{state}\"}} {n}",
                escape(queue)
            );
        }
        header(
            &mut out,
            "errand_attempts_total",
            "counter",
            "Attempts started, by queue.",
        );
        for (queue, n) in &counters.attempts {
            let _ = writeln!(
                out,
                "errand_attempts_total{{queue=\"{}\"}} {n}",
                escape(queue)
            );
        }
        header(
            &mut out,
            "errand_queue_wait_seconds",
            "histogram",
            "Time from ready to started, by queue.",
        );
        for (queue, histogram) in &counters.queue_wait {
            histogram_lines(&mut out, "errand_queue_wait_seconds", queue, histogram);
        }
        header(
            &mut out,
            "errand_run_seconds",
            "histogram",
            "Time from the first start to the end, by queue.",
        );
        for (queue, histogram) in &counters.run_time {
            histogram_lines(&mut out, "errand_run_seconds", queue, histogram);
        }
        header(
            &mut out,
            "errand_events_missed_total",
            "counter",
            "Events the metrics missed because they fell behind.",
        );
        let _ = writeln!(out, "errand_events_missed_total {}", counters.missed_events);
    });
    header(
        &mut out,
        "errand_sse_clients",
        "gauge",
        "Event streams (GET /v1/events) open on this node.",
    );
    let _ = writeln!(out, "errand_sse_clients {}", metrics.open_streams());
    header(
        &mut out,
        "errand_dispatch_answers_total",
        "counter",
        "HTTP dispatch answers, by class.",
    );
    for (class, n) in answers {
        let _ = writeln!(
            out,
            "errand_dispatch_answers_total{{class=\"{class}\"}} {n}"
        );
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn histogram_lines(out: &mut String, name: &str, queue: &str, histogram: &Histogram) {
    let queue = escape(queue);
    let mut cumulative = 0;
    for (bound, n) in BOUNDS.iter().zip(histogram.buckets) {
        cumulative += n;
        let _ = writeln!(
            out,
            "{name}_bucket{{queue=\"{queue}\",le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{queue=\"{queue}\",le=\"+Inf\"}} {}",
        histogram.count
    );
    let _ = writeln!(out, "{name}_sum{{queue=\"{queue}\"}} {}", histogram.sum);
    let _ = writeln!(out, "{name}_count{{queue=\"{queue}\"}} {}", histogram.count);
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let metrics = Metrics::default();
        metrics.with(|c| {
            let histogram = c.run_time.entry("q\"1".into()).or_default();
            histogram.observe(0.002);
            histogram.observe(0.2);
            histogram.observe(1000.0);
        });
        let text = render(&metrics, &[], &[("2xx", 3)]);
        assert!(
            text.contains("errand_run_seconds_bucket{queue=\"q\\\"1\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("errand_run_seconds_bucket{queue=\"q\\\"1\",le=\"0.25\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("errand_run_seconds_bucket{queue=\"q\\\"1\",le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("errand_dispatch_answers_total{class=\"2xx\"} 3"),
            "{text}"
        );
    }
}
