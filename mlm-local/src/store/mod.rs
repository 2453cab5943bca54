//! Durable state in SQLite: models, versions, endpoints, instance processes, an event log,
//! alarms, deployments and drift baselines.
//!
//! One connection behind a mutex: every statement here is a point lookup or a short range scan
//! on a local file, far below the cost of the process work around it. WAL mode keeps readers of
//! the file (backups, `sqlite3` by hand) from blocking writes, and `synchronous=NORMAL` in WAL
//! mode survives process crashes (`kill -9`) without losing committed transactions.

use std::path::Path;
use std::sync::Mutex;

use chrono::Utc;
use mlm_core::backend::{decode_cursor, encode_cursor};
use mlm_core::drift::Baseline;
use mlm_core::{
    Alarm, AlarmDefinition, AlarmName, AlarmState, BaselineName, Deployment, DeploymentKind,
    DeploymentPolicy, Endpoint, EndpointEvent, EndpointName, EndpointStatus, Error, EventQuery,
    EventSource, Model, ModelName, ModelVersion, NewEvent, Page, PageRequest, ResourceKind, Result,
    Variant, VariantSpec,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

mod pipelines;

/// Schema migrations, applied in order; the index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE models (
    name        TEXT PRIMARY KEY,
    doc         TEXT NOT NULL,
    next_version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE versions (
    model   TEXT NOT NULL REFERENCES models(name),
    version INTEGER NOT NULL,
    doc     TEXT NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE TABLE endpoints (
    name   TEXT PRIMARY KEY,
    doc    TEXT NOT NULL
);
CREATE TABLE instance_processes (
    endpoint   TEXT NOT NULL,
    instance   TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    PRIMARY KEY (endpoint, instance)
);
CREATE TABLE events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    resource TEXT NOT NULL,
    event    TEXT NOT NULL,
    detail   TEXT
);
"#,
    r#"
CREATE TABLE alarms (
    endpoint    TEXT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    state_since TEXT NOT NULL,
    PRIMARY KEY (endpoint, name)
);
CREATE TABLE deployments (
    endpoint TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    doc      TEXT NOT NULL,
    PRIMARY KEY (endpoint, seq)
);
"#,
    r#"
ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'system';
ALTER TABLE events ADD COLUMN data TEXT;
CREATE INDEX events_by_resource ON events (resource, id);
"#,
    r#"
CREATE TABLE baselines (
    endpoint TEXT NOT NULL,
    name     TEXT NOT NULL,
    doc      TEXT NOT NULL,
    PRIMARY KEY (endpoint, name)
);
"#,
    r#"
CREATE TABLE pipelines (
    name TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
);
CREATE TABLE pipeline_runs (
    pipeline TEXT NOT NULL,
    id       TEXT NOT NULL,
    revision INTEGER NOT NULL,
    doc      TEXT NOT NULL,
    PRIMARY KEY (pipeline, id)
);
"#,
];

fn not_issued() -> Error {
    Error::invalid("page_token is not a token this API issued")
}

/// The name a by-name page starts after: a token this API issued holds a valid name (so a
/// forged or mangled token is a 400, as it is for versions, not a silently odd page).
fn name_cursor<T>(
    page: &PageRequest,
    valid: impl Fn(String) -> Result<T>,
) -> Result<Option<String>> {
    let Some(token) = page.page_token.as_deref() else {
        return Ok(None);
    };
    let name = decode_cursor(token)?;
    valid(name.clone()).map_err(|_| not_issued())?;
    Ok(Some(name))
}

/// An endpoint as persisted: the description plus an update that has not completed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredEndpoint {
    /// The description; `variants` is the configuration in force.
    pub endpoint: Endpoint,
    /// The variant set an in-progress update is moving to.
    pub pending: Option<Vec<VariantSpec>>,
}

/// One entry of an endpoint's lifecycle log.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// When it happened.
    pub at: chrono::DateTime<Utc>,
    /// What happened (`creating`, `in_service`, `instance_failed`, …).
    pub event: String,
    /// Details, such as a failure reason.
    pub detail: Option<String>,
}

/// The `resource` of an endpoint's rows in the event log.
pub(crate) fn endpoint_resource(name: &EndpointName) -> String {
    format!("endpoint/{name}")
}

/// An `events` row as read, before it is checked.
struct EventRow {
    id: i64,
    at: String,
    kind: String,
    detail: Option<String>,
    source: String,
    data: Option<String>,
}

impl EventRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            at: r.get(1)?,
            kind: r.get(2)?,
            detail: r.get(3)?,
            source: r.get(4)?,
            data: r.get(5)?,
        })
    }

    fn to_event(&self, endpoint: &EndpointName) -> Result<EndpointEvent> {
        let source = if self.source == "user" {
            EventSource::User
        } else {
            EventSource::System
        };
        // Lifecycle entries without a detail read as their kind, in words.
        let message = self
            .detail
            .clone()
            .unwrap_or_else(|| self.kind.replace('_', " "));
        let mut what = NewEvent::new(self.kind.clone(), message);
        what.data = self.data.as_deref().map(from_json).transpose()?;
        Ok(EndpointEvent::recorded(
            self.id.to_string(),
            endpoint.clone(),
            parse_time(&self.at)?,
            source,
            what,
        ))
    }
}

/// A process started for an instance, recorded so a restarted server can stop leftovers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessRecord {
    pub endpoint: String,
    pub instance: String,
    pub pid: u32,
    /// Process start time, seconds since the epoch (guards against pid reuse).
    pub start_time: u64,
}

pub(crate) struct Store {
    conn: Mutex<Connection>,
}

/// A page of the first `size` `rows` as items (the rows were fetched with one extra, which
/// says whether more follow); the next page starts after the last item's `cursor`.
fn page_of<R, T>(
    rows: &[R],
    size: u32,
    item: impl FnMut(&R) -> Result<T>,
    cursor: impl Fn(&T) -> String,
) -> Result<Page<T>> {
    let items = rows
        .iter()
        .take(size as usize)
        .map(item)
        .collect::<Result<Vec<T>>>()?;
    let next = (rows.len() > size as usize)
        .then(|| items.last().map(|i| encode_cursor(&cursor(i))))
        .flatten();
    Ok(Page {
        items,
        next_page_token: next,
    })
}

/// A deployment id as its row number; an id this backend never issued is simply not found.
fn deployment_seq(endpoint: &EndpointName, id: &str) -> Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|seq| *seq > 0 && seq.to_string() == id)
        .ok_or_else(|| deployment_not_found(endpoint, id))
}

fn deployment_not_found(endpoint: &EndpointName, id: &str) -> Error {
    Error::not_found(ResourceKind::Deployment, format!("{endpoint}/{id}"))
}

fn baseline_not_found(endpoint: &EndpointName, name: &BaselineName) -> Error {
    Error::not_found(ResourceKind::Baseline, format!("{endpoint}/{name}"))
}

fn parse_time(text: &str) -> Result<chrono::DateTime<Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::provider("local state record has a bad time", e))
}

fn db_error(e: rusqlite::Error) -> Error {
    Error::provider("local state database error", e)
}

fn json_error(e: serde_json::Error) -> Error {
    Error::provider("local state record is corrupt", e)
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(json_error)
}

fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(json_error)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(db_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_error)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_error)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_error)?;
        let store = Self {
            conn: Mutex::new(conn),
        };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.lock();
        let current: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .map_err(db_error)? as usize;
        if current > MIGRATIONS.len() {
            return Err(Error::failed_precondition(format!(
                "the data directory was written by a newer mlm (schema {current}, this build \
                 knows {}): upgrade mlm or use another data directory",
                MIGRATIONS.len()
            )));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let tx = conn.transaction().map_err(db_error)?;
            tx.execute_batch(sql).map_err(db_error)?;
            tx.pragma_update(None, "user_version", (index + 1) as i64)
                .map_err(db_error)?;
            tx.commit().map_err(db_error)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one statement on its own; the number of rows it changed.
    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.lock().execute(sql, params).map_err(db_error)
    }

    /// The first column of every row `sql` returns.
    fn strings(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(sql).map_err(db_error)?;
        stmt.query_map(params, |r| r.get(0))
            .map_err(db_error)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_error)
    }

    /// Appends to the event log.
    pub(crate) fn log_event(
        &self,
        resource: &str,
        event: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO events (at, resource, event, detail) VALUES (?1, ?2, ?3, ?4)",
            params![Utc::now().to_rfc3339(), resource, event, detail],
        )?;
        Ok(())
    }

    /// Appends a caller's event to an endpoint's timeline and returns it.
    pub(crate) fn record_event(
        &self,
        endpoint: &EndpointName,
        event: &NewEvent,
    ) -> Result<EndpointEvent> {
        let at = Utc::now();
        let data = event.data.as_ref().map(to_json).transpose()?;
        let conn = self.lock();
        conn.execute(
            "INSERT INTO events (at, resource, event, detail, source, data) \
             VALUES (?1, ?2, ?3, ?4, 'user', ?5)",
            params![
                at.to_rfc3339(),
                endpoint_resource(endpoint),
                event.kind,
                event.message,
                data
            ],
        )
        .map_err(db_error)?;
        let id = conn.last_insert_rowid().to_string();
        Ok(EndpointEvent::recorded(
            id,
            endpoint.clone(),
            at,
            EventSource::User,
            event.clone(),
        ))
    }

    /// A page of an endpoint's events, newest first, filtered by `query`.
    pub(crate) fn list_events(
        &self,
        query: &EventQuery,
        page: &PageRequest,
    ) -> Result<Page<EndpointEvent>> {
        let size = page.size()?;
        let before: i64 = match page.page_token.as_deref().map(decode_cursor).transpose()? {
            Some(cursor) => cursor.parse().map_err(|_| not_issued())?,
            None => i64::MAX,
        };
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, at, event, detail, source, data FROM events \
                 WHERE resource = ?1 AND id < ?2 AND (?3 IS NULL OR event = ?3) \
                 AND (?4 IS NULL OR at >= ?4) ORDER BY id DESC LIMIT ?5",
            )
            .map_err(db_error)?;
        let since = query.since.map(|t| t.to_rfc3339());
        let rows = stmt
            .query_map(
                params![
                    endpoint_resource(&query.endpoint),
                    before,
                    query.kind,
                    since,
                    size + 1
                ],
                EventRow::read,
            )
            .map_err(db_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error)?;
        page_of(
            &rows,
            size,
            |row| row.to_event(&query.endpoint),
            |e: &EndpointEvent| e.id.clone(),
        )
    }

    /// The most recent events of a resource, newest first.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn events(&self, resource: &str, limit: u32) -> Result<Vec<LifecycleEvent>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT at, event, detail FROM events WHERE resource = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![resource, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(db_error)?;
        rows.map(|row| {
            let (at, event, detail) = row.map_err(db_error)?;
            Ok(LifecycleEvent {
                at: parse_time(&at)?,
                event,
                detail,
            })
        })
        .collect()
    }

    // --- models -------------------------------------------------------------------------

    pub(crate) fn insert_model(&self, model: &Model) -> Result<()> {
        let inserted = self.execute(
            "INSERT INTO models (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
            params![model.name.as_str(), to_json(model)?],
        )?;
        if inserted == 0 {
            return Err(Error::already_exists(ResourceKind::Model, &model.name));
        }
        Ok(())
    }

    pub(crate) fn get_model(&self, name: &ModelName) -> Result<Model> {
        let conn = self.lock();
        Self::model_in(&conn, name)
    }

    fn model_in(conn: &Connection, name: &ModelName) -> Result<Model> {
        let doc: Option<String> = conn
            .query_row(
                "SELECT doc FROM models WHERE name = ?1",
                [name.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error)?;
        let mut model: Model =
            from_json(&doc.ok_or_else(|| Error::not_found(ResourceKind::Model, name))?)?;
        model.latest_version = conn
            .query_row(
                "SELECT MAX(version) FROM versions WHERE model = ?1",
                [name.as_str()],
                |r| r.get::<_, Option<u32>>(0),
            )
            .map_err(db_error)?;
        Ok(model)
    }

    pub(crate) fn list_models(&self, page: &PageRequest) -> Result<Page<Model>> {
        let size = page.size()?;
        let after = name_cursor(page, ModelName::new)?;
        let names = self.strings(
            "SELECT name FROM models WHERE name > ?1 ORDER BY name LIMIT ?2",
            params![after.unwrap_or_default(), size + 1],
        )?;
        page_of(
            &names,
            size,
            |name| self.get_model(&ModelName::new(name.as_str())?),
            |m| m.name.to_string(),
        )
    }

    pub(crate) fn put_model(&self, model: &Model) -> Result<()> {
        let changed = self.execute(
            "UPDATE models SET doc = ?2 WHERE name = ?1",
            params![model.name.as_str(), to_json(model)?],
        )?;
        if changed == 0 {
            return Err(Error::not_found(ResourceKind::Model, &model.name));
        }
        Ok(())
    }

    pub(crate) fn delete_model(&self, name: &ModelName) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db_error)?;
        let versions: u32 = tx
            .query_row(
                "SELECT COUNT(*) FROM versions WHERE model = ?1",
                [name.as_str()],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        if versions > 0 {
            return Err(Error::failed_precondition(format!(
                "model '{name}' still has {versions} version(s): delete them first"
            )));
        }
        let deleted = tx
            .execute("DELETE FROM models WHERE name = ?1", [name.as_str()])
            .map_err(db_error)?;
        if deleted == 0 {
            return Err(Error::not_found(ResourceKind::Model, name));
        }
        tx.commit().map_err(db_error)
    }

    // --- versions -----------------------------------------------------------------------

    /// Inserts `version` under the next number of its model, which it sets; atomically.
    pub(crate) fn insert_version(&self, version: &mut ModelVersion) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db_error)?;
        let next: Option<u32> = tx
            .query_row(
                "SELECT next_version FROM models WHERE name = ?1",
                [version.model.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error)?;
        let next = next.ok_or_else(|| Error::not_found(ResourceKind::Model, &version.model))?;
        version.version = next;
        tx.execute(
            "INSERT INTO versions (model, version, doc) VALUES (?1, ?2, ?3)",
            params![version.model.as_str(), next, to_json(version)?],
        )
        .map_err(db_error)?;
        tx.execute(
            "UPDATE models SET next_version = ?2 WHERE name = ?1",
            params![version.model.as_str(), next + 1],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)
    }

    pub(crate) fn get_version(&self, model: &ModelName, version: u32) -> Result<ModelVersion> {
        let doc: Option<String> = self
            .lock()
            .query_row(
                "SELECT doc FROM versions WHERE model = ?1 AND version = ?2",
                params![model.as_str(), version],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error)?;
        match doc {
            Some(doc) => from_json(&doc),
            None => {
                // Say which one is missing: the model or just the version.
                self.get_model(model)?;
                Err(Error::not_found(
                    ResourceKind::ModelVersion,
                    format!("{model}/{version}"),
                ))
            }
        }
    }

    pub(crate) fn list_versions(
        &self,
        model: &ModelName,
        page: &PageRequest,
    ) -> Result<Page<ModelVersion>> {
        self.get_model(model)?;
        let size = page.size()?;
        let after: u32 = match page.page_token.as_deref().map(decode_cursor).transpose()? {
            Some(cursor) => cursor.parse().map_err(|_| not_issued())?,
            None => 0,
        };
        let docs = self.strings(
            "SELECT doc FROM versions WHERE model = ?1 AND version > ?2 \
             ORDER BY version LIMIT ?3",
            params![model.as_str(), after, size + 1],
        )?;
        page_of(
            &docs,
            size,
            |d| from_json(d),
            |v: &ModelVersion| v.version.to_string(),
        )
    }

    pub(crate) fn put_version(&self, version: &ModelVersion) -> Result<()> {
        let changed = self.execute(
            "UPDATE versions SET doc = ?3 WHERE model = ?1 AND version = ?2",
            params![version.model.as_str(), version.version, to_json(version)?],
        )?;
        if changed == 0 {
            return Err(Error::not_found(
                ResourceKind::ModelVersion,
                format!("{}/{}", version.model, version.version),
            ));
        }
        Ok(())
    }

    pub(crate) fn delete_version(&self, model: &ModelName, version: u32) -> Result<()> {
        let deleted = self.execute(
            "DELETE FROM versions WHERE model = ?1 AND version = ?2",
            params![model.as_str(), version],
        )?;
        if deleted == 0 {
            self.get_model(model)?;
            return Err(Error::not_found(
                ResourceKind::ModelVersion,
                format!("{model}/{version}"),
            ));
        }
        Ok(())
    }

    /// Digests of every stored version's artifact (what the artifact store must keep).
    pub(crate) fn artifact_digests(&self) -> Result<std::collections::HashSet<String>> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT doc FROM versions").map_err(db_error)?;
        let docs = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error)?;
        let mut digests = std::collections::HashSet::new();
        for doc in docs {
            let v: ModelVersion = from_json(&doc)?;
            digests.extend(v.artifact_digest);
        }
        Ok(digests)
    }

    // --- endpoints ----------------------------------------------------------------------

    pub(crate) fn insert_endpoint(&self, stored: &StoredEndpoint) -> Result<()> {
        let inserted = self.execute(
            "INSERT INTO endpoints (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
            params![stored.endpoint.name.as_str(), to_json(stored)?],
        )?;
        if inserted == 0 {
            return Err(Error::already_exists(
                ResourceKind::Endpoint,
                &stored.endpoint.name,
            ));
        }
        Ok(())
    }

    pub(crate) fn get_endpoint(&self, name: &EndpointName) -> Result<StoredEndpoint> {
        let doc: Option<String> = self
            .lock()
            .query_row(
                "SELECT doc FROM endpoints WHERE name = ?1",
                [name.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error)?;
        from_json(&doc.ok_or_else(|| Error::not_found(ResourceKind::Endpoint, name))?)
    }

    /// Replaces an endpoint's record. An accepted delete is final: a record that says
    /// `Deleting` is only ever replaced by one that says `Deleting` too, checked in the same
    /// statement, so lifecycle work that finishes late can never bring the endpoint back.
    pub(crate) fn put_endpoint(&self, stored: &StoredEndpoint) -> Result<()> {
        let name = stored.endpoint.name.as_str();
        let deleting = stored.endpoint.status == EndpointStatus::Deleting;
        let conn = self.lock();
        let changed = conn
            .execute(
                "UPDATE endpoints SET doc = ?2 WHERE name = ?1 \
                 AND (?3 OR json_extract(doc, '$.endpoint.status') IS NOT 'Deleting')",
                params![name, to_json(stored)?, deleting],
            )
            .map_err(db_error)?;
        if changed == 1 {
            return Ok(());
        }
        let exists = conn
            .query_row(
                "SELECT 1 FROM endpoints WHERE name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()
            .map_err(db_error)?
            .is_some();
        Err(if exists {
            Error::failed_precondition(format!("endpoint '{name}' is being deleted"))
        } else {
            Error::not_found(ResourceKind::Endpoint, name)
        })
    }

    pub(crate) fn delete_endpoint(&self, name: &EndpointName) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db_error)?;
        tx.execute("DELETE FROM endpoints WHERE name = ?1", [name.as_str()])
            .map_err(db_error)?;
        // What belongs to the endpoint goes with it.
        for table in ["instance_processes", "alarms", "deployments", "baselines"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE endpoint = ?1"),
                [name.as_str()],
            )
            .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)
    }

    pub(crate) fn list_endpoints(&self, page: &PageRequest) -> Result<Page<StoredEndpoint>> {
        let size = page.size()?;
        let after = name_cursor(page, EndpointName::new)?;
        let docs = self.strings(
            "SELECT doc FROM endpoints WHERE name > ?1 ORDER BY name LIMIT ?2",
            params![after.unwrap_or_default(), size + 1],
        )?;
        page_of(
            &docs,
            size,
            |d| from_json(d),
            |e: &StoredEndpoint| e.endpoint.name.to_string(),
        )
    }

    /// Every endpoint (for recovery at start and reference checks).
    pub(crate) fn all_endpoints(&self) -> Result<Vec<StoredEndpoint>> {
        let docs = self.strings("SELECT doc FROM endpoints ORDER BY name", [])?;
        docs.iter().map(|d| from_json(d)).collect()
    }

    // --- alarms -------------------------------------------------------------------------

    /// Creates an alarm (`INSUFFICIENT_DATA`) or replaces its definition, keeping its state;
    /// answers it as stored.
    pub(crate) fn put_alarm(&self, definition: &AlarmDefinition) -> Result<Alarm> {
        let fresh = Alarm::new(definition.clone(), Utc::now());
        self.execute(
            "INSERT INTO alarms (endpoint, name, definition, state, reason, state_since) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT(endpoint, name) DO UPDATE SET definition = excluded.definition",
            params![
                definition.endpoint.as_str(),
                definition.name.as_str(),
                to_json(definition)?,
                fresh.state.as_str(),
                fresh.state_reason,
                fresh.state_since.to_rfc3339()
            ],
        )?;
        self.get_alarm(&definition.endpoint, &definition.name)
    }

    /// Records an alarm's state, reason and `state_since` (not its definition, which a user
    /// may have replaced meanwhile); an alarm deleted meanwhile stays deleted.
    pub(crate) fn set_alarm_state(&self, alarm: &Alarm) -> Result<()> {
        let d = &alarm.definition;
        self.execute(
            "UPDATE alarms SET state = ?3, reason = ?4, state_since = ?5 \
             WHERE endpoint = ?1 AND name = ?2",
            params![
                d.endpoint.as_str(),
                d.name.as_str(),
                alarm.state.as_str(),
                alarm.state_reason,
                alarm.state_since.to_rfc3339()
            ],
        )?;
        Ok(())
    }

    /// The alarms `selection` (the SQL after `FROM alarms`) selects.
    fn alarms_where(&self, selection: &str, params: impl rusqlite::Params) -> Result<Vec<Alarm>> {
        let conn = self.lock();
        let sql = format!("SELECT definition, state, reason, state_since FROM alarms {selection}");
        let mut stmt = conn.prepare(&sql).map_err(db_error)?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(db_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error)?;
        rows.into_iter()
            .map(|(definition, state, reason, since)| {
                let mut alarm = Alarm::new(from_json(&definition)?, parse_time(&since)?);
                alarm.state = state.parse::<AlarmState>()?;
                alarm.state_reason = reason;
                Ok(alarm)
            })
            .collect()
    }

    pub(crate) fn get_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<Alarm> {
        self.alarms_where(
            "WHERE endpoint = ?1 AND name = ?2",
            params![endpoint.as_str(), name.as_str()],
        )?
        .pop()
        .ok_or_else(|| Error::not_found(ResourceKind::Alarm, format!("{endpoint}/{name}")))
    }

    pub(crate) fn list_alarms(
        &self,
        endpoint: &EndpointName,
        page: &PageRequest,
    ) -> Result<Page<Alarm>> {
        let size = page.size()?;
        let after = name_cursor(page, AlarmName::new)?;
        let alarms = self.alarms_where(
            "WHERE endpoint = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
            params![endpoint.as_str(), after.unwrap_or_default(), size + 1],
        )?;
        page_of(
            &alarms,
            size,
            |a| Ok(a.clone()),
            |a: &Alarm| a.definition.name.to_string(),
        )
    }

    /// Every alarm of every endpoint (for evaluation).
    pub(crate) fn all_alarms(&self) -> Result<Vec<Alarm>> {
        self.alarms_where("ORDER BY endpoint, name", [])
    }

    pub(crate) fn delete_alarm(&self, endpoint: &EndpointName, name: &AlarmName) -> Result<()> {
        let deleted = self.execute(
            "DELETE FROM alarms WHERE endpoint = ?1 AND name = ?2",
            params![endpoint.as_str(), name.as_str()],
        )?;
        if deleted == 0 {
            return Err(Error::not_found(
                ResourceKind::Alarm,
                format!("{endpoint}/{name}"),
            ));
        }
        Ok(())
    }

    // --- drift baselines ----------------------------------------------------------------

    pub(crate) fn insert_baseline(&self, baseline: &Baseline) -> Result<()> {
        let inserted = self.execute(
            "INSERT INTO baselines (endpoint, name, doc) VALUES (?1, ?2, ?3) \
             ON CONFLICT(endpoint, name) DO NOTHING",
            params![
                baseline.endpoint.as_str(),
                baseline.name.as_str(),
                to_json(baseline)?
            ],
        )?;
        if inserted == 0 {
            return Err(Error::already_exists(
                ResourceKind::Baseline,
                format!("{}/{}", baseline.endpoint, baseline.name),
            ));
        }
        Ok(())
    }

    pub(crate) fn get_baseline(
        &self,
        endpoint: &EndpointName,
        name: &BaselineName,
    ) -> Result<Baseline> {
        let docs = self.strings(
            "SELECT doc FROM baselines WHERE endpoint = ?1 AND name = ?2",
            params![endpoint.as_str(), name.as_str()],
        )?;
        match docs.first() {
            Some(doc) => from_json(doc),
            None => Err(baseline_not_found(endpoint, name)),
        }
    }

    pub(crate) fn list_baselines(
        &self,
        endpoint: &EndpointName,
        page: &PageRequest,
    ) -> Result<Page<Baseline>> {
        let size = page.size()?;
        let after = name_cursor(page, BaselineName::new)?;
        let docs = self.strings(
            "SELECT doc FROM baselines WHERE endpoint = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
            params![endpoint.as_str(), after.unwrap_or_default(), size + 1],
        )?;
        page_of(
            &docs,
            size,
            |d| from_json(d),
            |b: &Baseline| b.name.to_string(),
        )
    }

    pub(crate) fn delete_baseline(
        &self,
        endpoint: &EndpointName,
        name: &BaselineName,
    ) -> Result<()> {
        let deleted = self.execute(
            "DELETE FROM baselines WHERE endpoint = ?1 AND name = ?2",
            params![endpoint.as_str(), name.as_str()],
        )?;
        if deleted == 0 {
            return Err(baseline_not_found(endpoint, name));
        }
        Ok(())
    }

    // --- deployments --------------------------------------------------------------------

    /// Records a new deployment of `endpoint`, `Provisioning`, under the next id ("1", "2", …).
    pub(crate) fn insert_deployment(
        &self,
        endpoint: &EndpointName,
        kind: DeploymentKind,
        target: Vec<Variant>,
        policy: Option<DeploymentPolicy>,
    ) -> Result<Deployment> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db_error)?;
        let seq: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM deployments WHERE endpoint = ?1",
                [endpoint.as_str()],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        let deployment = Deployment::start(
            seq.to_string(),
            endpoint.clone(),
            kind,
            target,
            policy,
            Utc::now(),
        );
        tx.execute(
            "INSERT INTO deployments (endpoint, seq, doc) VALUES (?1, ?2, ?3)",
            params![endpoint.as_str(), seq, to_json(&deployment)?],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(deployment)
    }

    /// Replaces a deployment's record (a deployment whose endpoint is gone stays gone).
    pub(crate) fn put_deployment(&self, deployment: &Deployment) -> Result<()> {
        let seq = deployment_seq(&deployment.endpoint, &deployment.id)?;
        self.execute(
            "UPDATE deployments SET doc = ?3 WHERE endpoint = ?1 AND seq = ?2",
            params![deployment.endpoint.as_str(), seq, to_json(deployment)?],
        )?;
        Ok(())
    }

    pub(crate) fn get_deployment(&self, endpoint: &EndpointName, id: &str) -> Result<Deployment> {
        let seq = deployment_seq(endpoint, id)?;
        let doc: Option<String> = self
            .lock()
            .query_row(
                "SELECT doc FROM deployments WHERE endpoint = ?1 AND seq = ?2",
                params![endpoint.as_str(), seq],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_error)?;
        from_json(&doc.ok_or_else(|| deployment_not_found(endpoint, id))?)
    }

    /// The newest deployment of `endpoint`, if it has any.
    pub(crate) fn latest_deployment(&self, endpoint: &EndpointName) -> Result<Option<Deployment>> {
        let docs = self.strings(
            "SELECT doc FROM deployments WHERE endpoint = ?1 ORDER BY seq DESC LIMIT 1",
            [endpoint.as_str()],
        )?;
        docs.first().map(|d| from_json(d)).transpose()
    }

    /// An endpoint's deployments, newest first.
    pub(crate) fn list_deployments(
        &self,
        endpoint: &EndpointName,
        page: &PageRequest,
    ) -> Result<Page<Deployment>> {
        let size = page.size()?;
        let before: i64 = match page.page_token.as_deref().map(decode_cursor).transpose()? {
            Some(cursor) => cursor.parse().map_err(|_| not_issued())?,
            None => i64::MAX,
        };
        let docs = self.strings(
            "SELECT doc FROM deployments WHERE endpoint = ?1 AND seq < ?2 \
             ORDER BY seq DESC LIMIT ?3",
            params![endpoint.as_str(), before, size + 1],
        )?;
        page_of(&docs, size, |d| from_json(d), |d: &Deployment| d.id.clone())
    }

    // --- instance processes -------------------------------------------------------------

    pub(crate) fn record_process(&self, record: &ProcessRecord) -> Result<()> {
        self.execute(
            "INSERT INTO instance_processes (endpoint, instance, pid, start_time) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT(endpoint, instance) \
             DO UPDATE SET pid = excluded.pid, start_time = excluded.start_time",
            params![
                record.endpoint,
                record.instance,
                record.pid,
                record.start_time as i64
            ],
        )?;
        Ok(())
    }

    pub(crate) fn forget_process(&self, endpoint: &str, instance: &str) -> Result<()> {
        self.execute(
            "DELETE FROM instance_processes WHERE endpoint = ?1 AND instance = ?2",
            params![endpoint, instance],
        )?;
        Ok(())
    }

    pub(crate) fn take_processes(&self) -> Result<Vec<ProcessRecord>> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db_error)?;
        let records = {
            let mut stmt = tx
                .prepare("SELECT endpoint, instance, pid, start_time FROM instance_processes")
                .map_err(db_error)?;
            stmt.query_map([], |r| {
                Ok(ProcessRecord {
                    endpoint: r.get(0)?,
                    instance: r.get(1)?,
                    pid: r.get(2)?,
                    start_time: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(db_error)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error)?
        };
        tx.execute("DELETE FROM instance_processes", [])
            .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlm_core::{Approval, Tags};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        (dir, store)
    }

    fn model(name: &str) -> Model {
        Model::new(ModelName::new(name).unwrap(), None, Tags::new(), Utc::now())
    }

    fn version(model: &str) -> ModelVersion {
        let now = Utc::now();
        serde_json::from_value(serde_json::json!({
            "model": model, "version": 0, "artifact_uri": "/a", "artifact_digest": null,
            "image": "rt", "environment": {}, "approval": "pending", "description": null,
            "created_at": now, "updated_at": now
        }))
        .unwrap()
    }

    fn endpoint(name: &str, status: EndpointStatus) -> StoredEndpoint {
        let request = mlm_core::CreateEndpointRequest::single(
            EndpointName::new(name).unwrap(),
            mlm_core::VersionRef::new(ModelName::new("m").unwrap(), 1),
            "ml.m5.large",
            1,
        );
        StoredEndpoint {
            endpoint: Endpoint::from_request(&request, status, Utc::now()),
            pending: None,
        }
    }

    /// Issue 9, defect 4: an update finishing after a delete was accepted wrote `InService`
    /// over `Deleting`, and after a crash the endpoint came back.
    #[test]
    fn a_deleting_endpoint_stays_deleting() {
        let (_dir, store) = store();
        let mut stored = endpoint("e", EndpointStatus::Updating);
        store.insert_endpoint(&stored).unwrap();
        stored.endpoint.status = EndpointStatus::Deleting;
        store.put_endpoint(&stored).unwrap();
        stored.endpoint.status = EndpointStatus::InService;
        let err = store.put_endpoint(&stored).unwrap_err();
        assert_eq!(err.kind(), mlm_core::ErrorKind::FailedPrecondition, "{err}");
        let name = EndpointName::new("e").unwrap();
        assert_eq!(
            store.get_endpoint(&name).unwrap().endpoint.status,
            EndpointStatus::Deleting
        );
        // Deleting over Deleting is fine (recovery re-records it); a missing record is NotFound.
        stored.endpoint.status = EndpointStatus::Deleting;
        store.put_endpoint(&stored).unwrap();
        let err = store
            .put_endpoint(&endpoint("gone", EndpointStatus::InService))
            .unwrap_err();
        assert_eq!(err.kind(), mlm_core::ErrorKind::NotFound);
    }

    /// Issue 9, defect 9: model (and endpoint) page tokens were not validated like version
    /// tokens: `page_token=2121` ("!!") answered 200.
    #[test]
    fn forged_page_tokens_are_refused() {
        let (_dir, store) = store();
        store.insert_model(&model("m")).unwrap();
        for token in [encode_cursor("!!"), encode_cursor(""), encode_cursor("-a")] {
            let page = PageRequest::first().with_token(token.clone());
            let err = store.list_models(&page).unwrap_err();
            assert!(
                err.to_string().contains("not a token this API issued"),
                "{token}: {err}"
            );
            let err = store.list_endpoints(&page).unwrap_err();
            assert!(
                err.to_string().contains("not a token this API issued"),
                "{token}: {err}"
            );
        }
        let page = PageRequest::first().with_token(encode_cursor("a"));
        assert_eq!(store.list_models(&page).unwrap().items.len(), 1);
    }

    #[test]
    fn migrations_are_idempotent_and_state_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let store = Store::open(&path).unwrap();
            store.insert_model(&model("m")).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store
                .get_model(&ModelName::new("m").unwrap())
                .unwrap()
                .name
                .as_str(),
            "m"
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        Store::open(&path).unwrap();
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Store::open(&path).err().unwrap().to_string();
        assert!(err.contains("newer mlm"), "{err}");
    }

    #[test]
    fn versions_number_per_model_and_never_reuse() {
        let (_dir, store) = store();
        store.insert_model(&model("a")).unwrap();
        store.insert_model(&model("b")).unwrap();
        let mut v = version("a");
        store.insert_version(&mut v).unwrap();
        assert_eq!(v.version, 1);
        store.insert_version(&mut v).unwrap();
        assert_eq!(v.version, 2);
        let mut w = version("b");
        store.insert_version(&mut w).unwrap();
        assert_eq!(w.version, 1);
        let a = ModelName::new("a").unwrap();
        store.delete_version(&a, 2).unwrap();
        store.insert_version(&mut v).unwrap();
        assert_eq!(v.version, 3);
        assert_eq!(store.get_model(&a).unwrap().latest_version, Some(3));
        let mut updated = store.get_version(&a, 1).unwrap();
        updated.approval = Approval::Approved;
        store.put_version(&updated).unwrap();
        assert_eq!(
            store.get_version(&a, 1).unwrap().approval,
            Approval::Approved
        );
    }

    #[test]
    fn missing_things_are_not_found_with_the_right_kind() {
        let (_dir, store) = store();
        let m = ModelName::new("m").unwrap();
        let err = store.get_version(&m, 1).unwrap_err().to_string();
        assert_eq!(err, "model 'm' not found");
        store.insert_model(&model("m")).unwrap();
        let err = store.get_version(&m, 1).unwrap_err().to_string();
        assert_eq!(err, "model version 'm/1' not found");
        let mut orphan = version("zz");
        assert!(
            store
                .insert_version(&mut orphan)
                .unwrap_err()
                .to_string()
                .contains("'zz'")
        );
    }

    #[test]
    fn process_records_are_taken_once() {
        let (_dir, store) = store();
        let rec = ProcessRecord {
            endpoint: "e".into(),
            instance: "primary-1".into(),
            pid: 42,
            start_time: 7,
        };
        store.record_process(&rec).unwrap();
        assert_eq!(store.take_processes().unwrap(), vec![rec]);
        assert!(store.take_processes().unwrap().is_empty());
    }

    fn alarm(endpoint: &str, name: &str) -> AlarmDefinition {
        AlarmDefinition::new(
            AlarmName::new(name).unwrap(),
            EndpointName::new(endpoint).unwrap(),
            mlm_core::MetricKind::InvocationErrors5xx,
            mlm_core::Statistic::Sum,
            mlm_core::Comparison::GreaterThan,
            0.0,
            10,
        )
    }

    /// A new definition keeps the live state, and a state write keeps the definition: the
    /// evaluator and a user replacing the alarm never undo each other.
    #[test]
    fn alarm_definitions_and_states_are_written_apart() {
        let (_dir, store) = store();
        let first = store.put_alarm(&alarm("e", "errors")).unwrap();
        assert_eq!(first.state, AlarmState::InsufficientData);
        let mut fired = first.clone();
        fired.transition(AlarmState::Alarm, "3 > 0".into(), Utc::now());
        store.set_alarm_state(&fired).unwrap();
        let mut redefined = alarm("e", "errors");
        redefined.threshold = 5.0;
        let after = store.put_alarm(&redefined).unwrap();
        assert_eq!(after.state, AlarmState::Alarm);
        assert_eq!(after.state_reason, "3 > 0");
        assert_eq!(after.definition.threshold, 5.0);
        store.set_alarm_state(&fired).unwrap();
        let e = EndpointName::new("e").unwrap();
        let name = AlarmName::new("errors").unwrap();
        assert_eq!(
            store.get_alarm(&e, &name).unwrap().definition.threshold,
            5.0
        );
        store.delete_alarm(&e, &name).unwrap();
        let err = store.delete_alarm(&e, &name).unwrap_err();
        assert_eq!(err.to_string(), "alarm 'e/errors' not found");
        // A state written after the delete does not bring the alarm back.
        store.set_alarm_state(&fired).unwrap();
        assert!(store.all_alarms().unwrap().is_empty());
    }

    #[test]
    fn alarms_page_by_name_within_their_endpoint() {
        let (_dir, store) = store();
        for name in ["c", "a", "b"] {
            store.put_alarm(&alarm("e", name)).unwrap();
        }
        store.put_alarm(&alarm("other", "a")).unwrap();
        let e = EndpointName::new("e").unwrap();
        let first = store
            .list_alarms(&e, &PageRequest::first().with_page_size(2))
            .unwrap();
        let names: Vec<_> = first
            .items
            .iter()
            .map(|a| a.definition.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let token = first.next_page_token.unwrap();
        let rest = store
            .list_alarms(
                &e,
                &PageRequest::first().with_page_size(2).with_token(token),
            )
            .unwrap();
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.items[0].definition.name.as_str(), "c");
        assert!(rest.next_page_token.is_none());
        let forged = PageRequest::first().with_token(encode_cursor("!!"));
        assert!(store.list_alarms(&e, &forged).is_err());
    }

    #[test]
    fn deployments_count_per_endpoint_and_list_newest_first() {
        let (_dir, store) = store();
        let e = EndpointName::new("e").unwrap();
        let other = EndpointName::new("other").unwrap();
        for _ in 0..3 {
            store
                .insert_deployment(&e, DeploymentKind::Update, Vec::new(), None)
                .unwrap();
        }
        let o = store
            .insert_deployment(&other, DeploymentKind::Create, Vec::new(), None)
            .unwrap();
        assert_eq!(o.id, "1");
        let first = store
            .list_deployments(&e, &PageRequest::first().with_page_size(2))
            .unwrap();
        let ids: Vec<_> = first.items.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["3", "2"]);
        let token = first.next_page_token.unwrap();
        let rest = store
            .list_deployments(
                &e,
                &PageRequest::first().with_page_size(2).with_token(token),
            )
            .unwrap();
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.items[0].id, "1");
        assert_eq!(store.latest_deployment(&e).unwrap().unwrap().id, "3");
        let mut d = store.get_deployment(&e, "2").unwrap();
        d.enter(mlm_core::DeploymentPhase::Completed, Utc::now());
        store.put_deployment(&d).unwrap();
        assert!(store.get_deployment(&e, "2").unwrap().phase.is_terminal());
        for missing in ["4", "0", "02", "x", ""] {
            let err = store.get_deployment(&e, missing).unwrap_err();
            assert_eq!(err.kind(), mlm_core::ErrorKind::NotFound, "{missing}");
        }
    }

    /// Deleting an endpoint deletes its alarms and deployments, and no one else's.
    #[test]
    fn an_endpoint_takes_its_alarms_and_deployments_with_it() {
        let (_dir, store) = store();
        for name in ["e", "other"] {
            store
                .insert_endpoint(&endpoint(name, EndpointStatus::InService))
                .unwrap();
            store.put_alarm(&alarm(name, "errors")).unwrap();
            let n = EndpointName::new(name).unwrap();
            store
                .insert_deployment(&n, DeploymentKind::Create, Vec::new(), None)
                .unwrap();
        }
        let e = EndpointName::new("e").unwrap();
        store.delete_endpoint(&e).unwrap();
        assert!(store.latest_deployment(&e).unwrap().is_none());
        let left: Vec<_> = store
            .all_alarms()
            .unwrap()
            .into_iter()
            .map(|a| a.definition.endpoint.to_string())
            .collect();
        assert_eq!(left, ["other"]);
        let other = EndpointName::new("other").unwrap();
        assert!(store.latest_deployment(&other).unwrap().is_some());
        // Ids start again for an endpoint created anew under the same name.
        let again = store
            .insert_deployment(&e, DeploymentKind::Create, Vec::new(), None)
            .unwrap();
        assert_eq!(again.id, "1");
    }

    /// A data directory written before alarms and deployments existed is brought up to date.
    #[test]
    fn a_first_schema_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let store = Store::open(&path).unwrap();
        store.put_alarm(&alarm("e", "errors")).unwrap();
        let version: i64 = store
            .lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn events_are_logged_newest_first() {
        let (_dir, store) = store();
        store.log_event("endpoint/e", "created", None).unwrap();
        store
            .log_event("endpoint/e", "in_service", Some("2 instances"))
            .unwrap();
        let events = store.events("endpoint/e", 10).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event, "in_service");
        assert_eq!(events[0].detail.as_deref(), Some("2 instances"));
    }
}
