//! `mlm models`.

use mlm_core::archive::{PushRequest, push_version};
use mlm_core::{CreateModelRequest, Provider, UpdateModelRequest, UploadOptions};

use super::{list, pairs};
use crate::cli::{ModelsCommand, PushArgs};
use crate::failure::Failure;
use crate::output::Output;
use crate::progress::UploadBar;

pub(super) async fn run(
    command: ModelsCommand,
    mlm: &dyn Provider,
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
        ModelsCommand::Push(a) => push(a, mlm, out).await,
        ModelsCommand::Delete(a) => {
            mlm.delete_model(&a.model).await?;
            out.note(&format!("deleted model '{}'", a.model))
        }
    }
}

/// Packs, uploads with progress on stderr, registers; prints the version, then what was
/// uploaded (`-o json`/`yaml`: `version`, `artifact`, `files`, `model_created`).
async fn push(a: PushArgs, mlm: &dyn Provider, out: Output) -> Result<(), Failure> {
    let model = a.model.clone();
    let request = super::versions::version_request(a.model, String::new(), a.version);
    let bar = UploadBar::start(&format!("model '{model}'"));
    let mut options = UploadOptions::default().with_progress(bar.callback());
    options.destination = a.to;
    let push = PushRequest::new(&a.dir, request).with_options(options);
    let pushed = push_version(mlm, push).await;
    bar.finish();
    let pushed = pushed?;
    let artifact = &pushed.artifact;
    let how = if artifact.reused {
        "already stored, not sent again".to_string()
    } else {
        format!("{} part(s)", artifact.parts)
    };
    let footer = format!(
        "archive {} ({} files, {}, {how}) at {}{}",
        artifact.digest,
        pushed.files,
        indicatif::HumanBytes(artifact.bytes),
        artifact.uri,
        if pushed.model_created {
            format!("; model '{model}' created")
        } else {
            String::new()
        }
    );
    out.print_tables(
        &pushed,
        |color| vec![crate::output::Tabular::table(&pushed.version, color)],
        Some(&footer),
    )
}
