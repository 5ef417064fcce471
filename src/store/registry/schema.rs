//! The registry's SQLite schema and its migrations, versioned with `PRAGMA user_version`.

/// Each entry upgrades the schema from version `index` to `index + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE models (
    name        TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);
CREATE TABLE versions (
    model            TEXT NOT NULL REFERENCES models(name),
    version          INTEGER NOT NULL,
    sha256           TEXT NOT NULL,
    size_bytes       INTEGER NOT NULL,
    description      TEXT,
    signature        TEXT NOT NULL,
    profile          TEXT,
    sentinels        TEXT,
    metrics          TEXT NOT NULL,
    data_hash        TEXT,
    code_commit      TEXT,
    pipeline_version TEXT,
    author           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    PRIMARY KEY (model, version),
    UNIQUE (model, sha256)
);
CREATE TABLE aliases (
    model       TEXT NOT NULL REFERENCES models(name),
    alias       TEXT NOT NULL,
    version     INTEGER,
    revision    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
CREATE TABLE alias_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    model         TEXT NOT NULL,
    alias         TEXT NOT NULL,
    from_version  INTEGER,
    to_version    INTEGER,
    revision      INTEGER NOT NULL,
    at            TEXT NOT NULL,
    by            TEXT NOT NULL
);
CREATE INDEX alias_history_by_alias ON alias_history (model, alias, id);
CREATE TABLE journal (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    time         TEXT NOT NULL,
    user         TEXT NOT NULL,
    environment  TEXT NOT NULL,
    operation    TEXT NOT NULL,
    model        TEXT,
    from_ref     TEXT,
    to_ref       TEXT,
    outcome      TEXT NOT NULL,
    details      TEXT NOT NULL
);
CREATE INDEX journal_by_model ON journal (model, id);
-- History is evidence: it may grow, never change.
CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER alias_history_no_update BEFORE UPDATE ON alias_history
    BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END;
CREATE TRIGGER alias_history_no_delete BEFORE DELETE ON alias_history
    BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END;
"#,
    r#"
CREATE TABLE smoke_results (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    model     TEXT NOT NULL,
    version   INTEGER NOT NULL,
    at        TEXT NOT NULL,
    passed    INTEGER NOT NULL,
    report    TEXT NOT NULL,
    FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
CREATE INDEX smoke_results_by_version ON smoke_results (model, version, id);
"#,
    r#"
CREATE TABLE evaluations (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    model     TEXT NOT NULL,
    version   INTEGER NOT NULL,
    at        TEXT NOT NULL,
    report    TEXT NOT NULL,
    FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
CREATE INDEX evaluations_by_version ON evaluations (model, version, id);
"#,
    // The fleet's summary (versions per model, latest, last created) from the index alone: the
    // table's rows carry baseline profiles of tens of kilobytes each, stored before created_at,
    // so reading created_at from the rows walked every profile.
    r#"
CREATE INDEX versions_summary ON versions (model, version, created_at);
"#,
    // A numeric feature's reference values for the KS test (up to 100,000 by default, as
    // little-endian f64s), apart from the profile so that listing versions stays light.
    r#"
CREATE TABLE reference_values (
    model    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    feature  TEXT NOT NULL,
    sorted   BLOB NOT NULL,
    PRIMARY KEY (model, version, feature),
    FOREIGN KEY (model, version) REFERENCES versions(model, version)
);
"#,
    // Progressive rollouts, one per model and environment, kept between rounds of `watch` and
    // across its restarts; `revision` makes every update a compare-and-swap, so a pause typed
    // while `watch` judges a step is not overwritten by it.
    r#"
CREATE TABLE rollouts (
    environment  TEXT NOT NULL,
    model        TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    active       INTEGER NOT NULL,
    state        TEXT NOT NULL,
    PRIMARY KEY (environment, model)
);
"#,
];

pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}
