//! The DNS transport benchmark's server: the same answer logic ([`redirector::dns::answer`])
//! served two ways side by side, for `bench/bench.sh transport` to compare with dnsperf:
//!
//! - `OWN_ADDR`: the redirector's own loop ([`redirector::dns::bind`]: blocking UDP
//!   threads sharing one socket, TCP on tokio), exactly as `dashcdn redirector --dns`;
//! - `HICKORY_ADDR`: hickory-server's `Server` with a `RequestHandler` that answers from
//!   the request's raw bytes (`Request::as_slice`) and hands the answer back to
//!   hickory-server as a `MessageResponse` (parsed back into records, then encoded by
//!   hickory-server), on a tokio runtime with one worker per core.
//!
//! `cargo run --release -p redirector --features hickory-server --example dns_transport --
//! TOPOLOGY OWN_ADDR HICKORY_ADDR`; prints `ready` once both listen.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Header, HeaderCounts, Message, ResponseCode};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use redirector::Shared;

struct Handler(Arc<Shared>);

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let udp = request.protocol() == Protocol::Udp;
        let answer = redirector::dns::answer(&self.0, request.as_slice(), request.src().ip(), udp)
            .and_then(|bytes| Message::from_vec(&bytes).ok());
        let builder = MessageResponseBuilder::from_message_request(request);
        let sent = match &answer {
            Some(m) => {
                let mut builder = builder;
                if let Some(e) = &m.edns {
                    builder.edns(e);
                }
                let response = builder.build(
                    m.metadata,
                    m.answers.iter(),
                    m.authorities.iter(),
                    std::iter::empty(),
                    m.additionals.iter(),
                );
                response_handle.send_response(response).await
            }
            None => {
                let response = builder.error_msg(&request.metadata, ResponseCode::ServFail);
                response_handle.send_response(response).await
            }
        };
        sent.unwrap_or_else(|_| {
            ResponseInfo::from(Header {
                metadata: request.metadata,
                counts: HeaderCounts {
                    queries: 0,
                    answers: 0,
                    authorities: 0,
                    additionals: 0,
                },
            })
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [topology, own, hickory] = args.as_slice() else {
        eprintln!("usage: dns_transport TOPOLOGY OWN_ADDR HICKORY_ADDR");
        std::process::exit(2);
    };
    let own: SocketAddr = own.parse().expect("OWN_ADDR");
    let hickory: SocketAddr = hickory.parse().expect("HICKORY_ADDR");
    let shared = Arc::new(Shared::load(std::path::Path::new(topology)).expect("topology"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let _own = redirector::dns::bind(own, shared.clone())
            .await
            .expect("own loop binds");
        let mut server = hickory_server::Server::new(Handler(shared));
        server.register_socket(tokio::net::UdpSocket::bind(hickory).await.expect("udp"));
        server.register_listener(
            tokio::net::TcpListener::bind(hickory).await.expect("tcp"),
            Duration::from_secs(10),
            64,
        );
        println!("ready");
        server.block_until_done().await.expect("hickory server");
    });
}
