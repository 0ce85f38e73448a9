//! Micro-benchmarks of the hot paths: what the hooks add per request and
//! per chunk, measured against the same in-memory inner client without
//! hooks, in one run.
//!
//! ```sh
//! cargo bench -p openai-hooks-bench --bench hot_paths
//! ```

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use openai_hooks::ChatClient;
use openai_hooks_bench::hooks::Hooked;
use openai_hooks_bench::memory::InMemory;

const CHUNKS: usize = 200;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

async fn drain(client: &impl ChatClient) -> usize {
    let mut stream = client
        .create_stream(InMemory::request())
        .await
        .expect("a stream");
    let mut n = 0;
    while let Some(chunk) = stream.next().await {
        black_box(chunk.expect("a chunk"));
        n += 1;
    }
    n
}

/// Per request: `create` with and without nine pass-through hooks.
fn per_request(c: &mut Criterion) {
    let rt = runtime();
    let raw = InMemory::new(CHUNKS);
    let hooked = Hooked::new(InMemory::new(CHUNKS));
    let mut group = c.benchmark_group("request");
    group.bench_function("raw", |b| {
        b.iter_batched(
            InMemory::request,
            |req| rt.block_on(raw.create(req)).expect("a reply"),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("3 hooks of each kind", |b| {
        b.iter_batched(
            InMemory::request,
            |req| rt.block_on(hooked.create(req)).expect("a reply"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Per chunk: a 200-chunk stream with and without three chunk hooks (and
/// the pre-request hooks that every call runs).
fn per_chunk(c: &mut Criterion) {
    let rt = runtime();
    let raw = InMemory::new(CHUNKS);
    let hooked = Hooked::new(InMemory::new(CHUNKS));
    let mut group = c.benchmark_group("stream of 200 chunks");
    group.throughput(Throughput::Elements(CHUNKS as u64));
    group.bench_function("raw", |b| b.iter(|| rt.block_on(drain(&raw))));
    group.bench_function("3 hooks of each kind", |b| {
        b.iter(|| rt.block_on(drain(&hooked)))
    });
    group.finish();
    black_box(hooked.seen());
}

criterion_group!(benches, per_request, per_chunk);
criterion_main!(benches);
