//! `mlm events`.

use mlm_core::{EventQuery, Events};

use super::list;
use crate::cli::EventsArgs;
use crate::failure::Failure;
use crate::output::Output;

pub(super) async fn list_events(
    args: EventsArgs,
    mlm: &dyn Events,
    out: Output,
) -> Result<(), Failure> {
    let mut query = EventQuery::new(args.endpoint);
    query.kind = args.kind;
    if let Some(window) = args.since {
        let window = chrono::Duration::from_std(window)
            .map_err(|_| Failure::usage("--since is too long"))?;
        query.since = Some(chrono::Utc::now() - window);
    }
    query.validate()?;
    out.print(&list(&args.page, |p| mlm.list_events(query.clone(), p)).await?)
}
