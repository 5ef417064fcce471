//! The serving charts' time range (`T` cycles 5 minutes, 1 hour, 24 hours) and the histories
//! behind them: each version's points of the last 5 minutes in 5-second buckets, of the last
//! hour in 30-second buckets and of the last day in 10-minute buckets, folded from every
//! scrape. Buckets are fixed in time, so a time with no read (a server down, a console busy)
//! is a gap and the time axis is even. They are kept per version, so a server that restarts
//! (or moves to a new port) carries on the same line; they last as long as the console stays
//! in the environment (Prometheus' history, where there is one, starts each range).

use std::collections::VecDeque;

use super::state::HistoryPoint;

/// What the serving charts span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChartRange {
    #[default]
    FiveMinutes,
    Hour,
    Day,
}

impl ChartRange {
    pub fn next(self) -> Self {
        match self {
            ChartRange::FiveMinutes => ChartRange::Hour,
            ChartRange::Hour => ChartRange::Day,
            ChartRange::Day => ChartRange::FiveMinutes,
        }
    }

    /// "5m", "1h", "24h".
    pub fn label(self) -> &'static str {
        match self {
            ChartRange::FiveMinutes => "5m",
            ChartRange::Hour => "1h",
            ChartRange::Day => "24h",
        }
    }

    /// The step in words: "5s", "30s", "10m".
    pub fn step_label(self) -> &'static str {
        match self {
            ChartRange::FiveMinutes => "5s",
            ChartRange::Hour => "30s",
            ChartRange::Day => "10m",
        }
    }

    /// Points a history keeps.
    pub fn points(self) -> usize {
        match self {
            ChartRange::FiveMinutes => FIVE_POINTS,
            ChartRange::Hour => HOUR_POINTS,
            ChartRange::Day => DAY_POINTS,
        }
    }

    /// Seconds per point.
    pub fn bucket_seconds(self) -> i64 {
        match self {
            ChartRange::FiveMinutes => FIVE_BUCKET,
            ChartRange::Hour => HOUR_BUCKET,
            ChartRange::Day => DAY_BUCKET,
        }
    }
}

/// Five seconds: a model off screen is read every few seconds, so its buckets are not gaps.
const FIVE_BUCKET: i64 = 5;
const FIVE_POINTS: usize = 60;

const HOUR_BUCKET: i64 = 30;
const DAY_BUCKET: i64 = 600;
/// Points kept: an hour of 30-second buckets, a day of 10-minute ones.
const HOUR_POINTS: usize = 120;
const DAY_POINTS: usize = 144;

/// A version's coarse histories, oldest first, and the buckets being filled.
#[derive(Debug, Clone, Default)]
pub struct Coarse {
    pub five: VecDeque<HistoryPoint>,
    pub hour: VecDeque<HistoryPoint>,
    pub day: VecDeque<HistoryPoint>,
    five_bucket: Bucket,
    hour_bucket: Bucket,
    day_bucket: Bucket,
}

/// Points folded into one: requests per second averaged, the error ratio weighted by requests,
/// the worst p99 (a spike must not average away).
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// The bucket's start (unix seconds), `None` before the first point.
    start: Option<i64>,
    points: u32,
    rate_sum: f64,
    errors: f64,
    requests: f64,
    p99: Option<f32>,
}

impl Bucket {
    fn add(&mut self, p: HistoryPoint) {
        self.points += 1;
        let rate = f64::from(p.requests_per_second);
        self.rate_sum += rate;
        if !p.error_ratio.is_nan() {
            self.errors += f64::from(p.error_ratio) * rate;
            self.requests += rate;
        }
        if !p.p99.is_nan() {
            self.p99 = Some(self.p99.map_or(p.p99, |worst| worst.max(p.p99)));
        }
    }

    fn point(&self) -> HistoryPoint {
        HistoryPoint {
            requests_per_second: (self.rate_sum / f64::from(self.points.max(1))) as f32,
            error_ratio: if self.requests > 0.0 {
                (self.errors / self.requests) as f32
            } else {
                f32::NAN
            },
            p99: self.p99.unwrap_or(f32::NAN),
            at: super::state::unix_u32(self.start.unwrap_or(0)),
        }
    }
}

impl Coarse {
    /// Folds a point measured at `at` (unix seconds) into both histories.
    pub fn add(&mut self, at: i64, point: HistoryPoint) {
        fold(
            &mut self.five,
            &mut self.five_bucket,
            FIVE_BUCKET,
            FIVE_POINTS,
            at,
            point,
        );
        fold(
            &mut self.hour,
            &mut self.hour_bucket,
            HOUR_BUCKET,
            HOUR_POINTS,
            at,
            point,
        );
        fold(
            &mut self.day,
            &mut self.day_bucket,
            DAY_BUCKET,
            DAY_POINTS,
            at,
            point,
        );
    }

    /// The points of `range` (closed buckets, then the one being filled), oldest first; `None`
    /// for a bucket with no point (nothing was read then: a gap, never a zero).
    pub fn series(&self, range: ChartRange) -> Vec<Option<HistoryPoint>> {
        let (points, bucket) = match range {
            ChartRange::FiveMinutes => (&self.five, &self.five_bucket),
            ChartRange::Hour => (&self.hour, &self.hour_bucket),
            ChartRange::Day => (&self.day, &self.day_bucket),
        };
        points
            .iter()
            .map(|p| (!p.requests_per_second.is_nan()).then_some(*p))
            .chain((bucket.points > 0).then(|| Some(bucket.point())))
            .collect()
    }
}

/// A metrics source's history of `range` (Prometheus'): it replaces what the console folded
/// itself when it reaches further back, with a gap for each step Prometheus has no point for.
pub fn history_fetched(
    state: &mut super::state::State,
    model: &str,
    range: ChartRange,
    series: std::collections::BTreeMap<(String, String), Vec<crate::clients::metrics::RatePoint>>,
) {
    let step = range.bucket_seconds();
    for ((series_model, version), points) in series {
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        if series_model != model {
            continue;
        }
        let (first, last) = (first.at as i64, last.at as i64);
        let steps = ((last - first) / step + 1).clamp(1, range.points() as i64) as usize;
        let start = last - (steps as i64 - 1) * step;
        let mut filled: VecDeque<HistoryPoint> = (0..steps)
            .map(|i| {
                let t = start + i as i64 * step;
                match points.iter().find(|p| p.at as i64 == t) {
                    Some(p) => HistoryPoint {
                        requests_per_second: p.requests_per_second as f32,
                        error_ratio: p.error_ratio.map_or(f32::NAN, |r| r as f32),
                        p99: p.p99.map_or(f32::NAN, |v| v as f32),
                        at: super::state::unix_u32(t),
                    },
                    None => HistoryPoint::gap(t),
                }
            })
            .collect();
        let coarse = state.coarse.entry((series_model, version)).or_default();
        let kept = match range {
            ChartRange::FiveMinutes => &mut coarse.five,
            ChartRange::Hour => &mut coarse.hour,
            ChartRange::Day => &mut coarse.day,
        };
        if filled.len() > kept.len() {
            std::mem::swap(kept, &mut filled);
        }
    }
}

/// Closes the bucket when `at` is past it (with a gap point for each bucket nothing was read
/// in), then adds the point to the open one.
fn fold(
    points: &mut VecDeque<HistoryPoint>,
    bucket: &mut Bucket,
    seconds: i64,
    keep: usize,
    at: i64,
    point: HistoryPoint,
) {
    let start = at - at.rem_euclid(seconds);
    match bucket.start {
        Some(open) if start > open => {
            points.push_back(bucket.point());
            // Buckets with no read between are gaps (at most a history's worth).
            let missing = ((start - open) / seconds - 1).clamp(0, keep as i64);
            for k in 0..missing {
                points.push_back(HistoryPoint::gap(start - (missing - k) * seconds));
            }
            while points.len() > keep {
                points.pop_front();
            }
            *bucket = Bucket {
                start: Some(start),
                ..Bucket::default()
            };
        }
        Some(_) => {}
        None => bucket.start = Some(start),
    }
    bucket.add(point);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(rate: f32, errors: f32, p99: f32) -> HistoryPoint {
        HistoryPoint {
            requests_per_second: rate,
            error_ratio: errors,
            p99,
            at: 0,
        }
    }

    #[test]
    fn buckets_average_the_rate_weigh_errors_by_requests_keep_the_worst_p99_and_leave_gaps() {
        let mut c = Coarse::default();
        // Two reads in the first 30 s bucket, none in the next two, one after.
        c.add(1_000_000_020, point(10.0, 0.0, 0.002));
        c.add(1_000_000_021, point(30.0, 0.1, 0.009));
        c.add(1_000_000_110, point(5.0, f32::NAN, f32::NAN));
        let hour = c.series(ChartRange::Hour);
        assert_eq!(hour.len(), 4, "{hour:?}");
        let first = hour[0].unwrap();
        assert_eq!(first.requests_per_second, 20.0);
        // 3 errors per second of 40 requests per second.
        assert!((first.error_ratio - 0.075).abs() < 1e-6, "{first:?}");
        assert_eq!(first.p99, 0.009);
        assert!(hour[1].is_none() && hour[2].is_none(), "no read: gaps");
        let open = hour[3].unwrap();
        assert_eq!(open.requests_per_second, 5.0);
        assert!(open.error_ratio.is_nan() && open.p99.is_nan());
        // All four fall in one 10-minute bucket.
        assert_eq!(c.series(ChartRange::Day).len(), 1);
    }

    #[test]
    fn a_sources_longer_history_replaces_the_folded_one_with_gaps_where_it_has_no_point() {
        use crate::clients::metrics::RatePoint;
        let mut state = crate::app::State::new(
            "local",
            false,
            "dark",
            crate::keymap::Keymap::default(),
            1.0,
        );
        state
            .coarse
            .entry(("fraud".into(), "1".into()))
            .or_default()
            .add(1_000_000_020, point(9.0, 0.0, 0.001));
        let at = |t: f64, rate: f64| RatePoint {
            at: t,
            requests_per_second: rate,
            error_ratio: Some(0.0),
            p99: Some(0.004),
        };
        // Prometheus has 30-second points, with one step missing.
        let points = vec![
            at(999_999_900.0, 4.0),
            at(999_999_930.0, 5.0),
            at(999_999_990.0, 7.0),
        ];
        let series = [(("fraud".to_string(), "1".to_string()), points)].into();
        history_fetched(&mut state, "fraud", ChartRange::Hour, series);
        let hour = state.coarse[&("fraud".to_string(), "1".to_string())].series(ChartRange::Hour);
        let rates: Vec<Option<f32>> = hour
            .iter()
            .map(|p| p.map(|p| p.requests_per_second))
            .collect();
        // Its four steps, then the bucket the console is filling.
        assert_eq!(rates, [Some(4.0), Some(5.0), None, Some(7.0), Some(9.0)]);
    }

    /// A server stopped for 20 s in the five minutes: its steps are gaps, each timed, so the
    /// outage shows where it was instead of the reads around it closing up.
    #[test]
    fn five_minutes_in_five_second_steps_show_an_outage_as_gaps() {
        let mut c = Coarse::default();
        let start = 8 * 3600;
        for t in (0..20).chain(40..60) {
            c.add(start + t, point(10.0, 0.0, 0.001));
        }
        let series = c.series(ChartRange::FiveMinutes);
        let shape: String = series
            .iter()
            .map(|p| if p.is_some() { '#' } else { '.' })
            .collect();
        assert_eq!(shape, "####....####");
        assert_eq!(series[0].unwrap().at, start as u32);
        assert_eq!(series.len(), 12, "every 5 s step from the first read on");
    }

    #[test]
    fn a_history_keeps_its_length_after_a_long_silence() {
        let mut c = Coarse::default();
        for i in 0..500 {
            c.add(1_000_000_000 + i * 30, point(1.0, 0.0, 0.001));
        }
        c.add(
            1_000_000_000 + 500 * 30 + 86_400 * 3,
            point(1.0, 0.0, 0.001),
        );
        let hour = c.series(ChartRange::Hour);
        assert_eq!(hour.len(), HOUR_POINTS + 1);
        assert!(
            hour[..HOUR_POINTS].iter().all(Option::is_none),
            "three days unread"
        );
    }
}
