// latentedit — process-wide runtime settings.
#pragma once

namespace latentedit {

// Sets torch's intra-op threads to `n` (<= 0: all cores). When torch uses more than one
// thread, OpenBLAS is limited to one so the two pools do not oversubscribe the cores
// (measured in DESIGN.md: 0.57 s -> 0.23 s per step). Returns the thread count in use.
int set_threads(int n);

// Keeps large tensor buffers in glibc's heap instead of fresh mmap'd pages (mmap threshold
// 64 MiB, trim threshold 256 MiB). By default glibc maps every block above a (dynamic)
// threshold anew and unmaps it on free, so each training step page-faults all its activations
// again: a course classifier step (hidden 64, batch 128) took 300-400 ms instead of 134 ms on
// the 2-core test machine (bench/edit_bench.cc, section 6). Process-wide: called by the CLI's
// and the benchmark's main(), not by the library.
void tune_allocator();

}  // namespace latentedit
