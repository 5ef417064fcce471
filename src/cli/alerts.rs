//! `flightdeck alerts`: the alert rules in force, and the same rules as Prometheus alerting
//! rules for a team's own Prometheus and Alertmanager.

use super::say;

use clap::Subcommand;

use super::table::render;
use super::{Failure, print_json};
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// The rules in force: the config's [[alerts]], or the defaults built from the thresholds.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The rules as Prometheus alerting rules (YAML) over the model servers' series, for
    /// `rule_files` (check them with `promtool check rules FILE`).
    Rules {
        /// The scrape job of the model servers in your Prometheus.
        #[arg(long, default_value = "flightdeck")]
        job: String,
        /// The range rates and ratios are taken over.
        #[arg(long, default_value = "5m")]
        window: String,
    },
}

pub fn run(settings: &Settings, command: AlertsCommand) -> Result<(), Failure> {
    match command {
        AlertsCommand::List { json } => {
            if json {
                return print_json(&settings.alerts);
            }
            let rows: Vec<Vec<String>> = settings
                .alerts
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        r.condition(),
                        <&str>::from(r.severity).to_string(),
                        r.model.clone().unwrap_or_else(|| "every model".into()),
                    ]
                })
                .collect();
            say!(
                "{}",
                render(&["RULE", "CONDITION", "SEVERITY", "MODEL"], &rows)
            );
            Ok(())
        }
        AlertsCommand::Rules { job, window } => {
            crate::settings::duration_seconds(&window).map_err(super::failure)?;
            say!(
                "{}",
                crate::clients::alert_rules::prometheus_rules(&settings.alerts, &job, &window)
                    .trim_end()
            );
            Ok(())
        }
    }
}
