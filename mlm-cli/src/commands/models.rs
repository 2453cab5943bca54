//! `mlm models`.

use mlm_core::{CreateModelRequest, ModelRegistry, UpdateModelRequest};

use super::{list, pairs};
use crate::cli::ModelsCommand;
use crate::failure::Failure;
use crate::output::Output;

pub(super) async fn run(
    command: ModelsCommand,
    mlm: &dyn ModelRegistry,
    out: Output,
) -> Result<(), Failure> {
    match command {
        ModelsCommand::List(page) => out.print(&list(&page, |p| mlm.list_models(p)).await?),
        ModelsCommand::Get(a) => out.print(&mlm.get_model(&a.model).await?),
        ModelsCommand::Create(f) => {
            let mut request = CreateModelRequest::new(f.model);
            request.description = f.description;
            request.tags = pairs(f.tags);
            out.print(&mlm.create_model(request).await?)
        }
        ModelsCommand::Update(f) => {
            let mut request = UpdateModelRequest::new();
            request.description = f.description;
            if !f.tags.is_empty() {
                request.tags = Some(pairs(f.tags));
            }
            if request.description.is_none() && request.tags.is_none() {
                return Err(Failure::usage(
                    "nothing to change: give --description or --tag",
                ));
            }
            out.print(&mlm.update_model(&f.model, request).await?)
        }
        ModelsCommand::Delete(a) => {
            mlm.delete_model(&a.model).await?;
            out.note(&format!("deleted model '{}'", a.model))
        }
    }
}
