//! `mlm endpoints`: the long operations wait (with progress) when asked.

use mlm_core::{
    CreateEndpointRequest, DeploymentPolicy, Endpoint, EndpointManager, EndpointName,
    ModelRegistry, UpdateEndpointRequest, VariantChange, VariantName, VariantSpec, VersionRef,
};
use mlm_http::wire;

use super::{ensure_serving, list, pairs, read_json};
use crate::cli::{
    EndpointCreateArgs, EndpointUpdateArgs, EndpointWaitArgs, EndpointsCommand, UpdateTarget,
    WaitArgs, WeightsArgs,
};
use crate::connect::Backend;
use crate::failure::Failure;
use crate::output::Output;
use crate::progress;

pub(super) async fn run(
    command: EndpointsCommand,
    backend: &Backend,
    out: Output,
) -> Result<(), Failure> {
    let mlm = backend.provider.as_ref();
    match command {
        EndpointsCommand::List(page) => out.print(&list(&page, |p| mlm.list_endpoints(p)).await?),
        EndpointsCommand::Get(a) => out.print(&mlm.get_endpoint(&a.endpoint).await?),
        EndpointsCommand::Create(a) => create(a, backend, out).await,
        EndpointsCommand::Update(a) => {
            let wait = a.wait.clone();
            update(backend, out, update_request(a)?, &wait).await
        }
        EndpointsCommand::Scale(a) => {
            let change = |c: VariantChange| c.with_instance_count(a.count);
            let request = one_change(&a.endpoint, &a.target, change)?;
            update(backend, out, request, &a.wait).await
        }
        EndpointsCommand::SetType(a) => {
            let change = |c: VariantChange| c.with_instance_type(a.instance_type.clone());
            let request = one_change(&a.endpoint, &a.target, change)?;
            update(backend, out, request, &a.wait).await
        }
        EndpointsCommand::Deploy(a) => {
            let change = |c: VariantChange| c.with_model_version(a.version.clone());
            let request = one_change(&a.endpoint, &a.target, change)?;
            update(backend, out, request, &a.wait).await
        }
        EndpointsCommand::Weights(a) => {
            let wait = a.wait.clone();
            update(backend, out, weights_request(a)?, &wait).await
        }
        EndpointsCommand::Delete(a) => delete(a, backend, out).await,
        EndpointsCommand::Wait(a) => {
            out.print(&progress::wait_ready(backend, &a.endpoint, a.wait.timeout).await?)
        }
        EndpointsCommand::Dashboard(a) => out.print(&mlm.put_dashboard(&a.endpoint).await?),
    }
}

async fn create(a: EndpointCreateArgs, backend: &Backend, out: Output) -> Result<(), Failure> {
    let mlm = backend.provider.as_ref();
    let request = match &a.file {
        Some(path) => create_request_from_file(path, &a.endpoint)?,
        None => {
            let model = a
                .model
                .clone()
                .ok_or_else(|| Failure::usage("give --model"))?;
            let version = match a.version {
                Some(v) => v,
                None => latest_version(mlm, &model).await?,
            };
            let spec = VariantSpec::new(
                a.variant.clone(),
                VersionRef::new(model, version),
                a.instance_type.clone(),
                a.instance_count,
            );
            let mut request = CreateEndpointRequest::new(a.endpoint.clone(), vec![spec]);
            request.tags = pairs(a.tags.clone());
            request
        }
    };
    let endpoint = mlm.create_endpoint(request).await?;
    finish(backend, out, endpoint, &a.wait).await
}

/// The model's latest version, for `create` without `--version`.
async fn latest_version(
    mlm: &dyn ModelRegistry,
    model: &mlm_core::ModelName,
) -> Result<u32, Failure> {
    mlm.get_model(model).await?.latest_version.ok_or_else(|| {
        Failure::usage(format!("model '{model}' has no versions yet")).with_hint(format!(
            "register one: `mlm versions create {model} --artifact URI --image IMAGE`"
        ))
    })
}

/// The body of `POST /v1/endpoints`, named `name` (its own `name` may be left out).
fn create_request_from_file(
    path: &std::path::Path,
    name: &EndpointName,
) -> Result<CreateEndpointRequest, Failure> {
    let mut body: serde_json::Value = read_json(path)?;
    let Some(object) = body.as_object_mut() else {
        return Err(Failure::usage(format!(
            "{}: expected a JSON object",
            path.display()
        )));
    };
    object.insert("name".into(), name.as_str().into());
    let body: wire::CreateEndpoint = serde_json::from_value(body)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    Ok(body.into_domain()?)
}

/// The update `mlm endpoints update` asks for: the file's body or the flags.
fn update_request(a: EndpointUpdateArgs) -> Result<UpdateEndpointRequest, Failure> {
    if let Some(path) = &a.file {
        let body: wire::UpdateEndpoint = read_json(path)?;
        let mut request = body.into_domain(a.endpoint)?;
        if let Some(policy) = policy(&a.target)? {
            request.deployment = Some(policy);
        }
        return Ok(request);
    }
    if a.instance_count.is_none() && a.instance_type.is_none() && a.model_version.is_none() {
        return Err(Failure::usage(
            "nothing to change: give --instance-count, --instance-type, --model-version or --file",
        ));
    }
    one_change(&a.endpoint, &a.target, |mut change| {
        change.instance_count = a.instance_count;
        change.instance_type = a.instance_type.clone();
        change.model_version = a.model_version.clone();
        change
    })
}

/// An update with one change to `--variant` (or the only variant), made by `change`.
fn one_change(
    name: &EndpointName,
    target: &UpdateTarget,
    change: impl FnOnce(VariantChange) -> VariantChange,
) -> Result<UpdateEndpointRequest, Failure> {
    let base = match &target.variant {
        Some(v) => VariantChange::new(v.clone()),
        None => VariantChange::only_variant(),
    };
    let mut request = UpdateEndpointRequest::new(name.clone()).with_change(change(base));
    request.deployment = policy(target)?;
    Ok(request)
}

fn weights_request(a: WeightsArgs) -> Result<UpdateEndpointRequest, Failure> {
    let mut request = UpdateEndpointRequest::new(a.endpoint);
    for pair in a.weights {
        let variant = VariantName::new(&pair.key).map_err(|e| Failure::usage(e.message()))?;
        let weight: f32 = pair
            .value
            .parse()
            .map_err(|_| Failure::usage(format!("'{}' is not a weight", pair.value)))?;
        request = request.with_change(VariantChange::new(variant).with_weight(weight));
    }
    if let Some(path) = &a.policy {
        request.deployment = Some(read_json::<DeploymentPolicy>(path)?);
    }
    Ok(request)
}

/// `--policy FILE`: a deployment policy, in the REST API's form.
fn policy(target: &UpdateTarget) -> Result<Option<DeploymentPolicy>, Failure> {
    target.policy.as_deref().map(read_json).transpose()
}

async fn update(
    backend: &Backend,
    out: Output,
    request: UpdateEndpointRequest,
    wait: &WaitArgs,
) -> Result<(), Failure> {
    ensure_serving(backend, &request.name).await?;
    let endpoint = backend.provider.update_endpoint(request).await?;
    finish(backend, out, endpoint, wait).await
}

/// Prints the endpoint as the operation left it, or as it is once ready when waiting.
async fn finish(
    backend: &Backend,
    out: Output,
    endpoint: Endpoint,
    wait: &WaitArgs,
) -> Result<(), Failure> {
    if !wait.enabled() {
        return out.print(&endpoint);
    }
    let ready = progress::wait_ready(backend, &endpoint.name, wait.timeout).await?;
    out.print(&ready)
}

async fn delete(a: EndpointWaitArgs, backend: &Backend, out: Output) -> Result<(), Failure> {
    backend.provider.delete_endpoint(&a.endpoint).await?;
    if !a.wait.enabled() {
        return out.note(&format!("deleting endpoint '{}'", a.endpoint));
    }
    progress::wait_deleted(backend, &a.endpoint, a.wait.timeout).await?;
    out.note(&format!("deleted endpoint '{}'", a.endpoint))
}
