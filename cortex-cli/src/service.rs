//! `cortex service ...`: list the services registered at the discovery
//! daemon, and call one with a request written as JSON.
//!
//! A call needs no Rust types: the server is asked to `describe` its types
//! first (field names and types, in order), the request is built from the
//! JSON object by that description, and the reply is decoded without its
//! type and printed under the described field names.

use std::time::Duration;

use bytes::Bytes;
use cortex::codec::Encoder;
use cortex::discovery::{Client, ClientConfig, DiscoveryError, TopicInfo, DEFAULT_ADDRESS};
use cortex::io::{frame_to_bytes, AsyncSocket};
use cortex::message::DynamicMessage;
use cortex::service::{service_fingerprint, wire};
use cortex::{Field, Header, Value};
use serde_json::Value as Json;
use tokio::time::Instant;

use super::error::CliError;
use super::json;
use super::output::outln;
use super::topic::{column, Target};

/// The longest a single request to the daemon may take during a call (the
/// call's own `--timeout` bounds the whole).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Subcommands of `cortex service`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List every service: name, request and reply types, node, address.
    List {
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Call a service with a request written as JSON and print the reply.
    Call(Call),
}

/// What `cortex service call` calls, with what.
#[derive(Debug, clap::Args)]
pub(crate) struct Call {
    /// Service name, e.g. /arm/set_mode.
    name: String,
    /// The request: a JSON object with the request type's fields, e.g.
    /// '{"mode": "idle", "speed": 0.5}' (fields of an Option type may be
    /// left out).
    #[arg(default_value = "{}")]
    request: String,
    /// How long to wait, in seconds, for the service to be registered and
    /// to answer (together).
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Print the reply as one JSON object.
    #[arg(long)]
    json: bool,
    /// Discovery daemon address.
    #[arg(long, env = "CORTEX_DISCOVERY", default_value = DEFAULT_ADDRESS)]
    address: String,
}

/// Runs a `cortex service` subcommand.
pub(crate) async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::List { json, target } => list(json, &target).await,
        Command::Call(call) => call.run().await,
    }
}

/// `cortex service list`: every service record, by name.
async fn list(json: bool, target: &Target) -> Result<(), CliError> {
    let mut services = match target.client().list_services().await {
        Ok(services) => services,
        Err(DiscoveryError::Rejected {
            address, message, ..
        }) => return Err(CliError::NoServiceRegistry { address, message }),
        Err(e) => return Err(e.into()),
    };
    services.sort_by(|a, b| (&a.name, &a.publisher_node).cmp(&(&b.name, &b.publisher_node)));
    if json {
        let services: Vec<Json> = services
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "types": s.message_type,
                    "node": s.publisher_node,
                    "address": s.address,
                    "fingerprint": s.fingerprint,
                })
            })
            .collect();
        outln!("{}", Json::Array(services))?;
        return Ok(());
    }
    if services.is_empty() {
        outln!("no services registered at {}", target.address)?;
        return Ok(());
    }
    let width = column(services.iter().map(|s| s.name.as_str()), "SERVICE");
    let type_width = column(services.iter().map(|s| s.message_type.as_str()), "TYPES");
    let node_width = column(services.iter().map(|s| s.publisher_node.as_str()), "NODE");
    outln!(
        "{:width$}  {:type_width$}  {:node_width$}  ADDRESS",
        "SERVICE",
        "TYPES",
        "NODE"
    )?;
    for s in &services {
        outln!(
            "{:width$}  {:type_width$}  {:node_width$}  {}",
            s.name,
            s.message_type,
            s.publisher_node,
            s.address
        )?;
    }
    Ok(())
}

impl Call {
    /// `cortex service call`: find the service, ask for its types, send the
    /// request, print the reply.
    async fn run(self) -> Result<(), CliError> {
        let timeout = crate::flags::seconds("--timeout", self.timeout, true)?;
        let deadline = Instant::now() + timeout;
        // A typo in the request fails before anything is sent.
        let given = json::parse_object(&self.request, r#"{"value": 1.5}"#)
            .map_err(|problem| self.bad_request(format!("the request {problem}")))?;
        let info = self.find(timeout).await?;
        eprintln!(
            "calling {} ({}) on node {} at {}",
            info.name, info.message_type, info.publisher_node, info.address
        );
        let mut server = Server::connect(info, deadline, timeout)?;
        let (request, reply) = server.describe().await?;
        let values = json::to_fields(&request.name, &request.fields, &given)
            .map_err(|p| self.bad_request(p))?;
        let answer = server.call(request.fingerprint, &values).await?;
        let message = DynamicMessage::decode(&answer)
            .map_err(|e| server.unreadable(format!("sent a reply that cannot be decoded: {e}")))?;
        if message.header.fingerprint != reply.fingerprint {
            return Err(server.unreadable(format!(
                "sent a reply with fingerprint {:#018x}, but described its reply type {} as \
                 {:#018x}",
                message.header.fingerprint, reply.name, reply.fingerprint
            )));
        }
        print_reply(&reply, &message.fields, self.json)
    }

    /// The service's record, waited for up to `timeout`.
    async fn find(&self, timeout: Duration) -> Result<TopicInfo, CliError> {
        let config = ClientConfig::new(self.address.clone())
            .request_timeout(timeout.min(REQUEST_TIMEOUT))
            .retries(1);
        let discovery = Client::with_config(config);
        let info = match discovery
            .for_services()
            .wait_for_topic(&self.name, timeout)
            .await
        {
            Ok(info) => info,
            Err(DiscoveryError::WaitTimeout { .. }) => {
                // No daemon at all is told apart from a daemon without the
                // service: a quick ping says which.
                let quick = ClientConfig::new(self.address.clone())
                    .request_timeout(Duration::from_millis(300))
                    .retries(0);
                Client::with_config(quick).alive().await?;
                return Err(cortex::Error::ServiceNotFound {
                    service: self.name.clone(),
                    address: self.address.clone(),
                    timeout,
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        // With a Python daemon, services and topics share one namespace.
        if !info.message_type.contains(" -> ") {
            return Err(CliError::NotAService {
                name: info.name,
                address: self.address.clone(),
                ty: info.message_type,
            });
        }
        Ok(info)
    }

    fn bad_request(&self, problem: String) -> CliError {
        CliError::Request {
            service: self.name.clone(),
            problem,
        }
    }
}

/// Prints the reply's `fields` under the names `schema` gives them
/// (`[i]` past its fields): one `name: value` line each, or one JSON object.
fn print_reply(schema: &TypeSchema, fields: &[Value], as_json: bool) -> Result<(), CliError> {
    let name = |i: usize| {
        schema
            .fields
            .get(i)
            .map_or_else(|| format!("[{i}]"), |f| f.0.clone())
    };
    if !as_json {
        for (i, value) in fields.iter().enumerate() {
            outln!("{}: {value}", name(i))?;
        }
        return Ok(());
    }
    // Written by hand so the fields keep the reply type's order.
    let mut out = String::from("{");
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&Json::String(name(i)).to_string());
        out.push_str(": ");
        json::write(value, &mut out);
    }
    out.push('}');
    outln!("{out}")?;
    Ok(())
}

/// One side of a service's types, as its `describe` answer tells it.
#[derive(Debug)]
struct TypeSchema {
    name: String,
    fingerprint: u64,
    /// Field names and types, in declaration (wire) order.
    fields: Vec<(String, String)>,
}

impl TypeSchema {
    /// `{"type": name, "fingerprint": u64, "fields": [{"name", "type"}, ...]}`.
    fn from_json(json: &Json) -> Option<Self> {
        let fields = json
            .get("fields")?
            .as_array()?
            .iter()
            .map(|f| {
                Some((
                    f.get("name")?.as_str()?.to_owned(),
                    f.get("type")?.as_str()?.to_owned(),
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TypeSchema {
            name: json.get("type")?.as_str()?.to_owned(),
            fingerprint: json.get("fingerprint")?.as_u64()?,
            fields,
        })
    }
}

/// A DEALER connected to one server of the service.
struct Server {
    /// Declared before `_ctx`: the socket closes before its context ends.
    socket: AsyncSocket,
    _ctx: zmq::Context,
    info: TopicInfo,
    next_id: u64,
    deadline: Instant,
    timeout: Duration,
}

impl Server {
    fn connect(info: TopicInfo, deadline: Instant, timeout: Duration) -> Result<Self, CliError> {
        let ctx = zmq::Context::new();
        let context = || format!("connecting to service {} at {}", info.name, info.address);
        let socket = ctx
            .socket(zmq::DEALER)
            .and_then(|s| {
                s.set_linger(0)?;
                s.connect(&info.address)?;
                Ok(s)
            })
            .map_err(|cause| cortex::Error::Zmq {
                context: context(),
                cause,
            })?;
        let socket = AsyncSocket::new(socket).map_err(|cause| cortex::Error::Io {
            context: context(),
            cause,
        })?;
        Ok(Server {
            socket,
            _ctx: ctx,
            info,
            next_id: 1,
            deadline,
            timeout,
        })
    }

    /// The request and reply types, checked against the discovery record.
    async fn describe(&mut self) -> Result<(TypeSchema, TypeSchema), CliError> {
        let answer = self.ask(wire::DESCRIBE, Vec::new()).await?;
        let text = match answer.as_slice() {
            [text] => String::from_utf8_lossy(text).into_owned(),
            _ => {
                return Err(self.unreadable(format!(
                    "answered `describe` with {} frames instead of one",
                    answer.len()
                )))
            }
        };
        let json: Json = serde_json::from_str(&text).map_err(|e| {
            self.unreadable(format!(
                "answered `describe` with text that is not JSON: {e}"
            ))
        })?;
        let side = |key: &str| {
            json.get(key)
                .and_then(TypeSchema::from_json)
                .ok_or_else(|| {
                    self.unreadable(format!(
                        "answered `describe` without a usable {key:?} schema (type, fingerprint, \
                     fields with name and type)"
                    ))
                })
        };
        let (request, reply) = (side("request")?, side("reply")?);
        if service_fingerprint(request.fingerprint, reply.fingerprint) != self.info.fingerprint {
            return Err(self.unreadable(format!(
                "describes its types as {} -> {}, which do not match its discovery record ({}); \
                 is another server answering at {}?",
                request.name, reply.name, self.info.message_type, self.info.address
            )));
        }
        Ok((request, reply))
    }

    /// Calls with `values` (the request's fields) under the request type's
    /// `fingerprint`; the reply's header, metadata and array frames.
    async fn call(&mut self, fingerprint: u64, values: &[Value]) -> Result<Vec<Bytes>, CliError> {
        let mut enc = Encoder::new();
        let encoded = enc
            .write_array_len(values.len())
            .and_then(|()| values.iter().try_for_each(|value| value.write(&mut enc)));
        if let Err(e) = encoded {
            return Err(CliError::Request {
                service: self.info.name.clone(),
                problem: format!("the request cannot be encoded: {e}"),
            });
        }
        let (metadata, oob) = enc.finish();
        let header = Header::now(fingerprint, self.next_id).to_bytes();
        let mut body = vec![Bytes::copy_from_slice(&header), Bytes::from(metadata)];
        body.extend(oob);
        self.ask(wire::CALL, body).await
    }

    /// Sends `[id, kind, body...]` and waits, until the deadline, for the
    /// answer with that id; what follows its `ok`. `failed` and `refused`
    /// are errors with the server's message.
    async fn ask(&mut self, kind: &[u8], body: Vec<Bytes>) -> Result<Vec<Bytes>, CliError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut frames = vec![
            zmq::Message::from(&wire::id_frame(id)[..]),
            zmq::Message::from(kind),
        ];
        frames.extend(body.iter().map(|b| zmq::Message::from(&b[..])));
        let socket = &mut self.socket;
        let exchange = async move {
            socket.send_multipart(frames).await?;
            loop {
                let mut answer = socket
                    .recv_multipart()
                    .await?
                    .into_iter()
                    .map(frame_to_bytes);
                // An answer to an earlier request, after its timeout: skip.
                if answer.next().as_deref().and_then(wire::id_of) == Some(id) {
                    return Ok::<_, std::io::Error>(answer.collect::<Vec<_>>());
                }
            }
        };
        let (service, node) = (self.info.name.clone(), self.info.publisher_node.clone());
        let answer = match tokio::time::timeout_at(self.deadline, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(cause)) => {
                return Err(cortex::Error::Io {
                    context: format!("talking to service {service} at {}", self.info.address),
                    cause,
                }
                .into())
            }
            // Nothing was called yet: say so rather than "may take effect".
            Err(_) if kind == wire::DESCRIBE => {
                return Err(self.unreadable(format!(
                    "did not answer within {:?} when asked for its types (nothing was called); \
                     is its server still running at {}? Allow a longer --timeout if it is busy",
                    self.timeout, self.info.address
                )))
            }
            Err(_) => {
                return Err(cortex::Error::ServiceTimeout {
                    service,
                    node,
                    timeout: self.timeout,
                }
                .into())
            }
        };
        let text = |rest: &[Bytes]| {
            rest.first()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        match answer.split_first() {
            Some((status, rest)) if status.as_ref() == wire::OK => Ok(rest.to_vec()),
            Some((status, rest)) if status.as_ref() == wire::FAILED => {
                Err(cortex::Error::ServiceFailed {
                    service,
                    node,
                    message: text(rest),
                }
                .into())
            }
            Some((status, rest)) if status.as_ref() == wire::REFUSED => {
                Err(cortex::Error::ServiceFailed {
                    service,
                    node,
                    message: format!("the server refused the call: {}", text(rest)),
                }
                .into())
            }
            Some((status, _)) => Err(self.unreadable(format!(
                "answered with the unknown status {:?}",
                String::from_utf8_lossy(status)
            ))),
            None => Err(self.unreadable("answered with no status".into())),
        }
    }

    fn unreadable(&self, problem: String) -> CliError {
        CliError::Answer {
            service: self.info.name.clone(),
            node: self.info.publisher_node.clone(),
            problem,
        }
    }
}
