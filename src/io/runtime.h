// latentedit — process-wide runtime settings.
#pragma once

#include <string>

namespace latentedit {

// The OpenBLAS kernels in use (openblas_get_corename(), e.g. "SkylakeX"), or "" when the BLAS is
// not OpenBLAS.
std::string blas_kernels();

// Debian 12's OpenBLAS (0.3.21) does not recognise CPUs released after it (e.g. Intel Emerald
// Rapids, family 6 model 207) and falls back to its generic SSE3 "Prescott" kernels (OpenBLAS
// issue #4267, fixed in 0.3.25): a 2048^3 SGEMM ran at 49 GFLOP/s instead of 191 on the
// 2-core test machine. When that happened and OPENBLAS_CORETYPE is not set, this re-selects
// OpenBLAS's kernels for what the CPU supports (SkylakeX for AVX-512, Haswell for AVX2 + FMA,
// Sandybridge for AVX). Call before any BLAS work; runs once. Returns what it changed, or ""
// (also when the BLAS is not OpenBLAS). set_threads calls it.
std::string select_blas_kernels();

// The thread count used when none is given: OMP_NUM_THREADS when set to a positive number (as
// PyTorch does), else every core.
int default_threads();

// Sets torch's intra-op threads to `n` (<= 0: default_threads()). When torch uses more than one
// thread, OpenBLAS is limited to one so the two pools do not oversubscribe the cores
// (a hidden-32 DCGAN step at batch 64 measured 0.57 s oversubscribed vs 0.23 s; see
// docs/PERFORMANCE.md). Returns the thread count in use.
int set_threads(int n);

// Keeps tensor buffers in glibc's heap instead of fresh mmap'd pages (mmap and trim thresholds
// 1 GiB). By default glibc maps every block above a dynamic threshold (at most 32 MiB) anew and
// unmaps it on free, so each step page-faults its large buffers again: a course classifier
// training step (hidden 64, batch 128) took 300-400 ms instead of 134 ms (bench/edit_bench.cc,
// section 6), and `evaluate`'s 128-latent chunks (Jacobians, activations) spent half their CPU
// time in the kernel: 517 s instead of 260 s (docs/PERFORMANCE.md, "The allocator"). Leaves
// glibc alone when the user set GLIBC_TUNABLES or a MALLOC_*_ variable (returns false).
// Process-wide: called by the CLI's and the benchmarks' main(), not by the library.
bool tune_allocator();

// Whether decode_image (and everything that reads images) points stderr at /dev/null while
// OpenCV's decoders run, so that libjpeg's, libpng's and libtiff's own warnings ("Premature end
// of JPEG file") do not reach the terminal. That changes the process's fd 2 for the decode, so it
// is only for single-threaded programs: off by default (the library, the server, the Python
// module), turned on by the CLI's commands other than serve.
void quiet_image_decoders(bool on);

}  // namespace latentedit
