//! A small HTTP/1.1 server on loopback for tests: real sockets, scripted
//! replies (normal, gzip, stalled, dripping, truncated, reset), and a log of
//! every request it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, exactly as sent (`/v3/snapshot/options/SPY?limit=250`).
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    /// The decoded value of a query parameter.
    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| percent_decode(v))
        })
    }
    /// The JSON body, or a multipart form's `payload_json` part (Discord's
    /// message with a file).
    pub fn body_json(&self) -> serde_json::Value {
        if let Some(ct) = self.header("content-type").filter(|c| c.starts_with("multipart/form-data")) {
            let parts = form_parts(ct, &self.body);
            let json = parts.iter().find(|(h, _)| h.contains(r#"name="payload_json""#)).expect("a payload_json part");
            return serde_json::from_slice(&json.1).expect("payload_json is JSON");
        }
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
    /// A Discord message's alert ids, one per embed in order, read from the
    /// footers (`ID · not financial advice`): a backlog's alerts share a
    /// message.
    pub fn alert_ids(&self) -> Vec<String> {
        let body = self.body_json();
        let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
        embeds
            .iter()
            .map(|e| {
                let footer = e["footer"]["text"].as_str().unwrap_or("?");
                footer.split(" · ").next().unwrap_or(footer).to_string()
            })
            .collect()
    }
}

/// A multipart/form-data body split into its parts: (headers, content), as
/// RFC 7578 lays them out (CRLF line ends, `--boundary` delimiters).
pub fn form_parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let boundary = content_type.split_once("boundary=").expect("a boundary").1;
    let delimiter = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let mut parts = Vec::new();
    let start = find(body, delimiter.as_bytes()).expect("a first delimiter");
    let mut rest = &body[start + delimiter.len()..];
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n").expect("CRLF after a delimiter");
        let end = find(rest, format!("\r\n{delimiter}").as_bytes()).expect("a closing delimiter");
        let part = &rest[..end];
        let split = find(part, b"\r\n\r\n").expect("part headers");
        parts.push((String::from_utf8(part[..split].to_vec()).unwrap(), part[split + 4..].to_vec()));
        rest = &rest[end + 2 + delimiter.len()..];
    }
    parts
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response.
    Full { status: u16, headers: Vec<(String, String)>, body: Vec<u8>, gzip: bool },
    /// Status line and headers announcing `len` bytes, then silence until the
    /// client gives up (or the server is dropped).
    Stall { status: u16, len: usize },
    /// The body one byte at a time, `every` apart: each read makes progress,
    /// so only a global timeout stops it.
    Drip { status: u16, body: Vec<u8>, every: Duration },
    /// Headers announce more bytes than are sent; then the connection closes.
    Truncated { status: u16, body: Vec<u8>, declared_len: usize },
    /// Close the connection without a response.
    Reset,
    /// A body already gzip-compressed, sent as `content-encoding: gzip`
    /// whatever the client accepts (a hostile server).
    Gzipped { status: u16, body: Arc<Vec<u8>> },
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into().into_bytes(),
            gzip: false,
        }
    }
    pub fn html(status: u16, body: &str) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "text/html".into())],
            body: body.as_bytes().to_vec(),
            gzip: false,
        }
    }
    pub fn status(status: u16) -> Reply {
        Reply::Full { status, headers: vec![], body: vec![], gzip: false }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((k.to_ascii_lowercase(), v.to_string()));
        }
        self
    }
    /// A gzip bomb: `members` gzip members of 1 MiB of zeros each, one
    /// after the other (a valid gzip stream, ~1 KiB per member on the wire).
    pub fn gzip_bomb(status: u16, members: usize) -> Reply {
        let member = gzip_bytes(&vec![0u8; 1 << 20]);
        let body: Vec<u8> = member.iter().copied().cycle().take(member.len() * members).collect();
        Reply::Gzipped { status, body: Arc::new(body) }
    }
    /// Compress the body when the client accepts gzip.
    pub fn gzipped(mut self) -> Reply {
        if let Reply::Full { gzip, .. } = &mut self {
            *gzip = true;
        }
        self
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

pub struct FakeServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    pub fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let log = log.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (log, stop, handler) = (log.clone(), stop.clone(), handler.clone());
                    thread::spawn(move || serve(conn, &log, &stop, &*handler));
                }
            });
        }
        FakeServer { addr, log, stop }
    }

    /// `http://127.0.0.1:PORT` with no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(conn: TcpStream, log: &Mutex<Vec<Recorded>>, stop: &AtomicBool, handler: &Handler) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone stream"));
    let mut out = conn;
    loop {
        let Some(req) = read_request(&mut reader) else { return };
        log.lock().unwrap().push(req.clone());
        let accepts_gzip = req.header("accept-encoding").is_some_and(|v| v.contains("gzip"));
        match handler(&req) {
            Reply::Full { status, headers, body, gzip } => {
                let (body, gz) = if gzip && accepts_gzip { (gzip_bytes(&body), true) } else { (body, false) };
                let mut head = format!("HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n", reason(status), body.len());
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                if gz {
                    head.push_str("content-encoding: gzip\r\n");
                }
                head.push_str("\r\n");
                if out.write_all(head.as_bytes()).and_then(|_| out.write_all(&body)).is_err() {
                    return;
                }
            }
            Reply::Stall { status, len } => {
                let head = format!("HTTP/1.1 {status} {}\r\ncontent-length: {len}\r\n\r\n", reason(status));
                let _ = out.write_all(head.as_bytes());
                let _ = out.flush();
                // Hold the connection open until the client hangs up or the server stops.
                let mut buf = [0u8; 1];
                let _ = out.set_read_timeout(Some(Duration::from_millis(50)));
                while !stop.load(Ordering::SeqCst) {
                    match reader.get_mut().read(&mut buf) {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => return,
                    }
                }
                return;
            }
            Reply::Drip { status, body, every } => {
                let head = format!("HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n\r\n", reason(status), body.len());
                if out.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for b in body {
                    if stop.load(Ordering::SeqCst) || out.write_all(&[b]).and_then(|_| out.flush()).is_err() {
                        return;
                    }
                    thread::sleep(every);
                }
            }
            Reply::Truncated { status, body, declared_len } => {
                let head = format!("HTTP/1.1 {status} {}\r\ncontent-length: {declared_len}\r\n\r\n", reason(status));
                let _ = out.write_all(head.as_bytes());
                let _ = out.write_all(&body);
                return;
            }
            Reply::Reset => return,
            Reply::Gzipped { status, body } => {
                let head = format!(
                    "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n\r\n",
                    reason(status),
                    body.len()
                );
                if out.write_all(head.as_bytes()).and_then(|_| out.write_all(&body)).is_err() {
                    return;
                }
            }
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded { method, target, headers, body })
}

fn gzip_bytes(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
