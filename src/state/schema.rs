//! The state store's schema and its versioned migrations. A store written by an older syncmap is
//! upgraded when opened; one written by a newer syncmap is refused, never guessed at.
//!
//! SQLite and PostgreSQL share the numbering. PostgreSQL stores began at version 10: their
//! first migration makes the schema SQLite reached through the first ten ([`POSTGRES_AT_10`]),
//! and every migration after it is written for both.

/// One migration, as each database takes it.
pub(super) struct Migration {
    /// The statements for SQLite.
    pub sqlite: &'static str,
    /// The statements for PostgreSQL; `None` up to version 10, whose PostgreSQL schema
    /// [`POSTGRES_AT_10`] makes at once.
    pub postgres: Option<&'static str>,
}

/// The SQLite migrations in order, 1 first.
const SQLITE: &[&str] = &[
    // 1: couplings, watermarks, runs, per-record failures and errors, create intents.
    r#"
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        mode TEXT NOT NULL,
        trigger TEXT NOT NULL,
        plan_digest TEXT NOT NULL,
        tables TEXT NOT NULL,
        dry_run INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        message TEXT
    );
    CREATE TABLE run_counts (
        run INTEGER NOT NULL REFERENCES runs(id),
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        inserted INTEGER NOT NULL DEFAULT 0,
        modified INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        conflicts INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0,
        uncoupled INTEGER NOT NULL DEFAULT 0,
        coupled INTEGER NOT NULL DEFAULT 0,
        cursor_before TEXT,
        cursor_after TEXT,
        PRIMARY KEY (run, mapping, direction)
    );
    CREATE TABLE couplings (
        mapping TEXT NOT NULL,
        left_key TEXT NOT NULL,
        right_key TEXT NOT NULL,
        left_synced TEXT,
        right_synced TEXT,
        ltr_result TEXT,
        ltr_run INTEGER,
        rtl_result TEXT,
        rtl_run INTEGER,
        skipped INTEGER NOT NULL DEFAULT 0,
        coupled_at TEXT NOT NULL,
        PRIMARY KEY (mapping, left_key),
        UNIQUE (mapping, right_key)
    );
    CREATE TABLE watermarks (
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        modified_on TEXT NOT NULL,
        key TEXT NOT NULL,
        run INTEGER,
        PRIMARY KEY (mapping, direction)
    );
    CREATE TABLE failures (
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        source_key TEXT NOT NULL,
        dest_key TEXT,
        message TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        skipped INTEGER NOT NULL DEFAULT 0,
        run INTEGER,
        at TEXT NOT NULL,
        PRIMARY KEY (mapping, direction, source_key)
    );
    CREATE TABLE record_errors (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run INTEGER NOT NULL,
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        source_key TEXT NOT NULL,
        dest_key TEXT,
        message TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX record_errors_by_run ON record_errors(run);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run INTEGER NOT NULL,
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        kind TEXT NOT NULL,
        source_key TEXT,
        dest_key TEXT,
        message TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX events_by_run ON events(run);
    CREATE TABLE intents (
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        source_key TEXT NOT NULL,
        dest_key TEXT NOT NULL,
        run INTEGER,
        at TEXT NOT NULL,
        PRIMARY KEY (mapping, direction, source_key)
    );
    "#,
    // 2: the couplings never synced from a side (made by `couple` or `match`), which every run
    //    syncs whatever their rows' modified-on, found without reading every coupling.
    r#"
    CREATE INDEX couplings_left_unsynced ON couplings(mapping, left_key) WHERE left_synced IS NULL;
    CREATE INDEX couplings_right_unsynced ON couplings(mapping, right_key) WHERE right_synced IS NULL;
    "#,
    // 3: intents for every write, not only creates (a run killed between an update and its
    //    coupling commit left the sync's own write looking like someone's change: a conflict or
    //    an echo), with what was written, what an update leaves as it was, and the source's
    //    modified-on, so the next run can tell the sync's own write from a change made after it.
    r#"
    ALTER TABLE intents ADD COLUMN kind TEXT NOT NULL DEFAULT 'create';
    ALTER TABLE intents ADD COLUMN source_modified_on TEXT;
    ALTER TABLE intents ADD COLUMN fields TEXT;
    ALTER TABLE intents ADD COLUMN kept TEXT;
    "#,
    // 4: what each run wrote where — one row per record inserted, modified, deleted, coupled,
    //    uncoupled or skipped (failures stay in `record_errors`) — written in the transaction
    //    that commits the batch's couplings, so it never claims a write the store does not
    //    know of. Only the last runs' rows are kept (`[run] history_runs`).
    r#"
    CREATE TABLE run_writes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run INTEGER NOT NULL,
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        action TEXT NOT NULL,
        source_key TEXT NOT NULL,
        dest_key TEXT,
        reason TEXT
    );
    CREATE INDEX run_writes_by_run ON run_writes(run, mapping, direction);
    CREATE INDEX runs_by_start ON runs(started_at);
    "#,
    // 5: echoes told from what the sync itself wrote (each side's version, the ETag its last
    //    sync left, beside the modified-on), rows the sync created whose system-set values
    //    still flow back (`follow_up`), creates into systems that choose the key (an
    //    intent with no key yet, found again by the values it wrote; `note` says why one could
    //    not be settled), and leases: who may write the store, renewed by a heartbeat and
    //    fenced by a token, instead of a lock file whose deletion let a second run in.
    r#"
    ALTER TABLE couplings ADD COLUMN left_version TEXT;
    ALTER TABLE couplings ADD COLUMN right_version TEXT;
    ALTER TABLE couplings ADD COLUMN follow_up TEXT;
    CREATE INDEX couplings_follow_up ON couplings(mapping, follow_up) WHERE follow_up IS NOT NULL;
    ALTER TABLE intents ADD COLUMN source_version TEXT;
    ALTER TABLE intents ADD COLUMN note TEXT;
    ALTER TABLE intents ADD COLUMN dest_pending INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT,
        token INTEGER NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,
        lock_id TEXT
    );
    "#,
    // 6: the plans runs ran, by digest, so a run can say which fields a plan added since the
    //    last full sync (records that do not change would never get them otherwise).
    r#"
    CREATE TABLE plans (
        digest TEXT PRIMARY KEY,
        plan TEXT NOT NULL
    );
    "#,
    // 7: the words a person knows a failed record by (its number and name), beside its key.
    r#"
    ALTER TABLE record_errors ADD COLUMN label TEXT;
    ALTER TABLE failures ADD COLUMN label TEXT;
    "#,
    // 8: what kind of failure a record has (a conflict, a deleted partner, another error) and,
    //    for a conflict, both sides' values of each differing field: `errors` shows them and
    //    `resolve --all` picks the records it settles by them.
    r#"
    ALTER TABLE failures ADD COLUMN kind TEXT;
    ALTER TABLE failures ADD COLUMN detail TEXT;
    UPDATE failures SET kind = 'conflict'
        WHERE message LIKE 'both sides changed since the last sync%';
    UPDATE failures SET kind = 'partner_deleted'
        WHERE message LIKE 'its coupled % was deleted; the rule is `fail`%';
    "#,
    // 9: each two-way field's value on each side when the pair last synced (fingerprints), so
    //    a conflict tells which side changed which field.
    r#"
    ALTER TABLE couplings ADD COLUMN base BLOB;
    "#,
    // 10: where a system's record of changes was last read to (Dataverse's delta links), per
    //     table mapping and direction, kept with the watermark.
    r#"
    CREATE TABLE deltas (
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        link TEXT NOT NULL,
        run INTEGER NOT NULL,
        PRIMARY KEY (mapping, direction)
    );
    "#,
    // 11: the units workers share (see `units.rs`): each job's table mapping, when it is next
    //     due and how its last run went, so any worker knows what is due.
    r#"
    CREATE TABLE units (
        company TEXT NOT NULL DEFAULT '',
        job TEXT NOT NULL,
        mapping TEXT NOT NULL,
        due_at TEXT,
        wait_seconds INTEGER,
        last_status TEXT,
        last_run INTEGER,
        finished_at TEXT,
        PRIMARY KEY (company, job, mapping)
    );
    "#,
    // 12: the company each row of state belongs to, so one store keeps the couplings,
    //     watermarks, intents and failures of many Business Central companies apart (a run
    //     records its company; what a run logged is its run's). '' is a profile's one company.
    //     SQLite cannot change a primary key in place: each keyed table is made again.
    r#"
    ALTER TABLE runs ADD COLUMN company TEXT NOT NULL DEFAULT '';
    CREATE TABLE couplings_12 (
        company TEXT NOT NULL DEFAULT '',
        mapping TEXT NOT NULL,
        left_key TEXT NOT NULL,
        right_key TEXT NOT NULL,
        left_synced TEXT,
        right_synced TEXT,
        ltr_result TEXT,
        ltr_run INTEGER,
        rtl_result TEXT,
        rtl_run INTEGER,
        skipped INTEGER NOT NULL DEFAULT 0,
        coupled_at TEXT NOT NULL,
        left_version TEXT,
        right_version TEXT,
        follow_up TEXT,
        base BLOB,
        PRIMARY KEY (company, mapping, left_key),
        UNIQUE (company, mapping, right_key)
    );
    INSERT INTO couplings_12 (mapping, left_key, right_key, left_synced, right_synced, ltr_result,
            ltr_run, rtl_result, rtl_run, skipped, coupled_at, left_version, right_version,
            follow_up, base)
        SELECT mapping, left_key, right_key, left_synced, right_synced, ltr_result, ltr_run,
            rtl_result, rtl_run, skipped, coupled_at, left_version, right_version, follow_up, base
        FROM couplings;
    DROP TABLE couplings;
    ALTER TABLE couplings_12 RENAME TO couplings;
    CREATE INDEX couplings_left_unsynced ON couplings(company, mapping, left_key) WHERE left_synced IS NULL;
    CREATE INDEX couplings_right_unsynced ON couplings(company, mapping, right_key) WHERE right_synced IS NULL;
    CREATE INDEX couplings_follow_up ON couplings(company, mapping, follow_up) WHERE follow_up IS NOT NULL;
    CREATE TABLE watermarks_12 (
        company TEXT NOT NULL DEFAULT '',
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        modified_on TEXT NOT NULL,
        key TEXT NOT NULL,
        run INTEGER,
        PRIMARY KEY (company, mapping, direction)
    );
    INSERT INTO watermarks_12 (mapping, direction, modified_on, key, run)
        SELECT mapping, direction, modified_on, key, run FROM watermarks;
    DROP TABLE watermarks;
    ALTER TABLE watermarks_12 RENAME TO watermarks;
    CREATE TABLE failures_12 (
        company TEXT NOT NULL DEFAULT '',
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        source_key TEXT NOT NULL,
        dest_key TEXT,
        message TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        skipped INTEGER NOT NULL DEFAULT 0,
        run INTEGER,
        at TEXT NOT NULL,
        label TEXT,
        kind TEXT,
        detail TEXT,
        PRIMARY KEY (company, mapping, direction, source_key)
    );
    INSERT INTO failures_12 (mapping, direction, source_key, dest_key, message, attempts, skipped,
            run, at, label, kind, detail)
        SELECT mapping, direction, source_key, dest_key, message, attempts, skipped, run, at,
            label, kind, detail
        FROM failures;
    DROP TABLE failures;
    ALTER TABLE failures_12 RENAME TO failures;
    CREATE TABLE intents_12 (
        company TEXT NOT NULL DEFAULT '',
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        source_key TEXT NOT NULL,
        dest_key TEXT NOT NULL,
        run INTEGER,
        at TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'create',
        source_modified_on TEXT,
        fields TEXT,
        kept TEXT,
        source_version TEXT,
        note TEXT,
        dest_pending INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (company, mapping, direction, source_key)
    );
    INSERT INTO intents_12 (mapping, direction, source_key, dest_key, run, at, kind,
            source_modified_on, fields, kept, source_version, note, dest_pending)
        SELECT mapping, direction, source_key, dest_key, run, at, kind, source_modified_on,
            fields, kept, source_version, note, dest_pending
        FROM intents;
    DROP TABLE intents;
    ALTER TABLE intents_12 RENAME TO intents;
    CREATE TABLE deltas_12 (
        company TEXT NOT NULL DEFAULT '',
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        link TEXT NOT NULL,
        run INTEGER NOT NULL,
        PRIMARY KEY (company, mapping, direction)
    );
    INSERT INTO deltas_12 (mapping, direction, link, run)
        SELECT mapping, direction, link, run FROM deltas;
    DROP TABLE deltas;
    ALTER TABLE deltas_12 RENAME TO deltas;
    "#,
    // 13: the company of each logged write, so each company prunes its log to its own newest
    //     runs by an index that holds only its rows.
    r#"
    ALTER TABLE run_writes ADD COLUMN company TEXT NOT NULL DEFAULT '';
    UPDATE run_writes SET company = (SELECT r.company FROM runs r WHERE r.id = run_writes.run)
        WHERE run IN (SELECT id FROM runs WHERE company <> '');
    CREATE INDEX run_writes_by_company ON run_writes(company, run);
    CREATE INDEX runs_by_company ON runs(company, id);
    "#,
    // 14: the keys kept for records' creates (see `create_keys.rs`): a create with a key of
    //     ours that was not found may still arrive, so its record is made again with that key.
    r#"
    CREATE TABLE create_keys (
        company TEXT NOT NULL DEFAULT '',
        mapping TEXT NOT NULL,
        direction TEXT NOT NULL,
        source_key TEXT NOT NULL,
        dest_key TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (company, mapping, direction, source_key)
    );
    "#,
];

/// Migration 11 for PostgreSQL.
const POSTGRES_11: &str = r#"
    CREATE TABLE units (
        company TEXT COLLATE "C" NOT NULL DEFAULT '',
        job TEXT COLLATE "C" NOT NULL,
        mapping TEXT COLLATE "C" NOT NULL,
        due_at TEXT COLLATE "C",
        wait_seconds BIGINT,
        last_status TEXT COLLATE "C",
        last_run BIGINT,
        finished_at TEXT COLLATE "C",
        PRIMARY KEY (company, job, mapping)
    );
"#;

/// Migration 12 for PostgreSQL: the same columns, keys changed in place.
const POSTGRES_12: &str = r#"
    ALTER TABLE runs ADD COLUMN company TEXT COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE couplings ADD COLUMN company TEXT COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE couplings DROP CONSTRAINT couplings_pkey;
    ALTER TABLE couplings DROP CONSTRAINT couplings_mapping_right_key_key;
    ALTER TABLE couplings ADD PRIMARY KEY (company, mapping, left_key);
    ALTER TABLE couplings ADD CONSTRAINT couplings_right UNIQUE (company, mapping, right_key);
    DROP INDEX couplings_left_unsynced;
    DROP INDEX couplings_right_unsynced;
    DROP INDEX couplings_follow_up;
    CREATE INDEX couplings_left_unsynced ON couplings(company, mapping, left_key) WHERE left_synced IS NULL;
    CREATE INDEX couplings_right_unsynced ON couplings(company, mapping, right_key) WHERE right_synced IS NULL;
    CREATE INDEX couplings_follow_up ON couplings(company, mapping, follow_up) WHERE follow_up IS NOT NULL;
    ALTER TABLE watermarks ADD COLUMN company TEXT COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE watermarks DROP CONSTRAINT watermarks_pkey;
    ALTER TABLE watermarks ADD PRIMARY KEY (company, mapping, direction);
    ALTER TABLE failures ADD COLUMN company TEXT COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE failures DROP CONSTRAINT failures_pkey;
    ALTER TABLE failures ADD PRIMARY KEY (company, mapping, direction, source_key);
    ALTER TABLE intents ADD COLUMN company TEXT COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE intents DROP CONSTRAINT intents_pkey;
    ALTER TABLE intents ADD PRIMARY KEY (company, mapping, direction, source_key);
    ALTER TABLE deltas ADD COLUMN company TEXT COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE deltas DROP CONSTRAINT deltas_pkey;
    ALTER TABLE deltas ADD PRIMARY KEY (company, mapping, direction);
"#;

/// Migration 13 for PostgreSQL.
const POSTGRES_13: &str = r#"
    ALTER TABLE run_writes ADD COLUMN company TEXT COLLATE "C" NOT NULL DEFAULT '';
    UPDATE run_writes SET company = r.company FROM runs r WHERE r.id = run_writes.run AND r.company <> '';
    CREATE INDEX run_writes_by_company ON run_writes(company, run);
    CREATE INDEX runs_by_company ON runs(company, id);
"#;

/// Migration 14 for PostgreSQL.
const POSTGRES_14: &str = r#"
    CREATE TABLE create_keys (
        company TEXT COLLATE "C" NOT NULL DEFAULT '',
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        source_key TEXT COLLATE "C" NOT NULL,
        dest_key TEXT COLLATE "C" NOT NULL,
        at TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (company, mapping, direction, source_key)
    );
"#;

/// The migrations in order; a store's version is how many have been applied.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        sqlite: SQLITE[0],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[1],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[2],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[3],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[4],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[5],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[6],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[7],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[8],
        postgres: None,
    },
    Migration {
        sqlite: SQLITE[9],
        postgres: Some(POSTGRES_AT_10),
    },
    Migration {
        sqlite: SQLITE[10],
        postgres: Some(POSTGRES_11),
    },
    Migration {
        sqlite: SQLITE[11],
        postgres: Some(POSTGRES_12),
    },
    Migration {
        sqlite: SQLITE[12],
        postgres: Some(POSTGRES_13),
    },
    Migration {
        sqlite: SQLITE[13],
        postgres: Some(POSTGRES_14),
    },
];

/// The PostgreSQL schema at version 10: SQLite's tables, with the types PostgreSQL checks.
/// - Text compares byte by byte (`COLLATE "C"`), as SQLite's does, so keys sort and page the
///   same in any locale.
/// - Integers are `BIGINT` and flags the integers 0 and 1, so the same SQL reads both.
/// - `run_counts.seq` orders a run's counts as they were saved (SQLite's `rowid`).
/// - The lease rows exist from the start, so two processes taking one at once lock the same row.
const POSTGRES_AT_10: &str = r#"
    CREATE TABLE runs (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        started_at TEXT COLLATE "C" NOT NULL,
        finished_at TEXT COLLATE "C",
        mode TEXT COLLATE "C" NOT NULL,
        trigger TEXT COLLATE "C" NOT NULL,
        plan_digest TEXT COLLATE "C" NOT NULL,
        tables TEXT COLLATE "C" NOT NULL,
        dry_run BIGINT NOT NULL DEFAULT 0,
        status TEXT COLLATE "C" NOT NULL,
        message TEXT COLLATE "C"
    );
    CREATE INDEX runs_by_start ON runs(started_at);
    CREATE TABLE run_counts (
        run BIGINT NOT NULL REFERENCES runs(id),
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        inserted BIGINT NOT NULL DEFAULT 0,
        modified BIGINT NOT NULL DEFAULT 0,
        unchanged BIGINT NOT NULL DEFAULT 0,
        skipped BIGINT NOT NULL DEFAULT 0,
        failed BIGINT NOT NULL DEFAULT 0,
        conflicts BIGINT NOT NULL DEFAULT 0,
        deleted BIGINT NOT NULL DEFAULT 0,
        uncoupled BIGINT NOT NULL DEFAULT 0,
        coupled BIGINT NOT NULL DEFAULT 0,
        cursor_before TEXT COLLATE "C",
        cursor_after TEXT COLLATE "C",
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (run, mapping, direction)
    );
    CREATE TABLE couplings (
        mapping TEXT COLLATE "C" NOT NULL,
        left_key TEXT COLLATE "C" NOT NULL,
        right_key TEXT COLLATE "C" NOT NULL,
        left_synced TEXT COLLATE "C",
        right_synced TEXT COLLATE "C",
        ltr_result TEXT COLLATE "C",
        ltr_run BIGINT,
        rtl_result TEXT COLLATE "C",
        rtl_run BIGINT,
        skipped BIGINT NOT NULL DEFAULT 0,
        coupled_at TEXT COLLATE "C" NOT NULL,
        left_version TEXT COLLATE "C",
        right_version TEXT COLLATE "C",
        follow_up TEXT COLLATE "C",
        base BYTEA,
        PRIMARY KEY (mapping, left_key),
        UNIQUE (mapping, right_key)
    );
    CREATE INDEX couplings_left_unsynced ON couplings(mapping, left_key) WHERE left_synced IS NULL;
    CREATE INDEX couplings_right_unsynced ON couplings(mapping, right_key) WHERE right_synced IS NULL;
    CREATE INDEX couplings_follow_up ON couplings(mapping, follow_up) WHERE follow_up IS NOT NULL;
    CREATE TABLE watermarks (
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        modified_on TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        run BIGINT,
        PRIMARY KEY (mapping, direction)
    );
    CREATE TABLE failures (
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        source_key TEXT COLLATE "C" NOT NULL,
        dest_key TEXT COLLATE "C",
        message TEXT COLLATE "C" NOT NULL,
        attempts BIGINT NOT NULL,
        skipped BIGINT NOT NULL DEFAULT 0,
        run BIGINT,
        at TEXT COLLATE "C" NOT NULL,
        label TEXT COLLATE "C",
        kind TEXT COLLATE "C",
        detail TEXT COLLATE "C",
        PRIMARY KEY (mapping, direction, source_key)
    );
    CREATE TABLE record_errors (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        run BIGINT NOT NULL,
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        source_key TEXT COLLATE "C" NOT NULL,
        dest_key TEXT COLLATE "C",
        message TEXT COLLATE "C" NOT NULL,
        at TEXT COLLATE "C" NOT NULL,
        label TEXT COLLATE "C"
    );
    CREATE INDEX record_errors_by_run ON record_errors(run);
    CREATE TABLE events (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        run BIGINT NOT NULL,
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        source_key TEXT COLLATE "C",
        dest_key TEXT COLLATE "C",
        message TEXT COLLATE "C" NOT NULL,
        at TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX events_by_run ON events(run);
    CREATE TABLE intents (
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        source_key TEXT COLLATE "C" NOT NULL,
        dest_key TEXT COLLATE "C" NOT NULL,
        run BIGINT,
        at TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL DEFAULT 'create',
        source_modified_on TEXT COLLATE "C",
        fields TEXT COLLATE "C",
        kept TEXT COLLATE "C",
        source_version TEXT COLLATE "C",
        note TEXT COLLATE "C",
        dest_pending BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (mapping, direction, source_key)
    );
    CREATE TABLE run_writes (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        run BIGINT NOT NULL,
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        action TEXT COLLATE "C" NOT NULL,
        source_key TEXT COLLATE "C" NOT NULL,
        dest_key TEXT COLLATE "C",
        reason TEXT COLLATE "C"
    );
    CREATE INDEX run_writes_by_run ON run_writes(run, mapping, direction);
    CREATE TABLE leases (
        name TEXT COLLATE "C" PRIMARY KEY,
        holder TEXT COLLATE "C",
        token BIGINT NOT NULL,
        pid BIGINT NOT NULL,
        host TEXT COLLATE "C" NOT NULL,
        acquired_at TEXT COLLATE "C" NOT NULL,
        heartbeat_at TEXT COLLATE "C" NOT NULL,
        lock_id TEXT COLLATE "C"
    );
    INSERT INTO leases (name, holder, token, pid, host, acquired_at, heartbeat_at)
        VALUES ('run', NULL, 0, 0, '', '', ''), ('scheduler', NULL, 0, 0, '', '', '');
    CREATE TABLE plans (
        digest TEXT COLLATE "C" PRIMARY KEY,
        plan TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE deltas (
        mapping TEXT COLLATE "C" NOT NULL,
        direction TEXT COLLATE "C" NOT NULL,
        link TEXT COLLATE "C" NOT NULL,
        run BIGINT NOT NULL,
        PRIMARY KEY (mapping, direction)
    );
"#;
