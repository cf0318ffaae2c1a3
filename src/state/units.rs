//! The units workers share: each company's job's table mapping, with when it is next due and
//! how its last run went. Any worker reads them to find what is due; the one that holds a unit's lease
//! (see [`lease`](super::lease)) runs it and moves its due time, inside a transaction fenced by
//! that lease, so a worker that lost the unit moves nothing.

use jiff::Timestamp;

use super::db::args;
use super::{parse_ts, ts, StateError, Store};

/// One unit as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The company whose records it syncs (`""`: a profile's one company).
    pub company: String,
    /// The job whose timing it follows.
    pub job: String,
    /// The table mapping it syncs.
    pub mapping: String,
    /// When it is next due; `None` once it never is again.
    pub due_at: Option<Timestamp>,
    /// The wait between its runs now, in seconds (longer while runs find nothing to do).
    pub wait_seconds: Option<i64>,
    /// How its last run ended (a run status), if it ran.
    pub last_status: Option<String>,
    /// Its last run's id.
    pub last_run: Option<i64>,
    /// When its last run ended.
    pub finished_at: Option<Timestamp>,
}

impl Unit {
    /// Its name, as its lease and messages name it: the table mapping, after the company
    /// (`CRONUS UK Ltd./customers`) when there is one.
    pub fn name(&self) -> String {
        unit_name(&self.company, &self.mapping)
    }

    /// Whether it is due at `now`.
    pub fn due(&self, now: Timestamp) -> bool {
        self.due_at.is_some_and(|d| d <= now)
    }
}

/// How a unit's run went, for its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRun {
    /// When it is next due.
    pub due_at: Option<Timestamp>,
    /// The wait between its runs now, in seconds.
    pub wait_seconds: Option<i64>,
    /// How the run ended.
    pub status: String,
    /// The run's id, when one was recorded.
    pub run: Option<i64>,
    /// When it ended.
    pub finished_at: Timestamp,
}

/// The name of a company's table mapping's unit (see [`Unit::name`]).
pub fn unit_name(company: &str, mapping: &str) -> String {
    if company.is_empty() {
        mapping.to_string()
    } else {
        format!("{company}/{mapping}")
    }
}

/// A unit to add: its company, job, table mapping and first due time.
pub type NewUnit = (String, String, String, Option<Timestamp>);

const COLUMNS: &str =
    "company, job, mapping, due_at, wait_seconds, last_status, last_run, finished_at FROM units";

impl Store {
    /// Adds the units not yet in the store; those it has keep their times, whichever worker
    /// wrote them. Also makes each unit's lease row, so a claim always finds one to lock.
    pub fn seed_units(&self, units: &[NewUnit]) -> Result<(), StateError> {
        self.transaction(|st| {
            let db = st.conn()?;
            for (company, job, mapping, due) in units {
                db.execute(
                    "INSERT INTO units (company, job, mapping, due_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT DO NOTHING",
                    &args![company, job, mapping, ts(*due)],
                )?;
                let lease = super::LeaseKind::Unit(unit_name(company, mapping)).name();
                db.execute(
                    "INSERT INTO leases (name, holder, token, pid, host, acquired_at, heartbeat_at) \
                     VALUES (?1, NULL, 0, 0, '', '', '') ON CONFLICT DO NOTHING",
                    &args![&lease],
                )?;
            }
            Ok(())
        })
    }

    /// Every unit, by company, job and table mapping.
    pub fn units(&self) -> Result<Vec<Unit>, StateError> {
        let sql = format!("SELECT {COLUMNS} ORDER BY company, job, mapping");
        self.conn()?.query(&sql, &[])?.iter().map(unit_of).collect()
    }

    /// One unit of the store's company, as it is now.
    pub fn unit(&self, job: &str, mapping: &str) -> Result<Option<Unit>, StateError> {
        let sql = format!("SELECT {COLUMNS} WHERE company = ?3 AND job = ?1 AND mapping = ?2");
        self.conn()?
            .query_row(&sql, &args![job, mapping, self.company()])?
            .map(|r| unit_of(&r))
            .transpose()
    }

    /// Records how a unit of the store's company ran and when it is next due; fenced by the
    /// store's fence (the unit's lease), so a worker that lost the unit records nothing.
    pub fn unit_ran(&self, job: &str, mapping: &str, ran: &UnitRun) -> Result<(), StateError> {
        self.transaction(|st| {
            st.conn()?.execute(
                "UPDATE units SET due_at = ?3, wait_seconds = ?4, last_status = ?5, last_run = ?6, \
                 finished_at = ?7 WHERE company = ?8 AND job = ?1 AND mapping = ?2",
                &args![
                    job,
                    mapping,
                    ts(ran.due_at),
                    ran.wait_seconds,
                    &ran.status,
                    ran.run,
                    ts(Some(ran.finished_at)),
                    st.company()
                ],
            )?;
            Ok(())
        })
    }
}

fn unit_of(r: &super::db::Row) -> Result<Unit, StateError> {
    Ok(Unit {
        company: r.get(0)?,
        job: r.get(1)?,
        mapping: r.get(2)?,
        due_at: parse_ts(r.get(3)?),
        wait_seconds: r.get(4)?,
        last_status: r.get(5)?,
        last_run: r.get(6)?,
        finished_at: parse_ts(r.get(7)?),
    })
}
