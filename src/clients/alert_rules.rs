//! flightdeck's alert rules as Prometheus alerting rules over the series its model servers
//! export, so a team's own Prometheus and Alertmanager alert without flightdeck running
//! (`flightdeck alerts rules`; valid for `promtool check rules`).

use crate::model::{AlertRule, AlertSignal};

/// The rules as one Prometheus rule group (YAML). `job` is the scrape job of the model
/// servers; `window` the range rates are taken over (`5m`).
pub fn prometheus_rules(rules: &[AlertRule], job: &str, window: &str) -> String {
    // JSON strings are YAML scalars: quotes, braces and backslashes stay exact.
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = String::from("# flightdeck alert rules (flightdeck alerts rules)\ngroups:\n");
    out.push_str("  - name: flightdeck\n    rules:\n");
    for rule in rules {
        out.push_str(&format!("      - alert: {}\n", q(&rule.name)));
        out.push_str(&format!(
            "        expr: {}\n",
            q(&expression(rule, job, window))
        ));
        out.push_str(&format!(
            "        for: {}s\n",
            rule.for_seconds.max(0.0).round()
        ));
        out.push_str("        labels:\n");
        out.push_str(&format!(
            "          severity: {}\n",
            q(rule.severity.into())
        ));
        out.push_str(&format!(
            "          flightdeck_signal: {}\n",
            q(rule.signal.name())
        ));
        for (k, v) in &rule.labels {
            out.push_str(&format!("          {}: {}\n", q(k), q(v)));
        }
        let summary = format!(
            "{{{{ $labels.model }}}} v{{{{ $labels.version }}}}: {} is {{{{ $value }}}}{} ({} {}{})",
            rule.signal.name(),
            rule.signal.unit(),
            rule.operator(),
            rule.threshold,
            rule.signal.unit()
        );
        out.push_str("        annotations:\n");
        out.push_str(&format!("          summary: {}\n", q(&summary)));
        out.push_str(&format!(
            "          description: {}\n",
            q(&rule.condition())
        ));
    }
    out
}

/// The PromQL of one rule: the signal per model and version, compared with the threshold.
pub fn expression(rule: &AlertRule, job: &str, window: &str) -> String {
    let model = rule
        .model
        .as_ref()
        .map(|m| format!(",model=\"{m}\""))
        .unwrap_or_default();
    let sel = |extra: &str| format!("{{job=\"{job}\"{model}{extra}}}");
    let ratio = |codes: &str| {
        format!(
            "sum by (model, version) (rate(flightdeck_requests_total{}[{window}])) / sum by (model, version) (rate(flightdeck_requests_total{}[{window}]))",
            sel(codes),
            sel("")
        )
    };
    let value = match rule.signal {
        AlertSignal::ServerErrors => ratio(",code=~\"5..\""),
        AlertSignal::ClientErrors => ratio(",code=~\"4..\""),
        AlertSignal::Errors => ratio(",code!~\"2..\""),
        AlertSignal::P99Ms => format!(
            "histogram_quantile(0.99, sum by (model, version, le) (rate(flightdeck_request_duration_seconds_bucket{}[{window}]))) * 1000",
            sel("")
        ),
        AlertSignal::InputDrift => format!("flightdeck_drift_share{}", sel("")),
        AlertSignal::PredictionDrift => format!(
            "max by (model, version) (flightdeck_prediction_drift{})",
            sel(",method=\"psi\"")
        ),
        AlertSignal::LiveAccuracy => {
            format!("flightdeck_live_quality{}", sel(",metric=\"accuracy\""))
        }
        // A server Prometheus cannot scrape: 1 - up. It carries the target, not the model.
        AlertSignal::Down => format!("(1 - up{{job=\"{job}\"}})"),
        // Prometheus is the source here: what it can say of itself is that it holds no scrape
        // of the model servers at all (the rule's `for` says for how long).
        AlertSignal::Stale => return format!("absent(up{{job=\"{job}\"}})"),
    };
    format!("{value} {} {}", rule.operator(), rule.threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    #[test]
    fn a_rule_becomes_promql_over_the_servers_series() {
        let rule = AlertRule {
            name: "claims-5xx".into(),
            signal: AlertSignal::ServerErrors,
            threshold: 0.05,
            for_seconds: 120.0,
            severity: Severity::Critical,
            model: Some("claims".into()),
            labels: [("team".to_string(), "fraud".to_string())].into(),
        };
        assert_eq!(
            expression(&rule, "flightdeck", "5m"),
            "sum by (model, version) (rate(flightdeck_requests_total{job=\"flightdeck\",model=\"claims\",code=~\"5..\"}[5m])) / sum by (model, version) (rate(flightdeck_requests_total{job=\"flightdeck\",model=\"claims\"}[5m])) > 0.05"
        );
        let yaml = prometheus_rules(&[rule], "flightdeck", "5m");
        assert!(yaml.contains("      - alert: \"claims-5xx\"\n"), "{yaml}");
        assert!(yaml.contains("        for: 120s\n"), "{yaml}");
        assert!(yaml.contains("          \"team\": \"fraud\"\n"), "{yaml}");
    }
}
