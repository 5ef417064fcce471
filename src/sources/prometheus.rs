//! Prometheus as the console's metrics and drift sources (`metrics = "prometheus"`): the
//! reading itself is [`crate::clients::prometheus`]'s; these are the seams the console calls.

use std::collections::BTreeMap;

use futures_util::FutureExt;

use super::source::{DriftSource, Fetch, MetricsSource};
use crate::clients::metrics::{RatePoint, ScrapeSnapshot};
use crate::clients::prometheus::PrometheusMetrics;
use crate::clients::prometheus_drift::PrometheusDrift;
use crate::model::DriftReport;

impl MetricsSource for PrometheusMetrics {
    fn scrape(&self, model: String, _endpoint: String) -> Fetch<'_, ScrapeSnapshot> {
        self.snapshot(model).boxed()
    }

    fn history(
        &self,
        model: String,
        seconds: u32,
        step: u32,
    ) -> Fetch<'_, BTreeMap<(String, String), Vec<RatePoint>>> {
        self.rate_history(model, seconds, step).boxed()
    }
}

impl DriftSource for PrometheusDrift {
    fn drift(&self, model: String, _endpoint: String) -> Fetch<'_, Vec<DriftReport>> {
        self.reports(model).boxed()
    }
}
