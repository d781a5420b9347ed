//! Encode + decode cost: a small struct, and arrays from 1 KiB to a
//! 1920×1080×3 image. The array path shares buffers instead of copying, so
//! its time should stay flat as the payload grows.
//!
//! Run: `cargo bench -p cortex --bench codec`

use bytes::Bytes;
use cortex::prelude::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

#[derive(Message, Clone)]
struct Small {
    id: u32,
    x: f64,
    y: f64,
    label: String,
}

#[derive(Message, Clone)]
struct Image {
    data: NdArray<u8>,
    encoding: String,
    width: u32,
    height: u32,
}

fn small(c: &mut Criterion) {
    let msg = Small {
        id: 7,
        x: 1.5,
        y: -2.25,
        label: "imu/left".into(),
    };
    let frames = msg.encode(0).unwrap().to_frames();
    let mut g = c.benchmark_group("small");
    g.bench_function("encode", |b| b.iter(|| msg.encode(1).unwrap()));
    g.bench_function("decode", |b| b.iter(|| Small::decode(&frames).unwrap()));
    g.finish();
}

fn arrays(c: &mut Criterion) {
    let mut g = c.benchmark_group("image");
    let shapes: [(&str, [usize; 3]); 4] = [
        ("1KiB", [16, 16, 4]),
        ("64KiB", [128, 128, 4]),
        ("1MiB", [512, 512, 4]),
        ("1080p_rgb", [1080, 1920, 3]),
    ];
    for (name, shape) in shapes {
        let n: usize = shape.iter().product();
        let msg = Image {
            data: NdArray::new(vec![3u8; n], shape).unwrap(),
            encoding: "rgb8".into(),
            width: shape[1] as u32,
            height: shape[0] as u32,
        };
        // Receive side: frames as libzmq would hand them (owned, aligned).
        let enc = msg.encode(0).unwrap();
        let mut frames = enc.to_frames();
        frames[2] = Bytes::from(frames[2].to_vec());
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_with_input(BenchmarkId::new("encode", name), &msg, |b, m| {
            b.iter(|| m.encode(1).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("decode", name), &frames, |b, f| {
            b.iter(|| {
                let (img, _) = Image::decode(f).unwrap();
                assert!(img.data.is_borrowed());
                img
            })
        });
    }
    g.finish();
}

criterion_group!(benches, small, arrays);
criterion_main!(benches);
