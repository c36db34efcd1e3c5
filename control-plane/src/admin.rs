//! The gRPC admin API: the CLI's only way in.
//!
//! [`AdminService`] implements the generated [`Admin`] trait by decoding each request, calling
//! [`Versions`] (documents) or a [`NodeView`] (data planes), and encoding the answer. Errors become
//! gRPC statuses in exactly one place, [`status`]. Authentication is not done here: an interceptor
//! wraps the service.

use std::collections::BTreeMap;
use std::sync::Arc;

use openclaw_config::diff::{self, Change};
use openclaw_proto::admin::admin_server::Admin;
use openclaw_proto::admin::{
    DiffRequest, DiffResponse, GetRequest, GetResponse, HistoryRequest, HistoryResponse,
    NodeStatus, NodesRequest, NodesResponse, PatchFormat as ProtoPatchFormat, PatchRequest,
    PromoteRequest, PutRequest, RollbackRequest, RolloutEvent, ValidateRequest, ValidateResponse,
    VersionInfo, WatchRolloutRequest, WriteResponse,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::store::VersionMeta;
use crate::versions::{PatchArgs, PatchFormat, Versions, VersionsError, Written};

#[cfg(test)]
mod tests;

/// History entries returned when the request says 0.
const DEFAULT_HISTORY: usize = 20;

/// What the admin API needs to know about data planes; the discovery hub implements it.
pub(crate) trait NodeView: Send + Sync {
    /// Every data plane seen, with its applied and desired versions.
    fn nodes(&self) -> Vec<NodeStatus>;

    /// Streams node progress towards `version` until every targeted node applied it or one NACKed.
    fn rollout(&self, version: u64) -> mpsc::Receiver<Result<RolloutEvent, Status>>;
}

/// The admin gRPC service; wrap it in [`AdminServer`](openclaw_proto::admin::admin_server::AdminServer).
pub(crate) struct AdminService {
    versions: Arc<Versions>,
    nodes: Arc<dyn NodeView>,
}

// === impl AdminService ===

impl AdminService {
    /// A service over `versions` (documents) and `nodes` (data planes).
    pub(crate) fn new(versions: Arc<Versions>, nodes: Arc<dyn NodeView>) -> Self {
        Self { versions, nodes }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let req = request.into_inner();
        let (version, value) = self.versions.get(req.version, &req.key).map_err(status)?;
        Ok(Response::new(GetResponse {
            version,
            json: to_json_text(&value)?,
        }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<WriteResponse>, Status> {
        let req = request.into_inner();
        let doc = parse_json("json", &req.json)?;
        let written = self
            .versions
            .put(doc, req.expect_version, author(&req.author), &req.message)
            .await
            .map_err(status)?;
        write_response(written)
    }

    async fn patch(
        &self,
        request: Request<PatchRequest>,
    ) -> Result<Response<WriteResponse>, Status> {
        let req = request.into_inner();
        let format = match ProtoPatchFormat::try_from(req.format) {
            Ok(ProtoPatchFormat::Merge) => PatchFormat::Merge,
            Ok(ProtoPatchFormat::JsonPatch) => PatchFormat::JsonPatch,
            Err(_) => {
                return Err(status(VersionsError::BadRequest(format!(
                    "unknown patch format {}",
                    req.format
                ))));
            }
        };
        let args = PatchArgs {
            patch: parse_json("patch_json", &req.patch_json)?,
            format,
            expect: req.expect_version,
            author: author(&req.author).to_string(),
            message: req.message,
            dry_run: req.dry_run,
            canary: req.canary.into_iter().collect(),
        };
        let written = self.versions.patch(args).await.map_err(status)?;
        write_response(written)
    }

    async fn validate(
        &self,
        request: Request<ValidateRequest>,
    ) -> Result<Response<ValidateResponse>, Status> {
        let doc = parse_json("json", &request.into_inner().json)?;
        let problems = self.versions.validate(&doc);
        Ok(Response::new(ValidateResponse {
            valid: problems.is_empty(),
            problems,
        }))
    }

    async fn history(
        &self,
        request: Request<HistoryRequest>,
    ) -> Result<Response<HistoryResponse>, Status> {
        let req = request.into_inner();
        let limit = match req.limit {
            0 => DEFAULT_HISTORY,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let versions = self
            .versions
            .history(limit, req.before)
            .map_err(status)?
            .into_iter()
            .map(version_info)
            .collect();
        Ok(Response::new(HistoryResponse { versions }))
    }

    async fn diff(&self, request: Request<DiffRequest>) -> Result<Response<DiffResponse>, Status> {
        let req = request.into_inner();
        let changes = self.versions.diff(req.from, req.to).map_err(status)?;
        let (diff_json, diff_text) = render_changes(&changes)?;
        Ok(Response::new(DiffResponse {
            diff_json,
            diff_text,
        }))
    }

    async fn rollback(
        &self,
        request: Request<RollbackRequest>,
    ) -> Result<Response<WriteResponse>, Status> {
        let req = request.into_inner();
        let written = self
            .versions
            .rollback(req.to_version, author(&req.author), &req.message)
            .await
            .map_err(status)?;
        write_response(written)
    }

    async fn promote(
        &self,
        request: Request<PromoteRequest>,
    ) -> Result<Response<WriteResponse>, Status> {
        let req = request.into_inner();
        let written = self
            .versions
            .promote(author(&req.author))
            .await
            .map_err(status)?;
        write_response(written)
    }

    async fn nodes(&self, _: Request<NodesRequest>) -> Result<Response<NodesResponse>, Status> {
        Ok(Response::new(NodesResponse {
            nodes: self.nodes.nodes(),
        }))
    }

    type WatchRolloutStream = ReceiverStream<Result<RolloutEvent, Status>>;

    async fn watch_rollout(
        &self,
        request: Request<WatchRolloutRequest>,
    ) -> Result<Response<Self::WatchRolloutStream>, Status> {
        let version = match request.into_inner().version {
            0 => match self.versions.head_version().map_err(status)? {
                0 => {
                    return Err(status(VersionsError::NotFound(
                        "no version is stored yet".into(),
                    )));
                }
                head => head,
            },
            v => v,
        };
        Ok(Response::new(ReceiverStream::new(
            self.nodes.rollout(version),
        )))
    }
}

/// The gRPC status for a refused operation: the one place errors become statuses.
fn status(e: VersionsError) -> Status {
    let message = e.to_string();
    match e {
        VersionsError::Invalid(_) | VersionsError::BadRequest(_) => {
            Status::invalid_argument(message)
        }
        VersionsError::Conflict { .. } => {
            Status::failed_precondition(format!("conflict: {message}"))
        }
        VersionsError::CanaryActive { .. } | VersionsError::NoCanary => {
            Status::failed_precondition(message)
        }
        VersionsError::NotFound(_) => Status::not_found(message),
        VersionsError::Store(_) => {
            tracing::error!(error = %message, kind = e.kind(), "store failed");
            Status::internal(message)
        }
    }
}

/// The request's author, or `unknown` when it gave none.
fn author(given: &str) -> &str {
    let given = given.trim();
    if given.is_empty() { "unknown" } else { given }
}

/// Parses the JSON text of request field `field`.
fn parse_json(field: &str, text: &str) -> Result<Value, Status> {
    serde_json::from_str(text).map_err(|e| {
        status(VersionsError::BadRequest(format!(
            "{field} is not valid JSON: {e}"
        )))
    })
}

fn to_json_text(value: &Value) -> Result<String, Status> {
    serde_json::to_string(value).map_err(|e| Status::internal(format!("cannot encode JSON: {e}")))
}

/// The changes as redacted JSON text and as readable lines.
fn render_changes(changes: &[Change]) -> Result<(String, String), Status> {
    Ok((
        to_json_text(&diff::to_json(changes))?,
        diff::Display(changes).to_string(),
    ))
}

fn version_info(meta: VersionMeta) -> VersionInfo {
    VersionInfo {
        version: meta.version,
        parent: meta.parent,
        author: meta.author,
        time: meta.time,
        message: meta.message,
        hash: meta.hash,
    }
}

fn write_response(written: Written) -> Result<Response<WriteResponse>, Status> {
    let (diff_json, diff_text) = render_changes(&written.changes)?;
    let canary: BTreeMap<String, String> = written.canary;
    Ok(Response::new(WriteResponse {
        version: Some(version_info(written.meta)),
        changed: written.changed,
        diff_json,
        diff_text,
        dry_run: written.dry_run,
        problems: written.problems,
        canary: canary.into_iter().collect(),
    }))
}
