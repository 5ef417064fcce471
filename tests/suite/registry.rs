//! The embedded registry through the engine API: versions, idempotent registration, aliases as
//! compare-and-swap with history, the append-only journal, read-only refusal.

use crate::common;

use flightdeck::engine::register::{RegisterRequest, register};
use flightdeck::error::EngineError;
use flightdeck::model::{AliasName, FeatureKind, ModelName, Outcome};
use flightdeck::store::Actor;
use flightdeck::store::Registry;
use flightdeck::store::journal::JournalQuery;
use flightdeck::store::registry::aliases::{AliasChange, Expectation};

fn actor() -> Actor {
    Actor::new("alice", "local")
}

fn request(file: &str) -> RegisterRequest {
    RegisterRequest {
        artifact: common::fixture(file),
        ..RegisterRequest::default()
    }
}

fn fraud() -> ModelName {
    ModelName::new("fraud").unwrap()
}

fn set(
    registry: &mut Registry,
    alias: &str,
    version: u32,
    expect: Expectation,
) -> Result<u64, EngineError> {
    let change = AliasChange {
        model: fraud(),
        alias: AliasName::new(alias).unwrap(),
        to_version: Some(version),
        expect,
    };
    registry.move_alias(&change, &actor()).map(|a| a.revision)
}

#[test]
fn versions_are_numbered_and_the_same_artifact_is_not_registered_twice() {
    let home = tempfile::tempdir().unwrap();
    let mut registry = Registry::open(home.path()).unwrap();
    let mut req = request("logreg_multiclass.onnx");
    req.reference = Some(common::fixture("classifier.reference.csv"));
    req.sentinels = Some(common::fixture("logreg_multiclass.sentinels.json"));
    req.metrics.insert("auc".into(), 0.93);
    req.pipeline_version = Some("fp-1".into());
    let first = register(&mut registry, &fraud(), &req, &actor()).unwrap();
    assert!(first.created);
    assert_eq!(first.version.version, 1);
    assert!(
        first.sentinel_failures.is_empty(),
        "{:?}",
        first.sentinel_failures
    );
    let again = register(&mut registry, &fraud(), &req, &actor()).unwrap();
    assert!(!again.created);
    assert_eq!(again.version.version, 1);
    let second = register(
        &mut registry,
        &fraud(),
        &request("mlp_classifier.onnx"),
        &actor(),
    )
    .unwrap();
    assert_eq!(second.version.version, 2);

    let v1 = registry.version(&fraud(), 1).unwrap();
    assert_eq!(v1.metrics["auc"], 0.93);
    assert_eq!(v1.lineage.pipeline_version.as_deref(), Some("fp-1"));
    assert_eq!(v1.lineage.author, "alice");
    assert_eq!(v1.signature.inputs[0].shape, vec![-1, 4]);
    let profile = v1.profile.expect("profile recorded");
    assert_eq!(profile.rows, 800);
    assert_eq!(profile.features.len(), 4);
    assert_eq!(profile.features[0].name, "amount");
    let FeatureKind::Numeric(amount) = &profile.features[0].kind else {
        panic!("amount is numeric")
    };
    assert_eq!(amount.bin_counts.iter().sum::<u64>(), 800);
    assert!(
        amount.min >= 0.0,
        "amount was made non-negative by the generator"
    );
    assert_eq!(v1.sentinels.unwrap().cases.len(), 3);

    // The artifact is stored under its digest and reads back intact.
    let bytes = flightdeck::store::registry::artifacts::load(registry.artifacts_root(), &v1.sha256)
        .unwrap();
    assert_eq!(
        bytes,
        std::fs::read(common::fixture("logreg_multiclass.onnx")).unwrap()
    );

    let models = registry.models().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].versions, 2);
}

#[test]
fn alias_moves_are_compare_and_swap_with_history() {
    let home = tempfile::tempdir().unwrap();
    let mut registry = Registry::open(home.path()).unwrap();
    for file in [
        "logreg_multiclass.onnx",
        "mlp_classifier.onnx",
        "logreg_binary.onnx",
    ] {
        register(&mut registry, &fraud(), &request(file), &actor()).unwrap();
    }
    assert_eq!(
        set(&mut registry, "production", 1, Expectation::Revision(0)).unwrap(),
        1
    );
    assert_eq!(
        set(&mut registry, "production", 2, Expectation::Revision(1)).unwrap(),
        2
    );
    // A stale expectation is a conflict that names the current revision, and changes nothing.
    let err = set(&mut registry, "production", 3, Expectation::Revision(1)).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert!(err.to_string().contains("revision 2"), "{err}");
    let prod = AliasName::production();
    assert_eq!(registry.aliases(&fraud()).unwrap()[0].version, Some(2));
    assert_eq!(registry.previous_version(&fraud(), &prod).unwrap(), Some(1));

    set(&mut registry, "canary", 3, Expectation::Any).unwrap();
    set(&mut registry, "shadow", 1, Expectation::Any).unwrap();
    let versions = registry.versions(&fraud()).unwrap();
    let order: Vec<u32> = versions.iter().map(|v| v.version).collect();
    assert_eq!(
        order,
        vec![2, 3, 1],
        "production, canary, then other aliases/newest"
    );
    assert_eq!(versions[0].aliases, vec!["production"]);

    // Unknown versions are refused before anything moves.
    let err = set(&mut registry, "production", 9, Expectation::Any).unwrap_err();
    assert!(
        matches!(err, EngineError::UnknownVersion { version: 9, .. }),
        "{err}"
    );

    let history = registry.alias_history(&fraud(), &prod).unwrap();
    let moves: Vec<_> = history
        .iter()
        .map(|m| (m.from_version, m.to_version, m.revision))
        .collect();
    assert_eq!(moves, vec![(None, Some(1), 1), (Some(1), Some(2), 2)]);

    let journal = registry
        .journal(&JournalQuery {
            model: Some("fraud".into()),
            limit: None,
        })
        .unwrap();
    assert!(
        journal
            .iter()
            .any(|e| e.outcome == Outcome::Conflict && e.operation == "alias production")
    );
    assert_eq!(
        journal.iter().filter(|e| e.operation == "register").count(),
        3
    );
    assert!(
        journal.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
}

#[test]
fn removing_an_alias_keeps_its_revision_and_history() {
    let home = tempfile::tempdir().unwrap();
    let mut registry = Registry::open(home.path()).unwrap();
    register(
        &mut registry,
        &fraud(),
        &request("logreg_multiclass.onnx"),
        &actor(),
    )
    .unwrap();
    set(&mut registry, "canary", 1, Expectation::Revision(0)).unwrap();
    let change = AliasChange {
        model: fraud(),
        alias: AliasName::canary(),
        to_version: None,
        expect: Expectation::Revision(1),
    };
    let removed = registry.move_alias(&change, &actor()).unwrap();
    assert_eq!((removed.version, removed.revision), (None, 2));
    // Re-adding must start from the removal's revision, so a console that saw revision 1 conflicts.
    assert!(set(&mut registry, "canary", 1, Expectation::Revision(1)).is_err());
    assert_eq!(
        set(&mut registry, "canary", 1, Expectation::Revision(2)).unwrap(),
        3
    );
}

#[test]
fn the_journal_refuses_updates_and_deletes() {
    let home = tempfile::tempdir().unwrap();
    let mut registry = Registry::open(home.path()).unwrap();
    register(
        &mut registry,
        &fraud(),
        &request("logreg_multiclass.onnx"),
        &actor(),
    )
    .unwrap();
    set(&mut registry, "production", 1, Expectation::Any).unwrap();
    drop(registry);
    let conn = rusqlite_connection(home.path());
    for sql in [
        "UPDATE journal SET user = 'mallory'",
        "DELETE FROM journal",
        "DELETE FROM alias_history",
    ] {
        let err = conn.execute(sql, []).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
}

fn rusqlite_connection(home: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(home.join("registry.db")).unwrap()
}

#[test]
fn read_only_environments_refuse_every_change() {
    let home = tempfile::tempdir().unwrap();
    let mut registry = Registry::open(home.path()).unwrap();
    register(
        &mut registry,
        &fraud(),
        &request("logreg_multiclass.onnx"),
        &actor(),
    )
    .unwrap();
    let reader = Actor::new("bob", "prod-eu").with_read_only(true);
    let err = register(
        &mut registry,
        &fraud(),
        &request("mlp_classifier.onnx"),
        &reader,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 4);
    assert!(err.to_string().contains("prod-eu"), "{err}");
    let change = AliasChange {
        model: fraud(),
        alias: AliasName::production(),
        to_version: Some(1),
        expect: Expectation::Any,
    };
    assert_eq!(
        registry
            .move_alias(&change, &reader)
            .unwrap_err()
            .exit_code(),
        4
    );
    assert_eq!(registry.versions(&fraud()).unwrap().len(), 1);
    assert!(registry.aliases(&fraud()).unwrap().is_empty());
}
