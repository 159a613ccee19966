//! Criterion benches of the scanner: one disk, the 16-disk fixture, the 128-entry GPT.

use criterion::{criterion_group, criterion_main, Criterion};
use hydra_benches::fixture;
use std::hint::black_box;

fn fixtures(c: &mut Criterion) {
    let Some(multi) = fixture("multi-disk") else {
        return;
    };
    let mut g = c.benchmark_group("probe");
    g.bench_function("one-disk", |b| {
        b.iter(|| black_box(libhydra::probe::probe(&multi[..1]).unwrap()))
    });
    g.bench_function("multi-disk-16", |b| {
        b.iter(|| black_box(libhydra::probe::probe(&multi).unwrap()))
    });
    if let Some(huge) = fixture("huge") {
        g.bench_function("gpt-128-entries-2TiB", |b| {
            b.iter(|| black_box(libhydra::probe::probe(&huge[..1]).unwrap()))
        });
        g.bench_function("gpt-128-entries-2GiB", |b| {
            b.iter(|| black_box(libhydra::probe::probe(&huge[1..2]).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, fixtures);
criterion_main!(benches);
