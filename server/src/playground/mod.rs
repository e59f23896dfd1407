//! The browser playground (`dockhand serve`): trainees open a web page, start a
//! session and get instances (virtual hosts `node1`..`nodeN` on a session
//! network) with terminals in the browser, live panels of their containers,
//! images, networks and volumes, port links and drag-and-drop upload.
//!
//! The wire protocol is `shared::playground`; the UI is the `web` crate's bundle.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | the options, their units, the config file |
//! | [`session`] | sessions, instances, tabs, caps, tokens, the clock |
//! | [`terminal`] | a tab's shell, its replay buffer and its socket |
//! | [`feed`] | the session socket (snapshots and changes) |
//! | [`state`] | an instance's engine state as panel rows |
//! | [`proxy`] | `/s/{session}/{node}/{port}/` to the published port |
//! | [`ui`] | the UI bundle at `/` |
//! | [`api`] | the routes |
//! | [`server`] | startup and shutdown next to the Docker API |

pub mod api;
pub mod config;
pub mod feed;
mod lesson_api;
pub mod lessons;
pub mod proxy;
pub mod server;
pub mod session;
pub mod state;
pub mod terminal;
pub mod ui;
mod upload_api;
pub mod workshop;
mod workshop_api;

pub use config::PlaygroundOptions;
pub use server::run as run_serve;

/// A WebSocket made of channels, for the socket handlers' tests.
#[cfg(test)]
pub(crate) mod test_socket {
    use axum::extract::ws::Message;
    use futures_util::{Sink, Stream};
    use tokio::sync::mpsc;

    pub type ToServer = mpsc::UnboundedSender<Result<Message, std::io::Error>>;
    pub type FromServer = mpsc::UnboundedReceiver<Message>;

    /// The client's ends, and the server's sink and stream.
    #[allow(clippy::type_complexity)]
    pub fn pair() -> (
        ToServer,
        FromServer,
        impl Sink<Message> + Unpin + Send,
        impl Stream<Item = Result<Message, std::io::Error>> + Unpin + Send,
    ) {
        let (to_server, from_client) = mpsc::unbounded_channel();
        let (to_client, from_server) = mpsc::unbounded_channel();
        let sink = Box::pin(futures_util::sink::unfold(
            to_client,
            |tx: mpsc::UnboundedSender<Message>, m: Message| async move {
                tx.send(m).map_err(|_| ())?;
                Ok::<_, ()>(tx)
            },
        ));
        let stream = Box::pin(futures_util::stream::unfold(
            from_client,
            |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
        ));
        (to_server, from_server, sink, stream)
    }
}
