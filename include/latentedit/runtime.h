// latentedit — process-wide runtime settings.
#pragma once

namespace latentedit {

// Sets torch's intra-op threads to `n` (<= 0: all cores). When torch uses more than one
// thread, OpenBLAS is limited to one so the two pools do not oversubscribe the cores
// (measured in DESIGN.md: 0.57 s -> 0.23 s per step). Returns the thread count in use.
int set_threads(int n);

}  // namespace latentedit
