//! A plain HTTP/1.1 server on loopback that keeps every request body: what an agent
//! exports or a notifier posts, caught without a framework in between.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// A server on a free loopback port: the port, and every request body as it comes.
pub fn start() -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || serve(listener, tx));
    (port, rx)
}

/// Accepts connections on `listener` and sends the body of every request (gunzipped)
/// to `bodies`, answering 200.
pub fn serve(listener: TcpListener, bodies: mpsc::Sender<Vec<u8>>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { return };
        let bodies = bodies.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            loop {
                let (mut length, mut gzip) = (0usize, false);
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let header = line.trim_end().to_ascii_lowercase();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(v) = header.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    gzip |= header.starts_with("content-encoding:") && header.contains("gzip");
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                if gzip {
                    let mut plain = Vec::new();
                    if flate2::read::GzDecoder::new(body.as_slice())
                        .read_to_end(&mut plain)
                        .is_err()
                    {
                        return;
                    }
                    body = plain;
                }
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                if reader.get_mut().write_all(ok).is_err() || bodies.send(body).is_err() {
                    return;
                }
            }
        });
    }
}
