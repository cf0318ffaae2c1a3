//! The state store's schema and its versioned migrations. A store written by an older syncmap is
//! upgraded when opened; one written by a newer syncmap is refused, never guessed at.

/// Migrations in order; the store's version is how many have been applied.
pub(super) const MIGRATIONS: &[&str] = &[
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
];
