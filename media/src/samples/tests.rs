//! Tables built as box bytes ([`table_over_bytes`]), so that the tests run the same lazy
//! code as a demuxed file.

use std::io::Write;
use std::sync::Arc;

use super::cursor::{Entries, Layout, Sizes, Sync};
use super::*;

/// A table over `data` (tests): the tables are serialized as an MP4 writes them (`stsz`
/// sizes, `stts`/`ctts` runs, `stss` numbers, `stsc` entries, `stco` or `co64` offsets) after
/// `data`, whose end stands for the end of the file (chunks must lie in it). `chunks` are
/// (offset, first sample) in sample order. Panics when the tables are inconsistent.
#[allow(clippy::too_many_arguments)]
pub(crate) fn table_over_bytes(
    data: Vec<u8>,
    sizes: Vec<u32>,
    durations: Vec<(u32, u32)>,
    composition_offsets: Vec<(u32, i32)>,
    sync: Option<Vec<u32>>,
    chunks: Vec<(u64, u32)>,
    nal_length_size: Option<u8>,
) -> Samples {
    try_table_over_bytes(
        data,
        sizes,
        durations,
        composition_offsets,
        sync,
        chunks,
        nal_length_size,
    )
    .unwrap()
}

/// [`table_over_bytes`], its checks' error returned.
pub(crate) fn try_table_over_bytes(
    data: Vec<u8>,
    sizes: Vec<u32>,
    durations: Vec<(u32, u32)>,
    composition_offsets: Vec<(u32, i32)>,
    sync: Option<Vec<u32>>,
    chunks: Vec<(u64, u32)>,
    nal_length_size: Option<u8>,
) -> Result<Samples, MediaError> {
    let n = sizes.len() as u32;
    let file_len = data.len() as u64;
    let mut bytes = data;
    let mut table = |entries: Vec<Vec<u8>>, size: u8| {
        let e = Entries {
            offset: bytes.len() as u64,
            count: entries.len() as u32,
            size,
        };
        entries.iter().for_each(|x| bytes.extend_from_slice(x));
        e
    };
    // Runs (first sample, value) as (count, value) entries.
    let runs = |r: &[(u32, u32)]| -> Vec<Vec<u8>> {
        r.iter()
            .enumerate()
            .map(|(k, &(first, v))| {
                let next = r.get(k + 1).map_or(n, |x| x.0);
                [(next - first).to_be_bytes(), v.to_be_bytes()].concat()
            })
            .collect()
    };
    let sizes_at = table(sizes.iter().map(|s| s.to_be_bytes().to_vec()).collect(), 4).offset;
    let stts = table(runs(&durations), 8);
    let cto: Vec<(u32, u32)> = composition_offsets
        .iter()
        .map(|&(f, v)| (f, v as u32))
        .collect();
    let ctts = (!cto.is_empty()).then(|| Ctts {
        entries: table(runs(&cto), 8),
        signed: true,
    });
    let stss = sync.map(|s| {
        table(
            s.iter().map(|&i| (i + 1).to_be_bytes().to_vec()).collect(),
            4,
        )
    });
    let per_chunk: Vec<u32> = chunks
        .iter()
        .enumerate()
        .map(|(k, c)| chunks.get(k + 1).map_or(n, |x| x.1) - c.1)
        .collect();
    let mut stsc = Vec::new();
    for (k, &per) in per_chunk.iter().enumerate() {
        if k == 0 || per != per_chunk[k - 1] {
            stsc.push(
                [
                    (k as u32 + 1).to_be_bytes(),
                    per.to_be_bytes(),
                    1u32.to_be_bytes(),
                ]
                .concat(),
            );
        }
    }
    let stsc = table(stsc, 12);
    let wide = chunks.iter().any(|c| c.0 > u64::from(u32::MAX));
    let chunk_table = table(
        chunks
            .iter()
            .map(|c| {
                if wide {
                    c.0.to_be_bytes().to_vec()
                } else {
                    (c.0 as u32).to_be_bytes().to_vec()
                }
            })
            .collect(),
        if wide { 8 } else { 4 },
    );
    let source = DataSource::Bytes {
        data: bytes,
        name: "test".into(),
    };
    let sync = match stss {
        Some(e) => sync_table(&source, e, n)?,
        None => Sync::All,
    };
    let layout = Layout {
        track_id: 1,
        count: n,
        sizes: Sizes::Fields {
            offset: sizes_at,
            bits: 32,
        },
        stts,
        ctts,
        sync,
        stsc,
        chunks: chunk_table,
        file_len,
    };
    let t = SampleTable::build(Arc::new(source), layout, nal_length_size)?;
    Ok(Samples::Table(Box::new(t)))
}

#[test]
fn table_reads_segments_across_chunks_and_agrees_with_infos() {
    // 5 samples of 2..6 bytes in two chunks with a gap of 3 bytes between them.
    let mut data = Vec::new();
    let sizes = vec![2u32, 3, 4, 5, 6];
    let mut chunk_offsets = Vec::new();
    for (i, &s) in sizes.iter().enumerate() {
        if i == 0 || i == 2 {
            chunk_offsets.push((data.len() as u64, i as u32));
        }
        if i == 2 {
            data.extend_from_slice(&[0xee; 3]);
            chunk_offsets.last_mut().unwrap().0 = data.len() as u64;
        }
        data.extend(std::iter::repeat_n(i as u8, s as usize));
    }
    let samples = table_over_bytes(
        data,
        sizes.clone(),
        vec![(0, 10), (3, 20)],
        vec![(0, 5), (1, -5), (4, 0)],
        Some(vec![0, 3]),
        chunk_offsets,
        None,
    );
    let infos: Vec<_> = samples.infos().collect();
    assert_eq!(infos.len(), 5);
    for (i, inf) in infos.iter().enumerate() {
        assert_eq!(*inf, samples.info(i), "sample {i}");
    }
    assert_eq!(
        infos.iter().map(|s| s.duration).collect::<Vec<_>>(),
        [10, 10, 10, 20, 20]
    );
    assert_eq!(
        infos
            .iter()
            .map(|s| s.composition_offset)
            .collect::<Vec<_>>(),
        [5, -5, -5, -5, 0]
    );
    assert_eq!(
        infos.iter().map(|s| s.is_sync).collect::<Vec<_>>(),
        [true, false, false, true, false]
    );
    let mut buf = Vec::new();
    for range in [0..5, 1..4, 3..5, 2..2] {
        let got = samples.segment(range.clone(), &mut buf).unwrap().to_vec();
        assert_eq!(got.len(), range.len());
        for (s, i) in got.iter().zip(range) {
            assert_eq!(s.data, vec![i as u8; sizes[i] as usize]);
            assert_eq!(s.duration, infos[i].duration);
            assert_eq!(s.is_sync, infos[i].is_sync);
        }
    }
}

#[test]
fn payload_path_writes_the_same_segment_and_checks_nal_lengths() {
    // Video samples of 4-byte-length NAL units in two chunks with a gap between them.
    let nal = |len: usize, fill: u8| {
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.extend(std::iter::repeat_n(fill, len));
        v
    };
    let samples_bytes = [
        nal(5, 1),
        [nal(2, 2), nal(3, 3)].concat(),
        nal(7, 4),
        nal(1, 5),
    ];
    let mut data = Vec::new();
    let mut chunks = Vec::new();
    for (i, b) in samples_bytes.iter().enumerate() {
        if i == 0 || i == 2 {
            data.extend_from_slice(&[0xee; 5]);
            chunks.push((data.len() as u64, i as u32));
        }
        data.extend_from_slice(b);
    }
    let sizes: Vec<u32> = samples_bytes.iter().map(|b| b.len() as u32).collect();
    let table = |data: Vec<u8>| {
        table_over_bytes(
            data,
            sizes.clone(),
            vec![(0, 512)],
            vec![(0, 1024), (2, 0)],
            Some(vec![0]),
            chunks.clone(),
            Some(4),
        )
    };
    // The same table over bytes in memory (pread fallback) and over a file
    // (copy_file_range).
    let mut on_disk = table(data.clone());
    if let Samples::Table(t) = &mut on_disk {
        // The same bytes (samples, then the tables) in a file.
        let DataSource::Bytes { data: all, .. } = &*t.source else {
            unreachable!()
        };
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(all).unwrap();
        t.source = Arc::new(DataSource::File {
            tables: file.try_clone().unwrap(),
            file,
            len: all.len() as u64,
            name: "test".into(),
        });
    }
    let (mut buf, mut infos, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
    for (samples, range) in [table(data.clone()), on_disk]
        .iter()
        .flat_map(|s| [0..4, 1..3, 3..4, 0..1].map(|r| (s, r)))
    {
        let payload = samples
            .file_payload(range.clone(), &mut infos)
            .unwrap()
            .expect("file-backed 4-byte NAL samples take the payload path");
        let mut out = tempfile::tempfile().unwrap();
        let head = crate::fmp4::media_segment_head(3, 99, &infos);
        out.write_all(&head).unwrap();
        samples
            .copy_payload(&payload, &mut out, &mut scratch)
            .unwrap();
        let mut direct = Vec::new();
        std::io::Seek::rewind(&mut out).unwrap();
        std::io::Read::read_to_end(&mut out, &mut direct).unwrap();
        assert_eq!(direct.len() as u64, head.len() as u64 + payload.len());
        let built =
            crate::fmp4::media_segment(3, 99, samples.segment(range.clone(), &mut buf).unwrap());
        assert_eq!(direct, built, "range {range:?}");
    }
    // A NAL length running past its sample is refused on this path too.
    let mut bad = data;
    let at = chunks[1].0 as usize; // sample 2's first length field
    bad[at..at + 4].copy_from_slice(&100u32.to_be_bytes());
    let err = table(bad).file_payload(0..4, &mut infos).unwrap_err();
    assert!(err.to_string().contains("sample 3"), "{err}");
    // Other NAL length sizes are rewritten: not this path; in-memory samples neither.
    let two = table_over_bytes(
        vec![0; 8],
        vec![4],
        vec![(0, 1)],
        vec![],
        None,
        vec![(0, 0)],
        Some(2),
    );
    assert!(two.file_payload(0..1, &mut infos).unwrap().is_none());
    let mem = Samples::Memory(Vec::new());
    assert!(mem.file_payload(0..0, &mut infos).unwrap().is_none());
}

#[test]
fn co64_offsets_beyond_4_gib_and_out_of_order_chunks_are_exact() {
    // 3000 one-sample chunks of 7000 bytes from 5 GB on (a co64), read past checkpoints;
    // the file is as long as its chunks need (only the tables are in memory).
    let n = 3000u32;
    let mut bytes = Vec::new();
    for k in 0..u64::from(n) {
        bytes.extend_from_slice(&(5_000_000_000 + k * 7_000).to_be_bytes());
    }
    let chunks = Entries {
        offset: 0,
        count: n,
        size: 8,
    };
    let stts = Entries {
        offset: bytes.len() as u64,
        count: 1,
        size: 8,
    };
    bytes.extend_from_slice(&[n.to_be_bytes(), 1u32.to_be_bytes()].concat());
    let stsc = Entries {
        offset: bytes.len() as u64,
        count: 1,
        size: 12,
    };
    bytes.extend_from_slice(&[1u32, 1, 1].map(u32::to_be_bytes).concat());
    let layout = |chunks: Entries, file_len: u64| Layout {
        track_id: 1,
        count: chunks.count,
        sizes: Sizes::Fixed(7000),
        stts,
        ctts: None,
        sync: Sync::All,
        stsc,
        chunks,
        file_len,
    };
    let source = || {
        Arc::new(DataSource::Bytes {
            data: bytes.clone(),
            name: "test".into(),
        })
    };
    let t = SampleTable::build(source(), layout(chunks, 5_000_000_000 + 21_000_000), None).unwrap();
    let mut infos = Vec::new();
    let p = t.file_payload(2500..2600, &mut infos).unwrap().unwrap();
    assert_eq!(p.runs, [(5_000_000_000 + 2500 * 7000, 100 * 7000)]);
    assert_eq!(infos.len(), 100);
    // One byte short: the last chunk ends beyond the file.
    let short = SampleTable::build(
        source(),
        layout(chunks, 5_000_000_000 + 21_000_000 - 1),
        None,
    );
    assert!(matches!(short, Err(MediaError::Truncated(_))), "{short:?}");
    // Offsets going backwards (the first 3 chunks as 32-bit stco entries: 900, 100, 500).
    let mut back = bytes.clone();
    back[..12].copy_from_slice(&[900u32, 100, 500].map(u32::to_be_bytes).concat());
    let stco = Entries {
        offset: 0,
        count: 3,
        size: 4,
    };
    let mut l = layout(stco, 8000);
    l.sizes = Sizes::Fixed(100);
    let t = SampleTable::build(
        Arc::new(DataSource::Bytes {
            data: back,
            name: "test".into(),
        }),
        l,
        None,
    )
    .unwrap();
    let p = t.file_payload(0..3, &mut infos).unwrap().unwrap();
    assert_eq!(p.runs, [(900, 100), (100, 100), (500, 100)]);
}

#[test]
fn walks_from_any_checkpoint_agree_with_the_tables() {
    // 5000 samples (several checkpoints): sizes, durations, composition offsets and sync
    // samples that vary, chunks of 1 to 4 samples with gaps between them.
    let n = 5000usize;
    let sizes: Vec<u32> = (0..n).map(|i| 1 + (i * 7 % 13) as u32).collect();
    let durations: Vec<(u32, u32)> = (0..n as u32).step_by(300).map(|i| (i, 1000 + i)).collect();
    let ctos: Vec<(u32, i32)> = (0..n as u32)
        .map(|i| (i, (i % 5) as i32 * 512 - 1024))
        .collect();
    let sync: Vec<u32> = (0..n as u32).step_by(7).collect();
    let mut data = Vec::new();
    let mut chunks = Vec::new();
    let mut i = 0usize;
    while i < n {
        data.push(0xee);
        chunks.push((data.len() as u64, i as u32));
        for _ in 0..(1 + chunks.len() % 4).min(n - i) {
            data.extend(std::iter::repeat_n((i % 251) as u8, sizes[i] as usize));
            i += 1;
        }
    }
    let s = table_over_bytes(
        data,
        sizes.clone(),
        durations.clone(),
        ctos,
        Some(sync.clone()),
        chunks,
        None,
    );
    let expect = |i: usize| SampleInfo {
        size: sizes[i],
        duration: durations[durations.partition_point(|r| r.0 as usize <= i) - 1].1,
        composition_offset: (i % 5) as i32 * 512 - 1024,
        is_sync: i.is_multiple_of(7),
    };
    let all: Vec<SampleInfo> = s.infos().collect();
    assert_eq!(all.len(), n);
    for i in [
        0, 1, 255, 256, 257, 1023, 1024, 1025, 2047, 2048, 3000, 4999,
    ] {
        assert_eq!(s.info(i), expect(i), "sample {i}");
        assert_eq!(all[i], expect(i), "sample {i}");
    }
    let mut buf = Vec::new();
    for range in [0..60, 200..300, 1000..1100, 2040..2050, 4900..5000] {
        let got = s.segment(range.clone(), &mut buf).unwrap();
        for (k, i) in range.enumerate() {
            assert_eq!(
                got[k].data,
                vec![(i % 251) as u8; sizes[i] as usize],
                "sample {i}"
            );
            assert_eq!(got[k].duration, expect(i).duration);
        }
    }
    // An stss out of order (and with a duplicate) is followed too: sorted in memory.
    let t = try_table_over_bytes(
        vec![0; 10],
        vec![1; 10],
        vec![(0, 1)],
        vec![],
        Some(vec![5, 0, 9, 5]),
        vec![(0, 0)],
        None,
    )
    .unwrap();
    let flags: Vec<bool> = t.infos().map(|x| x.is_sync).collect();
    assert_eq!(
        flags,
        [true, false, false, false, false, true, false, false, false, true]
    );
}

#[test]
fn one_sample_per_chunk_needs_no_first_sample_table() {
    // Samples 0..4 of 3 bytes, each its own chunk, chunks in reverse file order; the
    // last chunk holds two samples.
    let data: Vec<u8> = (0..15u8).collect();
    let s = table_over_bytes(
        data,
        vec![3; 5],
        vec![(0, 1)],
        vec![],
        None,
        vec![(9, 0), (6, 1), (3, 2), (0, 3)],
        None,
    );
    let mut buf = Vec::new();
    let got: Vec<Vec<u8>> = s
        .segment(1..5, &mut buf)
        .unwrap()
        .iter()
        .map(|x| x.data.clone())
        .collect();
    assert_eq!(
        got,
        [vec![6, 7, 8], vec![3, 4, 5], vec![0, 1, 2], vec![3, 4, 5]]
    );
}

#[test]
fn video_nal_lengths_are_rewritten_to_four_bytes_and_checked() {
    // Two NAL units with 2-byte lengths.
    let data = vec![0, 2, 0x65, 1, 0, 1, 0x41];
    let s = table_over_bytes(
        data.clone(),
        vec![7],
        vec![(0, 1)],
        vec![],
        None,
        vec![(0, 0)],
        Some(2),
    );
    let mut buf = Vec::new();
    let got = s.segment(0..1, &mut buf).unwrap();
    assert_eq!(got[0].data, [0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x41]);
    // A length running past the sample is an error, not a panic.
    let bad = table_over_bytes(
        vec![0, 9, 1, 2],
        vec![4],
        vec![(0, 1)],
        vec![],
        None,
        vec![(0, 0)],
        Some(2),
    );
    assert!(bad.segment(0..1, &mut buf).is_err());
    // A chunk beyond the end of the data is an error too.
    // (found by the walk that builds the table, as the demuxer builds it).
    let short = try_table_over_bytes(
        vec![1, 2],
        vec![4],
        vec![(0, 1)],
        vec![],
        None,
        vec![(0, 0)],
        None,
    );
    assert!(matches!(short, Err(MediaError::Truncated(_))), "{short:?}");
}
