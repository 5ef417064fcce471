//! Statistics, in one place and each checked against numpy, scipy or scikit-learn: drift tests
//! (PSI, KS, JS, chi-square), quantiles and bins, AUC, and the quality of answers against labels. Pure functions over slices.

pub mod auc;
pub mod drift;
pub mod kolmogorov;
pub mod quality;
pub mod quantiles;

pub use auc::auc;
pub use quantiles::{bin_index, histogram_quantile, quantile};
