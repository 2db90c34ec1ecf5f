#include "driver/host/memory_release.h"

#include <stdlib.h>  // defines __GLIBC__ where it applies

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace carp_exec::host {

bool ReleaseFreedMemory() {
#if defined(__GLIBC__)
  // 0: keep no padding at the top of the heap; also releases whole free pages inside arenas.
  return malloc_trim(0) != 0;
#else
  return false;
#endif
}

}  // namespace carp_exec::host
