//! File source: reads `DATASOURCE` (relative to the data directory unless
//! absolute) line by line; each non-empty line is one record in the stream's
//! FORMAT (JSON lines, or delimited). A line that does not decode becomes a
//! counted error in the rule, not the end of the source. The source ends at
//! the end of the file. In a cluster of n processes, process p reads lines
//! p, p + n, p + 2n, … (counting non-empty lines from 0).
//! The file is read in blocks of 256 KB and the lines of a block go to the
//! rule as [`RecordBlock`]s of at most 1,024 records: byte ranges of the
//! block, with no copy and no refcounted slice per line; a line that is not
//! valid UTF-8 is one failing record.

use super::super::{ConnectorError, SourceContext};
use bytes::{Bytes, BytesMut};
use oort_operators::source::RecordBlock;
use oort_operators::value::{Meta, Value};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Records per batch.
const BATCH: usize = 1024;
/// Bytes read at a time; the lines of one read share its buffer.
const READ_CHUNK: usize = 256 * 1024;

/// Starts the task.
pub fn spawn(ctx: SourceContext) -> Result<tokio::task::JoinHandle<()>, ConnectorError> {
    let name = ctx.stream.options.datasource.clone();
    let path = {
        let p = PathBuf::from(&name);
        if p.is_absolute() { p } else { ctx.env.data_dir.join(p) }
    };
    if !path.is_file() {
        return Err(ConnectorError::Open {
            connector: "file".into(),
            message: format!("file {} not found", path.display()),
        });
    }
    Ok(tokio::spawn(async move {
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) => {
                ctx.metrics.exception(&format!("file source: {}: {e}", path.display()), ctx.clock.now_ms());
                return;
            }
        };
        let mut meta = Meta::new();
        meta.insert("file".into(), Value::from(path.display().to_string()));
        let meta = Arc::new(meta);
        let mut reader = LineReader::new(file, READ_CHUNK);
        // In a cluster, process p of n reads lines p, p + n, p + 2n, ...
        let share = ctx.env.cluster;
        let mut line_no = 0usize;
        loop {
            let (buf, lines) = match reader.next_lines().await {
                Ok(Some(read)) => read,
                Ok(None) => break,
                Err(e) => {
                    ctx.metrics.exception(&format!("file source: {e}"), ctx.clock.now_ms());
                    break;
                }
            };
            let now = ctx.clock.now_ms();
            let mut block = RecordBlock::new(buf, Some(meta.clone()), now);
            for line in lines {
                line_no += 1;
                if (line_no - 1) % share.processes.max(1) != share.process {
                    continue;
                }
                if !block.push(line.clone()) {
                    let skipped = format!(
                        "file source: {}: line {line_no} ({} bytes) is past 4 GiB of its block; skipped",
                        path.display(),
                        line.len()
                    );
                    ctx.metrics.exception(&skipped, now);
                    continue;
                }
                if block.len() >= BATCH {
                    let next = block.empty_like(BATCH);
                    let full = std::mem::replace(&mut block, next);
                    if ctx.feed.send(full).await.is_err() {
                        return;
                    }
                }
            }
            if !block.is_empty() && ctx.feed.send(block).await.is_err() {
                return;
            }
        }
    }))
}

/// Reads a file in blocks and hands out each block with the ranges of its
/// non-blank lines (no copy and no allocation per line). Lines end
/// at `\n`, with a `\r` before it dropped; the last line may lack its `\n`.
/// Bytes are not checked for UTF-8 here: a line that is not valid text
/// fails in the decoder, as one record.
struct LineReader<R> {
    reader: R,
    buf: BytesMut,
    chunk: usize,
    done: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(reader: R, chunk: usize) -> Self {
        Self { reader, buf: BytesMut::with_capacity(chunk), chunk: chunk.max(1), done: false }
    }

    /// The block of lines completed by the next read(s) and the ranges of its
    /// non-blank lines; `None` at the end.
    async fn next_lines(&mut self) -> std::io::Result<Option<(Bytes, Vec<Range<usize>>)>> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.buf.capacity() - self.buf.len() < self.chunk / 4 + 1 {
                self.buf.reserve(self.chunk);
            }
            let before = self.buf.len();
            let n = self.reader.read_buf(&mut self.buf).await?;
            let block = if n == 0 {
                self.done = true;
                self.buf.split().freeze()
            } else {
                // Lines end in the bytes just read, or not at all: what was
                // held back before holds no `\n`.
                match self.buf[before..].iter().rposition(|b| *b == b'\n') {
                    Some(i) => self.buf.split_to(before + i + 1).freeze(),
                    None => continue,
                }
            };
            let lines = split_lines(&block);
            if !lines.is_empty() {
                return Ok(Some((block, lines)));
            }
        }
    }
}

/// The ranges of the non-blank lines of `block`.
fn split_lines(block: &[u8]) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < block.len() {
        let end = block[start..].iter().position(|b| *b == b'\n').map_or(block.len(), |i| start + i);
        let mut stop = end;
        if stop > start && block[stop - 1] == b'\r' {
            stop -= 1;
        }
        if !is_blank(&block[start..stop]) {
            lines.push(start..stop);
        }
        start = end + 1;
    }
    lines
}

/// Whether a line holds only white space (as `str::trim` sees it).
fn is_blank(line: &[u8]) -> bool {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        None => true,
        // The usual case: a line starting with a printable ASCII character.
        Some(b) if b.is_ascii_graphic() => false,
        Some(_) => std::str::from_utf8(line).is_ok_and(|s| s.trim().is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut r = LineReader::new(data, chunk);
        let mut out = Vec::new();
        while let Some((block, lines)) = r.next_lines().await.unwrap() {
            out.extend(lines.into_iter().map(|l| block[l].to_vec()));
        }
        out
    }

    #[tokio::test]
    async fn lines_come_out_whole_whatever_the_read_size() {
        let data: &[u8] = b"{\"a\":1}\r\n\n   \n{\"a\":22}\n\xff\xfe\n\xc2\xa0\n\x0b\nlast";
        let want: Vec<Vec<u8>> =
            vec![b"{\"a\":1}".to_vec(), b"{\"a\":22}".to_vec(), b"\xff\xfe".to_vec(), b"last".to_vec()];
        for chunk in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(read_all(data, chunk).await, want, "chunk {chunk}");
        }
        assert!(read_all(b"", 8).await.is_empty());
        assert!(read_all(b"\n\n \r\n", 8).await.is_empty());
        assert_eq!(read_all(b"x\n", 8).await, vec![b"x".to_vec()]);
    }
}
