#pragma once
// Hands memory the allocator keeps after a burst back to the kernel.
//
// glibc's malloc keeps freed heap memory for reuse; after a transient burst (gRPC assembles
// an oversized request whole before refusing it: 256 MiB left the plugin at ~250 MiB RSS) the
// plugin would stay that large until restarted. The plugin host calls this periodically
// (PluginHost::kMemoryReleaseInterval); on an idle heap it costs microseconds. Other
// allocators (OpenBSD's malloc, FreeBSD's jemalloc) return memory themselves: no-op there.

namespace carp_exec::host {

// Returns true when memory was given back.
bool ReleaseFreedMemory();

}  // namespace carp_exec::host
