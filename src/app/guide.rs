//! The demo's guided tour: steps that say what to look at and which key to press. `n` moves
//! on; the run loop hears about each step (the demo starts input drift at its step).

/// The steps, in order.
pub const STEPS: &[&str] = &[
    "Steady traffic: v1 serves claims, and each claim's label follows 3 s later (ACC). Press Enter on claims: the serving pane shows req/s, p50/p95/p99, errors and the labelled accuracy.",
    "Tab twice to the versions pane: v1 is production; v2 and v3 wait. Select v2 with j/k; d deploys it as a 10% canary after its smoke test.",
    "Tab back to serving: stable v1 and canary v2 side by side, each with its share of the traffic.",
    "Press p to promote: the dialog lists the gates (traffic, errors, p99, labelled quality, drift, answers against v1's) with their evidence. Enter confirms.",
    "Input drift begins now on amount and tenure_months. Tab to the drift pane: they turn red; j/k show each feature's histogram.",
    "Try v3: versions pane, select v3, press d. Its smoke test fails on the sentinels, and the gate stops the deploy. e on v3 shows why: held-out claims, v3 against production.",
    "Shadow v3 instead of deploying it: versions pane, select v3, press S. It answers a copy of a tenth of production's claims and no client sees its answers; Tab to serving: the shadow line says how often it agrees with production. S again stops it.",
    "Tab to the requests pane: a fifth of the claims with what production answered them (the demo's request log; off by default). / finds one by id; t keeps the selected one as a sentinel case that every later smoke test asks again.",
    "Tab to the journal pane: every registration, deploy and promote, with who and when (a deploy you confirmed past a failed gate is there with the override). q quits the demo.",
];

/// The step at which the demo shifts its traffic's inputs.
pub const DRIFT_STEP: usize = 4;
