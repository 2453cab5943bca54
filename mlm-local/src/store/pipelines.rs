//! Pipelines and their runs, as JSON documents; a run's revision is a column so a save is one
//! compare-and-swap `UPDATE`.

use async_trait::async_trait;
use mlm_core::pipeline::{PipelineRecord, PipelineRun, PipelineStore};
use mlm_core::{Error, PipelineName, ResourceKind, Result};
use rusqlite::params;

use super::{Store, db_error, from_json, to_json};

#[async_trait]
impl PipelineStore for Store {
    async fn put_pipeline(&self, record: &PipelineRecord) -> Result<()> {
        self.execute(
            "INSERT INTO pipelines (name, doc) VALUES (?1, ?2) \
             ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
            params![record.spec.pipeline.as_str(), to_json(record)?],
        )?;
        Ok(())
    }

    async fn pipeline(&self, name: &PipelineName) -> Result<PipelineRecord> {
        let docs = self.strings("SELECT doc FROM pipelines WHERE name = ?1", [name.as_str()])?;
        match docs.first() {
            Some(doc) => from_json(doc),
            None => Err(Error::not_found(ResourceKind::Pipeline, name)),
        }
    }

    async fn all_pipelines(&self) -> Result<Vec<PipelineRecord>> {
        let docs = self.strings("SELECT doc FROM pipelines ORDER BY name", [])?;
        docs.iter().map(|d| from_json(d)).collect()
    }

    async fn remove_pipeline(&self, name: &PipelineName) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db_error)?;
        let deleted = tx
            .execute("DELETE FROM pipelines WHERE name = ?1", [name.as_str()])
            .map_err(db_error)?;
        tx.execute(
            "DELETE FROM pipeline_runs WHERE pipeline = ?1",
            [name.as_str()],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        if deleted == 0 {
            return Err(Error::not_found(ResourceKind::Pipeline, name));
        }
        Ok(())
    }

    async fn insert_run(&self, run: &PipelineRun) -> Result<bool> {
        // One statement, so a run is never added to a pipeline deleted meanwhile.
        let inserted = self.execute(
            "INSERT INTO pipeline_runs (pipeline, id, revision, doc) \
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM pipelines WHERE name = ?1) \
             ON CONFLICT(pipeline, id) DO NOTHING",
            params![run.pipeline.as_str(), run.id, run.revision, to_json(run)?],
        )?;
        if inserted == 0 {
            self.pipeline(&run.pipeline).await?;
        }
        Ok(inserted == 1)
    }

    async fn run(&self, pipeline: &PipelineName, id: &str) -> Result<PipelineRun> {
        let docs = self.strings(
            "SELECT doc FROM pipeline_runs WHERE pipeline = ?1 AND id = ?2",
            params![pipeline.as_str(), id],
        )?;
        match docs.first() {
            Some(doc) => from_json(doc),
            None => Err(Error::not_found(
                ResourceKind::PipelineRun,
                format!("{pipeline}/{id}"),
            )),
        }
    }

    async fn all_runs(&self, pipeline: &PipelineName) -> Result<Vec<PipelineRun>> {
        let docs = self.strings(
            "SELECT doc FROM pipeline_runs WHERE pipeline = ?1",
            [pipeline.as_str()],
        )?;
        docs.iter().map(|d| from_json(d)).collect()
    }

    async fn update_run(&self, run: &mut PipelineRun) -> Result<()> {
        let expected = run.revision;
        run.revision += 1;
        let updated = self.execute(
            "UPDATE pipeline_runs SET revision = ?3, doc = ?4 \
             WHERE pipeline = ?1 AND id = ?2 AND revision = ?5",
            params![
                run.pipeline.as_str(),
                run.id,
                run.revision,
                to_json(run)?,
                expected
            ],
        );
        if !matches!(updated, Ok(1)) {
            run.revision = expected;
            updated?;
            return Err(Error::conflict(format!(
                "run {} of pipeline '{}' changed since it was read (revision {expected})",
                run.id, run.pipeline
            )));
        }
        Ok(())
    }
}
