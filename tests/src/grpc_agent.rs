//! A gRPC test agent (tonic): the admin service's shape, answering `Get` (unary, echoing the key; the key
//! `fail` answers NOT_FOUND) and `WatchRollout` (server streaming, `version` events 20 ms apart).

use std::net::SocketAddr;
use std::time::Duration;

use openclaw_proto::admin::admin_server::{Admin, AdminServer};
use openclaw_proto::admin::*;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// A running gRPC agent; stops when dropped.
pub struct GrpcAgent {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Echo;

// === impl GrpcAgent ===

impl GrpcAgent {
    /// Starts the agent on 127.0.0.1 with its own runtime thread.
    pub fn start() -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let _ = tonic::transport::Server::builder()
                    .add_service(AdminServer::new(Echo))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Self {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for GrpcAgent {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// === impl Echo ===

#[tonic::async_trait]
impl Admin for Echo {
    async fn get(&self, req: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let key = req.into_inner().key;
        if key == "fail" {
            return Err(Status::not_found("no such key: fail"));
        }
        Ok(Response::new(GetResponse {
            version: 7,
            json: format!("{{\"echo\":\"{key}\"}}"),
        }))
    }

    async fn put(&self, _: Request<PutRequest>) -> Result<Response<WriteResponse>, Status> {
        Err(Status::unimplemented("test agent"))
    }

    async fn patch(&self, _: Request<PatchRequest>) -> Result<Response<WriteResponse>, Status> {
        Err(Status::unimplemented("test agent"))
    }

    async fn validate(
        &self,
        _: Request<ValidateRequest>,
    ) -> Result<Response<ValidateResponse>, Status> {
        Err(Status::unimplemented("test agent"))
    }

    async fn history(
        &self,
        _: Request<HistoryRequest>,
    ) -> Result<Response<HistoryResponse>, Status> {
        Err(Status::unimplemented("test agent"))
    }

    async fn diff(&self, _: Request<DiffRequest>) -> Result<Response<DiffResponse>, Status> {
        Err(Status::unimplemented("test agent"))
    }

    async fn rollback(
        &self,
        _: Request<RollbackRequest>,
    ) -> Result<Response<WriteResponse>, Status> {
        Err(Status::unimplemented("test agent"))
    }

    async fn promote(&self, _: Request<PromoteRequest>) -> Result<Response<WriteResponse>, Status> {
        Err(Status::unimplemented("test agent"))
    }

    async fn nodes(&self, _: Request<NodesRequest>) -> Result<Response<NodesResponse>, Status> {
        Err(Status::unimplemented("test agent"))
    }

    type WatchRolloutStream = ReceiverStream<Result<RolloutEvent, Status>>;

    async fn watch_rollout(
        &self,
        req: Request<WatchRolloutRequest>,
    ) -> Result<Response<Self::WatchRolloutStream>, Status> {
        let n = req.into_inner().version;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for i in 1..=n {
                let ev = RolloutEvent {
                    node_id: format!("event-{i}"),
                    applied: i as u32,
                    total: n as u32,
                    done: i == n,
                    ..Default::default()
                };
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
