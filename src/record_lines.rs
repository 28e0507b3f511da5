//! A `Write` that hands each complete line to a function: how `diff` and `report` read
//! replay's JSON lines as they are written, without keeping them.

use std::io::{self, Write};

/// Calls `each` with every line written (without its line feed); a last line without a
/// line feed is not passed on.
#[allow(missing_debug_implementations)] // it holds a closure
pub struct LineSink<F: FnMut(&[u8]) -> io::Result<()>> {
    each: F,
    partial: Vec<u8>,
}

impl<F: FnMut(&[u8]) -> io::Result<()>> LineSink<F> {
    pub fn new(each: F) -> LineSink<F> {
        LineSink {
            each,
            partial: Vec::new(),
        }
    }
}

impl<F: FnMut(&[u8]) -> io::Result<()>> Write for LineSink<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            if self.partial.is_empty() {
                (self.each)(&rest[..end])?;
            } else {
                self.partial.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.partial);
                (self.each)(&line)?;
            }
            rest = &rest[end + 1..];
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_writes_arrive_whole() {
        let mut lines = Vec::new();
        {
            let mut sink = LineSink::new(|l: &[u8]| {
                lines.push(String::from_utf8(l.to_vec()).unwrap());
                Ok(())
            });
            sink.write_all(b"ab\ncd").unwrap();
            sink.write_all(b"ef\n\ngh\n").unwrap();
            sink.write_all(b"unfinished").unwrap();
        }
        assert_eq!(lines, ["ab", "cdef", "", "gh"]);
    }
}
