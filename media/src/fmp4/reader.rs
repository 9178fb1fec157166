//! A small ISO-BMFF box reader over a byte buffer: box headers (32- and 64-bit sizes, size 0
//! = to the end), an iterator over sibling boxes that stops at the first malformed one, and
//! lookups by type and path. Used by the demuxer and by tests that inspect written files.

use crate::codec::MediaError;

/// One box found by the reader.
#[derive(Debug, Clone, Copy)]
pub struct BoxRef<'a> {
    /// Four-character type.
    pub fourcc: [u8; 4],
    /// Offset of the box header within the buffer that was iterated.
    pub offset: usize,
    /// Header length (8, or 16 with a 64-bit size).
    pub header_len: usize,
    /// The payload (after the header).
    pub payload: &'a [u8],
}

impl<'a> BoxRef<'a> {
    /// Type as a string (lossy).
    pub fn type_str(&self) -> String {
        String::from_utf8_lossy(&self.fourcc).into_owned()
    }
    /// Total size including the header.
    pub fn size(&self) -> usize {
        self.header_len + self.payload.len()
    }
    /// Child boxes (for container boxes whose payload is only boxes).
    pub fn children(&self) -> BoxIter<'a> {
        BoxIter::new(self.payload)
    }
    /// Version, flags and the rest of a full box's payload.
    pub fn full(&self) -> Result<(u8, u32, &'a [u8]), MediaError> {
        if self.payload.len() < 4 {
            return Err(MediaError::InvalidBox(format!(
                "{} too short for a full box",
                self.type_str()
            )));
        }
        let vf = u32::from_be_bytes(self.payload[..4].try_into().unwrap());
        Ok(((vf >> 24) as u8, vf & 0x00ff_ffff, &self.payload[4..]))
    }
    /// First child with the given type.
    pub fn child(&self, fourcc: &[u8; 4]) -> Option<BoxRef<'a>> {
        self.children()
            .filter_map(Result::ok)
            .find(|b| &b.fourcc == fourcc)
    }
}

/// Iterator over the boxes of a buffer. Yields an error (once) on a malformed or truncated box.
pub struct BoxIter<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> BoxIter<'a> {
    /// Iterates the boxes laid out back to back in `data`.
    pub fn new(data: &'a [u8]) -> Self {
        BoxIter {
            data,
            pos: 0,
            failed: false,
        }
    }
}

/// Parses a box header at the start of `data`: `(fourcc, header_len, total_size)`;
/// `total_size` is `None` for a box extending to the end (size 0).
pub fn parse_box_header(data: &[u8]) -> Result<([u8; 4], usize, Option<u64>), MediaError> {
    if data.len() < 8 {
        return Err(MediaError::Truncated(format!(
            "box header needs 8 bytes, {} left",
            data.len()
        )));
    }
    let size32 = u32::from_be_bytes(data[..4].try_into().unwrap());
    let fourcc: [u8; 4] = data[4..8].try_into().unwrap();
    match size32 {
        0 => Ok((fourcc, 8, None)),
        1 => {
            if data.len() < 16 {
                return Err(MediaError::Truncated("64-bit box header".into()));
            }
            let size = u64::from_be_bytes(data[8..16].try_into().unwrap());
            if size < 16 {
                return Err(MediaError::InvalidBox(format!("box size {size} < 16")));
            }
            Ok((fourcc, 16, Some(size)))
        }
        2..=7 => Err(MediaError::InvalidBox(format!(
            "box '{}' has size {size32}",
            String::from_utf8_lossy(&fourcc)
        ))),
        s => Ok((fourcc, 8, Some(s as u64))),
    }
}

impl<'a> Iterator for BoxIter<'a> {
    type Item = Result<BoxRef<'a>, MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let result = parse_box_header(rest).and_then(|(fourcc, header_len, size)| {
            let size = size.unwrap_or(rest.len() as u64);
            if size > rest.len() as u64 {
                return Err(MediaError::Truncated(format!(
                    "box '{}' at offset {} claims {size} bytes, {} available",
                    String::from_utf8_lossy(&fourcc),
                    self.pos,
                    rest.len()
                )));
            }
            Ok(BoxRef {
                fourcc,
                offset: self.pos,
                header_len,
                payload: &rest[header_len..size as usize],
            })
        });
        match result {
            Ok(b) => {
                self.pos += b.size();
                Some(Ok(b))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Finds the first box along a path of container boxes, e.g. `["moov", "trak", "mdia"]`.
pub fn find_box<'a>(data: &'a [u8], path: &[&str]) -> Option<BoxRef<'a>> {
    let (first, rest) = path.split_first()?;
    let b = BoxIter::new(data)
        .filter_map(Result::ok)
        .find(|b| b.fourcc == first.as_bytes())?;
    if rest.is_empty() {
        Some(b)
    } else {
        find_box(b.payload, rest)
    }
}

/// All boxes of a given type directly inside `data`.
pub fn find_all<'a>(data: &'a [u8], fourcc: &str) -> Vec<BoxRef<'a>> {
    BoxIter::new(data)
        .filter_map(Result::ok)
        .filter(|b| b.fourcc == fourcc.as_bytes())
        .collect()
}
